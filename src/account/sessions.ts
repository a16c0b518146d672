import { and, desc, eq, gt, lte, ne } from "drizzle-orm";
import type { AccountDb } from "./db";
import { readAccount } from "./profile";
import { type AccountRow, type SessionRow, sessions } from "./schema";
import { type SessionRefusal, type SessionRequirement, sessionRefusal } from "./session-gate";

// The user's sessions, inside their object. Every function runs inside the
// caller's transactionSync: a check and the write it guards have no await
// between them, and no other request of this user runs in between.

/**
 * A factor that works once (a recovery code, a TOTP time step), spent in
 * the same transaction as the session change it pays for, or not at all:
 * a request that loses the race for the session spends nothing.
 */
export interface SingleUse {
	/** Whether it can still be used (the code unused, the step newer than the last). */
	available: () => boolean;
	/** Spends it; called only by the request that changed the session. */
	spend: () => void;
}

/**
 * The user's expired sessions, deleted as a new one is written: the rows
 * are the live sessions and nothing more. A session is never read once
 * expired, so deleting it changes nothing else.
 */
export function sweepExpiredSessions(db: AccountDb, now: number): void {
	db.delete(sessions).where(lte(sessions.expiresAt, now)).run();
}

export function insertSession(db: AccountDb, row: SessionRow): void {
	sweepExpiredSessions(db, row.createdAt);
	db.insert(sessions).values(row).run();
}

/**
 * Live: not expired, and younger than its absolute lifetime (`maxAge`), held
 * here and not only in the expiry written on the row: a row written before
 * the operator lowered the cap ends on time too.
 */
function isLive(now: number, maxAge: number) {
	return and(gt(sessions.expiresAt, now), gt(sessions.createdAt, now - maxAge));
}

export function findLiveSession(db: AccountDb, id: string, now: number, maxAge: number): SessionRow | undefined {
	return db
		.select()
		.from(sessions)
		.where(and(eq(sessions.id, id), isLive(now, maxAge)))
		.get();
}

/** Live sessions, partial ones too, newest first: what the user's session list shows. */
export function listLiveSessions(db: AccountDb, now: number, maxAge: number): SessionRow[] {
	return db
		.select()
		.from(sessions)
		.where(isLive(now, maxAge))
		.orderBy(desc(sessions.createdAt), desc(sessions.publicId))
		.all();
}

/** Deletes the live session with this public id; its stored id, or null when there is none. */
export function deleteSessionByPublicId(db: AccountDb, publicId: string, now: number, maxAge: number): string | null {
	const deleted = db
		.delete(sessions)
		.where(and(eq(sessions.publicId, publicId), isLive(now, maxAge)))
		.returning({ id: sessions.id })
		.all();
	return deleted[0]?.id ?? null;
}

export function deleteSession(db: AccountDb, id: string): void {
	db.delete(sessions).where(eq(sessions.id, id)).run();
}

/** Every session but `keepId` (partial ones too); says how many ended. */
export function deleteOtherSessions(db: AccountDb, keepId: string): number {
	return db.delete(sessions).where(ne(sessions.id, keepId)).returning({ id: sessions.id }).all().length;
}

/** Every session; says how many ended. */
export function deleteAllSessions(db: AccountDb): number {
	return db.delete(sessions).returning({ id: sessions.id }).all().length;
}

export type UpgradeOutcome = "upgraded" | "session_gone" | "factor_used";

/**
 * Replaces a partial session by a full one: only while the partial one
 * exists and the factor, if any, is still usable; the factor is spent and
 * the partial row deleted in the same transaction. Of two upgrades of the
 * same session, the second finds no partial row and spends nothing.
 */
export function upgradeSession(db: AccountDb, oldId: string, next: SessionRow, use?: SingleUse): UpgradeOutcome {
	const partial = db
		.select({ id: sessions.id })
		.from(sessions)
		.where(and(eq(sessions.id, oldId), eq(sessions.level, "partial")))
		.get();
	if (!partial) return "session_gone";
	if (use && !use.available()) return "factor_used";
	use?.spend();
	deleteSession(db, oldId);
	insertSession(db, next);
	return "upgraded";
}

