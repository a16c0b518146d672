// A second Worker of the same account that asks passkey-edge, through a
// service binding to its RPC entrypoint, who is signed in: no HTTP hop, no
// CORS, no token in a URL. See README.md beside this file.

/** A session as passkey-edge's `AuthService.session()` answers it. */
export interface BoundSession {
	id: string;
	level: "partial" | "full";
	user: { id: string; email: string };
	methods: string[];
	auth_time: number;
	amr: string[];
	acr: "aal1" | "aal2";
	expires_at: string;
}

/** The claims of an access token, as `AuthService.verifyAccessToken()` answers them. */
export interface AccessTokenClaims {
	iss: string;
	aud: string;
	sub: string;
	sid: string;
	exp: number;
	auth_time: number;
	amr: string[];
	acr: string;
	email: string;
}

/** The part of passkey-edge's entrypoint this Worker calls. */
export interface PasskeyEdgeAuth {
	session(query: { authorization?: string | null; cookie?: string | null }): Promise<BoundSession | null>;
	verifyAccessToken(jwt: string): Promise<AccessTokenClaims | null>;
}

export interface Env {
	/** wrangler.toml: [[services]] binding = "AUTH", service = "passkey-edge", entrypoint = "AuthService". */
	AUTH: PasskeyEdgeAuth;
}

function json(body: unknown, status = 200): Response {
	return new Response(JSON.stringify(body), {
		status,
		headers: { "content-type": "application/json", "cache-control": "no-store" },
	});
}

const BEARER = /^Bearer\s+(\S+)$/i;

export default {
	async fetch(request: Request, env: Env): Promise<Response> {
		const { pathname } = new URL(request.url);
		if (request.method !== "GET") return json({ error: "method_not_allowed" }, 405);

		// Who is signed in, from the request's own session cookie or bearer
		// session token, passed on as they came. Only a full session gets in:
		// a partial one (second factor still to do) is not signed in yet.
		if (pathname === "/me") {
			const session = await env.AUTH.session({
				authorization: request.headers.get("authorization"),
				cookie: request.headers.get("cookie"),
			});
			if (!session) return json({ error: "not_authenticated" }, 401);
			if (session.level !== "full") return json({ error: "mfa_required" }, 403);
			return json({ user: session.user, amr: session.amr, acr: session.acr, auth_time: session.auth_time });
		}

		// The same question for a caller that holds an access token (a JWT
		// from POST /api/auth/token/): verified by passkey-edge, keys and all.
		if (pathname === "/claims") {
			const jwt = BEARER.exec(request.headers.get("authorization") ?? "")?.[1];
			const claims = jwt ? await env.AUTH.verifyAccessToken(jwt) : null;
			if (!claims) return json({ error: "invalid_token" }, 401);
			return json({ sub: claims.sub, email: claims.email, amr: claims.amr, acr: claims.acr });
		}

		return json({ error: "not_found" }, 404);
	},
} satisfies ExportedHandler<Env>;
