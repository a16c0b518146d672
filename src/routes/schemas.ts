import { z } from "@hono/zod-openapi";
import { ACTIVITY_TYPES } from "../account/activity";
import { ERRORS, type ErrorCode } from "../lib/errors";

// Shared request and response shapes. The same definitions validate the
// requests and generate the OpenAPI document.

const ERROR_CODES = Object.keys(ERRORS) as [ErrorCode, ...ErrorCode[]];

export const ErrorEnvelope = z
	.object({
		success: z.literal(false),
		code: z.enum(ERROR_CODES).openapi({ description: "Stable, for programs", example: "invalid_request" }),
		message: z.string().openapi({ description: "One sentence for a person", example: "The request is not valid." }),
		fields: z
			.record(z.string(), z.string())
			.optional()
			.openapi({
				description: "Only with invalid_request: the problem of each field, by its dotted path",
				example: { email: "has the wrong format" },
			}),
	})
	.openapi("Error", {
		description: "Every error, on every route. Never an HTML page, never a stack trace.",
		example: { success: false, code: "invalid_request", message: "The request is not valid." },
	});

const base64url = (max: number) =>
	z
		.string()
		.min(1)
		.max(max)
		.regex(/^[A-Za-z0-9_-]+$/, "must be base64url without padding");

export const Email = z.string().trim().min(3).max(254).email().openapi({ example: "ada@example.com" });
/**
 * A lone surrogate is not text: UTF-8 encoding turns every one into U+FFFD,
 * so two different passwords (or names) would become one stored value.
 */
const isWellFormed = (text: string) => !/\p{Cs}/u.test(text);

/** 8 to 256 characters, counted as Unicode code points (an emoji is one), and valid Unicode text. */
export const Password = z
	.string()
	.max(1024)
	.refine((password) => {
		const length = [...password].length;
		return length >= 8 && length <= 256;
	}, "must be 8 to 256 characters")
	.refine(isWellFormed, "must be valid Unicode text")
	.openapi({ description: "8 to 256 characters (Unicode code points)", example: "correct horse battery staple" });

/** A password to check (sign-in, reauthentication): any length up to 256, but text, as at sign-up. */
export const GivenPassword = z
	.string()
	.min(1)
	.max(256)
	.refine(isWellFormed, "must be valid Unicode text")
	.openapi({ example: "correct horse battery staple" });

export const SessionView = z
	.object({
		level: z.enum(["partial", "full", "setup_required"]),
		user: z.object({ id: z.string(), email: z.string() }),
		methods: z.array(z.enum(["webauthn", "totp", "recovery_codes"])),
		authenticated_at: z.string(),
		expires_at: z.string(),
		trusted_device_days: z.number().int().min(1).optional().openapi({
			description:
				"Only on a partial session of a browser, and only while the operator allows trusted devices (`TRUSTED_DEVICE_DAYS`): a 2FA verify that sends `remember_device: true` lets this browser skip the second factor at its next password sign-ins for this many days. Absent: do not offer it.",
			example: 30,
		}),
	})
	.openapi("Session", {
		description:
			"`methods`: the second factors the user can use now. `partial`: the password was right and the second factor is due. `setup_required` (only with `REQUIRE_SECOND_FACTOR=true`): a password sign-in or sign-up of a user with no second factor; only session, logout, passkey registration and TOTP set-up work (anything else 403 `second_factor_required`) until a passkey or TOTP is added, which makes it `full` under a new token. A partial or setup_required session expires 10 minutes after creation. A full one expires after 30 days unused (use extends it), and never later than its absolute end: 90 days after creation by default (`SESSION_MAX_AGE_DAYS`). `expires_at` is the earlier of the two.",
		example: {
			level: "full",
			user: { id: "Ns8cbA6tFbO_vEXA7D8Kzw", email: "ada@example.com" },
			methods: ["webauthn", "recovery_codes"],
			authenticated_at: "2026-11-25T08:00:00.000Z",
			expires_at: "2026-12-25T08:00:00.000Z",
		},
	});

/**
 * What a route that adds a second factor adds to its answer when it ran on a
 * setup_required session (REQUIRE_SECOND_FACTOR): the session, now full
 * under a new token, handed over as on every upgrade.
 */
export const SetupCompleted = {
	session: SessionView.optional().openapi({
		description: "Only when the request's session was `setup_required`: the session, now `full` under a new token",
	}),
	session_token: z.string().optional().openapi({
		description: "Only for an app (bearer) session that was `setup_required`: its new token; the old one has ended",
	}),
};

export const SETUP_COMPLETED =
	"On a `setup_required` session (`REQUIRE_SECOND_FACTOR=true`) this makes the session `full` under a new token, in the same transaction as the new factor: browsers get a new cookie, apps the new `session_token`, and the body carries `session`; the user's other `setup_required` sessions end.";

/** The answer of a route that signs other sessions out. */
export const Revoked = z
	.object({
		success: z.literal(true),
		revoked: z.number().int().nonnegative().openapi({ description: "How many other sessions ended", example: 2 }),
	})
	.openapi("Revoked");

