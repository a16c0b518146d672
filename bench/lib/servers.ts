/**
 * The three systems under test, each started fresh for the run: our Worker in
 * `wrangler dev` (workerd, local D1 and Durable Objects, a new --persist-to
 * directory with the migrations applied), the Better Auth peer as a Worker,
 * started exactly as ours is (the same wrangler and workerd, dev-only features
 * off, reached on its own workerd socket, local D1 with its migrations
 * applied), and the Better Auth peer on Node. All listen on 127.0.0.1 only.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
	commandName,
	descendants,
	listeningPorts,
	runToCompletion,
	type Started,
	startProcess,
	stopProcess,
	waitForHttp,
} from "./processes.ts";

export const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
export const PEER_DIR = join(ROOT, "bench", "peer");
export const PEER_WORKER_DIR = join(ROOT, "bench", "peer-worker");
const WRANGLER = join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");

const QUIET_ENV = {
	WRANGLER_SEND_METRICS: "false",
	WRANGLER_SEND_ERROR_REPORTS: "false",
	FORCE_COLOR: "0",
	NO_COLOR: "1",
};

/**
 * Development-only features of `wrangler dev` that production does not have
 * and that cost more CPU than a whole request of ours: the local trace
 * collector (X_LOCAL_OBSERVABILITY) writes every request's trace into a
 * SQLite file with an fsync, the local explorer serves a dashboard, and
 * Request.cf is fetched from Cloudflare (no network here). The benchmark
 * turns them off; `npm run dev` keeps them.
 */
const DEV_ONLY_FEATURES_OFF = {
	X_LOCAL_OBSERVABILITY: "false",
	X_LOCAL_EXPLORER: "false",
	CLOUDFLARE_CF_FETCH_ENABLED: "false",
};

/**
 * How the benchmark reaches our Worker under `wrangler dev`:
 * - "direct": the Worker's own workerd socket, the one wrangler's ProxyWorker
 *   forwards to (found from /proc). This is the path production has: no dev
 *   proxy in front of the Worker.
 * - "proxy": wrangler's front port, through its ProxyWorker, a JavaScript
 *   Durable Object in a second workerd process that holds requests during
 *   reloads; every request passes through that one object.
 */
export type OursFront = "direct" | "proxy";

export interface RunningServer {
	name: string;
	/** Where the benchmark sends its requests. */
	base: string;
	/** wrangler dev's front port for a Worker (its ProxyWorker); the same as base for the Node peer. */
	proxyBase: string;
	/** The origin the WebAuthn ceremonies are bound to (what a browser would send). */
	origin: string;
	process: Started;
	/** Time from spawning the process to its first 200 answer, in milliseconds. */
	timeToFirstResponseMs: number;
	/** The pids whose CPU time is the server's: workerd for a Worker, node for the Node peer. */
	cpuPids(): number[];
	stop(): Promise<void>;
}

export function newTempDir(prefix: string): string {
	return mkdtempSync(join(tmpdir(), prefix));
}

export function wrangler(args: string[], timeoutMs: number, cwd = ROOT): Promise<string[]> {
	return runToCompletion(`wrangler ${args[0]}`, process.execPath, [WRANGLER, ...args], {
		cwd,
		env: QUIET_ENV,
		timeoutMs,
	});
}

/**
 * wrangler refuses to start when wrangler.toml's [assets] directory is
 * missing (a fresh clone: it is built, not committed). Builds it with the
 * project's own script when there is one.
 */
export async function ensureAssets(): Promise<void> {
	const toml = readFileSync(join(ROOT, "wrangler.toml"), "utf8");
	const directory = /\[assets\][^[]*?directory\s*=\s*"([^"]+)"/.exec(toml)?.[1];
	if (!directory || existsSync(join(ROOT, directory))) return;
	const scripts = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts?: Record<string, string> })
		.scripts;
	if (!scripts?.["build:web"]) throw new Error(`wrangler.toml's assets directory ${directory} is missing`);
	console.log(`building the assets directory ${directory} (npm run build:web) ...`);
	await runToCompletion("npm run build:web", "npm", ["run", "build:web"], { cwd: ROOT, timeoutMs: 300_000 });
}

