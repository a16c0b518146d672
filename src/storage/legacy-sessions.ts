import { inArray, lte } from "drizzle-orm";
import type { Db } from "./db";
import { sessions } from "./schema";

/**
 * Deletes up to `limit` expired rows of the legacy sessions table (sessions
 * of the D1 design, which no token can reach any more: README, "Upgrading")
 * and says how many: a user who never comes back is never taken over by
 * their object, so nothing else would delete them.
 */
export async function deleteExpiredLegacySessions(db: Db, now: number, limit: number): Promise<number> {
	const expired = db.select({ id: sessions.id }).from(sessions).where(lte(sessions.expiresAt, now)).limit(limit);
	const result = await db.delete(sessions).where(inArray(sessions.id, expired)).run();
	return result.meta.changes ?? 0;
}
