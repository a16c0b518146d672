import { and, desc, eq, gt, isNull, sql } from "drizzle-orm";
import type { Db } from "./db";
import { PASSKEYS_NEWEST_FIRST, type PasskeyRow } from "./passkeys";
import { passkeys, recoveryCodes, sessions, totpCredentials } from "./schema";

/** What support staff see of a user (GET /api/server/users/{external_id}), read in one round trip. */
export interface UserOverview {
	passkeys: PasskeyRow[];
	totp: boolean;
	recoveryCodesLeft: number;
	liveSessions: number;
	/** When the newest live full session began (a sign-in), or null. */
	lastSignInAt: number | null;
}

/**
 * One D1 batch (one snapshot): the passkeys, whether TOTP is on, the unused
 * recovery codes, and the live sessions. A session that has ended (logout,
 * expiry, revocation) is deleted, so `lastSignInAt` is the newest sign-in
 * among those still live, not the newest ever.
 */
export async function readUserOverview(db: Db, userId: string, now: number, maxAge: number): Promise<UserOverview> {
	const live = and(eq(sessions.userId, userId), gt(sessions.expiresAt, now), gt(sessions.createdAt, now - maxAge));
	const [passkeyRows, totpRows, codeRows, sessionRows, fullRows] = await db.batch([
		db
			.select()
			.from(passkeys)
			.where(eq(passkeys.userId, userId))
			.orderBy(...PASSKEYS_NEWEST_FIRST),
		db.select({ userId: totpCredentials.userId }).from(totpCredentials).where(eq(totpCredentials.userId, userId)),
		db
			.select({ count: sql<number>`COUNT(*)` })
			.from(recoveryCodes)
			.where(and(eq(recoveryCodes.userId, userId), isNull(recoveryCodes.usedAt))),
		db.select({ count: sql<number>`COUNT(*)` }).from(sessions).where(live),
		db
			.select({ createdAt: sessions.createdAt })
			.from(sessions)
			.where(and(live, eq(sessions.level, "full")))
			.orderBy(desc(sessions.createdAt))
			.limit(1),
	]);
	return {
		passkeys: passkeyRows,
		totp: totpRows.length > 0,
		recoveryCodesLeft: codeRows[0]?.count ?? 0,
		liveSessions: sessionRows[0]?.count ?? 0,
		lastSignInAt: fullRows[0]?.createdAt ?? null,
	};
}
