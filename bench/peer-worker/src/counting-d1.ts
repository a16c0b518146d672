/**
 * A D1 binding that counts, for the benchmark's CPU phase only (timed-entry.ts):
 * each statement executed alone (all, first, run, raw) is one round trip to
 * the database, and a batch is one round trip however many statements it
 * holds. The counts are kept per request (AsyncLocalStorage), so concurrent
 * requests do not mix. Everything else is the real binding: statements are
 * the binding's own, unwrapped again when they go into a batch.
 */
import { AsyncLocalStorage } from "node:async_hooks";

export interface D1Count {
	statements: number;
	roundTrips: number;
}

const current = new AsyncLocalStorage<D1Count>();

/** Runs `work` with a fresh count, and returns what it did with the count it made. */
export async function counted<T>(work: () => Promise<T>): Promise<{ value: T; count: D1Count }> {
	const count: D1Count = { statements: 0, roundTrips: 0 };
	const value = await current.run(count, work);
	return { value, count };
}

function tally(statements: number): void {
	const count = current.getStore();
	if (!count) return;
	count.statements += statements;
	count.roundTrips += 1;
}

/** What the wrapper needs of a D1 binding (the real one, typed structurally so that Node code can import this too). */
interface Statement {
	bind(...values: unknown[]): Statement;
	first(column?: string): Promise<unknown>;
	all(): Promise<unknown>;
	run(): Promise<unknown>;
	raw(options?: { columnNames?: boolean }): Promise<unknown>;
}
interface Database {
	prepare(query: string): Statement;
	batch(statements: Statement[]): Promise<unknown>;
	exec(query: string): Promise<unknown>;
}

const REAL = Symbol("real statement");
type Wrapped = Statement & { [REAL]: Statement };

function wrapStatement(statement: Statement): Wrapped {
	return {
		[REAL]: statement,
		bind: (...values: unknown[]) => wrapStatement(statement.bind(...values)),
		first: (column?: string) => {
			tally(1);
			return column === undefined ? statement.first() : statement.first(column);
		},
		all: () => {
			tally(1);
			return statement.all();
		},
		run: () => {
			tally(1);
			return statement.run();
		},
		raw: (options?: { columnNames?: boolean }) => {
			tally(1);
			return options === undefined ? statement.raw() : statement.raw(options);
		},
	};
}

/** The binding `db`, counting (only prepare, batch and exec: what Better Auth's D1 dialect uses). */
export function countingD1<D extends Database>(db: D): D {
	const counting: Database = {
		prepare: (query: string) => wrapStatement(db.prepare(query)),
		batch: (statements: Statement[]) => {
			tally(statements.length);
			return db.batch(statements.map((s) => (s as Partial<Wrapped>)[REAL] ?? s));
		},
		exec: (query: string) => {
			tally(query.split(";").filter((part) => part.trim()).length);
			return db.exec(query);
		},
	};
	return counting as D;
}
