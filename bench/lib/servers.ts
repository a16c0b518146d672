/**
 * The two systems under test, each started fresh for the run: our Worker in
 * `wrangler dev` (workerd, local D1 and Durable Objects, a new --persist-to
 * directory with the migrations applied) and the Better Auth peer on Node.
 * Both listen on 127.0.0.1 only.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
	commandName,
	descendants,
	runToCompletion,
	type Started,
	startProcess,
	stopProcess,
	waitForHttp,
} from "./processes.ts";

export const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
export const PEER_DIR = join(ROOT, "bench", "peer");
const WRANGLER = join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");

const QUIET_ENV = {
	WRANGLER_SEND_METRICS: "false",
	WRANGLER_SEND_ERROR_REPORTS: "false",
	FORCE_COLOR: "0",
	NO_COLOR: "1",
};

export interface RunningServer {
	name: string;
	base: string;
	/** The origin the WebAuthn ceremonies are bound to (what a browser would send). */
	origin: string;
	process: Started;
	/** Time from spawning the process to its first 200 answer, in milliseconds. */
	timeToFirstResponseMs: number;
	/** The pids whose CPU time is the server's: workerd for ours, node for the peer. */
	cpuPids(): number[];
	stop(): Promise<void>;
}

export function newTempDir(prefix: string): string {
	return mkdtempSync(join(tmpdir(), prefix));
}

export function wrangler(args: string[], timeoutMs: number): Promise<string[]> {
	return runToCompletion(`wrangler ${args[0]}`, process.execPath, [WRANGLER, ...args], {
		cwd: ROOT,
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
}

export async function startOurs(options: OursOptions): Promise<RunningServer> {
	await wrangler(["d1", "migrations", "apply", "DB", "--local", "--persist-to", options.persistTo], 120_000);
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
		`ORIGINS:${origin}`,
		"--show-interactive-dev-session=false",
		"--log-level",
		"warn",
	];
	const started = startProcess("wrangler dev", process.execPath, args, { cwd: ROOT, env: QUIET_ENV });
	const base = `http://127.0.0.1:${options.port}`;
	let timeToFirstResponseMs: number;
	try {
		timeToFirstResponseMs = await waitForHttp(`${base}/api/health/`, started, 120_000);
	} catch (error) {
		await stopProcess(started);
		throw error;
	}
	return {
		name: "ours",
		base,
		origin,
		process: started,
		timeToFirstResponseMs,
		cpuPids: () => descendants(started.pid).filter((pid) => commandName(pid) === "workerd"),
		stop: () => stopProcess(started),
	};
}

/** Installs the peer's locked dependencies when they are missing (npm ci, its own lockfile). */
export async function ensurePeerInstalled(): Promise<void> {
	if (existsSync(join(PEER_DIR, "node_modules", "better-auth"))) return;
	console.log("installing the peer (bench/peer: npm ci)...");
	await runToCompletion("npm ci (bench/peer)", "npm", ["ci", "--no-audit", "--no-fund"], {
		cwd: PEER_DIR,
		timeoutMs: 600_000,
	});
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
