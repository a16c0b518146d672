import { and, eq, gt, sql } from "drizzle-orm";
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
 * Replaces a partial session by a full one in one round trip (a D1 batch is
 * one transaction): the full row is inserted only while the partial one
 * exists, then the partial one is deleted. Of two upgrades of the same
 * session, the second finds no partial row and inserts nothing.
 */
export async function upgradeSession(db: Db, oldId: string, next: SessionRow): Promise<boolean> {
	const [inserted] = await db.batch([
		db
			.insert(sessions)
			.select(
				db
					.select({
						id: sql<string>`${next.id}`.as("id"),
						userId: sessions.userId,
						level: sql<"full">`${next.level}`.as("level"),
						createdAt: sql<number>`${next.createdAt}`.as("created_at"),
						authenticatedAt: sql<number>`${next.authenticatedAt}`.as("authenticated_at"),
						expiresAt: sql<number>`${next.expiresAt}`.as("expires_at"),
					})
					.from(sessions)
					.where(and(eq(sessions.id, oldId), eq(sessions.level, "partial"), eq(sessions.userId, next.userId))),
			)
			.returning({ id: sessions.id }),
		db.delete(sessions).where(and(eq(sessions.id, oldId), eq(sessions.level, "partial"))),
	]);
	return inserted.length === 1;
}

export async function markAuthenticated(db: Db, id: string, now: number): Promise<void> {
	await db.update(sessions).set({ authenticatedAt: now }).where(eq(sessions.id, id));
}

export async function extendSession(db: Db, id: string, expiresAt: number): Promise<void> {
	await db.update(sessions).set({ expiresAt }).where(eq(sessions.id, id));
}
