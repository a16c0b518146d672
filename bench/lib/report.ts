/** Turns the cells into per-operation figures and ratios, and writes them as JSON and markdown. */
import type { Floor, RouteCpu } from "./cpu-phase.ts";
import type { HashCost } from "./hashes.ts";
import type { ModelRow, Placement } from "./latency-model.ts";
import { CEREMONY_ROUTES, type CeremonyTrips, type PasskeyCeremony, ROUND_TRIPS } from "./round-trips.ts";
import type { CellResult } from "./runner.ts";
import type { StartupProfile } from "./startup.ts";
import { median, round, summarize } from "./stats.ts";
import type { StorageReport } from "./storage.ts";
import {
	OPERATION_LABELS,
	OPERATIONS,
	type Operation,
	PASSKEY_OPERATIONS,
	type PeerName,
	SYSTEM_LABELS,
	type SystemName,
} from "./system.ts";

export interface Aggregate {
	system: SystemName;
	operation: Operation;
	concurrency: number;
	rounds: number;
	/** Median of the rounds' throughputs (ceremonies per second), with the spread. */
	throughput: number;
	throughputMin: number;
	throughputMax: number;
	/** Latency percentiles of all successful ceremonies of all rounds (ms). */
	p50: number;
	p99: number;
	ok: number;
	errors: number;
	errorKinds: Record<string, number>;
	poolLimited: boolean;
	/** p50 per HTTP step (ms). */
	steps: Record<string, number>;
}

export interface Ratio {
	operation: Operation;
	concurrency: number;
	/** The peer ours is divided by; absent in results written before the Worker peer existed (the Node peer). */
	versus?: PeerName;
	/** ours / peer: above 1 means we serve more ceremonies per second. */
	throughput: number;
	/** ours / peer: below 1 means our p99 is lower (better). */
	p99: number;
	p50: number;
	/**
	 * The lowest and highest throughput ratio of one round's pair of cells
	 * (ours and the peer's, run back to back): how far one round can be from
	 * the median on this machine. Absent in results written before it existed.
	 */
	roundMin?: number;
	roundMax?: number;
}

export interface GoalCheck {
	operation: Operation;
	concurrency: number;
	/** Absent in results written before issue 15 (issue 7's goal: the Node peer, ≥ 1.2×, p99 ≤ 1×). */
	versus?: PeerName;
	throughputGoal?: number;
	/** The highest p99 ratio the goal allows; null: no p99 goal. */
	p99Goal?: number | null;
	throughputRatio: number;
	p99Ratio: number;
	met: boolean;
	errorsInvolved: boolean;
}

export function aggregate(cells: CellResult[]): Aggregate[] {
	const groups = new Map<string, CellResult[]>();
	for (const cell of cells) {
		const key = `${cell.system}|${cell.operation}|${cell.concurrency}`;
		groups.set(key, [...(groups.get(key) ?? []), cell]);
	}
	return [...groups.values()].map((group) => {
		const first = group[0] as CellResult;
		const latency = summarize(group.flatMap((c) => c.latencies));
		const throughputs = group.map((c) => c.throughput);
		const errorKinds: Record<string, number> = {};
		const stepSamples: Record<string, number[]> = {};
		for (const cell of group) {
			for (const [kind, n] of Object.entries(cell.errorKinds)) errorKinds[kind] = (errorKinds[kind] ?? 0) + n;
			for (const [step, values] of Object.entries(cell.steps))
				stepSamples[step] = [...(stepSamples[step] ?? []), ...values];
		}
		return {
			system: first.system,
			operation: first.operation,
			concurrency: first.concurrency,
			rounds: group.length,
			throughput: median(throughputs),
			throughputMin: Math.min(...throughputs),
			throughputMax: Math.max(...throughputs),
			p50: latency.p50,
			p99: latency.p99,
			ok: group.reduce((sum, c) => sum + c.ok, 0),
			errors: group.reduce((sum, c) => sum + c.errors, 0),
			errorKinds,
			poolLimited: group.some((c) => c.poolLimited),
			steps: Object.fromEntries(Object.entries(stepSamples).map(([step, values]) => [step, summarize(values).p50])),
		};
	});
}

type RoundCell = Pick<CellResult, "system" | "operation" | "concurrency" | "round" | "throughput">;

const PEERS: PeerName[] = ["peer-worker", "peer"];

