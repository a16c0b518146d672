/**
 * `npm run bench:profile -- --op passkey_registration`: where our workerd's
 * CPU goes during one benchmark operation. Starts the Worker as `npm run
 * bench` does (wrangler dev, reached directly, dev-only features off) with
 * V8's perf map on, runs the operation at a fixed concurrency with the
 * benchmark's own accounts and ceremonies, records the workerd processes
 * with Linux `perf` (call graphs), and splits the samples by the nearest
 * JavaScript frame on each stack: which script (our bundle, local D1's
 * Worker, miniflare's entry and router Workers) the CPU was spent for, and
 * how much ran with no JavaScript on the stack at all (HTTP, RPC, the event
 * loop, GC, I/O).
 *
 * Needs `perf` (Debian: linux-perf) and permission to record other processes
 * of this user (kernel.perf_event_paranoid ≤ 1, or root).
 *
 * Options: --op <operation> --seconds <recording time> --concurrency <n>
 *   --pool <accounts>
 */
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Ours } from "./lib/ours.ts";
import { freePort } from "./lib/processes.ts";
import { runCell } from "./lib/runner.ts";
import { ensureAssets, ensureDevVars, newTempDir, ROOT, startOurs } from "./lib/servers.ts";
import { OPERATIONS, type Operation } from "./lib/system.ts";

const { values: args } = parseArgs({
	options: {
		op: { type: "string", default: "passkey_registration" },
		seconds: { type: "string", default: "10" },
		concurrency: { type: "string", default: "8" },
		pool: { type: "string", default: "512" },
	},
});
const operation = args.op as Operation;
if (!OPERATIONS.includes(operation)) throw new Error(`--op: one of ${OPERATIONS.join(", ")}`);
const seconds = Number(args.seconds);
const concurrency = Number(args.concurrency);
if (!(seconds > 0 && seconds <= 120)) throw new Error("--seconds: 1..120");
if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) throw new Error("--concurrency: 1..256");
if (spawnSync("perf", ["--version"]).status !== 0) throw new Error("perf is not installed (Debian: linux-perf)");

/** Samples whose stack has no JavaScript frame, and samples per script of the nearest one. */
function attribute(perfScript: string): { total: number; byScript: Map<string, number> } {
	const byScript = new Map<string, number>();
	let total = 0;
	for (const sample of perfScript.split(/\n\s*\n/)) {
		const frames = sample.split("\n").filter((line) => line.trim() !== "");
		if (frames.length === 0) continue;
		total += 1;
		let script = "(no JavaScript on the stack)";
		for (const frame of frames) {
			// --perf-basic-prof names JIT code "JS:<tier><function> <script>:<line>:<column>".
			const match = /JS:\S*\s+(\S+?):\d+:\d+/.exec(frame);
			if (match?.[1]) {
				script = match[1];
				break;
			}
		}
		byScript.set(script, (byScript.get(script) ?? 0) + 1);
	}
	return { total, byScript };
}

const NAMES: Record<string, string> = {
	"index.js": "our Worker's bundle (our code, Hono, zod, drizzle, @simplewebauthn/server)",
	"cloudflare-internal:d1-api": "the D1 binding's wrapper, in our isolate",
	"database.worker.js": "local D1 (miniflare's D1 object)",
	"entry.worker.js": "miniflare's entry Worker",
	"router-worker.mjs": "the assets router Worker",
};

const started = Date.now();
await ensureAssets();
await ensureDevVars();
const persistTo = newTempDir("passkey-edge-profile-");
process.env.MINIFLARE_WORKERD_V8_FLAGS = "--perf-basic-prof";
const server = await startOurs({
	port: await freePort(),
	inspectorPort: await freePort(),
	persistTo,
	front: "direct",
});
const perfData = join(persistTo, "perf.data");
try {
	const ours = new Ours(server.base, server.origin);
	console.log(`preparing ${args.pool} accounts for ${operation} (untimed) ...`);
	await ours.prepare(operation, Number(args.pool));
	await ours.beforeCell(operation);
	// Warm the JIT, so that the recording sees the steady state.
	await runCell(ours, operation, { concurrency, durationMs: 2000, maxOps: 100_000, round: 0 });
	await ours.afterCell(operation);
	await ours.beforeCell(operation);
	const pids = server.cpuPids();
	const perf = spawn(
		"perf",
		["record", "-F", "999", "-g", "-o", perfData, "-p", pids.join(","), "--", "sleep", String(seconds)],
		{
			stdio: "ignore",
		},
	);
	const cell = await runCell(ours, operation, { concurrency, durationMs: seconds * 1000, maxOps: 100_000, round: 1 });
	await new Promise((resolve) => perf.once("exit", resolve));
	await ours.afterCell(operation);
	const script = spawnSync("perf", ["script", "-i", perfData, "-F", "ip,sym"], {
		encoding: "utf8",
		maxBuffer: 1 << 30,
	});
	if (script.status !== 0) throw new Error(`perf script failed: ${script.stderr.slice(0, 300)}`);
	const { total, byScript } = attribute(script.stdout);
	console.log(
		`\n${operation}, concurrency ${concurrency}, ${seconds} s: ${cell.ok} ceremonies (${cell.throughput.toFixed(1)}/s under perf), ${cell.errors} errors, ${total} samples of workerd (pids ${pids.join(", ")})\n`,
	);
	console.log("| nearest JavaScript frame's script | share of samples |\n|---|---:|");
	for (const [name, count] of [...byScript].sort((a, b) => b[1] - a[1])) {
		if (count / total < 0.001) continue;
		console.log(`| ${NAMES[name] ?? name} | ${((100 * count) / total).toFixed(1)} % |`);
	}
} finally {
	const pids = server.cpuPids();
	await server.stop();
	rmSync(persistTo, { recursive: true, force: true });
	for (const pid of pids) rmSync(`/tmp/perf-${pid}.map`, { force: true });
	// V8's perf map option also writes one isolate-*-v8.log per isolate into the working directory.
	for (const name of readdirSync(ROOT)) {
		if (/^isolate-.*-v8\.log$/.test(name) && statSync(join(ROOT, name)).mtimeMs >= started) rmSync(join(ROOT, name));
	}
}
