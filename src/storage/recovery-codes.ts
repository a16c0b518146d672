import { and, count, eq, exists, inArray, isNull, min, not, type SQL, sql } from "drizzle-orm";
import { randomId } from "../lib/encoding";
import { hasAnotherAuthenticator } from "./authenticators";
import type { Db } from "./db";
import { recoveryCodes } from "./schema";
import type { SingleUse } from "./sessions";
import { endTrustedDevices } from "./users";

/** The statements that replace all of a user's codes, to run inside one batch (a transaction). */
export function recoveryCodeReplacement(db: Db, userId: string, codeHashes: string[], now: number) {
	return [
		db.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId)),
		db
			.insert(recoveryCodes)
			.values(codeHashes.map((codeHash) => ({ id: randomId(), userId, codeHash, createdAt: now, usedAt: null }))),
	] as const;
}

/**
 * The statements that give a user these codes only if they have exactly one
 * authenticator: placed in a batch right after the insert of a new
 * authenticator, they decide "is this the first one?" inside the same
 * transaction, so no count has to be read beforehand. The insert returns the
 * rows it wrote: ten when the codes were given, none otherwise. (A user's
 * authenticators never drop from one to zero, so "exactly one" after the
 * insert means "the one just added".)
 */
export function firstAuthenticatorCodes(db: Db, userId: string, codeHashes: string[], now: number) {
	const onlyOne = not(hasAnotherAuthenticator(userId));
	const rows = sql.join(
		codeHashes.map((codeHash) => sql`(${randomId()}, ${userId}, ${codeHash}, ${now}, NULL)`),
		sql`, `,
	);
	return [
		db.delete(recoveryCodes).where(and(eq(recoveryCodes.userId, userId), onlyOne)),
		db
			.insert(recoveryCodes)
			// VALUES names its columns column1…column5, in the table's order.
			.select(sql`SELECT * FROM (VALUES ${rows}) WHERE ${onlyOne}`)
			.returning({ id: recoveryCodes.id }),
	] as const;
}

/**
 * Replaces all of a user's codes in one transaction: the old ones stop
 * working at once, and so do the user's trusted devices.
 */
export async function replaceRecoveryCodes(db: Db, userId: string, codeHashes: string[], now: number): Promise<void> {
	await db.batch([...recoveryCodeReplacement(db, userId, codeHashes, now), endTrustedDevices(db, userId)]);
}

/**
 * The use of one code, for the batch that changes the session: the
 * `used_at IS NULL` condition makes each code work once, even under a race,
 * and `claimed` spends it only for the request that changed the session.
 * `codeHash` is the stored hash findUnusedRecoveryCode matched (under
 * whichever listed key it was made), so the row spent is the row found.
 */
export function recoveryCodeUse(db: Db, userId: string, codeHash: string, now: number): SingleUse {
	const unused = and(
		eq(recoveryCodes.userId, userId),
		eq(recoveryCodes.codeHash, codeHash),
		isNull(recoveryCodes.usedAt),
	);
	return {
		available: exists(db.select({ one: sql`1` }).from(recoveryCodes).where(unused)),
		spend: (claimed: SQL) => db.update(recoveryCodes).set({ usedAt: now }).where(and(unused, claimed)),
	};
}

/** The stored hash of an unused code equal to one of `candidates` (the input hashed under each listed key), or null. */
export async function findUnusedRecoveryCode(db: Db, userId: string, candidates: string[]): Promise<string | null> {
	const row = await db
		.select({ codeHash: recoveryCodes.codeHash })
		.from(recoveryCodes)
		.where(
			and(eq(recoveryCodes.userId, userId), inArray(recoveryCodes.codeHash, candidates), isNull(recoveryCodes.usedAt)),
		)
		.get();
	return row?.codeHash ?? null;
}

export interface RecoveryCodeSummary {
	total: number;
	unused: number;
	createdAt: number | null;
}

export async function summarizeRecoveryCodes(db: Db, userId: string): Promise<RecoveryCodeSummary> {
	const row = await db
		.select({
			total: count(),
			unused: sql<number>`SUM(CASE WHEN ${recoveryCodes.usedAt} IS NULL THEN 1 ELSE 0 END)`,
			createdAt: min(recoveryCodes.createdAt),
		})
		.from(recoveryCodes)
		.where(eq(recoveryCodes.userId, userId))
		.get();
	return { total: row?.total ?? 0, unused: Number(row?.unused ?? 0), createdAt: row?.createdAt ?? null };
}
