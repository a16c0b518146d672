import { createExecutionContext, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { app } from "../../src/app";
import { userStateFor } from "../../src/durable/stubs";
import type { UserState } from "../../src/durable/user-state";
import type { Env } from "../../src/env";
import { type ApiResponse, readResponse } from "./api";

// Storage faults for tests: D1 and the Durable Object, wrapped so that the
// Nth call (counted across the Worker and the user's Durable Object) fails
// the way Cloudflare's platform fails. Nothing of the app is mocked: the
// wrappers pass every other call to the real bindings.

export type FaultKind = () => Error;

const after = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Errors D1 gives when it is briefly unavailable (its "retry" list). */
export const D1_OUTAGES: Record<string, FaultKind> = {
	"network connection lost": () => new Error("D1_ERROR: Network connection lost."),
	"reset after a code update": () => new Error("D1_ERROR: D1 DB reset because its code was updated."),
	"storage timeout": () =>
		new Error("D1_ERROR: D1 DB storage operation exceeded timeout which caused object to be reset."),
	overloaded: () => new Error("D1_ERROR: D1 DB is overloaded. Too many requests queued."),
	"cannot resolve": () => new Error("D1_ERROR: Cannot resolve D1 DB due to transient issue on remote node."),
	"internal storage error": () =>
		new Error("D1_ERROR: Internal error while starting up D1 DB storage caused object to be reset."),
};

/** Errors a Durable Object stub throws when the object is briefly unavailable. */
export const DURABLE_OBJECT_OUTAGES: Record<string, FaultKind> = {
	"reset after a code update": () =>
		Object.assign(new Error("Durable Object reset because its code was updated."), { retryable: true }),
	"network connection lost": () => Object.assign(new Error("Network connection lost."), { retryable: true }),
	overloaded: () =>
		Object.assign(new Error("Durable Object is overloaded. Too many requests queued."), { overloaded: true }),
	"storage timeout": () =>
		new Error("Durable Object storage operation exceeded timeout which caused object to be reset."),
	"cannot resolve": () =>
		Object.assign(new Error("Cannot resolve Durable Object due to transient issue on remote node."), {
			retryable: true,
		}),
	"too much load": () =>
		Object.assign(
			new Error("Your account is generating too much load on Durable Objects. Please back off and try again later."),
			{ overloaded: true },
		),
};

/** What one call sent, for the round-trip test (test/helpers/round-trips.ts). */
export interface CallRecord {
	label: string;
	/** Where a D1 call was made from: the Worker, or inside a Durable Object. */
	where?: "Worker" | "DO";
	/** A D1 call: the SQL of its statement, or of each statement of its batch. */
	statements?: string[];
	/** A Durable Object call: the name its id was made from (`user:<id>`, `login:<hash>`, `client:<hash>`). */
	object?: string;
	/** A Durable Object call, when its objects are observed: statements that wrote its own SQLite. */
	objectWrites?: number;
}

/** Which call fails, counting every D1 and Durable Object call of a request; null: none. */
export class FaultPlan {
	calls: string[] = [];
	/** The same calls, with what each sent. */
	records: CallRecord[] = [];
	failAt: number | null = null;
	kind: FaultKind = D1_OUTAGES["network connection lost"] as FaultKind;
	/** Make the failing call hang a little first, as a timeout does. */
	delayMs = 0;
	/** Let the failing call run, then fail: the write happened, the answer was lost. */
	afterRunning = false;

	reset(failAt: number | null, kind?: FaultKind): void {
		this.calls = [];
		this.records = [];
		this.failAt = failAt;
		if (kind) this.kind = kind;
		this.delayMs = 0;
		this.afterRunning = false;
	}

	/** Counts a call; runs it, or fails it when it is the planned one. */
	async call<T>(label: string, run: () => Promise<T>, detail: Omit<CallRecord, "label"> = {}): Promise<T> {
		this.calls.push(label);
		// The record itself, not a copy: an observed object adds its writes to it while the call runs.
		this.records.push(Object.assign(detail, { label }));
		if (this.calls.length !== this.failAt) return run();
		if (this.delayMs > 0) await after(this.delayMs);
		if (this.afterRunning) await run();
		throw this.kind();
	}
}

const EXECUTE = new Set(["run", "all", "first", "raw"]);

/** A D1 binding whose statements and batches go through the plan. */
export function faultyD1(db: D1Database, plan: FaultPlan, where: "Worker" | "DO"): D1Database {
	const real = new WeakMap<object, D1PreparedStatement>();
	const sqlOf = new WeakMap<object, string>();
	const wrap = (statement: D1PreparedStatement, query: string): D1PreparedStatement => {
		const proxy = new Proxy(statement, {
			get(target, prop) {
				if (prop === "bind") return (...values: unknown[]) => wrap(target.bind(...values), query);
				if (typeof prop === "string" && EXECUTE.has(prop)) {
					return (...args: unknown[]) =>
						plan.call(
							`${where} D1 ${prop}`,
							() => (target[prop as "run"] as (...a: unknown[]) => Promise<unknown>).apply(target, args),
							{ where, statements: [query] },
						);
				}
				const value = Reflect.get(target, prop);
				return typeof value === "function" ? value.bind(target) : value;
			},
		});
		real.set(proxy, statement);
		sqlOf.set(proxy, query);
		return proxy;
	};
	return new Proxy(db, {
		get(target, prop) {
			if (prop === "prepare") return (query: string) => wrap(target.prepare(query), query);
			if (prop === "batch") {
				return (statements: D1PreparedStatement[]) =>
					plan.call(`${where} D1 batch`, () => target.batch(statements.map((s) => real.get(s) ?? s)), {
						where,
						statements: statements.map((s) => sqlOf.get(s) ?? "?"),
					});
			}
			const value = Reflect.get(target, prop);
			return typeof value === "function" ? value.bind(target) : value;
		},
	});
}

/**
 * Looks inside each Durable Object that a request calls (for the round-trip
 * test): the object's own D1 calls go through the plan, and each statement
 * that writes the object's SQLite (anything but a SELECT, whether or not it
 * changed a row) is counted on the call that ran it. The object's code is
 * untouched: its `env` and `sql` are wrapped in place, then given back by
 * `restore`.
 */
export class ObjectObservation {
	private readonly namespace: DurableObjectNamespace<UserState>;
	private readonly plan: FaultPlan;
	/** The call each object is running now (calls of one object do not overlap in a request). */
	private readonly inFlight = new Map<string, CallRecord>();
	private readonly wrapped = new WeakMap<object, { env: Env; sql: SqlStorage }>();
	private readonly names = new Set<string>();

	constructor(namespace: DurableObjectNamespace<UserState>, plan: FaultPlan) {
		this.namespace = namespace;
		this.plan = plan;
	}

	/** Wraps the object's current instance (once), and charges its writes to `record` until `after`. */
	async before(name: string, record: CallRecord): Promise<void> {
		this.names.add(name);
		await runInDurableObject(this.namespace.get(this.namespace.idFromName(name)), (instance) => {
			const object = instance as unknown as { env: Env; sql: SqlStorage };
			if (this.wrapped.has(object)) return;
			const real = { env: object.env, sql: object.sql };
			this.wrapped.set(object, real);
			object.env = { ...real.env, DB: faultyD1(real.env.DB, this.plan, "DO") };
			object.sql = new Proxy(real.sql, {
				get: (target, prop) => {
					if (prop === "exec") {
						return (query: string, ...bindings: SqlStorageValue[]) => {
							const call = this.inFlight.get(name);
							if (call && !/^\s*SELECT\b/i.test(query)) call.objectWrites = (call.objectWrites ?? 0) + 1;
							return target.exec(query, ...bindings);
						};
					}
					const value = Reflect.get(target, prop);
					return typeof value === "function" ? value.bind(target) : value;
				},
			});
		});
		record.objectWrites = 0;
		this.inFlight.set(name, record);
	}

	after(name: string): void {
		this.inFlight.delete(name);
	}

	/** Gives every wrapped instance its own `env` and `sql` back. */
	async restore(): Promise<void> {
		for (const name of this.names) {
			await runInDurableObject(this.namespace.get(this.namespace.idFromName(name)), (instance) => {
				const object = instance as unknown as { env: Env; sql: SqlStorage };
				const real = this.wrapped.get(object);
				if (!real) return;
				object.env = real.env;
				object.sql = real.sql;
				this.wrapped.delete(object);
			});
		}
	}
}

/**
 * A Durable Object namespace whose stubs' method calls go through the plan,
 * each recorded with the name its object's id was made from; with an
 * observation, each object is looked inside as well.
 */
export function faultyUserState(
	namespace: DurableObjectNamespace<UserState>,
	plan: FaultPlan,
	observation?: ObjectObservation,
): DurableObjectNamespace<UserState> {
	const names = new WeakMap<DurableObjectId, string>();
	return new Proxy(namespace, {
		get(target, prop) {
			if (prop === "idFromName") {
				return (name: string) => {
					const id = target.idFromName(name);
					names.set(id, name);
					return id;
				};
			}
			if (prop === "get") {
				return (id: DurableObjectId) => {
					const object = names.get(id) ?? "?";
					const stub = target.get(id) as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
					return new Proxy(
						{},
						{
							get(_, method) {
								if (typeof method !== "string" || method === "then") return undefined;
								return (...args: unknown[]) => {
									const record: CallRecord = { label: `DO ${method}`, object };
									return plan.call(
										record.label,
										async () => {
											await observation?.before(object, record);
											try {
												return await (stub[method] as (...a: unknown[]) => unknown)(...args);
											} finally {
												observation?.after(object);
											}
										},
										record,
									);
								};
							},
						},
					);
				};
			}
			const value = Reflect.get(target, prop);
			return typeof value === "function" ? value.bind(target) : value;
		},
	});
}

/**
 * Points the user's Durable Object at a faulty D1 too (its authenticator
 * changes write D1 from inside the object). A fault there resets the object
 * (blockConcurrencyWhile), and the next instance gets the real env again.
 */
export async function faultyDurableObjectD1(userId: string, plan: FaultPlan): Promise<() => Promise<void>> {
	const stub = userStateFor(env.USER_STATE, userId);
	await runInDurableObject(stub, (instance) => {
		const object = instance as unknown as { env: Env };
		object.env = { ...object.env, DB: faultyD1(env.DB, plan, "DO") };
	});
	// A new stub: one that saw its object break stays broken.
	return async () => {
		await runInDurableObject(userStateFor(env.USER_STATE, userId), (instance) => {
			const object = instance as unknown as { env: Env };
			object.env = { ...object.env, DB: env.DB };
		});
	};
}

/**
 * Runs one request through the app with the faulty bindings. `userId`: the
 * user's object makes its D1 calls through the plan too. `observeObjects`:
 * every object the request calls does, and its own writes are recorded
 * (the round-trip test).
 */
export async function callWithFaults<T = Record<string, unknown>>(
	plan: FaultPlan,
	request: Request,
	options: { userId?: string; observeObjects?: boolean } = {},
): Promise<ApiResponse<T>> {
	const restore = options.userId ? await faultyDurableObjectD1(options.userId, plan) : null;
	const observation = options.observeObjects ? new ObjectObservation(env.USER_STATE, plan) : undefined;
	try {
		const ctx = createExecutionContext();
		const faultyEnv: Env = {
			...env,
			DB: faultyD1(env.DB, plan, "Worker"),
			USER_STATE: faultyUserState(env.USER_STATE, plan, observation),
		};
		const response = await app.fetch(request, faultyEnv, ctx);
		await waitOnExecutionContext(ctx);
		return await readResponse<T>(response);
	} finally {
		await observation?.restore();
		await restore?.();
	}
}
