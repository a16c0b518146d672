/**
 * CPU per route, at concurrency 1: complete ceremonies one request at a time,
 * and for each request
 *  - the server process's CPU time (all threads, /proc schedstat) between
 *    sending it and reading the answer: workerd for ours (which also runs the
 *    local D1 and Durable Objects, and wrangler's proxy Worker), node for the
 *    peer (including its libuv threads, where scrypt runs);
 *  - for both Workers, `x-bench-isolate-ms` from their timing wrappers
 *    (bench/worker, bench/peer-worker/src/timed-entry.ts): the isolate's own
 *    clock across the handler, which in workerd advances only at I/O, so it
 *    is wall time across awaits, not CPU time;
 *  - for the Better Auth Worker, the D1 statements and round trips its
 *    binding saw (`x-bench-d1-statements`, `x-bench-d1-round-trips`);
 *  - the client's wall time.
 * The same ceremonies seed the D1 directory and the Durable Objects that
 * docs/scaling.md sizes (bench/lib/storage.ts).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { type CallResult, observeRequests } from "./http.ts";
import type { OurAccount, Ours } from "./ours.ts";
import type { Peer, PeerAccount } from "./peer.ts";
import { type CpuSample, cpuMsBetween, sampleCpu } from "./processes.ts";
import { summarize } from "./stats.ts";
import type { StepRecorder, SystemName } from "./system.ts";
import { currentStep, msUntilNextStep } from "./totp.ts";

export interface RouteCpu {
	route: string;
	requests: number;
	/** Server process CPU per request (ms): mean and p50. */
	cpuMeanMs: number;
	cpuP50Ms: number;
	/** Workers only: the isolate's clock across the handler (ms). */
	isolateP50Ms: number | null;
	isolateMaxMs: number | null;
	wallP50Ms: number;
	/** The Better Auth Worker only: D1 statements and round trips per request, counted on its binding (p50, max). */
	d1StatementsP50?: number | null;
	d1RoundTripsP50?: number | null;
	d1RoundTripsMax?: number | null;
}

interface Samples {
	cpu: number[];
	isolate: number[];
	wall: number[];
	d1Statements: number[];
	d1RoundTrips: number[];
}

/** `/api/webauthn/abc123/` → `/api/webauthn/:id/`; query strings kept (passwordless=true matters). */
function routeOf(method: string, path: string): string {
	const [pathname = "", query] = path.split("?");
	const normalized = pathname.replace(
		/\/api\/webauthn\/(?!register|authenticate|verify)[^/]+\/?$/,
		"/api/webauthn/:id/",
	);
	return `${method} ${normalized}${query ? `?${query}` : ""}`;
}

export class RouteMeter {
	private readonly samples = new Map<string, Samples>();

	private readonly pids: () => number[];

	constructor(pids: () => number[]) {
		this.pids = pids;
	}

	start(): void {
		// Found once, and again only if a process went away (wrangler dev restarts workerd on file changes).
		let pids = this.pids();
		if (pids.length === 0) throw new Error("CPU phase: found no server process to measure");
		observeRequests({
			before: () => sampleCpu(pids),
			after: (token, method, path, result: CallResult<unknown>) => {
				const cpuMs = cpuMsBetween(token as CpuSample, sampleCpu(pids));
				if (!Number.isFinite(cpuMs)) pids = this.pids();
				const route = routeOf(method, path);
				const samples = this.samples.get(route) ?? {
					cpu: [],
					isolate: [],
					wall: [],
					d1Statements: [],
					d1RoundTrips: [],
				};
				if (Number.isFinite(cpuMs)) samples.cpu.push(cpuMs);
				samples.wall.push(result.ms);
				const isolate = result.headers.get("x-bench-isolate-ms");
				if (isolate !== null) samples.isolate.push(Number(isolate));
				const statements = result.headers.get("x-bench-d1-statements");
				const roundTrips = result.headers.get("x-bench-d1-round-trips");
				if (statements !== null && roundTrips !== null) {
					samples.d1Statements.push(Number(statements));
					samples.d1RoundTrips.push(Number(roundTrips));
				}
				this.samples.set(route, samples);
			},
		});
	}

	stop(): RouteCpu[] {
		observeRequests(null);
		return [...this.samples].map(([route, s]) => {
			const cpu = summarize(s.cpu);
			const isolate = summarize(s.isolate);
			return {
				route,
				requests: s.cpu.length,
				cpuMeanMs: cpu.mean,
				cpuP50Ms: cpu.p50,
				isolateP50Ms: s.isolate.length ? isolate.p50 : null,
				isolateMaxMs: s.isolate.length ? isolate.max : null,
				wallP50Ms: summarize(s.wall).p50,
				d1StatementsP50: s.d1Statements.length ? summarize(s.d1Statements).p50 : null,
				d1RoundTripsP50: s.d1RoundTrips.length ? summarize(s.d1RoundTrips).p50 : null,
				d1RoundTripsMax: s.d1RoundTrips.length ? summarize(s.d1RoundTrips).max : null,
			};
		});
	}
}