/** One of the user's sessions in their list (GET /api/auth/sessions/). */
export const SessionListEntry = z
	.object({
		id: z.string().openapi({ description: "The session's public id (not its token): what DELETE takes" }),
		current: z.boolean().openapi({ description: "The session this request was made with" }),
		client: z.enum(["browser", "app", "unknown"]).openapi({
			description:
				"`browser` (cookie) or `app` (bearer token); `unknown` only for a session created before sessions were listed",
		}),
		device: z.string().openapi({
			description: 'Coarse, from the User-Agent: a browser and an OS only ("Chrome on macOS"), or "Unknown device"',
		}),
		country: z
			.string()
			.optional()
			.openapi({ description: "ISO 3166-1 alpha-2 (`T1`: Tor) where the session was created, when known" }),
		created_at: z.string(),
		last_used_at: z.string().openapi({ description: "The newest use, to within an hour" }),
		amr: z
			.array(z.enum(["pwd", "hwk", "swk", "otp", "user", "mfa"]))
			.openapi({ description: "How it was authenticated (RFC 8176), as an access token's `amr` claim" }),
	})
	.openapi("SessionListEntry", {
		example: {
			id: "3f0c2a9be1d84c7a9a51f6b0c2d3e4f5",
			current: true,
			client: "browser",
			device: "Chrome on macOS",
			country: "DE",
			created_at: "2026-11-25T08:00:00.000Z",
			last_used_at: "2026-11-25T09:00:00.000Z",
			amr: ["pwd", "hwk", "mfa"],
		},
	});

export const SessionList = z
	.object({ success: z.literal(true), sessions: z.array(SessionListEntry) })
	.openapi("SessionList");

/** One entry of the user's security activity log (durable/activity.ts). */
export const ActivityEvent = z
	.object({
		type: z.enum(ACTIVITY_TYPES),
		at: z.string().openapi({ description: "When it happened (ISO 8601)" }),
		method: z.string().optional().openapi({
			description:
				"`sign_in`, `sign_in.partial`: how (`password`, `password_trusted_device`, `passkey`, `totp`, `recovery_code`, `sign_up`, `passkey_sign_up`, `server`); `sign_in.failed_limit`: which limit (`password`, `second_factor`); `sessions.revoked`: why (`others`, `one`, `password_change`, `server`); `second_factors.reset`: `server`",
		}),
		client: z.enum(["browser", "app"]).optional().openapi({
			description: "The kind of client that made the request; absent when the app's backend did (server API)",
		}),
		device: z.string().optional().openapi({
			description:
				'Browser and OS from its User-Agent, nothing finer ("Chrome on macOS", "Unknown device"); absent when the app\'s backend made the request',
		}),
	})
	.openapi("ActivityEvent", {
		example: {
			type: "sign_in",
			at: "2026-11-25T08:00:00.000Z",
			method: "passkey",
			client: "browser",
			device: "Safari on iOS",
		},
	});

export const ActivityList = z
	.object({ success: z.literal(true), events: z.array(ActivityEvent).max(100) })
	.openapi("ActivityList");

/** Only for app clients (`X-Client: app`); browsers get an HttpOnly cookie instead. */
export const SessionToken = z
	.string()
	.optional()
	.openapi({ description: "App clients only (X-Client: app): send it as `Authorization: Bearer …`" });

/**
 * The optional field of every 2FA verify's body (API.md is silent on it; an
 * older client never sends it and nothing changes for it).
 */
export const RememberDevice = z.boolean().optional().openapi({
	description:
		'"Don\'t ask again on this device". Honoured only for a browser (cookie) upgrading a partial session while `TRUSTED_DEVICE_DAYS` is set (the partial session then shows `trusted_device_days`); ignored otherwise, and never for apps. The browser gets `__Host-pe_device` (HttpOnly, Secure, SameSite=Lax, `Max-Age` the configured days): a password sign-in of the same user in that browser is then `full` at once, its session recording the password only (`amr` `pwd`, `acr` `aal1`). A change of the user\'s second factors, a password change or "sign out everywhere else" ends every remembered browser.',
	example: true,
});

export const SessionResult = z
	.object({ success: z.literal(true), session: SessionView, session_token: SessionToken })
	.openapi("SessionResult");

const Transport = z.string().max(32);

export const RegistrationResponse = z
	.object({
		id: base64url(1400),
		rawId: base64url(1400),
		type: z.literal("public-key"),
		response: z.object({
			clientDataJSON: base64url(8192),
			attestationObject: base64url(32768),
			transports: z.array(Transport).max(16).optional(),
			publicKeyAlgorithm: z.number().int().optional(),
			publicKey: base64url(8192).optional(),
			authenticatorData: base64url(16384).optional(),
		}),
		authenticatorAttachment: z.enum(["platform", "cross-platform"]).optional(),
		clientExtensionResults: z.object({ credProps: z.object({ rk: z.boolean().optional() }).optional() }),
	})
	.openapi("RegistrationResponseJSON");

