import type { StorageCalls } from "../../bench/lib/round-trips";
import { type ApiResponse, buildRequest, type CallOptions } from "./api";
import { type CallRecord, callWithFaults, FaultPlan } from "./faults";

// Counts the storage round trips of one request, through the fault wrappers
// of faults.ts with no fault planned: every D1 statement and batch (the
// Worker's and those the Durable Objects make), every Durable Object call
// (by the name its id was made from), and the writes each object call made
// to the object's own SQLite. Nothing is mocked: every call reaches the real
// bindings.

/** A statement that only reads (drizzle and our own SQL write SELECT first). */
const READ_ONLY = /^\s*select\b/i;

/** The counts of one request's calls, as bench/lib/round-trips.ts keeps its budgets. */
export function countCalls(records: CallRecord[]): StorageCalls {
	const counts: StorageCalls = {
		d1Reads: 0,
		d1Writes: 0,
		d1Statements: 0,
		d1FromObject: 0,
		userObject: 0,
		limiterObjects: 0,
		doWrites: 0,
	};
	for (const record of records) {
		if (record.statements) {
			if (record.statements.every((sql) => READ_ONLY.test(sql))) counts.d1Reads++;
			else counts.d1Writes++;
			counts.d1Statements += record.statements.length;
			if (record.where === "DO") counts.d1FromObject++;
			continue;
		}
		const kind = record.object?.split(":")[0];
		if (kind === "user") counts.userObject++;
		else if (kind === "login" || kind === "client") counts.limiterObjects++;
		else throw new Error(`a storage call the round-trip test cannot place: ${JSON.stringify(record)}`);
		if (record.objectWrites === undefined) throw new Error(`an object call that was not observed: ${record.label}`);
		if (record.objectWrites > 0) counts.doWrites++;
	}
	return counts;
}

/** What one call did, in a line: `Worker D1 batch [select…, insert…]`, `DO user takePending (writes)`. */
export function describeCall(record: CallRecord): string {
	if (record.statements) {
		const verbs = record.statements.map((sql) => sql.trim().split(/\s+/)[0]?.toLowerCase() ?? "?");
		return `${record.label} [${verbs.join(", ")}]`;
	}
	const kind = record.object?.split(":")[0] ?? "?";
	return `DO ${kind} ${record.label.slice(3)}${record.objectWrites ? " (writes)" : ""}`;
}

export interface Counted<T> {
	response: ApiResponse<T>;
	calls: StorageCalls;
	/** Each call in order, for the failure message. */
	trace: string[];
}

let clients = 0;

/**
 * One request as an app client (X-Client: app, bearer token), counted. It
 * carries a CF-Connecting-IP, as every request through Cloudflare (and
 * wrangler dev, which the bench drives) does, so the per-client limiters run
 * as they do in production; a fresh address each time, so no earlier request
 * of the suite has filled one.
 */
export async function countRoundTrips<T = Record<string, unknown>>(
	method: string,
	path: string,
	options: CallOptions = {},
): Promise<Counted<T>> {
	clients += 1;
	const address = `198.51.100.${clients % 250}`;
	const request = buildRequest(method, path, {
		app: true,
		...options,
		headers: { "cf-connecting-ip": address, ...options.headers },
	});
	const plan = new FaultPlan();
	plan.reset(null);
	const response = await callWithFaults<T>(plan, request, { observeObjects: true });
	return { response, calls: countCalls(plan.records), trace: plan.records.map(describeCall) };
}
