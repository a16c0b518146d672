import type { ActivityRecord } from "../account/activity";
import { type UserStateNamespace, userStateFor } from "../durable/stubs";
import { clock, iso } from "../lib/clock";
import { randomBytes, toBase64Url } from "../lib/encoding";
import type { ClientKind } from "../lib/metrics";
import { activityOf } from "./activity";

// Security events go to the app's webhook endpoints (API.md, Server API).
// They say what happened to whom, never with what: no code, secret, token,
// token hash or WebAuthn credential id goes into one (our passkey id is an
// opaque row id, safe to show). test/security/webhook-events-carry-no-secrets.

/**
 * How a session was made: the factor that completed it, or the sign-up that
 * made the account (`sign_up` with a password, `passkey_sign_up` with a
 * passkey and no password). `password_trusted_device`: a password sign-in
 * that skipped the second factor in a browser the user had remembered
 * (TRUSTED_DEVICE_DAYS, services/trusted-devices.ts).
 */
export type SessionMethod =
	| "sign_up"
	| "passkey_sign_up"
	| "password"
	| "password_trusted_device"
	| "passkey"
	| "totp"
	| "recovery_code"
	| "server";

/** Each type and what its `data` carries. */
export interface SecurityEventData {
	"passkey.added": { passkey_id: string; name: string };
	"passkey.removed": { passkey_id: string };
	"totp.enabled": Record<string, never>;
	"totp.disabled": Record<string, never>;
	"recovery_code.used": { unused: number };
	/** Sent with recovery_code.used when RECOVERY_CODES_LOW or fewer are left. */
	"recovery_codes.low": { unused: number };
	"recovery_codes.regenerated": { total: number };
	/** A help desk removed the user's passkeys, TOTP and recovery codes and revoked their sessions. */
	"second_factors.reset": { passkeys_removed: number; totp_removed: boolean; sessions_revoked: number };
	/** `device_remembered`: the browser was remembered with it ("Don't ask again on this device"). */
	"session.created": { method: SessionMethod; level: string; client: ClientKind; device_remembered?: true };
	/** The attempt that reached a limit; later refused attempts send nothing. */
	"sign_in.failed_limit": { limit: "password" | "second_factor" };
}

export type SecurityEventType = keyof SecurityEventData;

export const SECURITY_EVENT_TYPES = [
	"passkey.added",
	"passkey.removed",
	"totp.enabled",
	"totp.disabled",
	"recovery_code.used",
	"recovery_codes.low",
	"recovery_codes.regenerated",
	"second_factors.reset",
	"session.created",
	"sign_in.failed_limit",
] as const satisfies readonly SecurityEventType[];

export const RECOVERY_CODES_LOW = 3;

/** What a service says happened. */
export type SecurityEventInput = {
	[T in SecurityEventType]: {
		type: T;
		userId: string;
		/** The app's own id for the user (server API), or null: said at every call site, never guessed later. */
		externalId: string | null;
		data: SecurityEventData[T];
	};
}[SecurityEventType];

/**
 * Recorded in the user's activity log only (services/activity.ts), never
 * sent to the webhook endpoints: API.md's list of webhook types stays as it is.
 */
export interface ActivityOnlyData {
	"passkey.renamed": Record<string, never>;
	"password.changed": Record<string, never>;
	/** The first set of codes, given with the first passkey or TOTP (a new set is recovery_codes.regenerated). */
	"recovery_codes.generated": Record<string, never>;
	/** Other sessions ended: the user asked (`others`), their password changed, or the app asked (`server`). */
	"sessions.revoked": { method: "others" | "one" | "password_change" | "server" };
}

export type ActivityOnlyInput = {
	[T in keyof ActivityOnlyData]: { type: T; userId: string; data: ActivityOnlyData[T] };
}[keyof ActivityOnlyData];

const WEBHOOK_TYPES = new Set<string>(SECURITY_EVENT_TYPES);

function isWebhookEvent(input: SecurityEventInput | ActivityOnlyInput): input is SecurityEventInput {
	return WEBHOOK_TYPES.has(input.type);
}

/** The JSON body a webhook endpoint receives. */
export interface SecurityEvent {
	id: string;
	type: SecurityEventType;
	/** When it happened (ISO 8601); a retry keeps it, only the signature's timestamp is new. */
	timestamp: string;
	user: { id: string; external_id: string | null };
	data: Record<string, unknown>;
}

/** One queue message per event and endpoint: a failing endpoint is retried alone. */
export interface WebhookMessage {
	endpoint: string;
	event: SecurityEvent;
	/** The kind of client whose request caused the event, for the delivery metrics. */
	client: ClientKind;
}

export function buildSecurityEvent(input: SecurityEventInput, now = clock.now()): SecurityEvent {
	return {
		id: `evt_${toBase64Url(randomBytes(16))}`,
		type: input.type,
		timestamp: iso(now),
		user: { id: input.userId, external_id: input.externalId },
		data: input.data,
	};
}

/**
 * The configured endpoints: WEBHOOK_URLS, comma-separated. Only https,
 * except plain http to the loopback host, which only `wrangler dev` and the
 * tests can reach (a deployed Worker cannot fetch localhost). A URL that
 * breaks these rules is logged and left out, so a typo in the configuration
 * never fails a sign-in.
 */
