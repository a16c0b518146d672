import { and, eq, inArray, lte, sql } from "drizzle-orm";
import type { AuthenticatorCounts } from "./authenticators";
import type { Db } from "./db";
import { type PasskeyRow, type PasskeyUse, passkeyUseUpdate } from "./passkeys";
import { passkeys, recoveryCodes, sessions, signInChallenges, totpCredentials, users } from "./schema";
import { type SessionRow, sessionColumns, sweepExpiredSessions } from "./sessions";

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

export interface SignInCandidate {
	passkey: PasskeyRow;
	user: { id: string; email: string; externalId: string | null; webauthnUserId: string };
	/** The user's second factors, for the session view the sign-in answers with. */
	counts: AuthenticatorCounts;
}

export interface ConsumedSignInChallenge {
	/** Whether this presentation was the challenge's first: false for a replay. */
	first: boolean;
	/** The credential's passkey and user, if the credential id is known. */
	candidate: SignInCandidate | undefined;
}

/**
 * The first storage step of a passwordless sign-in, in one round trip (a D1
 * batch is one transaction): records the challenge as used, which its
 * primary key lets happen once, so of any number of sign-ins presenting it,
 * concurrent or not, exactly one is first; and reads the credential's
 * passkey, user and authenticator counts. The row stays until a minute
 * after the challenge has expired; by then its MAC check refuses it anyway.
 */
export async function consumeSignInChallenge(
	db: Db,
	challenge: string,
	expiresAt: number,
	credentialId: string,
	now: number,
): Promise<ConsumedSignInChallenge> {
	const [, inserted, found] = await db.batch([
		sweepUsedChallenges(db, now, SWEEP_BATCH),
		db
			.insert(signInChallenges)
			.values({ challenge, expiresAt })
			.onConflictDoNothing()
			.returning({ challenge: signInChallenges.challenge }),
		db
			.select({
				passkey: passkeys,
				email: users.email,
				externalId: users.externalId,
				webauthnUserId: users.webauthnUserId,
				passkeyCount: sql<number>`(SELECT COUNT(*) FROM ${passkeys} AS p WHERE p.user_id = ${passkeys.userId})`,
				totpCount: sql<number>`(SELECT COUNT(*) FROM ${totpCredentials} AS t WHERE t.user_id = ${passkeys.userId})`,
				unusedCodes: sql<number>`(SELECT COUNT(*) FROM ${recoveryCodes} AS r WHERE r.user_id = ${passkeys.userId} AND r.used_at IS NULL)`,
			})
			.from(passkeys)
			.innerJoin(users, eq(users.id, passkeys.userId))
			.where(eq(passkeys.credentialId, credentialId)),
	]);
	const row = found[0];
	return {
		first: inserted.length === 1,
		candidate: row && {
			passkey: row.passkey,
			user: {
				id: row.passkey.userId,
				email: row.email,
				externalId: row.externalId,
				webauthnUserId: row.webauthnUserId,
			},
			counts: { passkeys: row.passkeyCount, totp: row.totpCount, unusedRecoveryCodes: row.unusedCodes },
		},
	};
}

/**
 * The second and last storage step, in one round trip: the passkey's use is
 * recorded on condition of the sign count read in the first step, and the
 * session is inserted only where that update took effect (the passkey now
 * holds exactly this use's count and time). Of two assertions racing with the
 * same count, one gets a session; the other gets false and no row.
 */
export async function recordSignIn(db: Db, use: PasskeyUse, session: SessionRow): Promise<boolean> {
	const [, , inserted] = await db.batch([
		sweepExpiredSessions(db, session.userId, session.createdAt),
		passkeyUseUpdate(db, use),
		db
			.insert(sessions)
			.select(
				db
					.select(sessionColumns(session))
					.from(passkeys)
					.where(
						and(
							eq(passkeys.id, use.id),
							eq(passkeys.userId, session.userId),
							eq(passkeys.signCount, use.signCount),
							eq(passkeys.lastUsedAt, use.usedAt),
						),
					),
			)
			.returning({ id: sessions.id }),
	]);
	return inserted.length === 1;
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
