/**
 * Child processes of the benchmark: each is started in its own process group
 * and stopped by that group's id, never by name. Whatever is still running
 * when the benchmark exits (an error, Ctrl-C) is stopped on the way out.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

export interface Started {
	name: string;
	child: ChildProcess;
	pid: number;
	/** The last lines it printed, for error messages. */
	output: string[];
	exited: Promise<number | null>;
}

const running = new Set<Started>();

function killGroup(pid: number, signal: NodeJS.Signals): void {
	try {
		process.kill(-pid, signal);
	} catch {
		// Already gone.
	}
}

function stopAllNow(): void {
	for (const started of running) killGroup(started.pid, "SIGKILL");
	running.clear();
}

process.on("exit", stopAllNow);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
	process.on(signal, () => {
		console.error(`\n${signal}: stopping the servers this benchmark started`);
		stopAllNow();
		process.exit(130);
	});
}

export interface SpawnOptions {
	cwd: string;
	env?: NodeJS.ProcessEnv;
	/** Called with each line the process prints. */
	onLine?: (line: string) => void;
}

export function startProcess(name: string, command: string, args: string[], options: SpawnOptions): Started {
	const child = spawn(command, args, {
		cwd: options.cwd,
		env: { ...process.env, ...options.env },
		stdio: ["ignore", "pipe", "pipe"],
		detached: true,
	});
	if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
	const output: string[] = [];
	const collect = (chunk: Buffer) => {
		for (const line of chunk.toString("utf8").split("\n")) {
			if (!line.trim()) continue;
			output.push(line);
			if (output.length > 200) output.shift();
			options.onLine?.(line);
		}
	};
	child.stdout?.on("data", collect);
	child.stderr?.on("data", collect);
	const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
	const started: Started = { name, child, pid: child.pid, output, exited };
	running.add(started);
	void exited.then(() => running.delete(started));
	return started;
}

/**
 * `promise`'s value, or `late` once `ms` have passed. The timer is cleared
 * either way: a bare `Promise.race` with a sleep leaves that sleep pending,
 * and a pending timer keeps Node running after the benchmark is done (the
 * 10-minute bound of the peer's `npm ci` kept `npm run bench` alive long
 * after it had written its results).
 */
export async function within<T, U>(promise: Promise<T>, ms: number, late: U): Promise<T | U> {
	let timer: NodeJS.Timeout | undefined;
	const deadline = new Promise<U>((resolve) => {
		timer = setTimeout(() => resolve(late), ms);
	});
	try {
		return await Promise.race([promise, deadline]);
	} finally {
		clearTimeout(timer);
	}
}

/** SIGTERM to the process group, SIGKILL if it is still there after `graceMs`. */
export async function stopProcess(started: Started, graceMs = 5000): Promise<void> {
	if (started.child.exitCode !== null || started.child.signalCode !== null) {
		running.delete(started);
		return;
	}
	killGroup(started.pid, "SIGTERM");
	const gone = await within(
		started.exited.then(() => true),
		graceMs,
		false,
	);
	if (!gone) {
		killGroup(started.pid, "SIGKILL");
		await within(started.exited, 2000, null);
	}
	// The group may hold children that outlive their parent (workerd under wrangler).
	killGroup(started.pid, "SIGKILL");
	running.delete(started);
}

/** Runs a command to completion (bounded), returning its output; throws on a non-zero exit. */
export async function runToCompletion(
	name: string,
	command: string,
	args: string[],
	options: SpawnOptions & { timeoutMs: number },
): Promise<string[]> {
	const started = startProcess(name, command, args, options);
	const code = await within(started.exited, options.timeoutMs, "timeout" as const);
	if (code === "timeout") {
		await stopProcess(started, 1000);
		throw new Error(`${name} did not finish within ${options.timeoutMs / 1000} s:\n${started.output.join("\n")}`);
	}
	if (code !== 0) throw new Error(`${name} exited with ${code}:\n${started.output.slice(-40).join("\n")}`);
	return started.output;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
	return new Promise((resolve, reject) => {
		const server = createServer();
		server.unref();
		server.on("error", reject);
		server.listen(0, "127.0.0.1", () => {
			const address = server.address();
			const port = typeof address === "object" && address ? address.port : 0;
			server.close(() => resolve(port));
		});
	});
}