export async function ensureDevVars(): Promise<void> {
	await runToCompletion("ensure-dev-vars", process.execPath, [join(ROOT, "scripts", "ensure-dev-vars.mjs")], {
		cwd: ROOT,
		timeoutMs: 10_000,
	});
}

export interface OursOptions {
	port: number;
	persistTo: string;
	inspectorPort: number;
	/** Another entry module than wrangler.toml's `main` (the bench's timing wrapper). */
	entry?: string;
	front: OursFront;
}

export async function startOurs(options: OursOptions): Promise<RunningServer> {
	return startWorker({
		name: "ours",
		dir: ROOT,
		originVar: "ORIGINS",
		healthPath: "/api/health/",
		...options,
	});
}

export interface PeerWorkerOptions {
	port: number;
	persistTo: string;
	inspectorPort: number;
	/** The timing entry (bench/peer-worker/src/timed-entry.ts) instead of wrangler.toml's `main`. */
	timed?: boolean;
}

/** The Better Auth peer as a Worker, started exactly as ours is (always on its own workerd socket). */
export async function startPeerWorker(options: PeerWorkerOptions): Promise<RunningServer> {
	return startWorker({
		name: "peer-worker",
		dir: PEER_WORKER_DIR,
		originVar: "ORIGIN",
		healthPath: "/health",
		port: options.port,
		persistTo: options.persistTo,
		inspectorPort: options.inspectorPort,
		...(options.timed ? { entry: join("src", "timed-entry.ts") } : {}),
		front: "direct",
	});
}

interface WorkerStart extends OursOptions {
	name: string;
	/** The directory of its wrangler.toml (and of the migrations it names). */
	dir: string;
	/** The variable that carries the origin the ceremonies are bound to. */
	originVar: string;
	/** A route that answers 200 with `"success":true` and touches no storage. */
	healthPath: string;
}

/**
 * `wrangler dev` of the project's own wrangler, on a fresh --persist-to
 * directory with the D1 migrations applied, dev-only features off; reached on
 * the Worker's own workerd socket unless `front` is "proxy".
 */
async function startWorker(options: WorkerStart): Promise<RunningServer> {
	await wrangler(
		["d1", "migrations", "apply", "DB", "--local", "--persist-to", options.persistTo],
		120_000,
		options.dir,
	);
	const origin = `http://localhost:${options.port}`;
	const args = [
		WRANGLER,
		"dev",
		...(options.entry ? [options.entry] : []),
		"--ip",
		"127.0.0.1",
		"--port",
		String(options.port),
		"--inspector-port",
		String(options.inspectorPort),
		"--persist-to",
		options.persistTo,
		"--var",
		`${options.originVar}:${origin}`,
		"--show-interactive-dev-session=false",
		"--log-level",
		"warn",
	];
	const started = startProcess(`wrangler dev (${options.name})`, process.execPath, args, {
		cwd: options.dir,
		env: { ...QUIET_ENV, ...DEV_ONLY_FEATURES_OFF },
	});
	const proxyBase = `http://127.0.0.1:${options.port}`;
	let timeToFirstResponseMs: number;
	let base = proxyBase;
	try {
		timeToFirstResponseMs = await waitForHttp(`${proxyBase}${options.healthPath}`, started, 120_000);
		if (options.front === "direct") {
			base = await findWorkerSocket(started.pid, [options.port, options.inspectorPort], options.healthPath);
		}
	} catch (error) {
		await stopProcess(started);
		throw error;
	}
	return {
		name: options.name,
		base,
		proxyBase,
		origin,
		process: started,
		timeToFirstResponseMs,
		cpuPids: () => descendants(started.pid).filter((pid) => commandName(pid) === "workerd"),
		stop: () => stopProcess(started),
	};
}

