import type { AuthenticationResponseJSON } from "@simplewebauthn/server";
import { type AmrRecord, passkeyUse, withUse } from "../lib/amr";
import type { Config } from "../lib/config";
import { checkAssertionClaim, type PendingAssertion, type SignedAssertion } from "../webauthn/assertion";
import type { KnownFailure } from "../webauthn/ceremony-failure";
import { type ActivityRecord, writeActivity } from "./activity";
import { type AttemptLimit, countAttempt, forgetOldAttempts, lockState, takeBackAttempt } from "./attempts";
import { type AuthenticatorCounts, countAuthenticators } from "./authenticators";
import { assertionChallengeKey, putPending, takePending } from "./challenges";
import type { AccountDb } from "./db";
import { findPasskeyByCredentialId, listPasskeys, type PasskeyUse, recordPasskeyUse } from "./passkeys";
import type { AccountRow, PasskeyRow, SessionRow } from "./schema";
import type { SessionRefusal } from "./session-gate";
import { gateSession, markAuthenticated, type SessionGate, upgradeSession } from "./sessions";

// The passkey second factor (and a full session's reauthentication with a
// passkey), in one call of the user's object: the session checked, the
// limit checked and the attempt counted, the challenge taken and held
// against what the response signed, the assertion verified, then the sign
// count recorded and the session upgraded (or its authentication
// refreshed) with the activity entry. Verifying awaits between the two
// halves below, each one transaction; the attempt is counted in the first
// and taken back in the second only if it passed, so parallel guesses
// cannot outrun the limit, and the sign count is held again in the second.

export interface PasskeyVerifyInput {
	gate: SessionGate;
	limit: AttemptLimit;
	signed: SignedAssertion;
	response: AuthenticationResponseJSON;
	rules: Pick<Config, "origins" | "rpId">;
	/** The full session that replaces a partial one (its id is the hash of a token only the Worker has). */
	next: SessionRow;
	/** The sign-in entry of the activity log, written when a partial session becomes full. */
	activity: ActivityRecord | null;
}

export type PasskeyVerifyOutcome =
	| { status: "refused_session"; refusal: SessionRefusal }
	| { status: "locked"; retryAfterSeconds: number; account: AccountRow }
	/** `limitReached`: this failure is the one that closed the limit (said once, as a security event). */
	| { status: "failed"; failure: KnownFailure; limitReached: boolean; account: AccountRow }
	/** Verified, but a concurrent request used the sign count or upgraded the session first: not counted. */
	| { status: "lost"; reason: "concurrent_use" | "session_already_upgraded"; account: AccountRow }
	| {
			status: "passed";
			upgraded: boolean;
			/** The session as it stands now: the new full one, or the refreshed one. */
			session: SessionRow;
			account: AccountRow;
			counts: AuthenticatorCounts;
	  };

export type PasskeyVerifyBegun =
	| Exclude<PasskeyVerifyOutcome, { status: "passed" | "lost" }>
	| {
			status: "verify";
			passkey: PasskeyRow;
			session: SessionRow;
			account: AccountRow;
			attemptId: string;
			fillsLimit: boolean;
	  };

export function beginPasskeyVerify(db: AccountDb, sql: SqlStorage, input: PasskeyVerifyInput): PasskeyVerifyBegun {
	const gated = gateSession(db, input.gate);
	if (gated.refusal) return { status: "refused_session", refusal: gated.refusal };
	const { session, account } = gated;
	const now = input.gate.now;
	forgetOldAttempts(sql, input.limit, now);
	const state = lockState(sql, input.limit, now);
	if (state.locked) return { status: "locked", retryAfterSeconds: state.retryAfterSeconds, account };
	// Counted now, as a failure, before the answer: taken back only once the assertion passed.
	const attemptId = countAttempt(sql, input.limit.scope, now, session.id);
	const fillsLimit = lockState(sql, input.limit, now).locked;
	const pending = takePending(sql, assertionChallengeKey(session.id), now);
	// An unknown challenge is the first reason, whatever else is wrong.
	const failure = checkAssertionClaim(pending, input.signed);
	if (failure) return { status: "failed", failure, limitReached: fillsLimit, account };
	const passkey = findPasskeyByCredentialId(db, input.signed.credentialId);
	if (!passkey) {
		return {
			status: "failed",
			failure: { code: "verification_failed", reason: "credential_not_allowed" },
			limitReached: fillsLimit,
			account,
		};
	}
	return { status: "verify", passkey, session, account, attemptId, fillsLimit };
}

export function completePasskeyVerify(
	db: AccountDb,
	sql: SqlStorage,
	input: PasskeyVerifyInput,
	begun: Extract<PasskeyVerifyBegun, { status: "verify" }>,
	use: PasskeyUse,
	userVerified: boolean,
): PasskeyVerifyOutcome {
	const { account, session } = begun;
	const now = input.gate.now;
	// It passed: not a failure. A loss below is no guess either.
	takeBackAttempt(sql, begun.attemptId);
	if (!recordPasskeyUse(db, use)) return { status: "lost", reason: "concurrent_use", account };
	const amr: AmrRecord = withUse(session.amr, passkeyUse(begun.passkey.backupEligible, userVerified), now);
	if (session.level === "partial") {
		// The full session keeps the partial one's origin (same client, same device).
		const next: SessionRow = {
			...input.next,
			userId: account.userId,
			amr,
			client: session.client,
			device: session.device,
			country: session.country,
		};
		if (upgradeSession(db, session.id, next) !== "upgraded") {
			return { status: "lost", reason: "session_already_upgraded", account };
		}
		if (input.activity) writeActivity(sql, input.activity, now);
		return { status: "passed", upgraded: true, session: next, account, counts: countAuthenticators(db) };
	}
	markAuthenticated(db, session.id, now, amr);
	return {
		status: "passed",
		upgraded: false,
		session: { ...session, authenticatedAt: now, amr },
		account,
		counts: countAuthenticators(db),
	};
}

export interface AssertionOptionsInput {
	gate: SessionGate;
	/** The challenge the options carry, made by the Worker. */
	challenge: string;
	ttl: number;
}

export type AssertionOptionsOutcome =
	| { status: "refused_session"; refusal: SessionRefusal }
	| { status: "no_passkey" }
	| { status: "stored"; passkeys: PasskeyRow[]; session: SessionRow; account: AccountRow };

/**
 * The options of a passkey second factor: the session checked, the
 * challenge stored with the credentials that may answer it, in one call.
 */
export function beginAssertionOptions(
	db: AccountDb,
	sql: SqlStorage,
	input: AssertionOptionsInput,
): AssertionOptionsOutcome {
	const gated = gateSession(db, input.gate);
	if (gated.refusal) return { status: "refused_session", refusal: gated.refusal };
	const rows = listPasskeys(db);
	if (rows.length === 0) return { status: "no_passkey" };
	const pending: PendingAssertion = { challenge: input.challenge, allowed: rows.map((p) => p.credentialId) };
	putPending(sql, assertionChallengeKey(gated.session.id), JSON.stringify(pending), input.gate.now + input.ttl);
	return { status: "stored", passkeys: rows, session: gated.session, account: gated.account };
}
