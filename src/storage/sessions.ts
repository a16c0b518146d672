import { and, eq, gt, inArray, lte, sql } from "drizzle-orm";
import type { Db } from "./db";
import { PASSKEYS_NEWEST_FIRST, type UserPasskeys } from "./passkeys";
import { passkeys, sessions, users } from "./schema";

export type SessionRow = typeof sessions.$inferSelect;

export interface SessionWithUser {
	session: SessionRow;
	email: string;
}

/**
 * The user's sessions that have expired, deleted as a new one is written (in
 * the same batch): a user's rows are their live sessions and nothing more,
 * rather than one row for every sign-in there ever was (docs/scaling.md).
 * A session is never read once expired, so deleting it changes nothing else.
 */
export function sweepExpiredSessions(db: Db, userId: string, now: number) {
	return db.delete(sessions).where(and(eq(sessions.userId, userId), lte(sessions.expiresAt, now)));
}

/**
 * Deletes up to `limit` expired sessions of any user, oldest index entries
 * first, and says how many: the scheduled sweep's step for the users who
 * never sign in again (sweepExpiredSessions above takes care of those who do).
 */
export async function deleteExpiredSessions(db: Db, now: number, limit: number): Promise<number> {
	const expired = db.select({ id: sessions.id }).from(sessions).where(lte(sessions.expiresAt, now)).limit(limit);
	const result = await db.delete(sessions).where(inArray(sessions.id, expired)).run();
	return result.meta.changes ?? 0;
}

export async function insertSession(db: Db, session: SessionRow): Promise<void> {
	await db.batch([sweepExpiredSessions(db, session.userId, session.createdAt), db.insert(sessions).values(session)]);
}

/** The session with this id, while it has not expired. */
function isLiveSession(id: string, now: number) {
	return and(eq(sessions.id, id), gt(sessions.expiresAt, now));
}

export async function findLiveSession(db: Db, id: string, now: number): Promise<SessionWithUser | undefined> {
	const row = await db
		.select({ session: sessions, email: users.email })
		.from(sessions)
		.innerJoin(users, eq(users.id, sessions.userId))
		.where(isLiveSession(id, now))
		.get();
	return row ?? undefined;
}

/**
 * The session and, in the same round trip (a D1 batch is one transaction, so
 * they are one snapshot), its user's WebAuthn identity and passkeys: the
 * routes whose first need after the session check is that list (passkey
 * options, the passkey list) save a round trip.
 */
export async function findLiveSessionWithPasskeys(
	db: Db,
	id: string,
	now: number,
): Promise<(SessionWithUser & { userPasskeys: UserPasskeys }) | undefined> {
	const liveUserId = db.select({ userId: sessions.userId }).from(sessions).where(isLiveSession(id, now));
	const [found, rows] = await db.batch([
		db
			.select({ session: sessions, email: users.email, webauthnUserId: users.webauthnUserId })
			.from(sessions)
			.innerJoin(users, eq(users.id, sessions.userId))
			.where(isLiveSession(id, now)),
		db
			.select()
			.from(passkeys)
			.where(inArray(passkeys.userId, liveUserId))
			.orderBy(...PASSKEYS_NEWEST_FIRST),
	]);
	const row = found[0];
	if (!row) return undefined;
	const user = { id: row.session.userId, email: row.email, webauthnUserId: row.webauthnUserId };
	return { session: row.session, email: row.email, userPasskeys: { user, passkeys: rows } };
}

/**
 * The columns of a new session row as literals, for `INSERT … SELECT`
 * statements that write the row only where a condition holds.
 */
export function sessionColumns(row: SessionRow) {
	return {
		id: sql<string>`${row.id}`.as("id"),
		userId: sql<string>`${row.userId}`.as("user_id"),
		level: sql<SessionRow["level"]>`${row.level}`.as("level"),
		createdAt: sql<number>`${row.createdAt}`.as("created_at"),
		authenticatedAt: sql<number>`${row.authenticatedAt}`.as("authenticated_at"),
		expiresAt: sql<number>`${row.expiresAt}`.as("expires_at"),
		amr: sql<SessionRow["amr"]>`${JSON.stringify(row.amr)}`.as("amr"),
	};
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
					.select(sessionColumns(next))
					.from(sessions)
					.where(and(eq(sessions.id, oldId), eq(sessions.level, "partial"), eq(sessions.userId, next.userId))),
			)
			.returning({ id: sessions.id }),
		db.delete(sessions).where(and(eq(sessions.id, oldId), eq(sessions.level, "partial"))),
		sweepExpiredSessions(db, next.userId, next.createdAt),
	]);
	return inserted.length === 1;
}

/**
 * Two reauthentications of one session at the same instant each write the
 * record they read plus their own method: the later write can leave out the
 * other's method, which only ever understates how the session was
 * authenticated, never overstates it.
 */
export async function markAuthenticated(db: Db, id: string, now: number, amr: SessionRow["amr"]): Promise<void> {
	await db.update(sessions).set({ authenticatedAt: now, amr }).where(eq(sessions.id, id));
}

export async function extendSession(db: Db, id: string, expiresAt: number): Promise<void> {
	await db.update(sessions).set({ expiresAt }).where(eq(sessions.id, id));
}
