import { eq, lte, sql } from "drizzle-orm";
import type { AuthenticatorCounts } from "./authenticators";
import type { Db } from "./db";
import type { PasskeyRow } from "./passkeys";
import { passkeys, recoveryCodes, signInChallenges, totpCredentials, users } from "./schema";

export async function insertSignInChallenge(db: Db, challenge: string, expiresAt: number, now: number): Promise<void> {
	// Expired rows are swept as new ones arrive, so the table stays small.
	await db.batch([
		db.delete(signInChallenges).where(lte(signInChallenges.expiresAt, now)),
		db.insert(signInChallenges).values({ challenge, expiresAt }),
	]);
}

export interface SignInCandidate {
	passkey: PasskeyRow;
	user: { id: string; email: string; webauthnUserId: string };
	/** The user's second factors, for the session view the sign-in answers with. */
	counts: AuthenticatorCounts;
}

export interface TakenSignInChallenge {
	/** Whether the challenge existed and had not expired: it is gone either way. */
	live: boolean;
	/** The credential's passkey and user, if the credential id is known. */
	candidate: SignInCandidate | undefined;
}

/**
 * The first storage step of a passwordless sign-in, in one round trip (a D1
 * batch is one transaction): consumes the challenge atomically, so of any
 * number of concurrent sign-ins presenting it exactly one gets the row back,
 * and reads the credential's passkey, user and authenticator counts.
 */
export async function takeSignInChallenge(
	db: Db,
	challenge: string,
	credentialId: string,
	now: number,
): Promise<TakenSignInChallenge> {
	const [taken, found] = await db.batch([
		db
			.delete(signInChallenges)
			.where(eq(signInChallenges.challenge, challenge))
			.returning({ expiresAt: signInChallenges.expiresAt }),
		db
			.select({
				passkey: passkeys,
				email: users.email,
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
		live: taken[0] !== undefined && taken[0].expiresAt > now,
		candidate: row && {
			passkey: row.passkey,
			user: { id: row.passkey.userId, email: row.email, webauthnUserId: row.webauthnUserId },
			counts: { passkeys: row.passkeyCount, totp: row.totpCount, unusedRecoveryCodes: row.unusedCodes },
		},
	};
}
