import { and, desc, eq, exists, gt, inArray, lte, ne, type SQL, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Db } from "./db";
import { PASSKEYS_NEWEST_FIRST, type UserPasskeys } from "./passkeys";
import { passkeys, sessions, users } from "./schema";

export type SessionRow = typeof sessions.$inferSelect;

export interface SessionWithUser {
	session: SessionRow;
	email: string;
	/** The app's own id for the user (server API), or null. */
	externalId: string | null;
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

/**
 * The session with this id, while it has not expired and is younger than its
 * absolute lifetime (`maxAge`). The second condition holds here, in the
 * query, and not only in the expiry written on the row: a row written before
 * the cap existed, or before the operator lowered it, ends on time too.
 */
function isLiveSession(id: string, now: number, maxAge: number) {
	return and(eq(sessions.id, id), isLive(now, maxAge));
}

function isLive(now: number, maxAge: number) {
	return and(gt(sessions.expiresAt, now), gt(sessions.createdAt, now - maxAge));
}

export async function findLiveSession(
	db: Db,
	id: string,
	now: number,
	maxAge: number,
): Promise<SessionWithUser | undefined> {
	const row = await db
		.select({ session: sessions, email: users.email, externalId: users.externalId })
		.from(sessions)
		.innerJoin(users, eq(users.id, sessions.userId))
		.where(isLiveSession(id, now, maxAge))
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
	maxAge: number,
): Promise<(SessionWithUser & { userPasskeys: UserPasskeys }) | undefined> {
	const live = isLiveSession(id, now, maxAge);
	const liveUserId = db.select({ userId: sessions.userId }).from(sessions).where(live);
	const [found, rows] = await db.batch([
		db
			.select({
				session: sessions,
				email: users.email,
				externalId: users.externalId,
				webauthnUserId: users.webauthnUserId,
			})
			.from(sessions)
			.innerJoin(users, eq(users.id, sessions.userId))
			.where(live),
		db
			.select()
			.from(passkeys)
			.where(inArray(passkeys.userId, liveUserId))
			.orderBy(...PASSKEYS_NEWEST_FIRST),
	]);
	const row = found[0];
	if (!row) return undefined;
	const user = { id: row.session.userId, email: row.email, webauthnUserId: row.webauthnUserId };
	return { session: row.session, email: row.email, externalId: row.externalId, userPasskeys: { user, passkeys: rows } };
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
		publicId: sql<string>`${row.publicId}`.as("public_id"),
		client: sql<SessionRow["client"]>`${row.client}`.as("client"),
		device: sql<string | null>`${row.device}`.as("device"),
		country: sql<string | null>`${row.country}`.as("country"),
		lastUsedAt: sql<number | null>`${row.lastUsedAt}`.as("last_used_at"),
	};
}

/**
 * The user's live sessions, partial ones too (a password sign-in waiting for
 * its second factor), newest first: what the user's session list shows.
 */
export function listLiveSessions(db: Db, userId: string, now: number, maxAge: number): Promise<SessionRow[]> {
	return db
		.select()
		.from(sessions)
		.where(and(eq(sessions.userId, userId), isLive(now, maxAge)))
		.orderBy(desc(sessions.createdAt), desc(sessions.publicId))
		.all();
}

/**
 * Deletes the user's live session with this public id; returns its stored
 * id (the token's hash), or null when the user has no such live session:
 * another user's id deletes nothing.
 */
export async function deleteUserSessionByPublicId(
	db: Db,
	userId: string,
	publicId: string,
	now: number,
	maxAge: number,
): Promise<string | null> {
	const deleted = await db
		.delete(sessions)
		.where(and(eq(sessions.userId, userId), eq(sessions.publicId, publicId), isLive(now, maxAge)))
		.returning({ id: sessions.id });
	return deleted[0]?.id ?? null;
}

export async function deleteSession(db: Db, id: string): Promise<void> {
	await db.delete(sessions).where(eq(sessions.id, id));
}

/** Every session of the user except `keepId` (partial ones too); says how many. */
export function deleteOtherSessions(db: Db, userId: string, keepId: string) {
	return db
		.delete(sessions)
		.where(and(eq(sessions.userId, userId), ne(sessions.id, keepId)))
		.returning({ id: sessions.id });
}

/** Every session of the user; says how many. */
export function deleteUserSessions(db: Db, userId: string) {
	return db.delete(sessions).where(eq(sessions.userId, userId)).returning({ id: sessions.id });
}

/**
 * Writes a password sign-in's session only while the user's password is
 * still the one that was checked (one batch, one transaction). A password
 * change between the check and this write (a slow hash apart) revokes the
 * other sessions in its own batch; without the condition, a sign-in with the
 * old password that was in flight would write its session after that and
 * survive the change. Returns false when nothing was written.
 */
export async function insertSessionIfPassword(db: Db, session: SessionRow, passwordHash: string): Promise<boolean> {
	const [, inserted] = await db.batch([
		sweepExpiredSessions(db, session.userId, session.createdAt),
		db
			.insert(sessions)
			.select(
				db
					.select(sessionColumns(session))
					.from(users)
					.where(and(eq(users.id, session.userId), eq(users.passwordHash, passwordHash))),
			)
			.returning({ id: sessions.id }),
	]);
	return inserted.length === 1;
}

/**
 * A second factor that works once (a recovery code, a TOTP time step),
 * spent in the same transaction as the session change it pays for, or not
 * at all: a request that loses the race for the session spends nothing.
 */