/** Polls `url` until it answers 200, or throws after `timeoutMs` (or when the process dies). */
export async function waitForHttp(url: string, started: Started, timeoutMs: number): Promise<number> {
	const begin = performance.now();
	while (performance.now() - begin < timeoutMs) {
		if (started.child.exitCode !== null) {
			throw new Error(`${started.name} exited early:\n${started.output.slice(-40).join("\n")}`);
		}
		try {
			const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
			await response.arrayBuffer();
			if (response.status === 200) return performance.now() - begin;
		} catch {
			// Not listening yet.
		}
		await sleep(50);
	}
	throw new Error(`${started.name} did not answer ${url} within ${timeoutMs / 1000} s:\n${started.output.join("\n")}`);
}

/** The pids of every descendant of `pid` (children, grandchildren...), from /proc. */
export function descendants(pid: number): number[] {
	const children = new Map<number, number[]>();
	for (const entry of readdirSync("/proc")) {
		if (!/^\d+$/.test(entry)) continue;
		try {
			const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
			// Fields after the ")" that closes the command name: state, ppid, ...
			const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
			const list = children.get(ppid) ?? [];
			list.push(Number(entry));
			children.set(ppid, list);
		} catch {
			// The process ended while we looked.
		}
	}
	const found: number[] = [];
	const queue = [pid];
	while (queue.length > 0) {
		const next = queue.shift() as number;
		for (const child of children.get(next) ?? []) {
			found.push(child);
			queue.push(child);
		}
	}
	return found;
}

export function commandName(pid: number): string {
	try {
		return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
	} catch {
		return "";
	}
}

export interface CpuSample {
	/** Sum over the live threads of /proc/<pid>/task/<tid>/schedstat: nanoseconds, exact. */
	threadsNs: number;
	/** Which threads were alive: when this differs between two samples, threadsNs cannot be subtracted. */
	threads: string;
	/** utime + stime of /proc/<pid>/stat, in ms: 10 ms ticks, but it keeps the time of threads that ended. */
	processMs: number;
	/** Which of the processes were alive. */
	pids: string;
}

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** A CPU-time sample of these processes (all their threads). */
export function sampleCpu(pids: readonly number[]): CpuSample {
	let threadsNs = 0;
	let processMs = 0;
	const threads: string[] = [];
	const alive: number[] = [];
	for (const pid of pids) {
		try {
			const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
			const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
			processMs += (Number(fields[11]) + Number(fields[12])) * TICK_MS;
			alive.push(pid);
		} catch {
			continue;
		}
		let tasks: string[] = [];
		try {
			tasks = readdirSync(`/proc/${pid}/task`);
		} catch {
			continue;
		}
		for (const tid of tasks) {
			try {
				threadsNs += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
				threads.push(tid);
			} catch {
				// The thread ended while we looked.
			}
		}
	}
	return { threadsNs, threads: threads.sort().join(","), processMs, pids: alive.join(",") };
}

/**
 * CPU milliseconds between two samples: exact from the threads when the same
 * threads lived throughout, else from the process totals (10 ms resolution,
 * unbiased on average over many requests).
 */
export function cpuMsBetween(before: CpuSample, after: CpuSample): number {
	if (before.threads === after.threads) return (after.threadsNs - before.threadsNs) / 1e6;
	const ms = after.processMs - before.processMs;
	// A process that went away (wrangler dev restarting workerd on a file change) takes its time with it.
	return ms >= 0 && after.pids === before.pids ? ms : Number.NaN;
}

/**
 * The TCP ports that these processes listen on, from /proc: a socket's inode
 * in /proc/<pid>/fd matched against the LISTEN rows of /proc/<pid>/net/tcp.
 */
export function listeningPorts(pids: readonly number[]): number[] {
	const ports = new Set<number>();
	for (const pid of pids) {
		const inodes = new Set<string>();
		try {
			for (const fd of readdirSync(`/proc/${pid}/fd`)) {
				try {
					const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
					const match = /^socket:\[(\d+)\]$/.exec(target);
					if (match?.[1]) inodes.add(match[1]);
				} catch {
					// The descriptor closed while we looked.
				}
			}
			for (const line of readFileSync(`/proc/${pid}/net/tcp`, "utf8").split("\n").slice(1)) {
				const fields = line.trim().split(/\s+/);
				// local_address is "HEXIP:HEXPORT"; state 0A is LISTEN; the inode is field 9.
				if (fields[3] !== "0A" || !fields[9] || !inodes.has(fields[9])) continue;
				ports.add(Number.parseInt(fields[1]?.split(":")[1] ?? "", 16));
			}
		} catch {
			// The process ended while we looked.
		}
	}
	return [...ports];
}
