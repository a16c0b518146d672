import { and, eq, gte, inArray, isNull, min, sql } from "drizzle-orm";
import { randomId } from "../lib/encoding";
import type { AccountDb } from "./db";
import { recoveryCodes } from "./schema";
import type { SingleUse } from "./sessions";

// The user's recovery codes, stored as HMACs made by the Worker (this object
// never holds the codes nor the key that hashes them).

/** Replaces all of the user's codes: the old ones stop working at once. */
export function replaceRecoveryCodes(db: AccountDb, userId: string, codeHashes: string[], now: number): void {
	db.delete(recoveryCodes).run();
	if (codeHashes.length === 0) return;
	db.insert(recoveryCodes)
		.values(codeHashes.map((codeHash) => ({ id: randomId(), userId, codeHash, createdAt: now, usedAt: null })))
		.run();
}

/** The use of one code (its stored hash, as findUnusedRecoveryCode matched it): it works once. */
export function recoveryCodeUse(db: AccountDb, codeHash: string, now: number): SingleUse {
	const unused = and(eq(recoveryCodes.codeHash, codeHash), isNull(recoveryCodes.usedAt));
	return {
		available: () => db.select({ id: recoveryCodes.id }).from(recoveryCodes).where(unused).get() !== undefined,
		spend: () => {
			db.update(recoveryCodes).set({ usedAt: now }).where(unused).run();
		},
	};
}

/** The stored hash of an unused code equal to one of `candidates` (the input hashed under each listed key), or null. */
export function findUnusedRecoveryCode(db: AccountDb, candidates: string[]): string | null {
	if (candidates.length === 0) return null;
	const row = db
		.select({ codeHash: recoveryCodes.codeHash })
		.from(recoveryCodes)
		.where(and(inArray(recoveryCodes.codeHash, candidates), isNull(recoveryCodes.usedAt)))
		.get();
	return row?.codeHash ?? null;
}

/** Whether one of `candidates` was spent at `since` or later. */
export function recoveryCodeSpentSince(db: AccountDb, candidates: string[], since: number): boolean {
	if (candidates.length === 0) return false;
	const row = db
		.select({ id: recoveryCodes.id })
		.from(recoveryCodes)
		.where(and(inArray(recoveryCodes.codeHash, candidates), gte(recoveryCodes.usedAt, since)))
		.get();
	return row !== undefined;
}

export interface RecoveryCodeSummary {
	total: number;
	unused: number;
	createdAt: number | null;
}

export function summarizeRecoveryCodes(db: AccountDb): RecoveryCodeSummary {
	const row = db
		.select({
			total: sql<number>`COUNT(*)`,
			unused: sql<number>`SUM(CASE WHEN ${recoveryCodes.usedAt} IS NULL THEN 1 ELSE 0 END)`,
			createdAt: min(recoveryCodes.createdAt),
		})
		.from(recoveryCodes)
		.get();
	return { total: row?.total ?? 0, unused: Number(row?.unused ?? 0), createdAt: row?.createdAt ?? null };
}
