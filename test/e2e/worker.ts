// Starts `wrangler dev` for the browser tests: a free port, a fresh local
// database under a temporary --persist-to directory, and ORIGINS set to that
// port so that the page's Origin is accepted.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createWriteStream, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const WRANGLER = join(ROOT, "node_modules/wrangler/bin/wrangler.js");
const run = promisify(execFile);
const WRANGLER_ENV = { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1", FORCE_COLOR: "0" };

/**
 * A port the system picks at random. Not a fixed preferred port: other
 * worktrees run this suite on the same machine, and two runs that start
 * together would both find the same fixed port free before either binds it.
 */
async function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = createServer();
		server.once("error", reject);
		server.listen({ port: 0, host: "127.0.0.1" }, () => {
			const address = server.address();
			const port = typeof address === "object" && address ? address.port : 0;
			server.close(() => (port > 0 ? resolve(port) : reject(new Error("no free port"))));
		});
	});
}

/**
 * Whether a process of this process group listens on `port` (from /proc: the
 * LISTEN sockets of that port, matched against the group's open sockets). The
 * health check must reach our own `wrangler dev`, not another run's server
 * that took the port first.
 */
function groupListensOn(pgid: number, port: number): boolean {
	const inodes = new Set<string>();
	for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
		let rows: string[] = [];
		try {
			rows = readFileSync(table, "utf8").split("\n").slice(1);
		} catch {
			continue;
		}
		for (const row of rows) {
			// local_address is HEXIP:HEXPORT; state 0A is LISTEN; field 9 is the socket's inode.
			const fields = row.trim().split(/\s+/);
			const localPort = Number.parseInt(fields[1]?.split(":").at(-1) ?? "", 16);
			if (fields[3] === "0A" && localPort === port && fields[9]) inodes.add(fields[9]);
		}
	}
	if (inodes.size === 0) return false;
	for (const entry of readdirSync("/proc")) {
		if (!/^\d+$/.test(entry)) continue;
		try {
			const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
			// After the ")" that closes the command name: state, ppid, pgrp.
			if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]) !== pgid) continue;
			for (const fd of readdirSync(`/proc/${entry}/fd`)) {
				const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${entry}/fd/${fd}`))?.[1];
				if (inode && inodes.has(inode)) return true;
			}
		} catch {
			// The process ended while we looked.
		}
	}
	return false;
}

/** Runs wrangler to completion (the migrations). */
export async function wrangler(args: string[]): Promise<string> {
	const { stdout } = await run(process.execPath, [WRANGLER, ...args], {
		cwd: ROOT,
		env: WRANGLER_ENV,
		timeout: 180_000,
		maxBuffer: 16 * 1024 * 1024,
	});
	return stdout;
}

export interface RunningWorker {
	baseUrl: string;
	persistDir: string;
	stop(): Promise<void>;
}

function exited(child: ChildProcess, ms: number): Promise<boolean> {
	if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
	return new Promise((resolve) => {
		const timer = setTimeout(() => resolve(false), ms);
		child.once("exit", () => {
			clearTimeout(timer);
			resolve(true);
		});
	});
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
	if (child.pid === undefined) return;
	try {
		// The negative pid is the process group that `detached` gave wrangler:
		// it and the workerd it started, and nothing else.
		process.kill(-child.pid, signal);
	} catch {
		// Already gone.
	}
}

export interface WorkerOptions {
	/** More `--var NAME:value` for this run (the examples configure token audiences so). */
	vars?: Record<string, string>;
}

export async function startWorker(options: WorkerOptions = {}): Promise<RunningWorker> {
	await run(process.execPath, [join(ROOT, "scripts/ensure-dev-vars.mjs")], { cwd: ROOT });
	const persistDir = await mkdtemp(join(tmpdir(), "passkey-edge-e2e-"));
	await wrangler(["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistDir]);

	// A port taken between the check and wrangler's bind (another run) makes
	// wrangler exit with "Address already in use": then again, on new ports.
	const failures: string[] = [];
	for (let attempt = 1; attempt <= 3; attempt++) {
		const started = await startDev(persistDir, attempt, options);
		if ("baseUrl" in started) return started;
		failures.push(started.failure);
	}
	await rm(persistDir, { recursive: true, force: true });
	throw new Error(`wrangler dev did not become ready:\n${failures.join("\n\n")}`);
}

async function startDev(
	persistDir: string,
	attempt: number,
	options: WorkerOptions,
): Promise<RunningWorker | { failure: string }> {
	const port = await freePort();
	const inspectorPort = await freePort();
	const baseUrl = `http://localhost:${port}`;
	const logPath = join(persistDir, `wrangler-dev-${attempt}.log`);
	const log = createWriteStream(logPath);
	const child = spawn(
		process.execPath,
		[
			WRANGLER,
			"dev",
			"--port",
			String(port),
			"--inspector-port",
			String(inspectorPort),
			"--persist-to",
			persistDir,
			"--var",
			`ORIGINS:${baseUrl}`,
			...Object.entries(options.vars ?? {}).flatMap(([name, value]) => ["--var", `${name}:${value}`]),
			"--show-interactive-dev-session=false",
		],
		{ cwd: ROOT, env: WRANGLER_ENV, detached: true, stdio: ["ignore", "pipe", "pipe"] },
	);
	child.stdout?.pipe(log);
	child.stderr?.pipe(log);

	const halt = async () => {
		killGroup(child, "SIGTERM");
		if (!(await exited(child, 10_000))) {
			killGroup(child, "SIGKILL");
			await exited(child, 5_000);
		}
		log.end();
	};
	const stop = async () => {
		await halt();
		await rm(persistDir, { recursive: true, force: true });
	};

	const deadline = Date.now() + 240_000;
	while (Date.now() < deadline && child.exitCode === null && child.pid !== undefined) {
		try {
			const response = await fetch(`${baseUrl}/api/health/`, { signal: AbortSignal.timeout(10_000) });
			await response.arrayBuffer();
			if (response.ok && groupListensOn(child.pid, port)) return { baseUrl, persistDir, stop };
		} catch {
			// Not listening yet.
		}
		await new Promise((resolve) => setTimeout(resolve, 500));
	}
	await halt();
	const output = await readFile(logPath, "utf8").catch(() => "");
	return { failure: `on ${baseUrl}:\n${output.slice(-4000)}` };
}
