import { and, eq, gt } from "drizzle-orm";
import type { Db } from "./db";
import { sessions, users } from "./schema";

export type SessionRow = typeof sessions.$inferSelect;

export interface SessionWithUser {
	session: SessionRow;
	email: string;
}

export async function insertSession(db: Db, session: SessionRow): Promise<void> {
	await db.insert(sessions).values(session);
}

export async function findLiveSession(db: Db, id: string, now: number): Promise<SessionWithUser | undefined> {
	const row = await db
		.select({ session: sessions, email: users.email })
		.from(sessions)
		.innerJoin(users, eq(users.id, sessions.userId))
		.where(and(eq(sessions.id, id), gt(sessions.expiresAt, now)))
		.get();
	return row ?? undefined;
}

export async function deleteSession(db: Db, id: string): Promise<void> {
	await db.delete(sessions).where(eq(sessions.id, id));
}

/**
 * Replaces a partial session by a full one. The delete is conditional, so of
 * two upgrades of the same session only one gets a row back and inserts; if
 * the insert then fails, the user signs in again (fail closed).
 */
export async function upgradeSession(db: Db, oldId: string, next: SessionRow): Promise<boolean> {
	const deleted = await db
		.delete(sessions)
		.where(and(eq(sessions.id, oldId), eq(sessions.level, "partial")))
		.returning({ id: sessions.id });
	if (deleted.length === 0) return false;
	await db.insert(sessions).values(next);
	return true;
}

export async function markAuthenticated(db: Db, id: string, now: number): Promise<void> {
	await db.update(sessions).set({ authenticatedAt: now }).where(eq(sessions.id, id));
}

export async function extendSession(db: Db, id: string, expiresAt: number): Promise<void> {
	await db.update(sessions).set({ expiresAt }).where(eq(sessions.id, id));
}
