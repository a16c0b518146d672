/**
 * `npm run bench`: our Worker (wrangler dev: workerd, local D1 and Durable
 * Objects) against Better Auth with its passkey and two-factor plugins, as a
 * Worker on the same runtime (wrangler dev, local D1, started and reached as
 * ours is) and on Node, in one run on this machine. All are started fresh on
 * 127.0.0.1 and stopped at the end; every loop is bounded in time and count.
 *
 *   1. size and start-up: the deploy bundle's gzip size, the start-up profile;
 *   2. accounts for every operation are prepared before any timing;
 *   3. warm-up, then rounds of cells: per concurrency and operation, the
 *      three systems one after the other (the order rotates between rounds);
 *   4. CPU per route at concurrency 1 (and, for the Better Auth Worker, its
 *      D1 round trips counted per request), which also seeds the database
 *      and the Durable Objects that give rows and bytes per user (the
 *      directory in D1, the user's own object, the limiter objects), printed
 *      at the end and written with the rest;
 *   5. storage round trips per ceremony and the production latency model;
 *   6. bench/results/latest.json and latest.md.
 *
 * Options: --duration <s per cell> --rounds <n> --concurrency 1,8,32
 *   --pool <accounts per operation> --warmup <s> --seed-users <n>
 *   --ops <comma list, or none> --label <text> --out <file name, default latest>
 *   --skip-cpu --skip-size --keep
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { cpus, release, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type Floor, measureFloor, type RouteCpu, RouteMeter, seedOurs, seedPeer } from "./lib/cpu-phase.ts";
import { measureHashes } from "./lib/hashes.ts";
import { latencyModel, modelSystems, PLACEMENTS } from "./lib/latency-model.ts";
import { Ours } from "./lib/ours.ts";
import { NODE_PEER, Peer, WORKER_PEER } from "./lib/peer.ts";
import { freePort } from "./lib/processes.ts";
import {
	aggregate,
	describeGoal,
	goalChecks,
	latencyModelMarkdown,
	type Results,
	ratios,
	roundSpread,
	storageMarkdown,
	toMarkdown,
} from "./lib/report.ts";
import { PASSKEY_CEREMONIES } from "./lib/round-trips.ts";
import { type CellResult, runCell } from "./lib/runner.ts";
import {
	d1File,
	durableObjectFiles,
	ensureAssets,
	ensureDevVars,
	ensurePeerInstalled,
	newTempDir,
	type OursFront,
	PEER_DIR,
	PEER_WORKER_DIR,
	ROOT,
	type RunningServer,
	startOurs,
	startPeer,
	startPeerWorker,
} from "./lib/servers.ts";
import { profileStartup, type StartupProfile } from "./lib/startup.ts";
import { round } from "./lib/stats.ts";
import { measureStorage, type StorageReport } from "./lib/storage.ts";
import { OPERATION_LABELS, OPERATIONS, type Operation, SYSTEM_LABELS, type SystemUnderTest } from "./lib/system.ts";

const { values: args } = parseArgs({
	options: {
		duration: { type: "string", default: "5" },
		rounds: { type: "string", default: "3" },
		concurrency: { type: "string", default: "1,8,32" },
		pool: { type: "string", default: "64" },
		warmup: { type: "string", default: "1" },
		"seed-users": { type: "string", default: "100" },
		ops: { type: "string", default: OPERATIONS.join(",") },
		label: { type: "string", default: "full run" },
		out: { type: "string", default: "latest" },
		// "auto": a port the OS reports free just before each server starts.
		port: { type: "string", default: "auto" },
		"peer-port": { type: "string", default: "auto" },
		"peer-worker-port": { type: "string", default: "auto" },
		"cpu-port": { type: "string", default: "auto" },
		"max-ops": { type: "string", default: "20000" },
		// "direct": the Worker's own workerd socket (what production has); "proxy": wrangler's ProxyWorker in front.
		front: { type: "string", default: "direct" },
		"skip-cpu": { type: "boolean", default: false },
		"skip-size": { type: "boolean", default: false },
		keep: { type: "boolean", default: false },
	},
});

const durationMs = Number(args.duration) * 1000;
const rounds = Number(args.rounds);
const concurrencies = String(args.concurrency).split(",").map(Number);
const poolSize = Math.max(Number(args.pool), ...concurrencies);
const warmupMs = Number(args.warmup) * 1000;
const seedUsers = Number(args["seed-users"]);
const maxOps = Number(args["max-ops"]);
const operations = String(args.ops)
	.split(",")
	.map((op) => op.trim())
	.filter((op): op is Operation => (OPERATIONS as readonly string[]).includes(op));
for (const [name, value] of Object.entries({ durationMs, rounds, poolSize, seedUsers, maxOps })) {
	if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name}: expected a positive number`);
}
if (concurrencies.some((c) => !Number.isInteger(c) || c < 1 || c > 256)) throw new Error("--concurrency: 1..256");
if (args.front !== "direct" && args.front !== "proxy") throw new Error("--front: direct or proxy");
const front = args.front as OursFront;

const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
	throw new Error(`Node ${process.versions.node}: the benchmark needs Node >= 22.12 (run it with \`npm run bench\`)`);
}

/** Accounts per operation: registration and TOTP use each account only so often, so they get more. */
function accountsFor(operation: Operation): number {
	return operation === "passkey_registration" || operation === "totp_verify" ? poolSize * 4 : poolSize;
}

