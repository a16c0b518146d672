import type { Db } from "../storage/db";
import { deleteExpiredLegacySessions } from "../storage/legacy-sessions";
import { deleteUsedSignInChallenges } from "../storage/sign-up-challenges";

// A run deletes at most SWEEP_ROUNDS × SWEEP_LIMIT rows of each table, a few
// statements of bounded size, so it stays far inside a scheduled Worker's
// limits however much has piled up; the next run takes the rest.
export const SWEEP_LIMIT = 500;
export const SWEEP_ROUNDS = 20;

export interface SweepReport {
	signInChallenges: number;
	/** Expired sessions of the D1 design, of users not taken over by their object yet. */
	legacySessions: number;
}

async function sweepTable(remove: (limit: number) => Promise<number>): Promise<number> {
	let total = 0;
	for (let round = 0; round < SWEEP_ROUNDS; round++) {
		const deleted = await remove(SWEEP_LIMIT);
		total += deleted;
		if (deleted < SWEEP_LIMIT) break;
	}
	return total;
}

/**
 * The scheduled sweep (wrangler.toml [triggers]): used sign-up challenges
 * that no later sign-up swept, in the directory, and expired sessions of the
 * D1 design left by users not taken over yet. Neither is ever read once
 * expired, so deleting them changes nothing but the database's size. A
 * user's expired sessions and used sign-in challenges are in their object,
 * which deletes them itself (UserState.alarm).
 */
export async function sweepExpired(db: Db, now: number): Promise<SweepReport> {
	const report = {
		signInChallenges: await sweepTable((limit) => deleteUsedSignInChallenges(db, now, limit)),
		legacySessions: await sweepTable((limit) => deleteExpiredLegacySessions(db, now, limit)),
	};
	console.log(
		`sweep: ${report.signInChallenges} used sign-up challenges, ${report.legacySessions} expired legacy sessions deleted`,
	);
	return report;
}
