import { type DrizzleD1Database, drizzle } from "drizzle-orm/d1";

export type Db = DrizzleD1Database;

// Without a schema: the relational query API is not used, and drizzle would
// otherwise rebuild its relational config on every request.
export function createDb(d1: D1Database): Db {
	return drizzle(d1);
}

/** SQLite's UNIQUE violation, as D1 reports it (possibly wrapped by drizzle). */
export function isUniqueViolation(error: unknown): boolean {
	for (let current: unknown = error; current instanceof Error; current = current.cause) {
		if (/UNIQUE constraint failed/i.test(current.message)) return true;
	}
	return false;
}

/** The `table.column` a UNIQUE violation names (SQLite says it: "UNIQUE constraint failed: users.email"), or null. */
export function uniqueViolationOn(error: unknown): string | null {
	for (let current: unknown = error; current instanceof Error; current = current.cause) {
		const match = /UNIQUE constraint failed: ([A-Za-z_]+\.[A-Za-z_]+)/i.exec(current.message);
		if (match?.[1]) return match[1];
	}
	return null;
}

/** SQLite's FOREIGN KEY violation, as D1 reports it (possibly wrapped by drizzle). */
export function isForeignKeyViolation(error: unknown): boolean {
	for (let current: unknown = error; current instanceof Error; current = current.cause) {
		if (/FOREIGN KEY constraint failed/i.test(current.message)) return true;
	}
	return false;
}
