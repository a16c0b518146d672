import type { Db } from "../storage/db";
import { deleteExpiredSessions } from "../storage/sessions";
import { deleteUsedSignInChallenges } from "../storage/sign-in-challenges";

// A run deletes at most SWEEP_ROUNDS × SWEEP_LIMIT rows of each table, a few
// statements of bounded size, so it stays far inside a scheduled Worker's
// limits however much has piled up; the next run takes the rest.
export const SWEEP_LIMIT = 500;
export const SWEEP_ROUNDS = 20;

export interface SweepReport {
	sessions: number;
	signInChallenges: number;
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
 * The scheduled sweep (wrangler.toml [triggers]): expired sessions of users
 * who do not sign in again, whose rows the sign-in paths never reach, and
 * used passwordless challenges that no later sign-in swept. Neither is ever
 * read once expired, so deleting them changes nothing but the database's size.
 */
export async function sweepExpired(db: Db, now: number): Promise<SweepReport> {
	const report = {
		sessions: await sweepTable((limit) => deleteExpiredSessions(db, now, limit)),
		signInChallenges: await sweepTable((limit) => deleteUsedSignInChallenges(db, now, limit)),
	};
	console.log(`sweep: ${report.sessions} expired sessions, ${report.signInChallenges} used sign-in challenges deleted`);
	return report;
}
