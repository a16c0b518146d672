// Starts `wrangler dev` for the browser tests: a free port, a fresh local
// database under a temporary --persist-to directory, and ORIGINS set to that
// port so that the page's Origin is accepted.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { createWriteStream } from "node:fs";
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

/** `preferred` when nothing listens on it, else a port the system picks. */
async function freePort(preferred: number): Promise<number> {
	const tryPort = (port: number) =>
		new Promise<number | null>((resolve) => {
			const server = createServer();
			server.once("error", () => resolve(null));
			server.listen({ port, host: "127.0.0.1" }, () => {
				const address = server.address();
				const chosen = typeof address === "object" && address ? address.port : null;
				server.close(() => resolve(chosen));
			});
		});
	return (await tryPort(preferred)) ?? (await tryPort(0)) ?? preferred;
}

/** Runs wrangler to completion (migrations, `d1 execute`). */
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

	const port = await freePort(8788);
	const inspectorPort = await freePort(9330);
	const baseUrl = `http://localhost:${port}`;
	const logPath = join(persistDir, "wrangler-dev.log");
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

	const stop = async () => {
		killGroup(child, "SIGTERM");
		if (!(await exited(child, 10_000))) {
			killGroup(child, "SIGKILL");
			await exited(child, 5_000);
		}
		log.end();
		await rm(persistDir, { recursive: true, force: true });
	};

	const deadline = Date.now() + 240_000;
	while (Date.now() < deadline) {
		if (child.exitCode !== null) break;
		try {
			const response = await fetch(`${baseUrl}/api/health/`);
			if (response.ok) return { baseUrl, persistDir, stop };
		} catch {
			// Not listening yet.
		}
		await new Promise((resolve) => setTimeout(resolve, 500));
	}
	const output = await readFile(logPath, "utf8").catch(() => "");
	await stop();
	throw new Error(`wrangler dev did not become ready on ${baseUrl}:\n${output.slice(-4000)}`);
}
