/**
 * One cell: one system, one operation, a fixed number of virtual users
 * (closed loop: each starts its next ceremony when the last one ends), for a
 * bounded time and a bounded number of ceremonies.
 */
import { HttpError } from "./http.ts";
import { type LatencySummary, summarize } from "./stats.ts";
import type { Operation, SystemName, SystemUnderTest } from "./system.ts";

export interface CellResult {
	system: SystemName;
	operation: Operation;
	concurrency: number;
	round: number;
	ok: number;
	errors: number;
	/** Error kinds and how often each happened. */
	errorKinds: Record<string, number>;
	elapsedMs: number;
	throughput: number;
	/** Ceremony latencies of the successful ceremonies (ms). */
	latencies: number[];
	latency: LatencySummary;
	/** Per HTTP step, the client-side latencies (ms). */
	steps: Record<string, number[]>;
	/** True when the accounts ran out before the time did (e.g. every TOTP step of the pool used). */
	poolLimited: boolean;
}

export interface CellOptions {
	concurrency: number;
	durationMs: number;
	maxOps: number;
	round: number;
}

function errorKind(error: unknown): string {
	if (error instanceof HttpError) return `${error.step}: ${error.status} ${error.detail}`;
	if (error instanceof Error) return `${error.name}: ${error.message.slice(0, 100)}`;
	return String(error).slice(0, 100);
}

export async function runCell<A>(
	system: SystemUnderTest<A>,
	operation: Operation,
	options: CellOptions,
): Promise<CellResult> {
	const latencies: number[] = [];
	const steps: Record<string, number[]> = {};
	const errorKinds: Record<string, number> = {};
	let started = 0;
	let errors = 0;
	let poolLimited = false;
	const record = (step: string, ms: number) => {
		const list = steps[step] ?? [];
		list.push(ms);
		steps[step] = list;
	};
	const begin = performance.now();
	const deadline = begin + options.durationMs;
	const virtualUser = async () => {
		while (performance.now() < deadline && started < options.maxOps) {
			const account = system.take(operation);
			if (account === null) {
				poolLimited = true;
				return;
			}
			started += 1;
			const ceremonyStart = performance.now();
			try {
				await system.ceremony(operation, account, record);
				latencies.push(performance.now() - ceremonyStart);
			} catch (error) {
				errors += 1;
				const kind = errorKind(error);
				errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
			} finally {
				system.release(operation, account);
			}
		}
	};
	await Promise.all(Array.from({ length: options.concurrency }, virtualUser));
	const elapsedMs = performance.now() - begin;
	return {
		system: system.name,
		operation,
		concurrency: options.concurrency,
		round: options.round,
		ok: latencies.length,
		errors,
		errorKinds,
		elapsedMs,
		throughput: latencies.length / (elapsedMs / 1000),
		latencies,
		latency: summarize(latencies),
		steps,
		poolLimited,
	};
}