const ignore: StepRecorder = () => {};

export interface Floor {
	system: SystemName;
	what: string;
	path: string;
	/** Server-process CPU per request at concurrency 1 (ms, mean over `requests`). */
	cpuMsPerRequest: number;
	wallP50Ms: number;
	/** Requests per second with 8 clients for `seconds`. */
	throughputC8: number;
	requests: number;
}

/**
 * What a request costs before any authentication work: the runtime and the
 * framework alone. Sequential requests for the CPU figure, then 8 clients
 * for a short, bounded burst.
 */
export async function measureFloor(
	system: SystemName,
	what: string,
	base: string,
	path: string,
	pids: number[],
	requests = 200,
	burstMs = 2000,
): Promise<Floor> {
	const once = async () => {
		const response = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(10_000) });
		await response.arrayBuffer();
		if (response.status !== 200) throw new Error(`${path}: HTTP ${response.status}`);
	};
	for (let i = 0; i < 20; i++) await once();
	const walls: number[] = [];
	const before = sampleCpu(pids);
	for (let i = 0; i < requests; i++) {
		const start = performance.now();
		await once();
		walls.push(performance.now() - start);
	}
	const after = sampleCpu(pids);
	// Over a whole batch the process totals are exact enough, and keep threads that ended.
	const cpuMs = cpuMsBetween(before, after);
	let done = 0;
	const begin = performance.now();
	const deadline = begin + burstMs;
	await Promise.all(
		Array.from({ length: 8 }, async () => {
			while (performance.now() < deadline && done < 100_000) {
				await once();
				done += 1;
			}
		}),
	);
	return {
		system,
		what,
		path,
		cpuMsPerRequest: cpuMs / requests,
		wallP50Ms: summarize(walls).p50,
		throughputC8: done / ((performance.now() - begin) / 1000),
		requests,
	};
}

/** Waits (bounded, at most one step) until every account may use a new TOTP code. */
async function waitForFreshStep(lastSteps: number[]): Promise<void> {
	const newest = Math.max(...lastSteps);
	if (currentStep() > newest) return;
	await sleep(msUntilNextStep() + 200);
}

/**
 * Seeds `users` typical users of ours (two passkeys, one passwordless; TOTP;
 * ten recovery codes), one request at a time, through every measured route.
 */
export async function seedOurs(ours: Ours, users: number): Promise<OurAccount[]> {
	const accounts: OurAccount[] = [];
	for (let i = 0; i < users; i++) {
		const account = await ours.signUp("seed");
		await ours.registerPasskey(account, true);
		await ours.registerPasskey(account, false);
		await ours.enableTotp(account);
		await ours.ceremony("passkey_second_factor", account, ignore);
		await ours.ceremony("passwordless_sign_in", account, ignore);
		await ours.ceremony("list_passkeys", account, ignore);
		await ours.reauthenticate(account);
		accounts.push(account);
	}
	// A TOTP code is accepted once per time step: wait for a fresh step rather than reuse one.
	await waitForFreshStep(accounts.map((a) => a.lastStep));
	for (const account of accounts) await ours.ceremony("totp_verify", account, ignore);
	return accounts;
}

/**
 * The same ceremonies on a peer (password sign-in before TOTP is on: after it,
 * sign-in redirects). `passkeyOnly`: sign-up and the passkey ceremonies alone
 * (the Better Auth Worker, where the password ones are left out).
 */
export async function seedPeer(peer: Peer, users: number, passkeyOnly = false): Promise<PeerAccount[]> {
	const accounts: PeerAccount[] = [];
	for (let i = 0; i < users; i++) {
		const account = await peer.signUp("seed");
		await peer.registerPasskey(account);
		await peer.registerPasskey(account);
		if (!passkeyOnly) {
			await peer.ceremony("password_sign_in", account, ignore);
			await peer.enableTotp(account);
		}
		await peer.ceremony("passwordless_sign_in", account, ignore);
		await peer.ceremony("list_passkeys", account, ignore);
		accounts.push(account);
	}
	if (passkeyOnly) return accounts;
	await waitForFreshStep(accounts.map((a) => a.lastStep));
	for (const account of accounts) await peer.ceremony("totp_verify", account, ignore);
	return accounts;
}
