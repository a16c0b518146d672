/**
 * The peer Worker with the same additions for the benchmark's CPU phase as
 * ours has (bench/worker/timed-entry.ts), never used for the timed cells:
 *
 * - `x-bench-isolate-ms`: the isolate's clock across the handler (in workerd
 *   it advances only at I/O: wall time across awaits, not CPU time);
 * - `x-bench-d1-statements` and `x-bench-d1-round-trips`: what the request
 *   asked of D1, counted on the binding (src/counting-d1.ts): a statement run
 *   alone is one round trip, a batch is one;
 * - `/__bench/*` calibration routes that never enter Better Auth: a no-op
 *   response and bare D1 round trips, the same as ours.
 */
import { type Auth, buildAuth, type Env, health } from "./auth.ts";
import { counted, countingD1 } from "./counting-d1.ts";

let auth: Auth | undefined;
let scratchReady: Promise<unknown> | null = null;

async function calibrate(path: string, env: Env): Promise<Response | null> {
	switch (path) {
		case "/__bench/noop":
			break;
		case "/__bench/d1-1":
			await env.DB.prepare("SELECT 1 AS one").first();
			break;
		case "/__bench/d1-6":
			for (let i = 0; i < 6; i++) await env.DB.prepare("SELECT 1 AS one").first();
			break;
		case "/__bench/d1-write-6": {
			scratchReady ??= env.DB.prepare(
				"CREATE TABLE IF NOT EXISTS bench_calibration (k INTEGER PRIMARY KEY, v TEXT NOT NULL)",
			).run();
			await scratchReady;
			for (let i = 0; i < 6; i++) {
				await env.DB.prepare("INSERT OR REPLACE INTO bench_calibration (k, v) VALUES (?, ?)")
					.bind(i, crypto.randomUUID())
					.run();
			}
			break;
		}
		case "/__bench/d1-batch-6":
			await env.DB.batch(Array.from({ length: 6 }, () => env.DB.prepare("SELECT 1 AS one")));
			break;
		default:
			return null;
	}
	return health();
}

export default {
	async fetch(request, env) {
		const { pathname } = new URL(request.url);
		if (pathname.startsWith("/__bench/")) {
			const calibrated = await calibrate(pathname, env);
			if (calibrated) return calibrated;
		}
		if (pathname === "/health") return health();
		if (!pathname.startsWith("/api/auth/")) return new Response("not found", { status: 404 });
		const started = performance.now();
		const { value: response, count } = await counted(() => {
			auth ??= buildAuth(env.ORIGIN, countingD1(env.DB));
			return auth.handler(request);
		});
		const elapsed = performance.now() - started;
		const timed = new Response(response.body, response);
		timed.headers.set("x-bench-isolate-ms", elapsed.toFixed(3));
		timed.headers.set("x-bench-d1-statements", String(count.statements));
		timed.headers.set("x-bench-d1-round-trips", String(count.roundTrips));
		return timed;
	},
} satisfies ExportedHandler<Env>;