/**
 * The workerd socket that serves the Worker itself: of the ports wrangler's
 * workerd processes listen on (its front and inspector ports left out), the
 * one that answers the Worker's health route.
 */
async function findWorkerSocket(wranglerPid: number, exclude: number[], healthPath: string): Promise<string> {
	const pids = descendants(wranglerPid).filter((pid) => commandName(pid) === "workerd");
	const candidates = listeningPorts(pids).filter((port) => !exclude.includes(port));
	for (const port of candidates) {
		const base = `http://127.0.0.1:${port}`;
		try {
			const response = await fetch(`${base}${healthPath}`, { signal: AbortSignal.timeout(2000) });
			const body = await response.text();
			if (response.status === 200 && body.includes('"success":true')) return base;
		} catch {
			// Not an HTTP socket of the Worker (the inspector, the loopback).
		}
	}
	throw new Error(`no workerd socket of wrangler dev answered ${healthPath} (ports tried: ${candidates.join(", ")})`);
}

/**
 * Installs each peer's locked dependencies when they are missing (npm ci, its
 * own lockfile). The Worker peer has no wrangler of its own: it runs on the
 * project's, so that both Workers run on the same workerd.
 */
export async function ensurePeerInstalled(): Promise<void> {
	for (const dir of [PEER_DIR, PEER_WORKER_DIR]) {
		if (existsSync(join(dir, "node_modules", "better-auth"))) continue;
		const name = `bench/${dir.split("/").at(-1)}`;
		console.log(`installing a peer (${name}: npm ci)...`);
		await runToCompletion(`npm ci (${name})`, "npm", ["ci", "--no-audit", "--no-fund"], {
			cwd: dir,
			timeoutMs: 600_000,
		});
	}
}

export async function startPeer(options: { port: number; dataDir: string }): Promise<RunningServer> {
	const origin = `http://localhost:${options.port}`;
	const started = startProcess(
		"peer (Better Auth)",
		process.execPath,
		["server.ts", "--port", String(options.port), "--db", join(options.dataDir, "peer.sqlite")],
		{ cwd: PEER_DIR, env: { NODE_ENV: "production", NODE_NO_WARNINGS: "1" } },
	);
	const base = `http://127.0.0.1:${options.port}`;
	let timeToFirstResponseMs: number;
	try {
		timeToFirstResponseMs = await waitForHttp(`${base}/health`, started, 60_000);
	} catch (error) {
		await stopProcess(started);
		throw error;
	}
	return {
		name: "peer",
		base,
		proxyBase: base,
		origin,
		process: started,
		timeToFirstResponseMs,
		cpuPids: () => [started.pid],
		stop: () => stopProcess(started),
	};
}

/** The local D1 database file under a --persist-to directory (the largest .sqlite of D1's folder). */
export function d1File(persistTo: string): string {
	const dir = join(persistTo, "v3", "d1", "miniflare-D1DatabaseObject");
	const files = readdirSync(dir)
		.filter((file) => file.endsWith(".sqlite") && file !== "metadata.sqlite")
		.map((file) => join(dir, file));
	const largest = files.sort((a, b) => statSync(b).size - statSync(a).size)[0];
	if (!largest) throw new Error(`no D1 database file under ${dir}`);
	return largest;
}

/** The Durable Object SQLite files (one per object that has stored anything). */
export function durableObjectFiles(persistTo: string): string[] {
	const dir = join(persistTo, "v3", "do");
	if (!existsSync(dir)) return [];
	const files: string[] = [];
	for (const namespace of readdirSync(dir)) {
		const path = join(dir, namespace);
		if (!statSync(path).isDirectory()) continue;
		for (const file of readdirSync(path)) {
			if (file.endsWith(".sqlite") && file !== "metadata.sqlite") files.push(join(path, file));
		}
	}
	return files;
}