/** Ours ÷ each peer, per operation and concurrency where both ran. */
export function ratios(aggregates: Aggregate[], cells: RoundCell[]): Ratio[] {
	const out: Ratio[] = [];
	for (const versus of PEERS) {
		for (const ours of aggregates.filter((a) => a.system === "ours")) {
			const peer = aggregates.find(
				(a) => a.system === versus && a.operation === ours.operation && a.concurrency === ours.concurrency,
			);
			if (!peer) continue;
			const cellOf = (system: SystemName, round: number) =>
				cells.find(
					(c) =>
						c.system === system &&
						c.operation === ours.operation &&
						c.concurrency === ours.concurrency &&
						c.round === round,
				);
			const perRound = [...new Set(cells.map((c) => c.round))].flatMap((round) => {
				const o = cellOf("ours", round);
				const p = cellOf(versus, round);
				return o && p && p.throughput > 0 ? [o.throughput / p.throughput] : [];
			});
			out.push({
				operation: ours.operation,
				concurrency: ours.concurrency,
				versus,
				throughput: ours.throughput / peer.throughput,
				p99: ours.p99 / peer.p99,
				p50: ours.p50 / peer.p50,
				...(perRound.length > 0 ? { roundMin: Math.min(...perRound), roundMax: Math.max(...perRound) } : {}),
			});
		}
	}
	return out;
}

/** The ratio of ours to one peer (results written before the Worker peer have only the Node peer's). */
export function ratioOf(list: Ratio[], operation: Operation, concurrency: number, versus: PeerName) {
	return list.find(
		(r) => r.operation === operation && r.concurrency === concurrency && (r.versus ?? "peer") === versus,
	);
}

/** "0.61–0.87× per round", or nothing when there was one round or no spread recorded. */
export function roundSpread(ratio: Ratio | undefined): string {
	if (ratio?.roundMin === undefined || ratio.roundMax === undefined || ratio.roundMin === ratio.roundMax) return "";
	return `${ratio.roundMin.toFixed(2)}–${ratio.roundMax.toFixed(2)}×`;
}

/**
 * Issue 15's goals at concurrency 8, on passkey registration, passwordless
 * sign-in and list: at least 3× the Better Auth Worker's throughput with at
 * most half its p99, and at least 1.0× the Node peer's throughput.
 */
export const GOALS: { versus: PeerName; throughput: number; p99: number | null }[] = [
	{ versus: "peer-worker", throughput: 3, p99: 0.5 },
	{ versus: "peer", throughput: 1, p99: null },
];

export function goalChecks(aggregates: Aggregate[], list: Ratio[]): GoalCheck[] {
	return GOALS.flatMap((goal) =>
		PASSKEY_OPERATIONS.flatMap((operation) => {
			const ratio = ratioOf(list, operation, 8, goal.versus);
			if (!ratio) return [];
			const errorsInvolved = aggregates.some(
				(a) =>
					a.operation === operation &&
					a.concurrency === 8 &&
					(a.system === "ours" || a.system === goal.versus) &&
					a.errors > 0,
			);
			return [
				{
					operation,
					concurrency: 8,
					versus: goal.versus,
					throughputGoal: goal.throughput,
					p99Goal: goal.p99,
					throughputRatio: ratio.throughput,
					p99Ratio: ratio.p99,
					met: ratio.throughput >= goal.throughput && (goal.p99 === null || ratio.p99 <= goal.p99) && !errorsInvolved,
					errorsInvolved,
				},
			];
		}),
	);
}

/** "throughput 0.52× (≥ 3×), p99 1.9× (≤ 0.5×): NOT MET", for the console and the markdown. */
export function describeGoal(goal: GoalCheck): string {
	const throughputGoal = goal.throughputGoal ?? 1.2;
	const p99Goal = goal.p99Goal === undefined ? 1 : goal.p99Goal;
	return `throughput ${goal.throughputRatio.toFixed(2)}× (goal ≥ ${throughputGoal}×), p99 ${goal.p99Ratio.toFixed(2)}×${p99Goal === null ? "" : ` (goal ≤ ${p99Goal}×)`}`;
}

export interface Environment {
	date: string;
	command: string;
	label: string;
	machine: { cpu: string; cores: number; memoryGiB: number; os: string };
	versions: Record<string, string>;
	config: Record<string, unknown>;
}

