/**
 * The benchmark's second peer: Better Auth as a Worker, run by `npm run bench`
 * under `wrangler dev` with local D1, and reached like ours on the Worker's
 * own workerd socket.
 *
 * The instance is built once per isolate, on the first request: built at
 * module scope, Better Auth's start-up schema check queries D1 while the
 * module loads, which workerd refuses ("Disallowed operation called within
 * global scope"); built per request, every request would repeat that check
 * (9 statements in 3 round trips).
 */
import { type Auth, buildAuth, type Env, health } from "./auth.ts";

let auth: Auth | undefined;

export default {
	async fetch(request, env) {
		const { pathname } = new URL(request.url);
		if (pathname === "/health") return health();
		if (pathname.startsWith("/api/auth/")) {
			auth ??= buildAuth(env.ORIGIN, env.DB);
			return auth.handler(request);
		}
		return new Response("not found", { status: 404 });
	},
} satisfies ExportedHandler<Env>;
