import { type DrizzleSqliteDODatabase, drizzle } from "drizzle-orm/durable-sqlite";

/** The query builder over one user's object storage: synchronous, so a rule's check and its write have no await between them. */
export type AccountDb = DrizzleSqliteDODatabase<Record<string, never>>;

export function accountDb(storage: DurableObjectStorage): AccountDb {
	return drizzle(storage);
}
