import type { Context } from "hono";
import { deleteCookie, setCookie } from "hono/cookie";
import type { AuthenticatedSession } from "../services/sessions";
import type { AppEnv } from "./context";
import type { ClientKind } from "./metrics";

export const SESSION_COOKIE = "pe_session";

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
