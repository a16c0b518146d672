import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import { type SessionRequirement as GateRequirement, sessionRefusal } from "../account/session-gate";
import { clock } from "../lib/clock";
import { readConfig } from "../lib/config";
import { ApiError } from "../lib/errors";
import type { ClientKind } from "../lib/metrics";
import { createMetrics } from "../lib/metrics";
import { hashToken, recordCeremonyUse, recordSessionUse, resolveSession, tokenUser } from "../services/sessions";
import { createDb } from "../storage/db";
import type { AppEnv } from "./context";
import { assertSecondFactorOpen } from "./rate-limit-gate";
import { clearLegacySessionCookie, deliverToken, SESSION_COOKIE, sessionCookieCount } from "./session-response";

export const MAX_BODY_BYTES = 64 * 1024;
const UNSAFE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** Per-request dependencies; nothing is kept in module memory between requests. */
export function requestContext(): MiddlewareHandler<AppEnv> {
	return async function requestContext(c, next) {
		c.set("requestId", c.req.header("cf-ray") ?? crypto.randomUUID());
		c.set("startedAt", performance.now());
		c.set("config", readConfig(c.env));
		c.set("db", createDb(c.env.DB));
		c.set("metrics", createMetrics(c.env.METRICS));
		await next();
		// Auth answers are never cached; the few public documents set their own.
		if (!c.res.headers.has("Cache-Control")) c.header("Cache-Control", "no-store");
		c.header("X-Content-Type-Options", "nosniff");
	};
}

// RFC 9110 allows whitespace on both sides of a parameter's `;`
// ("application/json ; charset=utf-8"). @hono/zod-openapi's own media-type
// gate, later on routes with a body schema, allows it only after the `;`, so
// an accepted header is handed on in that form (normalJsonMediaType): one
// rule decides, here, before the session checks as API.md orders them.
const JSON_MEDIA_TYPE = /^application\/json(\s*;\s*[a-zA-Z0-9-]+=[^;]+)*$/i;

function normalJsonMediaType(contentType: string): string {
	return contentType
		.split(";")
		.map((part) => part.trim())
		.join("; ");
}

/**
 * For routes that take a body: JSON only (415), at most 64 KiB (413). Runs
 * before the session checks, as API.md orders them. Routes whose body is
 * empty (logout, set-up, regenerate, DELETE) pass `optional`: no body is
 * fine, but a body that is sent is held to the same rules.
 */
export function jsonBody(options: { optional?: boolean } = {}): MiddlewareHandler<AppEnv> {
	return async function jsonBody(c, next) {
		const contentType = c.req.header("content-type");
		const sendsBody = c.req.raw.body !== null && c.req.header("content-length") !== "0";
		if (options.optional && !sendsBody && !contentType) return next();
		if (!contentType || !JSON_MEDIA_TYPE.test(contentType.trim())) throw new ApiError("unsupported_media_type");
		const normal = normalJsonMediaType(contentType);
		if (normal !== contentType) {
			const headers = new Headers(c.req.raw.headers);
			headers.set("content-type", normal);
			c.req.raw = new Request(c.req.raw, { headers });
		}
		const declared = Number(c.req.header("content-length") ?? "0");
		if (declared > MAX_BODY_BYTES) throw new ApiError("payload_too_large");
		// Chunked bodies declare no length: read at most one byte past the limit.
		const reader = c.req.raw.clone().body?.getReader();
		let size = 0;
		if (reader) {
			for (;;) {
				const { done, value } = await reader.read();
				if (done) break;
				size += value.byteLength;
				if (size > MAX_BODY_BYTES) {
					await reader.cancel();
					throw new ApiError("payload_too_large");
				}
			}
		}
		await next();
	};
}

function isAllowedOrigin(c: Context<AppEnv>): boolean {
	const origin = c.req.header("origin");
	return origin !== undefined && c.var.config.webOrigins.includes(origin);
}

/**
 * The browser says another site started this request. A SameSite=Lax cookie
 * still rides on a cross-site top-level navigation (a GET): a link on
 * another site could replace a pending challenge and make the user's own
 * verify fail. No request of our clients is cross-site, so a cookie request
 * that is gets nothing, whatever its method. Browsers that do not send the
 * header are held to the Origin rule alone.
 */
function isCrossSite(c: Context<AppEnv>): boolean {
	return c.req.header("sec-fetch-site")?.trim().toLowerCase() === "cross-site";
}

export function clientKindOf(c: Context<AppEnv>): ClientKind {
	return c.req.header("x-client")?.toLowerCase() === "app" ? "app" : "browser";
}

function bearerToken(c: Context<AppEnv>): string | null | undefined {
	const header = c.req.header("authorization");
	if (header === undefined) return undefined;
	const match = /^Bearer\s+([A-Za-z0-9_.-]+)\s*$/i.exec(header);
	return match?.[1] ?? null;
}

export interface SessionRequirement extends GateRequirement {
	/** Read the user's passkeys with the session, in the same round trip (c.var.auth.userPasskeys). */
	withPasskeys?: boolean;
	/** Read the user's TOTP row with the session (c.var.auth.totp). */
	withTotp?: boolean;
}

/** The request's session token and kind, checked for form only (no storage): null when it has none that can be one. */
function presentedToken(c: Context<AppEnv>): { token: string; client: ClientKind } | null {
	clearLegacySessionCookie(c);
	const bearer = bearerToken(c);
	if (bearer === null || sessionCookieCount(c) > 1) return null;
	const token = bearer ?? getCookie(c, SESSION_COOKIE);
	if (!token) return null;
	return { token, client: bearer ? "app" : "browser" };
}