/** Where a setup_required session goes once its user has a second factor. */
export interface SetupUpgrade {
	/** The setup_required session's stored id. */
	fromId: string;
	/** The full session that replaces it, under a new token. */
	row: SessionRow;
}

/**
 * Ends the setup_required state, in the transaction that adds the user's
 * factor: the requesting setup_required session (`upgrade`), if it still
 * is one, is replaced by a full one; every setup_required session ends.
 * Says whether the requesting one became full and how many others ended.
 */
export function endSetupRequired(db: AccountDb, upgrade?: SetupUpgrade): { upgraded: boolean; othersEnded: number } {
	const requesting = upgrade
		? db
				.select({ id: sessions.id })
				.from(sessions)
				.where(and(eq(sessions.id, upgrade.fromId), eq(sessions.level, "setup_required")))
				.get()
		: undefined;
	const ended = db
		.delete(sessions)
		.where(eq(sessions.level, "setup_required"))
		.returning({ id: sessions.id })
		.all()
		.filter((row) => row.id !== upgrade?.fromId).length;
	if (upgrade && requesting) insertSession(db, upgrade.row);
	return { upgraded: requesting !== undefined, othersEnded: ended };
}

/**
 * Refreshes a full session's authentication with a factor that works once:
 * only while its authentication is still the one this request saw
 * (`seenAt`), so of concurrent uses of different codes on one session the
 * first refreshes it and spends its code and the others spend nothing. The
 * new time is after `seenAt` even when the clock has not moved.
 */
export function refreshSessionWith(
	db: AccountDb,
	session: { id: string; seenAt: number },
	now: number,
	maxAge: number,
	use: SingleUse,
	amr: SessionRow["amr"],
): number | null {
	const row = findLiveSession(db, session.id, now, maxAge);
	if (row?.level !== "full" || row.authenticatedAt !== session.seenAt || !use.available()) return null;
	const authenticatedAt = Math.max(now, session.seenAt + 1);
	use.spend();
	db.update(sessions).set({ authenticatedAt, amr }).where(eq(sessions.id, session.id)).run();
	return authenticatedAt;
}

export function markAuthenticated(db: AccountDb, id: string, now: number, amr: SessionRow["amr"]): void {
	db.update(sessions).set({ authenticatedAt: now, amr }).where(eq(sessions.id, id)).run();
}

/** Records a use: the last-use time and, when given, the new sliding expiry. */
export function touchSession(db: AccountDb, id: string, lastUsedAt: number, expiresAt?: number): void {
	db.update(sessions)
		.set({ lastUsedAt, ...(expiresAt === undefined ? {} : { expiresAt }) })
		.where(eq(sessions.id, id))
		.run();
}

/** What a ceremony's call brings for its session check (account/session-gate.ts). */
export interface SessionGate {
	/** The hash of the request's token (services/sessions.ts hashToken). */
	tokenHash: string;
	requirement: SessionRequirement;
	/** A cookie request from a foreign origin, as the Worker judged its headers. */
	csrf: boolean;
	/** The absolute lifetime (SESSION_MAX_AGE_DAYS). */
	maxAge: number;
	now: number;
}

/** The session check of a ceremony, in its own transaction: the first refusal, or the session and its account. */
export function gateSession(
	db: AccountDb,
	gate: SessionGate,
): { refusal: SessionRefusal } | { refusal: null; session: SessionRow; account: AccountRow } {
	const session = findLiveSession(db, gate.tokenHash, gate.now, gate.maxAge) ?? null;
	const account = readAccount(db);
	const refusal = sessionRefusal(account ? session : null, gate.requirement, gate.csrf, gate.now);
	if (refusal || !session || !account) return { refusal: refusal ?? "not_authenticated" };
	return { refusal: null, session, account };
}