export interface Results {
	environment: Environment;
	notes: string[];
	aggregates: Aggregate[];
	ratios: Ratio[];
	goal: GoalCheck[];
	cells: Omit<CellResult, "latencies" | "steps">[];
	bundle: Record<string, unknown> | null;
	startup: {
		profile: StartupProfile | null;
		timeToFirstResponseMs: Record<string, number>;
	};
	/** `peerWorker`: absent in results written before the Worker peer existed. */
	cpu: { ours: RouteCpu[]; peer: RouteCpu[]; peerWorker?: RouteCpu[]; seededUsers: number } | null;
	floors: Floor[];
	hashes: HashCost[];
	storage: StorageReport | null;
	/** Storage round trips per passkey ceremony, per system (absent in older results). */
	roundTrips?: { system: string; ceremony: PasskeyCeremony; trips: CeremonyTrips }[];
	latencyModel?: { placements: Placement[]; rows: ModelRow[] };
}

const f = (value: number, digits = 1) => (Number.isFinite(value) ? round(value, digits).toFixed(digits) : "–");
const ms = (value: number) => (Number.isFinite(value) ? `${f(value, value < 10 ? 2 : 1)}` : "–");

function errorCell(a: Aggregate | undefined): string {
	if (!a) return "n/a";
	if (a.errors === 0) return a.poolLimited ? "0 (pool-limited)" : "0";
	return `**⚠ ${a.errors}**`;
}

function spreadNote(list: Ratio[], operation: Operation, versus: PeerName): string {
	const spread = roundSpread(ratioOf(list, operation, 8, versus));
	return spread ? `; ${spread} round by round` : "";
}

const PEER_COLUMNS: PeerName[] = ["peer-worker", "peer"];

