import type { Context } from "hono";
import { deleteCookie, setCookie } from "hono/cookie";
import type { ClientKind } from "../lib/metrics";
import type { AuthenticatedSession } from "../services/sessions";
import type { AppEnv } from "./context";

/**
 * `__Host-`: the browser accepts the cookie only from this host, Secure,
 * with Path=/ and no Domain, so a sibling subdomain (or a plain-http page)
 * cannot set or shadow it (cookie tossing).
 */
export const SESSION_COOKIE = "__Host-pe_session";
/** The name before the prefix. A browser may still hold it: it is never read, and is cleared. */
export const LEGACY_SESSION_COOKIE = "pe_session";

/** The Cookie header's pairs, by name, as sent (no decoding): a name may come more than once. */
export function cookieValues(header: string | undefined, name: string): string[] {
	if (!header) return [];
	const values: string[] = [];
	for (const pair of header.split(";")) {
		const at = pair.indexOf("=");
		if (at !== -1 && pair.slice(0, at).trim() === name) values.push(pair.slice(at + 1).trim());
	}
	return values;
}

/**
 * How many session cookies the request carries. More than one means
 * something else wrote a cookie of that name (another path, a subdomain
 * before the prefix, an injected header): the request is refused rather
 * than taking the first, which could be the attacker's.
 */
export function sessionCookieCount(c: Context<AppEnv>): number {
	return cookieValues(c.req.header("cookie"), SESSION_COOKIE).length;
}

/** A browser that still holds the unprefixed cookie gets it cleared (see LEGACY_SESSION_COOKIE). */
export function clearLegacySessionCookie(c: Context<AppEnv>): void {
	if (cookieValues(c.req.header("cookie"), LEGACY_SESSION_COOKIE).length === 0) return;
	deleteCookie(c, LEGACY_SESSION_COOKIE, { path: "/", secure: true, httpOnly: true, sameSite: "Lax" });
}

/**
 * Hands a new token to the client: apps get it in the body as
 * `session_token` and no cookie; browsers get an HttpOnly, Secure,
 * SameSite=Lax cookie and never see it.
 */
export function deliverToken<T extends Record<string, unknown>>(
	c: Context<AppEnv>,
	client: ClientKind,
	issued: { session: AuthenticatedSession; token: string | null } | null,
	body: T,
): T & { session_token?: string } {
	// No new token (a verify on a full session keeps its token): nothing to hand over.
	if (!issued?.token) return body;
	if (client === "app") return { ...body, session_token: issued.token };
	setCookie(c, SESSION_COOKIE, issued.token, {
		httpOnly: true,
		secure: true,
		sameSite: "Lax",
		path: "/",
		expires: new Date(issued.session.expiresAt),
	});
	return body;
}

export function clearSessionCookie(c: Context<AppEnv>): void {
	deleteCookie(c, SESSION_COOKIE, { path: "/", secure: true, httpOnly: true, sameSite: "Lax" });
}
