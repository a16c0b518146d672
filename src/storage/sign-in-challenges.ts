import { eq, lte } from "drizzle-orm";
import type { Db } from "./db";
import { signInChallenges } from "./schema";

export async function insertSignInChallenge(db: Db, challenge: string, expiresAt: number, now: number): Promise<void> {
	// Expired rows are swept as new ones arrive, so the table stays small.
	await db.batch([
		db.delete(signInChallenges).where(lte(signInChallenges.expiresAt, now)),
		db.insert(signInChallenges).values({ challenge, expiresAt }),
	]);
}

/**
 * Consumes a passwordless sign-in challenge atomically: of any number of
 * concurrent sign-ins presenting it, exactly one gets the row back.
 */
export async function takeSignInChallenge(db: Db, challenge: string, now: number): Promise<boolean> {
	const rows = await db
		.delete(signInChallenges)
		.where(eq(signInChallenges.challenge, challenge))
		.returning({ expiresAt: signInChallenges.expiresAt });
	const row = rows[0];
	return row !== undefined && row.expiresAt > now;
}