export function webhookEndpoints(urls: string | undefined): string[] {
	const endpoints: string[] = [];
	for (const raw of (urls ?? "").split(",")) {
		const text = raw.trim();
		if (text.length === 0) continue;
		let url: URL;
		try {
			url = new URL(text);
		} catch {
			console.error("webhooks: WEBHOOK_URLS holds an entry that is not a URL; it is skipped");
			continue;
		}
		const loopback = url.hostname === "localhost" || url.hostname === "127.0.0.1" || url.hostname === "[::1]";
		if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
			console.error(`webhooks: ${url.origin} is not https (plain http only for localhost); it is skipped`);
			continue;
		}
		if (url.username || url.password) {
			console.error(`webhooks: ${url.origin} carries credentials in its URL; it is skipped`);
			continue;
		}
		endpoints.push(url.href);
	}
	return endpoints;
}

/** Where a request's events go. */
export interface SecurityEventSink {
	/** `activityWritten`: the ceremony's own object call wrote the activity entry already (activityFor). */
	emit(input: SecurityEventInput | ActivityOnlyInput, options?: { activityWritten?: boolean }): void;
	/**
	 * The activity entry an event will have, for a ceremony that writes it in
	 * the user's object with its outcome, in the same call; null: none.
	 */
	activityFor(input: SecurityEventInput | ActivityOnlyInput): ActivityRecord | null;
}

/** Where the user's activity log is written, and what the request says about its client. */
export interface ActivityOptions {
	userState: UserStateNamespace;
	/** Left out for requests of the server API: its caller is the app's backend, not the user's device. */
	client?: ClientKind;
	device?: string;
	/** Called when the write fails: the caller logs and counts it. */
	onRecordFailed: (type: string, error: unknown) => void;
}

export interface SinkOptions {
	queue: Queue<WebhookMessage> | undefined;
	urls: string | undefined;
	client: ClientKind;
	/** The request's waitUntil: the send outlives the response, the response does not wait for it. */
	waitUntil: (promise: Promise<unknown>) => void;
	/** Called when the queue refuses a send: the caller logs and counts it. */
	onSendFailed: (event: SecurityEvent, error: unknown) => void;
	/** The user's activity log; without it, events go to webhooks only. */
	activity?: ActivityOptions;
}

/**
 * The request only enqueues; the queue consumer delivers (webhook-delivery.ts),
 * so a slow or failing receiver never slows or fails a sign-in. The send
 * itself is handed to waitUntil rather than awaited: the runtime keeps the
 * request's isolate alive until it settles (that is what waitUntil is for),
 * so the event is not lost when the response is sent, and the user does not
 * wait for a round trip to Queues either. A failed send is logged and
 * counted, never thrown: the user's action already happened.
 *
 * The activity entry goes to the user's own Durable Object the same way.
 * The call is made here, at the end of the action, before the response is
 * returned: the write is on its way to the user's object before the client
 * even has the answer, so a page that asks for the activity after an action
 * finds it there; the response just does not wait for the acknowledgement
 * (one more round trip to the object on every sign-in and change). A failed
 * write is logged and counted, never thrown.
 */
export function createSecurityEventSink(options: SinkOptions): SecurityEventSink {
	let endpoints: string[] | undefined;
	// One stub per user for the request: calls on one stub arrive in the
	// order they were made, so a request's entries keep their order.
	const stubs = new Map<string, ReturnType<typeof userStateFor>>();
	const sendWebhooks = (input: SecurityEventInput) => {
		endpoints ??= webhookEndpoints(options.urls);
		if (endpoints.length === 0) return;
		const event = buildSecurityEvent(input);
		const { queue, client } = options;
		if (!queue) {
			options.onSendFailed(event, new Error("WEBHOOK_URLS is set but the WEBHOOKS queue is not bound"));
			return;
		}
		const messages = endpoints.map((endpoint) => ({
			body: { endpoint, event, client },
			contentType: "json" as const,
		}));
		options.waitUntil(queue.sendBatch(messages).catch((error: unknown) => options.onSendFailed(event, error)));
	};
	const activityFor = (input: SecurityEventInput | ActivityOnlyInput): ActivityRecord | null => {
		const activity = options.activity;
		const entry = activity ? activityOf(input) : null;
		if (!activity || !entry) return null;
		return {
			...entry,
			at: clock.now(),
			...(activity.client ? { client: activity.client } : {}),
			...(activity.device ? { device: activity.device } : {}),
		};
	};
	const recordActivity = (input: SecurityEventInput | ActivityOnlyInput) => {
		const activity = options.activity;
		const record = activityFor(input);
		if (!activity || !record) return;
		let write: Promise<unknown>;
		try {
			let stub = stubs.get(input.userId);
			if (!stub) {
				stub = userStateFor(activity.userState, input.userId);
				stubs.set(input.userId, stub);
			}
			write = Promise.resolve(stub.recordActivity(record));
		} catch (error) {
			write = Promise.reject(error);
		}
		options.waitUntil(write.catch((error: unknown) => activity.onRecordFailed(record.type, error)));
	};
	return {
		emit(input, emitOptions) {
			if (!emitOptions?.activityWritten) recordActivity(input);
			if (isWebhookEvent(input)) sendWebhooks(input);
		},
		activityFor,
	};
}

/** For services: one line at the end of a success path. */
export function emitSecurityEvent(
	deps: { events: SecurityEventSink },
	input: SecurityEventInput | ActivityOnlyInput,
	options?: { activityWritten?: boolean },
): void {
	deps.events.emit(input, options);
}
