import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./context";

const ALLOWED_METHODS = "GET, POST, PATCH, DELETE";
const ALLOWED_HEADERS = "Content-Type, Authorization, X-Client";

/**
 * Credentialed cross-origin access for the configured web origins only.
 * Another origin's preflight gets no CORS headers at all, so its browser
 * never sends the real request; same-origin requests need none.
 */
export function cors(): MiddlewareHandler<AppEnv> {
	return async function cors(c, next) {
		const origin = c.req.header("origin");
		// The server API is for the app's backend: no browser is let in, from any origin.
		const allowed = origin !== undefined && c.var.config.webOrigins.includes(origin) && !isServerApiPath(c.req.path);
		if (c.req.method === "OPTIONS" && c.req.header("access-control-request-method")) {
			const headers = new Headers({ Vary: "Origin", "Cache-Control": "no-store" });
			if (allowed) {
				headers.set("Access-Control-Allow-Origin", origin);
				headers.set("Access-Control-Allow-Credentials", "true");
				headers.set("Access-Control-Allow-Methods", ALLOWED_METHODS);
				headers.set("Access-Control-Allow-Headers", ALLOWED_HEADERS);
				headers.set("Access-Control-Max-Age", "600");
			}
			return new Response(null, { status: 204, headers });
		}
		await next();
		c.header("Vary", "Origin", { append: true });
		if (allowed) {
			c.header("Access-Control-Allow-Origin", origin);
			c.header("Access-Control-Allow-Credentials", "true");
		}
	};
}

/** The routes for the app's backend (routes/server-users.ts). */
export function isServerApiPath(path: string): boolean {
	return path === "/api/server" || path.startsWith("/api/server/");
}