export function toMarkdown(results: Results): string {
	const { environment: env, aggregates } = results;
	const lines: string[] = [];
	const find = (system: string, op: Operation, c: number) =>
		aggregates.find((a) => a.system === system && a.operation === op && a.concurrency === c);
	lines.push(`# Benchmark results: ${env.label}`, "");
	lines.push(`- Date: ${env.date}`);
	lines.push(`- Command: \`${env.command}\``);
	lines.push(
		`- Machine: ${env.machine.cpu}, ${env.machine.cores} cores, ${env.machine.memoryGiB} GiB memory, ${env.machine.os}`,
	);
	lines.push(
		`- Versions: ${Object.entries(env.versions)
			.map(([k, v]) => `${k} ${v}`)
			.join(", ")}`,
	);
	lines.push(
		`- Settings: ${Object.entries(env.config)
			.map(([k, v]) => `${k}=${Array.isArray(v) ? v.join("/") : String(v)}`)
			.join(", ")}`,
	);
	lines.push("", "Notes:", "", ...results.notes.map((n) => `- ${n}`), "");

	const hasWorkerPeer = aggregates.some((a) => a.system === "peer-worker");
	const peers = PEER_COLUMNS.filter((peer) => peer === "peer" || hasWorkerPeer);
	lines.push("## Throughput and latency per ceremony", "");
	lines.push(
		`Throughput: complete ceremonies per second (median of the rounds). p50/p99: ceremony latency in ms, all rounds pooled. Systems: ours; ${peers.map((p) => `**${p}** = ${SYSTEM_LABELS[p]}`).join("; ")}. Ratios are ours ÷ that peer: throughput above 1 and p99 below 1 favour ours; per round: the lowest and highest ratio of one round's pair of cells, run back to back. Errors: ours / ${peers.join(" / ")}. A cell with errors is marked ⚠ and its figures are not to be trusted.`,
		"",
	);
	const header = ["operation", "c", "ours ops/s", "ours p50", "ours p99"];
	for (const peer of peers) header.push(`${peer} ops/s`, `${peer} p50`, `${peer} p99`);
	header.push("errors");
	for (const peer of peers) header.push(`ops/s ÷ ${peer}`, "per round", `p99 ÷ ${peer}`);
	lines.push(`| ${header.join(" | ")} |`);
	lines.push(
		`|---|${header
			.slice(1)
			.map(() => "---:")
			.join("|")}|`,
	);
	const concurrencies = [...new Set(aggregates.map((a) => a.concurrency))].sort((a, b) => a - b);
	for (const op of OPERATIONS) {
		for (const c of concurrencies) {
			const ours = find("ours", op, c);
			if (!ours && !peers.some((peer) => find(peer, op, c))) continue;
			const row = [OPERATION_LABELS[op], String(c)];
			row.push(ours ? f(ours.throughput) : "–", ours ? ms(ours.p50) : "–", ours ? ms(ours.p99) : "–");
			for (const peer of peers) {
				const a = find(peer, op, c);
				row.push(a ? f(a.throughput) : "n/a", a ? ms(a.p50) : "n/a", a ? ms(a.p99) : "n/a");
			}
			row.push([ours, ...peers.map((peer) => find(peer, op, c))].map(errorCell).join(" / "));
			for (const peer of peers) {
				const ratio = ratioOf(results.ratios, op, c, peer);
				row.push(
					ratio ? `${f(ratio.throughput, 2)}×` : "n/a",
					roundSpread(ratio),
					ratio ? `${f(ratio.p99, 2)}×` : "n/a",
				);
			}
			lines.push(`| ${row.join(" | ")} |`);
		}
	}
	lines.push("");

	const issue15 = results.goal.some((g) => g.versus !== undefined);
	lines.push(issue15 ? "## Goals of issue 15 (concurrency 8)" : "## Goal of issue 7 (concurrency 8)", "");
	for (const g of results.goal) {
		const versus = g.versus ?? "peer";
		lines.push(
			`- ${OPERATION_LABELS[g.operation]} ÷ ${SYSTEM_LABELS[versus]}: ${describeGoal(g)}${spreadNote(results.ratios, g.operation, versus)}: **${g.met ? "met" : "not met"}**${g.errorsInvolved ? " (cells with errors)" : ""}`,
		);
	}
	lines.push("");

	const noop = results.floors.find((fl) => fl.system === "ours" && fl.path === "/api/__bench/noop");
	if (noop) {
		lines.push("## The ceiling of `wrangler dev` itself (concurrency 8)", "");
		lines.push(
			`A Worker that does nothing at all answers ${f(noop.throughputC8, 0)} requests per second under \`wrangler dev\` with 8 clients on this machine (the floor table below). A ceremony of n HTTP requests can therefore never exceed ${f(noop.throughputC8, 0)} ÷ n ceremonies per second here, whatever the Worker does; the last column compares that ceiling with the Node peer's measured throughput.`,
			"",
		);
		lines.push(
			"| operation | HTTP requests per ceremony | empty-Worker ceiling (ops/s) | ours ops/s | peer-worker ops/s | peer ops/s | ceiling ÷ peer |",
			"|---|---:|---:|---:|---:|---:|---:|",
		);
		for (const op of OPERATIONS) {
			const ours = find("ours", op, 8);
			const peer = find("peer", op, 8);
			const workerPeer = find("peer-worker", op, 8);
			if (!ours) continue;
			const requests = Object.keys(ours.steps).length;
			if (requests === 0) continue;
			const ceiling = noop.throughputC8 / requests;
			lines.push(
				`| ${OPERATION_LABELS[op]} | ${requests} | ${f(ceiling)} | ${f(ours.throughput)} | ${workerPeer ? f(workerPeer.throughput) : "n/a"} | ${peer ? f(peer.throughput) : "n/a"} | ${peer ? `${f(ceiling / peer.throughput, 2)}×` : "n/a"} |`,
			);
		}
		lines.push("");
	}

	lines.push("## Where the time goes: p50 per HTTP step at concurrency 8 (client-side, ms)", "");
	lines.push("| system | operation | steps |", "|---|---|---|");
	for (const a of aggregates.filter((x) => x.concurrency === 8)) {
		const steps = Object.entries(a.steps)
			.map(([step, value]) => `${step} ${ms(value)}`)
			.join("; ");
		lines.push(`| ${a.system} | ${OPERATION_LABELS[a.operation]} | ${steps} |`);
	}
	lines.push("");

	const errored = aggregates.filter((a) => a.errors > 0);
	if (errored.length) {
		lines.push("## Errors", "");
		for (const a of errored) {
			lines.push(`- ${a.system} ${OPERATION_LABELS[a.operation]} c=${a.concurrency}: ${a.errors}`);
			for (const [kind, n] of Object.entries(a.errorKinds)) lines.push(`  - ${n}× ${kind}`);
		}
		lines.push("");
	}

	lines.push("## Size and start-up", "");
	if (results.bundle) {
		const b = results.bundle as { gzipKib: number; wranglerGzipKib: number | null; rawKib: number; budgetKib: number };
		lines.push(
			`- Worker bundle (\`wrangler deploy --dry-run --outdir\`): ${f(b.rawKib)} KiB, **${f(b.gzipKib)} KiB gzip** (wrangler reports ${b.wranglerGzipKib ?? "–"} KiB); budget ${b.budgetKib} KiB gzip: **${(b as { withinBudget?: boolean }).withinBudget ? "within" : "OVER"}**; free-plan limit 3 MiB.`,
		);
	}
	const p = results.startup.profile;
	if (p) {
		lines.push(
			`- Start-up (\`wrangler check startup\`, local workerd, sampled CPU profile of the global scope): active ${ms(p.activeMs)} ms = V8 parse/compile ${ms(p.programMs)} + JavaScript ${ms(p.javascriptMs)} + GC ${ms(p.gcMs)} (${p.samples} samples); Cloudflare's limit is 1 s.`,
		);
	}
	for (const [name, value] of Object.entries(results.startup.timeToFirstResponseMs)) {
		lines.push(`- Time to first response, ${name}: ${f(value / 1000, 2)} s from spawning the process.`);
	}
	lines.push("");

	if (results.floors.length) {
		lines.push("## The floor: a request before any authentication work", "");
		lines.push(
			"Server-process CPU per request at concurrency 1 (mean of the batch), client wall p50, and requests per second with 8 clients for 2 s. Every ceremony pays this once per HTTP request.",
			"",
		);
		lines.push("| system | what | path | CPU per request | wall p50 | req/s at c=8 |", "|---|---|---|---:|---:|---:|");
		for (const fl of results.floors) {
			lines.push(
				`| ${fl.system} | ${fl.what} | \`${fl.path}\` | ${ms(fl.cpuMsPerRequest)} | ${ms(fl.wallP50Ms)} | ${f(fl.throughputC8, 0)} |`,
			);
		}
		lines.push("");
	}

	if (results.cpu) {
		lines.push(`## CPU per route at concurrency 1 (${results.cpu.seededUsers} seeded users each)`, "");
		lines.push(
			"Server-process CPU per request: all threads of workerd (ours; it also runs the local D1 and Durable Objects and wrangler's proxy Worker) or of node (peer; including scrypt's threads). Isolate clock: our handler's `performance.now()` delta, which in workerd advances only at I/O, so it is wall time across awaits (CPU + local D1/DO waits), not CPU. Both are upper bounds of the Worker's own CPU time; the free plan allows 10 ms per request.",
			"",
		);
		const floorOf = (path: string) =>
			results.floors.find((fl) => fl.system === "ours" && fl.path === path)?.cpuMsPerRequest;
		const floorMs = floorOf("/api/__bench/noop") ?? 0;
		const price = (path: string, count: number) => Math.max(0, ((floorOf(path) ?? floorMs) - floorMs) / count);
		const d1Read = price("/api/__bench/d1-6", 6);
		const d1Write = price("/api/__bench/d1-write-6", 6);
		const doRead = price("/api/__bench/do-3", 3);
		const doWrite = price("/api/__bench/do-write-3", 3);
		lines.push(
			`Estimated Worker CPU: process CPU mean, minus wrangler dev's floor (${ms(floorMs)} ms per request), minus the route's storage round trips priced by the calibration (D1: ${ms(d1Read)} ms per read, ${ms(d1Write)} ms per write; Durable Object: ${ms(doRead)} ms per read call, ${ms(doWrite)} ms per write call; round trips per route in bench/lib/round-trips.ts). In production that storage work runs outside the Worker's isolate; drizzle's query building and result mapping stay in the estimate, as they are the Worker's own CPU. The verdict compares the estimate with the free plan's 10 ms; the password routes are over whatever the estimate, because PBKDF2 alone is.`,
			"",
		);
		lines.push(
			"| ours: route | requests | process CPU mean | process CPU p50 | isolate clock p50 | D1 + DO round trips (r/w) | estimated Worker CPU | free plan (10 ms CPU) |",
		);
		lines.push("|---|---:|---:|---:|---:|---:|---:|---|");
		const hashing = /^POST \/api\/auth\/(signup|login|reauthenticate)\/$/;
		for (const r of [...results.cpu.ours].sort((a, b) => a.route.localeCompare(b.route))) {
			const trips = ROUND_TRIPS[r.route];
			const estimate = trips
				? Math.max(
						0,
						r.cpuMeanMs -
							floorMs -
							trips.d1Reads * d1Read -
							trips.d1Writes * d1Write -
							trips.doReads * doRead -
							trips.doWrites * doWrite,
					)
				: Number.NaN;
			const verdict = hashing.test(r.route)
				? "**over: paid plan** (PBKDF2, 100,000 iterations)"
				: !trips
					? "–"
					: estimate > 10
						? "**over (estimate)**"
						: estimate > 7
							? "fits, near the limit (estimate)"
							: "fits (estimate)";
			lines.push(
				`| \`${r.route}\` | ${r.requests} | ${ms(r.cpuMeanMs)} | ${ms(r.cpuP50Ms)} | ${r.isolateP50Ms === null ? "–" : ms(r.isolateP50Ms)} | ${trips ? `${trips.d1Reads}r ${trips.d1Writes}w + ${trips.doReads}r ${trips.doWrites}w` : "?"} | ${ms(estimate)} | ${verdict} |`,
			);
		}
		lines.push("");
		lines.push(
			"| peer: route | requests | process CPU mean | process CPU p50 | client wall p50 |",
			"|---|---:|---:|---:|---:|",
		);
		for (const r of [...results.cpu.peer].sort((a, b) => a.route.localeCompare(b.route))) {
			lines.push(`| \`${r.route}\` | ${r.requests} | ${ms(r.cpuMeanMs)} | ${ms(r.cpuP50Ms)} | ${ms(r.wallP50Ms)} |`);
		}
		lines.push("");
		const workerRoutes = results.cpu.peerWorker;
		if (workerRoutes?.length) {
			const peerFloorOf = (path: string) =>
				results.floors.find((fl) => fl.system === "peer-worker" && fl.path === path)?.cpuMsPerRequest;
			const peerFloor = peerFloorOf("/__bench/noop") ?? 0;
			const peerD1 = Math.max(0, ((peerFloorOf("/__bench/d1-6") ?? peerFloor) - peerFloor) / 6);
			lines.push(
				`The Better Auth Worker, measured the same way (its own timing entry, bench/peer-worker/src/timed-entry.ts, on the same wrangler and workerd). Its D1 round trips are counted on its binding for each request (a statement run alone is one, a batch is one). Estimated Worker CPU: process CPU mean minus its no-op floor (${ms(peerFloor)} ms) minus each D1 round trip at its calibrated read price (${ms(peerD1)} ms; writes cost more, so this estimate is high).`,
				"",
				"| peer-worker: route | requests | process CPU mean | process CPU p50 | isolate clock p50 | D1 statements (p50) | D1 round trips (p50 / max) | estimated Worker CPU |",
				"|---|---:|---:|---:|---:|---:|---:|---:|",
			);
			for (const r of [...workerRoutes].sort((a, b) => a.route.localeCompare(b.route))) {
				const trips = r.d1RoundTripsP50 ?? Number.NaN;
				const estimate = Math.max(0, r.cpuMeanMs - peerFloor - trips * peerD1);
				lines.push(
					`| \`${r.route}\` | ${r.requests} | ${ms(r.cpuMeanMs)} | ${ms(r.cpuP50Ms)} | ${r.isolateP50Ms === null ? "–" : ms(r.isolateP50Ms)} | ${r.d1StatementsP50 ?? "–"} | ${r.d1RoundTripsP50 ?? "–"} / ${r.d1RoundTripsMax ?? "–"} | ${ms(estimate)} |`,
				);
			}
			lines.push("");
		}
		lines.push("### Server CPU per passkey ceremony (concurrency 1)", "");
		lines.push(
			"The sum of its requests' process CPU means (table above): workerd for both Workers (including their local D1, and for ours the Durable Objects), node for the Node peer.",
			"",
			"| ceremony | ours | peer-worker | peer | ours ÷ peer-worker | ours ÷ peer |",
			"|---|---:|---:|---:|---:|---:|",
		);
		const perCeremony = (routes: RouteCpu[] | undefined, names: readonly string[]) => {
			if (!routes) return Number.NaN;
			return names.reduce((sum, name) => sum + (routes.find((r) => r.route === name)?.cpuMeanMs ?? Number.NaN), 0);
		};
		for (const ceremony of Object.keys(CEREMONY_ROUTES.ours) as PasskeyCeremony[]) {
			const ours = perCeremony(results.cpu.ours, CEREMONY_ROUTES.ours[ceremony]);
			const worker = perCeremony(workerRoutes, CEREMONY_ROUTES.betterAuth[ceremony]);
			const node = perCeremony(results.cpu.peer, CEREMONY_ROUTES.betterAuth[ceremony]);
			lines.push(
				`| ${OPERATION_LABELS[ceremony]} | ${ms(ours)} | ${ms(worker)} | ${ms(node)} | ${Number.isFinite(ours / worker) ? `${f(ours / worker, 2)}×` : "–"} | ${Number.isFinite(ours / node) ? `${f(ours / node, 2)}×` : "–"} |`,
			);
		}
		lines.push("");
	}
	if (results.hashes.length) {
		lines.push("Password hashes alone on this CPU (Node/OpenSSL, one at a time):", "");
		for (const h of results.hashes) lines.push(`- ${h.name}: p50 ${ms(h.p50Ms)} ms`);
		lines.push("");
	}

	if (results.storage) lines.push(...storageMarkdown(results.storage));
	if (results.roundTrips?.length) {
		lines.push("## Storage round trips per passkey ceremony", "");
		lines.push(
			"A round trip: a D1 statement run alone or a D1 batch, or a call of a Durable Object. The Node peer runs the same library's statements on SQLite in its own process: no round trip leaves it.",
			"",
			"| system | ceremony | HTTP requests | D1 round trips | Durable Object calls | source |",
			"|---|---|---:|---:|---:|---|",
		);
		for (const r of results.roundTrips) {
			lines.push(
				`| ${r.system} | ${OPERATION_LABELS[r.ceremony]} | ${r.trips.httpRequests} | ${r.trips.d1} | ${r.trips.durableObject} | ${r.trips.source} |`,
			);
		}
		lines.push("");
	}
	if (results.latencyModel) {
		lines.push(...latencyModelMarkdown(results.latencyModel));
	}
	return `${lines.join("\n")}\n`;
}

