import { eq, inArray, lte } from "drizzle-orm";
import type { Db } from "./db";
import { signInChallenges, users } from "./schema";

// Expired rows are swept a few at a time as new ones arrive (their index
// makes it cheap), so the table holds about five minutes of sign-ins. A row
// outlives its challenge's expiry by a minute: a Worker whose clock runs
// behind the sweeper's must still find the use of a challenge it would
// accept as unexpired.
const SWEEP_BATCH = 32;
const SWEEP_GRACE_MS = 60_000;

/** Deletes up to `limit` rows whose challenge expired more than the grace period ago. */
function sweepUsedChallenges(db: Db, now: number, limit: number) {
	const expired = db
		.select({ challenge: signInChallenges.challenge })
		.from(signInChallenges)
		.where(lte(signInChallenges.expiresAt, now - SWEEP_GRACE_MS))
		.limit(limit);
	return db.delete(signInChallenges).where(inArray(signInChallenges.challenge, expired));
}

/** The scheduled sweep's step for the challenge rows no later sign-in swept; says how many it deleted. */
export async function deleteUsedSignInChallenges(db: Db, now: number, limit: number): Promise<number> {
	const result = await sweepUsedChallenges(db, now, limit).run();
	return result.meta.changes ?? 0;
}

/**
 * The first storage step of a passkey-first sign-up, in one round trip:
 * records the sign-up challenge as used (the same table and primary key as
 * sign-in challenges; the two kinds never share a spelling, since their MACs
 * are under different keys and their lengths differ) and says whether the
 * email has an account by now.
 */
export async function consumeSignUpChallenge(
	db: Db,
	challenge: string,
	expiresAt: number,
	email: string,
	now: number,
): Promise<{ first: boolean; emailTaken: boolean }> {
	const [, inserted, taken] = await db.batch([
		sweepUsedChallenges(db, now, SWEEP_BATCH),
		db
			.insert(signInChallenges)
			.values({ challenge, expiresAt })
			.onConflictDoNothing()
			.returning({ challenge: signInChallenges.challenge }),
		db.select({ id: users.id }).from(users).where(eq(users.email, email)),
	]);
	return { first: inserted.length === 1, emailTaken: taken.length > 0 };
}