export interface SingleUse {
	/** Holds while the factor can still be used (the code unused, the step newer than the last). */
	available: SQL;
	/** The statement that spends it, changing nothing unless `claimed` holds. */
	spend: (claimed: SQL) => BatchItem<"sqlite">;
}

export type UpgradeOutcome = "upgraded" | "session_gone" | "factor_used";

/**
 * Replaces a partial session by a full one in one round trip (a D1 batch is
 * one transaction): the full row is inserted only while the partial one
 * exists (and the factor, if any, is still usable), the factor is spent
 * only if that row was inserted, then the partial one is deleted. Of two
 * upgrades of the same session, the second finds no partial row: it inserts
 * nothing and spends nothing. The new row's id is unique to this request,
 * so "it exists" says "this request won".
 */
export async function upgradeSession(
	db: Db,
	oldId: string,
	next: SessionRow,
	use?: SingleUse,
): Promise<UpgradeOutcome> {
	const isNew = exists(db.select({ one: sql`1` }).from(sessions).where(eq(sessions.id, next.id)));
	const partial = and(eq(sessions.id, oldId), eq(sessions.level, "partial"));
	const results = await db.batch([
		db
			.insert(sessions)
			.select(
				db
					.select(sessionColumns(next))
					.from(sessions)
					.where(and(partial, eq(sessions.userId, next.userId), use?.available)),
			)
			.returning({ id: sessions.id }),
		...(use ? [use.spend(isNew)] : []),
		db.delete(sessions).where(and(partial, isNew)),
		sweepExpiredSessions(db, next.userId, next.createdAt),
		// Read in the same transaction: why a request that lost, lost.
		db.select({ id: sessions.id }).from(sessions).where(partial),
	]);
	const inserted = results[0] as unknown[];
	const remaining = results[results.length - 1] as unknown[];
	if (inserted.length === 1) return "upgraded";
	return remaining.length === 0 ? "session_gone" : "factor_used";
}

/** Where a setup_required session goes once its user has a second factor: written by the change that adds it. */
export interface SetupUpgrade {
	/** The setup_required session's stored id. */
	fromId: string;
	/** The full session that replaces it, under a new token. */
	row: SessionRow;
}

/**
 * The statements that end the setup_required state of a user, for the batch
 * (one transaction) that adds their first second factor: the requesting
 * setup_required session, if any (`upgrade`), is replaced by a full one,
 * inserted only while it still exists; then every setup_required session of
 * the user ends, the requesting one included: they never proved a second
 * factor, and the account has one now. Of two changes racing on one session,
 * the second finds it gone and upgrades nothing. Results: the inserted row
 * (one or none) when `upgrade` is given, then the ended sessions.
 */
export function endSetupRequired(db: Db, userId: string, upgrade?: SetupUpgrade) {
	const setupRequired = and(eq(sessions.userId, userId), eq(sessions.level, "setup_required"));
	const ended = db.delete(sessions).where(setupRequired).returning({ id: sessions.id });
	if (!upgrade) return [ended] as const;
	const insert = db
		.insert(sessions)
		.select(
			db
				.select(sessionColumns(upgrade.row))
				.from(sessions)
				.where(and(eq(sessions.id, upgrade.fromId), setupRequired)),
		)
		.returning({ id: sessions.id });
	return [insert, ended] as const;
}

/** A value no real authentication time has: it marks, inside one transaction, the session this request claimed. */
function claimMarker(): number {
	const [high = 0, low = 0] = crypto.getRandomValues(new Uint32Array(2));
	return -(1 + (high % 0x200000) * 0x100000000 + low);
}

/**
 * Refreshes a full session's authentication with a factor that works once,
 * in one transaction: the session is claimed only if its authentication is
 * still the one this request saw (`seenAt`), and the factor is spent only
 * if this request holds the claim. Of concurrent uses of different codes
 * on one session, the first refreshes it and spends its code; the others
 * find the authentication moved and spend nothing, since theirs would add
 * nothing. The new time is after `seenAt` even when the clock has not moved,
 * so every refresh changes what the next one must have seen. The claim
 * holds only while the session is live as resolveSession sees it (its
 * sliding expiry and its absolute lifetime, `maxAge`).
 */
export async function refreshSessionWith(
	db: Db,
	session: { id: string; seenAt: number },
	now: number,
	maxAge: number,
	use: SingleUse,
	amr: SessionRow["amr"],
): Promise<number | null> {
	const marker = claimMarker();
	const authenticatedAt = Math.max(now, session.seenAt + 1);
	const claimed = exists(
		db
			.select({ one: sql`1` })
			.from(sessions)
			.where(and(eq(sessions.id, session.id), eq(sessions.authenticatedAt, marker))),
	);
	const [, , refreshed] = await db.batch([
		db
			.update(sessions)
			.set({ authenticatedAt: marker })
			.where(
				and(
					isLiveSession(session.id, now, maxAge),
					eq(sessions.level, "full"),
					eq(sessions.authenticatedAt, session.seenAt),
					use.available,
				),
			),
		use.spend(claimed),
		db
			.update(sessions)
			.set({ authenticatedAt, amr })
			.where(and(eq(sessions.id, session.id), eq(sessions.authenticatedAt, marker)))
			.returning({ id: sessions.id }),
	]);
	return refreshed.length === 1 ? authenticatedAt : null;
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

/** Records a use: the last-use time and, when given, the new sliding expiry (one write). */
export async function touchSession(db: Db, id: string, lastUsedAt: number, expiresAt?: number): Promise<void> {
	await db
		.update(sessions)
		.set({ lastUsedAt, ...(expiresAt === undefined ? {} : { expiresAt }) })
		.where(eq(sessions.id, id));
}