/** The production latency model as markdown (also what the console prints, less the table's markup). */
export function latencyModelMarkdown(model: { placements: Placement[]; rows: ModelRow[] }): string[] {
	const lines: string[] = ["## Production latency model: network waits per passkey ceremony", ""];
	lines.push(
		"What a ceremony would wait on the network in production: each HTTP request times the RTT from the user to where it runs, each storage round trip times the RTT to that storage; CPU, TLS and connection set-up left out. Assumptions (bench/lib/latency-model.ts): a Worker runs at the Cloudflare location nearest the user; D1 without read replication runs every query on its one primary (developers.cloudflare.com/d1/best-practices/read-replication/); a Durable Object stays near the request that created it, so a user's own object is near that user (developers.cloudflare.com/durable-objects/reference/data-location/); the Node peer is one server in one region with SQLite in its process. Ours keeps each user's state in that user's Durable Object, near the user: only its directory reads and writes (D1) pay the distance to the primary.",
		"",
	);
	for (const p of model.placements) {
		const r = p.rtts;
		lines.push(
			`- **${p.name}**: ${p.what}: user → edge ${r.userToEdgeMs} ms, Worker → the user's Durable Object ${r.durableObjectMs} ms, → the D1 primary ${r.d1PrimaryMs} ms, user → the Node server ${r.userToOriginMs} ms.`,
		);
	}
	lines.push("");
	const header = ["system", "ceremony", "HTTP", "D1", "DO", ...model.placements.map((p) => `${p.name} (ms)`)];
	lines.push(
		`| ${header.join(" | ")} |`,
		`|---|---|${header
			.slice(2)
			.map(() => "---:")
			.join("|")}|`,
	);
	for (const row of model.rows) {
		lines.push(
			`| ${row.system} | ${OPERATION_LABELS[row.ceremony]} | ${row.httpRequests} | ${row.d1} | ${row.durableObject} | ${model.placements.map((p) => f(row.latencyMs[p.name] ?? Number.NaN, 0)).join(" | ")} |`,
		);
	}
	lines.push("");
	return lines;
}