export const AuthenticationResponse = z
	.object({
		id: base64url(1400),
		rawId: base64url(1400),
		type: z.literal("public-key"),
		response: z.object({
			clientDataJSON: base64url(8192),
			authenticatorData: base64url(16384),
			signature: base64url(2048),
			userHandle: base64url(128).optional(),
		}),
		authenticatorAttachment: z.enum(["platform", "cross-platform"]).optional(),
		clientExtensionResults: z.object({}),
	})
	.openapi("AuthenticationResponseJSON");

export const PasskeyName = z
	.string()
	.max(1024)
	.transform((name) => name.trim())
	.refine((name) => [...name].length >= 1 && [...name].length <= 64, "must be 1 to 64 characters after trimming")
	// A lone surrogate is not a code point: D1 would store mojibake, not the name as given.
	.refine(isWellFormed, "must be valid Unicode text");

export const Passkey = z
	.object({
		id: z.string(),
		name: z.string(),
		created_at: z.string(),
		last_used_at: z.string().nullable(),
		passwordless: z.boolean(),
		backed_up: z.boolean(),
		device_type: z.enum(["multi_device", "single_device"]),
		transports: z.array(z.string()),
		aaguid: z.string(),
		authenticator: z.string().nullable(),
		credential_id: z.string(),
	})
	.openapi("Passkey", {
		example: {
			id: "k3Jx9QeVt2mZ0aLw7yB1cA",
			name: "iPhone 15",
			created_at: "2026-11-25T08:00:00.000Z",
			last_used_at: null,
			passwordless: true,
			backed_up: true,
			device_type: "multi_device",
			transports: ["internal", "hybrid"],
			aaguid: "fbfc3007-154e-4ecc-8c0b-6e020557d7bd",
			authenticator: "iCloud Keychain",
			credential_id: "Xy3k9Q",
		},
	});

export const Success = z.object({ success: z.literal(true) }).openapi("Success", { example: { success: true } });

// How a route is authenticated, in the document: either the browser's
// cookie or an app's bearer token, or no session at all.
export const SESSION: Record<string, string[]>[] = [{ cookie: [] }, { bearer: [] }];
export const NO_SESSION: Record<string, string[]>[] = [];

/** The header that makes a session-creating (or upgrading) route hand the token over in the body. */
export const X_CLIENT = {
	name: "X-Client",
	in: "header" as const,
	required: false,
	schema: { type: "string" as const, enum: ["app"] },
	description: "`app`: the new session token comes in the body as `session_token`, and no cookie is set",
};

const RETRY_AFTER = {
	"Retry-After": { description: "Seconds to wait before trying again", schema: { type: "integer" as const } },
};

/** An error response of the document: the envelope, with an example of each code it stands for. */
interface ErrorResponse {
	description: string;
	headers?: typeof RETRY_AFTER;
	content: {
		"application/json": {
			schema: typeof ErrorEnvelope;
			examples: Record<string, { value: { success: false; code: ErrorCode; message: string } }>;
		};
	};
}

/** Keyed by the literal statuses of the codes, so the typed client (hc) knows each error answer. */
type ErrorResponses<C extends ErrorCode> = { [S in (typeof ERRORS)[C][0]]: ErrorResponse };

function errorResponses<C extends ErrorCode>(codes: C[]): ErrorResponses<C> {
	const byStatus = new Map<number, ErrorCode[]>();
	for (const code of codes) {
		const status = ERRORS[code][0];
		byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
	}
	const responses = [...byStatus].map(([status, statusCodes]): [number, ErrorResponse] => [
		status,
		{
			description: `Error envelope: ${statusCodes.map((code) => `\`${code}\``).join(", ")}`,
			...(status === 429 || status === 503 ? { headers: RETRY_AFTER } : {}),
			content: {
				"application/json": {
					schema: ErrorEnvelope,
					examples: Object.fromEntries(
						statusCodes.map((code) => [code, { value: { success: false, code, message: ERRORS[code][1] } }]),
					),
				},
			},
		},
	]);
	return Object.fromEntries(responses) as ErrorResponses<C>;
}

/**
 * The error responses of a route, from the codes it can answer (grouped by
 * status); every route that touches storage can also answer 500
 * `internal_error` and 503 `unavailable`.
 */
export function errors<C extends ErrorCode>(...codes: C[]) {
	return errorResponses<C | "internal_error" | "unavailable">([...codes, "internal_error", "unavailable"]);
}

/** For routes that touch no storage: only 500 besides their own codes. */
export function errorsWithoutStorage<C extends ErrorCode>(...codes: C[]) {
	return errorResponses<C | "internal_error">([...codes, "internal_error"]);
}

export function json<T extends z.ZodType>(schema: T, description: string) {
	return { description, content: { "application/json": { schema } } };
}

export function jsonRequest<T extends z.ZodType>(schema: T) {
	return { body: { required: true, content: { "application/json": { schema } } } };
}
