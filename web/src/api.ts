// The client of API.md: JSON in and out, the error envelope turned into an
// exception, and a retry after the person reauthenticates when a sensitive
// action answers 401 reauthentication_required.

export interface SessionView {
	/**
	 * `setup_required`: the operator requires a second factor
	 * (REQUIRE_SECOND_FACTOR) and this account has none yet; the session can
	 * only add one (the security page's set-up mode).
	 */
	level: "partial" | "full" | "setup_required";
	user: { id: string; email: string };
	methods: SecondFactorMethod[];
	authenticated_at: string;
	expires_at: string;
	/** Only on a partial browser session while the server allows it: a verify may remember this browser for so many days. */
	trusted_device_days?: number;
}

export type SecondFactorMethod = "webauthn" | "totp" | "recovery_codes";

export interface Passkey {
	id: string;
	name: string;
	created_at: string;
	last_used_at: string | null;
	passwordless: boolean;
	backed_up: boolean;
	device_type: "multi_device" | "single_device";
	transports: string[];
	aaguid: string;
	authenticator: string | null;
	credential_id: string;
}

/** One of the user's sessions (GET /api/auth/sessions/). */
export interface SessionEntry {
	id: string;
	current: boolean;
	client: "browser" | "app" | "unknown";
	device: string;
	country?: string;
	created_at: string;
	last_used_at: string;
	/** RFC 8176 values: pwd, hwk, swk, otp, user, mfa. */
	amr: string[];
}

export interface SessionList {
	success: true;
	sessions: SessionEntry[];
}

/** One entry of GET /api/auth/activity/. */
export interface ActivityEvent {
	type: string;
	at: string;
	method?: string;
	client?: "browser" | "app";
	device?: string;
}

export interface SessionResult {
	success: true;
	session: SessionView;
}

export interface PasskeyList {
	success: true;
	passkeys: Passkey[];
	/** Not in API.md: an addition, for the WebAuthn Signal API. */
	webauthn_user_id?: string;
}

/** An error envelope, or a failure to reach the server at all. */
export class ApiError extends Error {
	constructor(
		readonly status: number,
		readonly code: string,
		message: string,
		readonly fields: Record<string, string> = {},
		readonly retryAfterSeconds: number | null = null,
	) {
		super(message);
		this.name = "ApiError";
	}
}

type Method = "GET" | "POST" | "PATCH" | "DELETE";

/**
 * Called with the 401 reauthentication_required error; resolves once the
 * person has authenticated again, or rejects when they give up.
 */
export type ReauthenticationHandler = (error: ApiError) => Promise<void>;
let reauthenticationHandler: ReauthenticationHandler | null = null;

export function onReauthenticationRequired(handler: ReauthenticationHandler): void {
	reauthenticationHandler = handler;
}

function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}

function toApiError(response: Response, body: unknown): ApiError {
	if (isRecord(body) && body.success === false && typeof body.code === "string" && typeof body.message === "string") {
		const fields: Record<string, string> = {};
		if (isRecord(body.fields)) {
			for (const [name, problem] of Object.entries(body.fields)) {
				if (typeof problem === "string") fields[name] = problem;
			}
		}
		const retryAfter = Number(response.headers.get("Retry-After"));
		return new ApiError(
			response.status,
			body.code,
			body.message,
			fields,
			Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null,
		);
	}
	return new ApiError(response.status, "unexpected_response", `The server answered ${response.status}. Try again.`);
}

async function send<T>(method: Method, path: string, body: unknown, signal?: AbortSignal): Promise<T> {
	let response: Response;
	try {
		response = await fetch(path, {
			method,
			credentials: "same-origin",
			...(signal ? { signal } : {}),
			headers:
				body === undefined
					? { Accept: "application/json" }
					: { Accept: "application/json", "Content-Type": "application/json" },
			...(body === undefined ? {} : { body: JSON.stringify(body) }),
		});
	} catch (error) {
		// Stopped by the page itself: not a network problem to tell anyone about.
		if (signal?.aborted) throw signal.reason ?? error;
		throw new ApiError(0, "network_error", "The server could not be reached. Check your connection and try again.");
	}
	let parsed: unknown = null;
	try {
		parsed = await response.json();
	} catch {
		parsed = null;
	}
	if (response.ok && isRecord(parsed) && parsed.success === true) return parsed as T;
	throw toApiError(response, parsed);
}

export interface CallOptions {
	/** false for the calls that reauthenticate, which must not prompt again. */
	reauthenticate?: boolean;
	/** Cancels the request, such as the autofill's when the person presses the passkey button. */
	signal?: AbortSignal;
}

export async function api<T>(method: Method, path: string, body?: unknown, options: CallOptions = {}): Promise<T> {
	try {
		return await send<T>(method, path, body, options.signal);
	} catch (error) {
		const handler = reauthenticationHandler;
		if (
			!(error instanceof ApiError) ||
			error.code !== "reauthentication_required" ||
			!handler ||
			options.reauthenticate === false
		) {
			throw error;
		}
		await handler(error);
		return send<T>(method, path, body, options.signal);
	}
}