/** Whose a b-tree of an object's file is, when it is not one of the object's own tables. */
function fixedOwner(name: string): string {
	if (name === "sqlite_schema") return "SQLite's schema";
	if (name === "sqlite_sequence") return "SQLite's, for AUTOINCREMENT";
	if (name.startsWith("_cf_")) return "the runtime's";
	if (name.startsWith("__miniflare")) return "miniflare's, local only";
	return "not the object's own";
}

/** Rows and bytes per user: the directory (D1), the user's own object, and the objects by kind. */
export function storageMarkdown(s: StorageReport): string[] {
	const lines: string[] = [];
	const perUser = (value: number) => f(value / Math.max(1, s.users), 0);
	lines.push(`## Storage per user (after seeding ${s.users} users through the API)`, "");
	lines.push(
		s.directory
			? "Local D1: the directory, then the legacy tables (rows only for users made before migration 0007)."
			: "Local D1.",
		"",
	);
	lines.push(
		"| table (with its indexes) | rows | rows per user | bytes (pages) | bytes per row | payload bytes per row |",
	);
	lines.push("|---|---:|---:|---:|---:|---:|");
	for (const t of s.tables) {
		lines.push(
			`| ${t.table} | ${t.rows} | ${f(t.rows / Math.max(1, s.users), 2)} | ${t.bytes} | ${t.rows ? f(t.bytes / t.rows, 0) : "–"} | ${t.rows ? f(t.payloadBytes / t.rows, 0) : "–"} |`,
		);
	}
	lines.push("");
	if (s.directory) {
		lines.push(
			`- **Directory per user** (users and credentials with their indexes): ${f(s.directory.bytesPerUser, 0)} bytes of pages, ${f(s.directory.payloadBytesPerUser, 0)} bytes of payload.`,
		);
		const btrees = s.tables
			.filter((t) => t.table === "users" || t.table === "credentials")
			.flatMap((t) => t.btrees ?? []);
		if (btrees.length) {
			lines.push(
				`- Its b-trees, payload bytes per user: ${btrees.map((b) => `${b.name} ${perUser(b.payloadBytes)}`).join(", ")}.`,
			);
		}
	}
	lines.push(
		`- Database file: ${s.fileBytes} bytes (page size ${s.pageSize}); ${perUser(s.fileBytes)} bytes per seeded user overall.`,
		"",
	);
	const o = s.durableObjects;
	const u = o.users;
	if (u) {
		lines.push(
			`The users' own Durable Objects (${u.count}, one per user; local SQLite files, each WAL checkpointed into a copy first):`,
			"",
		);
		lines.push(
			"| table (with its indexes) | b-trees | rows per user | pages per object | payload bytes per user | payload bytes per row |",
		);
		lines.push("|---|---:|---:|---:|---:|---:|");
		for (const t of u.tables) {
			const pages = (t.btrees ?? []).reduce((sum, b) => sum + b.pages, 0);
			lines.push(
				`| ${t.table} | ${1 + t.indexes.length} | ${f(t.rows / u.count, 2)} | ${f(pages / u.count, 2)} | ${f(t.payloadBytes / u.count, 0)} | ${t.rows ? f(t.payloadBytes / t.rows, 0) : "–"} |`,
			);
		}
		for (const b of u.fixed) {
			lines.push(
				`| ${b.name} (${fixedOwner(b.name)}) | 1 | – | ${f(b.pages / u.count, 2)} | ${f(b.payloadBytes / u.count, 0)} | – |`,
			);
		}
		const own = u.tables.reduce((sum, t) => sum + t.payloadBytes, 0) / u.count;
		lines.push(
			"",
			`- **Whole file per user**: ${f(u.meanFileBytes, 0)} bytes (${f(u.meanPages, 2)} pages of ${u.pageSize} bytes); of that, ${f(own, 0)} bytes are the user's rows and index entries. The object's schema has ${u.schemaBtrees} tables and indexes, each at least one page.`,
			"",
		);
	}
	if (o.kinds?.length) {
		lines.push("Every Durable Object with storage, by the prefix of its name:", "");
		lines.push(
			"| kind | objects | pages (mean) | bytes after a checkpoint (mean) | bytes on disk with the WAL as left (mean) |",
		);
		lines.push("|---|---:|---:|---:|---:|");
		for (const k of o.kinds) {
			lines.push(
				`| ${k.kind} | ${k.count} | ${f(k.meanPages, 2)} | ${f(k.meanFileBytes, 0)} | ${f(k.meanOnDiskBytes, 0)} |`,
			);
		}
		lines.push("");
	} else {
		lines.push(
			`- Durable Objects with storage: ${o.count} (${f(o.meanBytes / 1024, 1)} KiB each on average, local SQLite files).`,
			"",
		);
	}
	return lines;
}
