import type { AuthenticationResponseJSON } from "@simplewebauthn/server";
import { lte } from "drizzle-orm";
import { passkeyUse, withUse } from "../lib/amr";
import type { Config } from "../lib/config";
import type { KnownFailure } from "../webauthn/ceremony-failure";
import { type ActivityRecord, writeActivity } from "./activity";
import type { AuthenticatorCounts } from "./authenticators";
import { countAuthenticators } from "./authenticators";
import type { AccountDb } from "./db";
import { findPasskeyByCredentialId, type PasskeyUse, recordPasskeyUse } from "./passkeys";
import { readAccount } from "./profile";
import { type PasskeyRow, type SessionRow, usedChallenges } from "./schema";
import { insertSession } from "./sessions";

// A passwordless sign-in, inside the user's object: the challenge's use
// recorded, the passkey found, the assertion verified, the sign count and
// the session written, in one call of the object. Verifying awaits the
// crypto between the two halves below; each half is one transaction, and the
// second holds again what the first read (the sign count), so nothing that
// ran in between can be overwritten.

/** A used challenge is kept a minute past its expiry: a Worker whose clock runs behind must still find its use. */
export const USED_CHALLENGE_GRACE_MS = 60_000;

export interface PasskeySignInInput {
	/** The challenge as the client data spells it (what the authenticator signed). */
	presented: string;
	/** Its bytes' canonical spelling: the key of its use. */
	canonical: string;
	isCanonical: boolean;
	/** From the challenge's own signed expiry. */
	expiresAt: number;
	response: AuthenticationResponseJSON;
	rules: Pick<Config, "origins" | "rpId">;
	/** The session to write, made by the Worker (its id is the hash of a token only the Worker has); its record is filled here. */
	session: SessionRow;
	/** The entry for the user's activity log, written with the session. */
	activity: ActivityRecord | null;
	now: number;
}

export type PasskeySignInOutcome =
	| { status: "signed_in"; session: SessionRow; email: string; externalId: string | null; counts: AuthenticatorCounts }
	| ({ status: "refused" } & KnownFailure);

/** The first half: the challenge's use, and the passkey and user it must match. */
export function beginPasskeySignIn(
	db: AccountDb,
	input: PasskeySignInInput,
): { status: "verify"; passkey: PasskeyRow } | ({ status: "refused" } & KnownFailure) {
	db.delete(usedChallenges)
		.where(lte(usedChallenges.expiresAt, input.now - USED_CHALLENGE_GRACE_MS))
		.run();
	const inserted = db
		.insert(usedChallenges)
		.values({ challenge: input.canonical, expiresAt: input.expiresAt })
		.onConflictDoNothing()
		.returning({ challenge: usedChallenges.challenge })
		.all();
	if (inserted.length === 0) return { status: "refused", code: "challenge_expired", reason: "challenge_unknown" };
	// Another spelling of our challenge's bytes: refused once it has consumed the challenge.
	if (!input.isCanonical) return { status: "refused", code: "verification_failed", reason: "challenge_not_canonical" };
	const account = readAccount(db);
	const passkey = findPasskeyByCredentialId(db, input.response.id);
	if (!account || !passkey) return { status: "refused", code: "verification_failed", reason: "unknown_credential" };
	const userHandle = input.response.response.userHandle;
	if (!userHandle || userHandle !== account.webauthnUserId) {
		return { status: "refused", code: "verification_failed", reason: "user_handle" };
	}
	return { status: "verify", passkey };
}

/**
 * The second half: the use recorded on condition of the sign count the first
 * half read, and the session written only if it was (of two assertions
 * racing with one count, one gets a session), with the activity entry.
 */
export function completePasskeySignIn(
	db: AccountDb,
	sql: SqlStorage,
	input: PasskeySignInInput,
	passkey: PasskeyRow,
	use: PasskeyUse,
	userVerified: boolean,
): PasskeySignInOutcome {
	if (!recordPasskeyUse(db, use)) return { status: "refused", code: "verification_failed", reason: "concurrent_use" };
	const account = readAccount(db);
	if (!account) return { status: "refused", code: "verification_failed", reason: "unknown_credential" };
	// User verification is required here, so a passwordless sign-in is always `user` too.
	const amr = withUse([], passkeyUse(passkey.backupEligible, userVerified), input.now);
	const session = { ...input.session, userId: account.userId, amr };
	insertSession(db, session);
	if (input.activity) writeActivity(sql, input.activity, input.now);
	return {
		status: "signed_in",
		session,
		email: account.email,
		externalId: account.externalId,
		counts: countAuthenticators(db),
	};
}