function isListening(port: number): Promise<boolean> {
	return new Promise((resolve) => {
		const socket = connect({ host: "127.0.0.1", port });
		socket.once("connect", () => {
			socket.destroy();
			resolve(true);
		});
		socket.once("error", () => resolve(false));
	});
}

/** The port to start a server on, checked free right before it is used (other servers may come and go). */
async function portFor(option: unknown): Promise<number> {
	const port = option === "auto" ? await freePort() : Number(option);
	if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`not a port: ${String(option)}`);
	if (await isListening(port)) {
		throw new Error(`port ${port} on 127.0.0.1 is in use: stop what listens there or pass another port`);
	}
	return port;
}

function packageVersion(path: string): string {
	try {
		return (JSON.parse(readFileSync(path, "utf8")) as { version: string }).version;
	} catch {
		return "?";
	}
}

function quoted(arg: string): string {
	return /[\s"'$]/.test(arg) ? `'${arg.replace(/'/g, "'\\''")}'` : arg;
}

function machine() {
	const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
	const model = /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model ?? "unknown";
	return {
		cpu: model,
		cores: cpus().length,
		memoryGiB: round(totalmem() / 1024 ** 3, 1),
		os: `Linux ${release()}`,
	};
}

function bundleSize(): Record<string, unknown> | null {
	const run = spawnSync(process.execPath, [join(ROOT, "scripts", "bundle-size.mjs"), "--json"], {
		cwd: ROOT,
		encoding: "utf8",
		timeout: 240_000,
	});
	const line = run.stdout.trim().split("\n").at(-1) ?? "";
	try {
		return JSON.parse(line) as Record<string, unknown>;
	} catch {
		console.error("bundle size: could not measure\n", run.stdout, run.stderr);
		return null;
	}
}

function printCell(cell: CellResult): void {
	const flag = cell.errors > 0 ? `  ⚠ ${cell.errors} ERRORS` : cell.poolLimited ? "  (pool-limited)" : "";
	console.log(
		`  ${cell.system.padEnd(11)} ${cell.operation.padEnd(22)} c=${String(cell.concurrency).padEnd(3)} ` +
			`${round(cell.throughput, 1).toFixed(1).padStart(7)} ops/s  p50 ${round(cell.latency.p50, 1).toFixed(1).padStart(7)} ms  ` +
			`p99 ${round(cell.latency.p99, 1).toFixed(1).padStart(7)} ms  n=${cell.ok}${flag}`,
	);
	for (const [kind, n] of Object.entries(cell.errorKinds)) console.log(`       ${n}× ${kind}`);
}

async function main(): Promise<void> {
	const started = Date.now();
	const scratch = newTempDir("passkey-edge-bench-");
	const resultsDir = join(ROOT, "bench", "results");
	mkdirSync(resultsDir, { recursive: true });
	const servers: RunningServer[] = [];
	const timeToFirstResponseMs: Record<string, number> = {};
	let bundle: Record<string, unknown> | null = null;
	let startup: StartupProfile | null = null;
	let cpu: Results["cpu"] = null;
	let storage: StorageReport | null = null;
	const floors: Floor[] = [];
	const cells: CellResult[] = [];
	// A phase that fails is reported and the run goes on, so the figures already taken are written.
	const problems: string[] = [];
	const phase = async (name: string, work: () => Promise<void>) => {
		try {
			await work();
		} catch (error) {
			const message = error instanceof Error ? error.message : String(error);
			problems.push(`${name} failed: ${message.split("\n")[0]}`);
			console.error(`⚠ ${name} failed:`, error);
		}
	};

	console.log(
		`passkey-edge benchmark (${args.label}): ${operations.length} operations × concurrency ${concurrencies.join("/")} × ${rounds} rounds × ${durationMs / 1000} s`,
	);
	try {
		await ensureDevVars();
		await ensureAssets();
		await ensurePeerInstalled();

		if (!args["skip-size"]) {
			await phase("size", async () => {
				console.log("size: wrangler deploy --dry-run ...");
				bundle = bundleSize();
				if (bundle) console.log(`size: ${bundle.gzipKib} KiB gzip (budget ${bundle.budgetKib} KiB)`);
			});
			await phase("start-up profile", async () => {
				console.log("start-up: wrangler check startup ...");
				const profile = await profileStartup(scratch);
				startup = profile;
				console.log(`start-up: ${round(profile.activeMs, 1)} ms active in the start-up profile`);
			});
		}

		const oursServer = await startOurs({
			port: await portFor(args.port),
			persistTo: join(scratch, "ours-state"),
			inspectorPort: await freePort(),
			front,
		});
		servers.push(oursServer);
		timeToFirstResponseMs["ours (wrangler dev, fresh state)"] = oursServer.timeToFirstResponseMs;
		const peerWorkerServer = await startPeerWorker({
			port: await portFor(args["peer-worker-port"]),
			persistTo: join(scratch, "peer-worker-state"),
			inspectorPort: await freePort(),
		});
		servers.push(peerWorkerServer);
		timeToFirstResponseMs["peer-worker (wrangler dev, fresh state)"] = peerWorkerServer.timeToFirstResponseMs;
		const peerServer = await startPeer({ port: await portFor(args["peer-port"]), dataDir: scratch });
		servers.push(peerServer);
		timeToFirstResponseMs["peer (node server.ts, fresh database)"] = peerServer.timeToFirstResponseMs;
		const ready = (server: RunningServer) =>
			`${server.name} ${server.base} (ready in ${round(server.timeToFirstResponseMs / 1000, 2)} s)`;
		console.log(`servers: ${[oursServer, peerWorkerServer, peerServer].map(ready).join(", ")}`);

		const ours = new Ours(oursServer.base, oursServer.origin);
		const peerWorker = new Peer(peerWorkerServer.base, peerWorkerServer.origin, WORKER_PEER);
		const peer = new Peer(peerServer.base, peerServer.origin, NODE_PEER);
		console.log(`ours: ${ours.label}\npeer-worker: ${peerWorker.label}\npeer: ${peer.label}`);
		const systems: SystemUnderTest<unknown>[] = [
			ours as SystemUnderTest<unknown>,
			peerWorker as SystemUnderTest<unknown>,
			peer as SystemUnderTest<unknown>,
		];

		await phase("ceremonies", async () => {
			console.log("preparing accounts (untimed) ...");
			for (const operation of operations) {
				for (const system of systems) {
					if (!system.supports(operation)) continue;
					const t = performance.now();
					await system.prepare(operation, accountsFor(operation));
					console.log(
						`  ${system.name} ${operation}: ${accountsFor(operation)} accounts in ${round((performance.now() - t) / 1000, 1)} s`,
					);
				}
			}

			console.log("warm-up (discarded) ...");
			for (const operation of operations) {
				for (const system of systems) {
					if (!system.supports(operation)) continue;
					await system.beforeCell(operation);
					const cell = await runCell(system, operation, {
						concurrency: 4,
						durationMs: warmupMs,
						maxOps: 200,
						round: 0,
					});
					await system.afterCell(operation);
					if (cell.errors > 0) printCell(cell);
				}
			}

			for (let r = 1; r <= rounds; r++) {
				console.log(`round ${r}/${rounds}`);
				// Each system goes first, second and third in turn.
				const shift = (r - 1) % systems.length;
				const order = [...systems.slice(shift), ...systems.slice(0, shift)];
				for (const concurrency of concurrencies) {
					for (const operation of operations) {
						for (const system of order) {
							if (!system.supports(operation)) continue;
							await system.beforeCell(operation);
							const cell = await runCell(system, operation, { concurrency, durationMs, maxOps, round: r });
							await system.afterCell(operation);
							cells.push(cell);
							printCell(cell);
						}
					}
				}
			}
		});

		for (const server of [oursServer, peerWorkerServer]) {
			await server.stop();
			servers.splice(servers.indexOf(server), 1);
		}

		if (!args["skip-cpu"]) {
			await phase("CPU per route", async () => {
				console.log(`CPU per route: ${seedUsers} users each, one request at a time ...`);
				const cpuState = join(scratch, "ours-cpu-state");
				const timed = await startOurs({
					port: await portFor(args["cpu-port"]),
					persistTo: cpuState,
					inspectorPort: await freePort(),
					entry: join("bench", "worker", "timed-entry.ts"),
					front,
				});
				servers.push(timed);
				timeToFirstResponseMs["ours again (wrangler dev, timing wrapper, fresh state)"] = timed.timeToFirstResponseMs;
				let oursRoutes: RouteCpu[] = [];
				try {
					const pids = timed.cpuPids();
					const calibration: [string, string][] = [
						["wrangler dev alone (a no-op Worker response)", "/api/__bench/noop"],
						["our app, no storage (health route)", "/api/health/"],
						["no-op + 1 D1 query", "/api/__bench/d1-1"],
						["no-op + 6 D1 queries one after another", "/api/__bench/d1-6"],
						["no-op + 6 D1 writes one after another", "/api/__bench/d1-write-6"],
						["no-op + 6 D1 queries in one batch", "/api/__bench/d1-batch-6"],
						["no-op + 3 Durable Object reads one after another", "/api/__bench/do-3"],
						["no-op + 3 Durable Object writes one after another", "/api/__bench/do-write-3"],
					];
					for (const [what, path] of calibration) {
						floors.push(await measureFloor("ours", what, timed.base, path, pids, 100, 1500));
					}
					// What the benchmark leaves out when it goes direct: wrangler's ProxyWorker in front.
					if (timed.proxyBase !== timed.base) {
						const what = "a no-op through wrangler dev's front port (its ProxyWorker, a second workerd)";
						floors.push(await measureFloor("ours", what, timed.proxyBase, "/api/__bench/noop", pids, 100, 1500));
					}
					const meter = new RouteMeter(() => timed.cpuPids());
					meter.start();
					try {
						await seedOurs(new Ours(timed.base, timed.origin), seedUsers);
					} finally {
						oursRoutes = meter.stop();
					}
				} finally {
					await timed.stop();
					servers.splice(servers.indexOf(timed), 1);
				}
				storage = measureStorage(d1File(cpuState), durableObjectFiles(cpuState), scratch);
				const peerCalibration: [string, string][] = [
					["Hono on Node alone (health route)", "/health"],
					["Better Auth's router, no storage (/api/auth/ok)", "/api/auth/ok"],
				];
				for (const [what, path] of peerCalibration) {
					floors.push(await measureFloor("peer", what, peerServer.base, path, peerServer.cpuPids(), 100, 1500));
				}
				const peerMeter = new RouteMeter(() => peerServer.cpuPids());
				peerMeter.start();
				let peerRoutes: RouteCpu[] = [];
				try {
					await seedPeer(peer, seedUsers);
				} finally {
					peerRoutes = peerMeter.stop();
				}
				console.log(`CPU per route, Better Auth Worker: ${seedUsers} users (passkey ceremonies) ...`);
				const timedPeer = await startPeerWorker({
					port: await portFor(args["cpu-port"]),
					persistTo: join(scratch, "peer-worker-cpu-state"),
					inspectorPort: await freePort(),
					timed: true,
				});
				servers.push(timedPeer);
				timeToFirstResponseMs["peer-worker again (wrangler dev, timing wrapper, fresh state)"] =
					timedPeer.timeToFirstResponseMs;
				let peerWorkerRoutes: RouteCpu[] = [];
				try {
					const pids = timedPeer.cpuPids();
					const calibration: [string, string][] = [
						["wrangler dev alone (a no-op Worker response)", "/__bench/noop"],
						["no-op + 1 D1 query", "/__bench/d1-1"],
						["no-op + 6 D1 queries one after another", "/__bench/d1-6"],
						["no-op + 6 D1 writes one after another", "/__bench/d1-write-6"],
						["no-op + 6 D1 queries in one batch", "/__bench/d1-batch-6"],
					];
					for (const [what, path] of calibration) {
						floors.push(await measureFloor("peer-worker", what, timedPeer.base, path, pids, 100, 1500));
					}
					const meter = new RouteMeter(() => timedPeer.cpuPids());
					meter.start();
					try {
						await seedPeer(new Peer(timedPeer.base, timedPeer.origin, WORKER_PEER), seedUsers, true);
					} finally {
						peerWorkerRoutes = meter.stop();
					}
				} finally {
					await timedPeer.stop();
					servers.splice(servers.indexOf(timedPeer), 1);
				}
				cpu = { ours: oursRoutes, peer: peerRoutes, peerWorker: peerWorkerRoutes, seededUsers: seedUsers };
			});
		}
	} finally {
		for (const server of servers) await server.stop();
		if (!args.keep) rmSync(scratch, { recursive: true, force: true });
		else console.log(`kept: ${scratch}`);
	}

	const hashes = await measureHashes();
	const aggregates = aggregate(cells);
	const ratioList = ratios(aggregates, cells);
	// Better Auth's D1 round trips per route as this run counted them, if its CPU phase ran.
	const counted: Record<string, number> | null = (cpu as Results["cpu"])?.peerWorker?.length
		? Object.fromEntries(
				((cpu as Results["cpu"])?.peerWorker ?? []).flatMap((r) =>
					r.d1RoundTripsP50 === null || r.d1RoundTripsP50 === undefined ? [] : [[r.route, r.d1RoundTripsP50]],
				),
			)
		: null;
	const model = modelSystems(counted);
	const roundTrips = model
		.filter((m) => !m.system.includes("budget"))
		.flatMap((m) => PASSKEY_CEREMONIES.map((ceremony) => ({ system: m.system, ceremony, trips: m.trips[ceremony] })));
	const latency = { placements: PLACEMENTS, rows: latencyModel(model) };
	const results: Results = {
		environment: {
			date: new Date(started).toISOString(),
			command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).map(quoted).join(" ")}` : ""}`,
			label: String(args.label),
			machine: machine(),
			versions: {
				node: process.versions.node,
				wrangler: packageVersion(join(ROOT, "node_modules", "wrangler", "package.json")),
				workerd: packageVersion(join(ROOT, "node_modules", "workerd", "package.json")),
				"@simplewebauthn/server (ours)": packageVersion(
					join(ROOT, "node_modules", "@simplewebauthn", "server", "package.json"),
				),
				"better-auth": packageVersion(join(PEER_DIR, "node_modules", "better-auth", "package.json")),
				"@better-auth/passkey": packageVersion(
					join(PEER_DIR, "node_modules", "@better-auth", "passkey", "package.json"),
				),
				"@simplewebauthn/server (peer)": packageVersion(
					join(PEER_DIR, "node_modules", "@simplewebauthn", "server", "package.json"),
				),
				"better-auth (peer-worker)": packageVersion(
					join(PEER_WORKER_DIR, "node_modules", "better-auth", "package.json"),
				),
				"@better-auth/passkey (peer-worker)": packageVersion(
					join(PEER_WORKER_DIR, "node_modules", "@better-auth", "passkey", "package.json"),
				),
			},
			config: {
				durationSeconds: durationMs / 1000,
				rounds,
				concurrency: concurrencies,
				accountsPerOperation: poolSize,
				warmupSeconds: warmupMs / 1000,
				seedUsers,
				front,
			},
		},
		notes: [
			...problems.map((problem) => `⚠ ${problem}`),
			"Both peers' rate limiters are OFF (`rateLimit: { enabled: false }`): the whole load comes from one address. Ours keeps every limit on; a correct run produces no failed attempt, so none is ever reached.",
			"The three systems run on this one machine with the load generator (Node, which signs every WebAuthn response with WebCrypto): all share its two cores. Each cell runs one system alone; the others sit idle.",
			"peer-worker: Better Auth 1.7.6 with the same options as the Node peer, as a Worker (bench/peer-worker) on the project's own wrangler and workerd, started exactly as ours is: fresh --persist-to state with its D1 migrations applied (its schema from getMigrations().compileMigrations()), dev-only features off, reached on its own workerd socket, the same compatibility date (Node.js compatibility on). D1 is passed as it is (`database: env.DB`, Better Auth's built-in D1 dialect, no transactions); the instance is built once per isolate, on its first request. Only the passkey ceremonies run on it: its password hash (scrypt through node:crypto) is not ours either, so password sign-in and TOTP (which starts with one) stay out, as on the Node peer's side of the passkey comparison.",
			front === "direct"
				? "Ours is reached on the Worker's own workerd socket that `wrangler dev` starts (the one its ProxyWorker forwards to), not through the ProxyWorker: production has no dev proxy in front of a Worker. wrangler dev's local trace collector, local explorer and Request.cf fetch are off (X_LOCAL_OBSERVABILITY, X_LOCAL_EXPLORER, CLOUDFLARE_CF_FETCH_ENABLED = false): development tools that production does not have. The floor table shows what each costs."
				: "Ours is reached through `wrangler dev`'s front port (its ProxyWorker); the local trace collector, local explorer and Request.cf fetch are off.",
			"Ours: `wrangler dev` (workerd) with local D1 and Durable Objects, which are SQLite files on this disk; in production D1 and the Durable Object are network round trips away, so absolute latencies here are not production latencies. The peer: one Node process with SQLite in-process (node:sqlite, WAL).",
			"Clients: ours is driven as an app (`X-Client: app`, bearer tokens); the peer as its browser client (cookies; Better Auth keeps its WebAuthn challenge in a signed cookie).",
			"Passkey second factor exists only in ours: Better Auth's passkey plugin signs in, it is not a second factor, so that row has no peer figures.",
			"TOTP: each account uses each 30-second step once on both systems (Better Auth would accept a code again within its window; ours refuses a reused step). Accounts whose step is spent wait for the next; a cell that runs out is marked pool-limited.",
			"Registration: each account starts with one passkey and adds at most 4 per cell; they are deleted after the cell (untimed), so lists stay short.",
			"Password hashing differs by design: ours is PBKDF2-SHA-256 with 100,000 iterations in WebCrypto; Better Auth's is scrypt (N=16384, r=16) on libuv's thread pool. Sign-in throughput with a password is bound by it on both.",
		],
		aggregates,
		ratios: ratioList,
		goal: goalChecks(aggregates, ratioList),
		cells: cells.map(({ latencies: _latencies, steps: _steps, ...rest }) => rest),
		bundle,
		startup: { profile: startup, timeToFirstResponseMs },
		cpu,
		floors,
		hashes,
		storage,
		roundTrips,
		latencyModel: latency,
	};
	const outName = String(args.out).replace(/[^\w.-]/g, "_");
	writeFileSync(join(resultsDir, `${outName}.json`), `${JSON.stringify(results, null, "\t")}\n`);
	writeFileSync(join(resultsDir, `${outName}.md`), toMarkdown(results));

	console.log("\nsummary: ours ÷ each peer");
	for (const ratio of ratioList) {
		console.log(
			`  ${OPERATION_LABELS[ratio.operation].padEnd(52)} c=${String(ratio.concurrency).padEnd(3)} ÷ ${(ratio.versus ?? "peer").padEnd(11)} throughput ${ratio.throughput.toFixed(2)}×${roundSpread(ratio) ? ` (rounds ${roundSpread(ratio)})` : ""}  p99 ${ratio.p99.toFixed(2)}×`,
		);
	}
	for (const goal of results.goal) {
		console.log(
			`  goal ${goal.operation} c=8 ÷ ${SYSTEM_LABELS[goal.versus ?? "peer"]}: ${describeGoal(goal)}: ${goal.met ? "MET" : "NOT MET"}`,
		);
	}
	console.log("");
	for (const line of latencyModelMarkdown(latency)) console.log(line);
	// Assigned inside a phase's closure: the compiler cannot follow it there.
	const measuredStorage = storage as StorageReport | null;
	if (measuredStorage) for (const line of storageMarkdown(measuredStorage)) console.log(line);
	const errorCells = cells.filter((c) => c.errors > 0);
	if (errorCells.length) console.log(`  ⚠ ${errorCells.length} cells had errors: see bench/results/${outName}.md`);
	for (const problem of problems) console.log(`  ⚠ ${problem}`);
	if (problems.length > 0) process.exitCode = 1;
	console.log(`\nwrote bench/results/${outName}.json and .md in ${round((Date.now() - started) / 1000, 0)} s`);
}

try {
	await main();
} catch (error) {
	console.error(error);
	process.exitCode = 1;
}
// Every server this run started is stopped and every bounded wait's timer
// cleared by now, so Node would end by itself; the explicit exit guarantees
// it, so that a handle some library leaves open cannot keep a finished run
// alive. What was still open is named, so that it can be fixed.
const stillOpen = process.getActiveResourcesInfo().filter((resource) => resource !== "TTYWrap");
if (stillOpen.length > 0) console.error(`bench: still open at the end: ${stillOpen.join(", ")}`);
console.log(`bench: done (exit code ${process.exitCode ?? 0})`);
process.exit();