/** A cookie rides along on cross-site requests; a bearer token cannot. */
function isCsrf(c: Context<AppEnv>, client: ClientKind): boolean {
	return client === "browser" && (isCrossSite(c) || (UNSAFE_METHODS.has(c.req.method) && !isAllowedOrigin(c)));
}

/**
 * Authenticates the request and applies, in API.md's order: session present
 * (401) → Origin (or a cross-site Sec-Fetch-Site) of a cookie request (403
 * csrf_failed) → level (403 mfa_required) → recent authentication (401
 * reauthentication_required), one rule (account/session-gate.ts); then
 * slides the session's expiry when it is due. Nothing before these checks
 * pass writes anything.
 */
export function requireSession(requirement: SessionRequirement): MiddlewareHandler<AppEnv> {
	return async function requireSession(c, next) {
		const presented = presentedToken(c);
		if (!presented) throw new ApiError("not_authenticated");
		const { token, client } = presented;
		const resolved = await resolveSession(c.env.USER_STATE, token, {
			withPasskeys: requirement.withPasskeys === true,
			withTotp: requirement.withTotp === true,
			maxAge: c.var.config.sessionMaxAge,
		});
		const refusal = sessionRefusal(resolved?.session ?? null, requirement, isCsrf(c, client), clock.now());
		if (refusal || !resolved) throw new ApiError(refusal ?? "not_authenticated");
		const { session } = resolved;
		// Only a request that passed every check keeps the session alive, or counts as its use.
		await recordSessionUse(c.env.USER_STATE, session, resolved);
		c.set("auth", {
			session,
			client,
			counts: resolved.counts,
			...(resolved.userPasskeys ? { userPasskeys: resolved.userPasskeys } : {}),
			...(resolved.totp !== undefined ? { totp: resolved.totp } : {}),
		});
		await next();
		// The cookie's own expiry would end a sliding session 30 days after
		// sign-in however much it is used: when the server moved the expiry,
		// send the same token with the new date, unless the route has just
		// set or cleared the cookie itself (logout).
		if (client === "browser" && resolved.slideTo !== null && !setsSessionCookie(c.res)) {
			deliverToken(c, client, { session, token }, {});
		}
	};
}

/**
 * For a ceremony whose session check runs inside the user's object with
 * the rest of the ceremony, in the same call (services/ceremony-session.ts):
 * only what needs no storage is checked here (a token of the right form,
 * else 401), and the request's origin is judged for the object to apply in
 * API.md's order. A request whose body or query is then refused settles its
 * session first (validationHook), so a bad body without a session is still
 * 401, not 400. `gate`: the second-factor limit is checked there too (429
 * before the body).
 */
export function deferSession(
	requirement: GateRequirement,
	options: { gate?: "webauthn" } = {},
): MiddlewareHandler<AppEnv> {
	return async function deferSession(c, next) {
		const presented = presentedToken(c);
		if (!presented) throw new ApiError("not_authenticated");
		const userId = await tokenUser(presented.token);
		if (userId === null) throw new ApiError("not_authenticated");
		c.set("deferred", {
			...presented,
			userId,
			tokenHash: await hashToken(presented.token),
			requirement,
			csrf: isCsrf(c, presented.client),
			...(options.gate ? { gate: options.gate } : {}),
		});
		await next();
		// The ceremony passed with the session it came with: its use is recorded
		// and its expiry slid when due, as requireSession does (one more call,
		// at most once an hour).
		const deferred = c.get("deferred");
		if (!deferred.used || c.error || c.res.status >= 400) return;
		const slid = await recordCeremonyUse(
			c.env.USER_STATE,
			deferred.used.row,
			deferred.used,
			c.var.config.sessionMaxAge,
		);
		if (slid && deferred.client === "browser" && !setsSessionCookie(c.res)) {
			deliverToken(c, deferred.client, { session: slid.session, token: deferred.token }, {});
		}
	};
}

/**
 * A deferred session's checks, made with a session check of their own: for
 * the error paths (a refused body), where the answer must still follow
 * API.md's order. Throws the first refusal.
 */
export async function settleDeferredSession(c: Context<AppEnv>): Promise<void> {
	const deferred = c.get("deferred");
	if (!deferred) return;
	const resolved = await resolveSession(c.env.USER_STATE, deferred.token, { maxAge: c.var.config.sessionMaxAge });
	const refusal = sessionRefusal(resolved?.session ?? null, deferred.requirement, deferred.csrf, clock.now());
	if (refusal) throw new ApiError(refusal);
	if (deferred.gate && resolved)
		await assertSecondFactorOpen(c, resolved.session.userId, deferred.client, deferred.gate);
}

function setsSessionCookie(response: Response): boolean {
	return response.headers.getSetCookie().some((line) => line.startsWith(`${SESSION_COOKIE}=`));
}

/**
 * Routes that create a session have no cookie to protect yet, but a browser
 * that sends a foreign Origin is refused, so another site cannot sign a
 * visitor into an account of its choosing (login CSRF).
 */
export function sessionCreationOrigin(): MiddlewareHandler<AppEnv> {
	return async function sessionCreationOrigin(c, next) {
		const origin = c.req.header("origin");
		if (origin !== undefined && clientKindOf(c) === "browser" && !isAllowedOrigin(c)) throw new ApiError("csrf_failed");
		await next();
	};
}
