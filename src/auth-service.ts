import { WorkerEntrypoint } from "cloudflare:workers";
import { parse as parseCookies } from "hono/utils/cookie";
import type { Env } from "./env";
import { SESSION_COOKIE } from "./http/session-response";
import { type Acr, type AmrValue, amrClaims } from "./lib/amr";
import { readConfig } from "./lib/config";
import { describeError } from "./lib/faults";
import { type AccessTokenClaims, readTokenSettings, verifyAccessToken } from "./services/access-tokens";
import { methodsOf, resolveSession, type SessionLevel, sessionView } from "./services/sessions";

/** What a bound Worker passes on from the request it is answering. */
export interface SessionQuery {
	/** The request's Authorization header as it came: `Bearer <session token>`. */
	authorization?: string | null;
	/** The request's Cookie header as it came. */
	cookie?: string | null;
}

/** The session as a bound Worker sees it. */
export interface BoundSession {
	/** The session's id (a hash of its token, as the access token's `sid`), never the token. */
	id: string;
	level: SessionLevel;
	user: { id: string; email: string };
	/** The second factors the user can use now (as GET /api/auth/session/). */
	methods: string[];
	/** The session's last authentication, seconds since the epoch (as a token's `auth_time`). */
	auth_time: number;
	amr: AmrValue[];
	acr: Acr;
	expires_at: string;
}

const BEARER = /^Bearer\s+([A-Za-z0-9_.-]+)\s*$/i;
const MAX_HEADER = 8192;

/** The session token of a request: the bearer token if there is an Authorization header, else the cookie. */
function sessionTokenOf(query: SessionQuery): string | null {
	// An empty header is no header, as on the HTTP routes.
	const authorization =
		typeof query?.authorization === "string" && query.authorization ? query.authorization : undefined;
	// Like the HTTP routes: an Authorization header that is there but not a bearer token is not a session.
	if (authorization !== undefined) {
		if (authorization.length > MAX_HEADER) return null;
		return BEARER.exec(authorization)?.[1] ?? null;
	}
	const cookie = typeof query?.cookie === "string" ? query.cookie : undefined;
	if (!cookie || cookie.length > MAX_HEADER) return null;
	return parseCookies(cookie, SESSION_COOKIE)[SESSION_COOKIE] ?? null;
}

/**
 * The RPC entrypoint for other Workers of the same account: a Worker that
 * binds this one (`[[services]]` with `entrypoint = "AuthService"`) asks who
 * is signed in, with no HTTP hop, no CORS and no token in a URL. Nothing here
 * writes: a session is not extended by being looked at from another Worker,
 * and the calling Worker applies its own CSRF rules to its own routes.
 * Failures of ours (storage down, keys misconfigured) are thrown with a
 * generic message and logged here; a library's message never crosses over.
 */
export class AuthService extends WorkerEntrypoint<Env> {
	/** The session of a request's Authorization or Cookie header, or null when there is none. */
	async session(query: SessionQuery): Promise<BoundSession | null> {
		const token = sessionTokenOf(query ?? {});
		if (!token) return null;
		return this.guard("session", async () => {
			const resolved = await resolveSession(this.env.USER_STATE, token);
			if (!resolved) return null;
			const { session } = resolved;
			const view = sessionView(session, methodsOf(resolved.counts));
			const { amr, acr } = amrClaims(session.amr);
			return {
				id: session.id,
				level: view.level,
				user: view.user,
				methods: view.methods,
				auth_time: Math.floor(session.authenticatedAt / 1000),
				amr,
				acr,
				expires_at: view.expires_at,
			};
		});
	}

	/** The claims of an access token this Worker issued and that is valid now, or null. */
	async verifyAccessToken(jwt: string): Promise<AccessTokenClaims | null> {
		if (typeof jwt !== "string") return null;
		return this.guard("verifyAccessToken", () =>
			verifyAccessToken(readTokenSettings(this.env, readConfig(this.env)), jwt),
		);
	}

	private async guard<T>(method: string, run: () => Promise<T>): Promise<T> {
		try {
			return await run();
		} catch (error) {
			console.error(`AuthService.${method}: ${describeError(error)}`);
			throw new Error(`passkey-edge could not answer ${method}; see its logs`);
		}
	}
}
