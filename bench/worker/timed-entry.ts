/**
 * The Worker as deployed, with additions for the benchmark's CPU phase only
 * (never deployed; run by `npm run bench` with `wrangler dev <this file>`):
 *
 * - each response carries `x-bench-isolate-ms`, the time between entering and
 *   leaving the Worker's fetch handler as the isolate's own clock sees it. In
 *   workerd, performance.now() (like Date.now()) does not advance while
 *   JavaScript runs: it moves only when I/O happens (a Spectre mitigation).
 *   So this is wall time across the handler's awaits: CPU time plus the time
 *   spent waiting on D1 and the Durable Object, minus any CPU spent after the
 *   last I/O;
 * - `/api/__bench/*` calibration routes that never enter the app: a no-op
 *   response (the cost of `wrangler dev` itself), and bare D1 round trips and
 *   Durable Object calls, reads and writes, to price each storage round trip
 *   a ceremony makes.
 */
import { userStateFor } from "../../src/durable/stubs";
import worker from "../../src/index";

export { UserState } from "../../src/index";

const JSON_OK = { headers: { "content-type": "application/json" } };

// A scratch table for the write calibration, outside the app's schema.
let scratchReady: Promise<unknown> | null = null;

async function calibrate(path: string, env: Cloudflare.Env): Promise<Response | null> {
	switch (path) {
		case "/api/__bench/noop":
			break;
		case "/api/__bench/d1-1":
			await env.DB.prepare("SELECT 1 AS one").first();
			break;
		case "/api/__bench/d1-6":
			for (let i = 0; i < 6; i++) await env.DB.prepare("SELECT 1 AS one").first();
			break;
		case "/api/__bench/d1-write-6": {
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
		case "/api/__bench/d1-batch-6":
			await env.DB.batch(Array.from({ length: 6 }, () => env.DB.prepare("SELECT 1 AS one")));
			break;
		case "/api/__bench/do-3": {
			// A read-only call of the user's Durable Object, three times in a row.
			const stub = userStateFor(env.USER_STATE, "bench-calibration");
			for (let i = 0; i < 3; i++) await stub.peekPending("bench", Date.now());
			break;
		}
		case "/api/__bench/do-write-3": {
			// Three calls that each write the object's SQLite (a challenge stored, as options routes do).
			const stub = userStateFor(env.USER_STATE, "bench-calibration");
			for (let i = 0; i < 3; i++) await stub.putPending("bench", crypto.randomUUID(), Date.now() + 60_000);
			break;
		}
		default:
			return null;
	}
	return new Response('{"success":true}', JSON_OK);
}

export default {
	async fetch(request, env, ctx) {
		const path = new URL(request.url).pathname;
		if (path.startsWith("/api/__bench/")) {
			const calibrated = await calibrate(path, env);
			if (calibrated) return calibrated;
		}
		const started = performance.now();
		const response = await worker.fetch(request, env, ctx);
		const elapsed = performance.now() - started;
		const timed = new Response(response.body, response);
		timed.headers.set("x-bench-isolate-ms", elapsed.toFixed(3));
		return timed;
	},
} satisfies ExportedHandler<Cloudflare.Env>;
