import { type DrizzleD1Database, drizzle } from "drizzle-orm/d1";
import * as schema from "./schema";

export type Db = DrizzleD1Database<typeof schema>;

export function createDb(d1: D1Database): Db {
	return drizzle(d1, { schema });
}

/** SQLite's UNIQUE violation, as D1 reports it (possibly wrapped by drizzle). */
export function isUniqueViolation(error: unknown): boolean {
	for (let current: unknown = error; current instanceof Error; current = current.cause) {
		if (/UNIQUE constraint failed/i.test(current.message)) return true;
	}
	return false;
}
