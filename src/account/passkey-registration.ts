import type { KnownFailure } from "../webauthn/ceremony-failure";
import {
	checkedPasswordRecently,
	checkRegistrationClaim,
	type PendingRegistration,
	type RegistrationClaim,
} from "../webauthn/registration";
import { type ActivityRecord, writeActivity } from "./activity";
import { type AuthenticatorCounts, addAuthenticator, countAuthenticators, type SetupEnded } from "./authenticators";
import { putPending, registrationChallengeKey, takePending } from "./challenges";
import type { AccountDb } from "./db";
import { findPasskeyByCredentialId, listPasskeys } from "./passkeys";
import { type AccountRow, type PasskeyRow, passkeys, type SessionRow } from "./schema";
import type { SessionRefusal } from "./session-gate";
import { gateSession, type SessionGate, type SetupUpgrade } from "./sessions";

// Registering a passkey, in the user's object: the options' call (the session
// checked, the challenge stored, the passkeys read for excludeCredentials)
// and the completion's call (the session checked, the challenge taken, what
// the verified response claims held against it, the passkey added with its
// first codes, the setup_required sessions ended, the activity written), each
// one call and one transaction. The response itself is verified by the
// Worker (webauthn/registration.ts): it needs no stored state.

export type RegistrationKind = "second_factor" | "passwordless" | "conditional";

export interface RegistrationOptionsInput {
	gate: SessionGate;
	kind: RegistrationKind;
	/** The challenge the options carry, made by the Worker. */
	challenge: string;
	ttl: number;
}

export type RegistrationOptionsOutcome =
	| { status: "refused_session"; refusal: SessionRefusal }
	| { status: "stored"; account: AccountRow; passkeys: PasskeyRow[]; session: SessionRow };

export function beginRegistration(
	db: AccountDb,
	sql: SqlStorage,
	input: RegistrationOptionsInput,
): RegistrationOptionsOutcome {
	const gated = gateSession(db, input.gate);
	if (gated.refusal) return { status: "refused_session", refusal: gated.refusal };
	const now = input.gate.now;
	// Not after any sign-in: only one that checked a password moments ago upgrades itself.
	if (input.kind === "conditional" && !checkedPasswordRecently(gated.session.amr, now)) {
		return { status: "refused_session", refusal: "reauthentication_required" };
	}
	const pending: PendingRegistration = {
		challenge: input.challenge,
		passwordless: input.kind === "passwordless",
		...(input.kind === "conditional" ? { conditional: true as const } : {}),
	};
	putPending(sql, registrationChallengeKey(gated.session.id), JSON.stringify(pending), now + input.ttl);
	return { status: "stored", account: gated.account, passkeys: listPasskeys(db), session: gated.session };
}

export interface RegistrationInput {
	gate: SessionGate;
	/** What the verified response claims; absent when the Worker's verification refused it (`failure`). */
	claim?: RegistrationClaim;
	failure?: KnownFailure;
	passkey?: PasskeyRow;
	/** The hashes of the codes to give if this is the user's first authenticator. */
	firstCodeHashes: string[];
	/** The directory holds the credential id for an account already (claimCredential refused it). */
	credentialTaken: boolean;
	/** REQUIRE_SECOND_FACTOR, and the full session that replaces a setup_required one (a new token's hash). */
	setup: { requireSecondFactor: boolean; next: SessionRow };
	activity: { added: ActivityRecord | null; codesGiven: ActivityRecord | null };
}

export type RegistrationOutcome =
	| { status: "refused_session"; refusal: SessionRefusal }
	| ({ status: "refused" } & KnownFailure)
	| { status: "credential_exists" }
	| ({
			status: "created";
			passkey: PasskeyRow;
			codesGiven: boolean;
			account: AccountRow;
			/** The full session that replaced the requesting setup_required one, when it did. */
			upgradedTo: SessionRow | null;
			counts: AuthenticatorCounts;
			/** The session the request came with, as checked. */
			session: SessionRow;
	  } & SetupEnded);

export function completeRegistration(db: AccountDb, sql: SqlStorage, input: RegistrationInput): RegistrationOutcome {
	const gated = gateSession(db, input.gate);
	if (gated.refusal) return { status: "refused_session", refusal: gated.refusal };
	const { session, account } = gated;
	const now = input.gate.now;
	// Taken whatever follows: a refused response uses the challenge up too.
	const pending = takePending(sql, registrationChallengeKey(session.id), now);
	if (input.failure || !input.claim || !input.passkey) {
		// An unknown challenge is the first reason, whatever else is wrong.
		if (!pending) return { status: "refused", code: "challenge_expired", reason: "challenge_unknown" };
		return { status: "refused", ...(input.failure ?? { code: "verification_failed", reason: "verifier" }) };
	}
	const check = checkRegistrationClaim(pending, {
		...input.claim,
		passwordRecent: checkedPasswordRecently(session.amr, now),
	});
	if (!check.accepted) return { status: "refused", code: check.code, reason: check.reason };
	if (input.credentialTaken || findPasskeyByCredentialId(db, input.passkey.credentialId)) {
		return { status: "credential_exists" };
	}
	const passkey = { ...input.passkey, userId: account.userId, passwordless: check.passwordless };
	// A setup_required session becomes full under a new token; with the
	// policy on, the user's other setup_required sessions end (adding a
	// factor is not authenticating with it: the authentication stays the password's).
	const upgrade: SetupUpgrade | undefined =
		session.level === "setup_required"
			? {
					fromId: session.id,
					row: {
						...input.setup.next,
						userId: account.userId,
						amr: session.amr,
						authenticatedAt: session.authenticatedAt,
						client: session.client,
						device: session.device,
						country: session.country,
					},
				}
			: undefined;
	const setup = upgrade ? { upgrade } : input.setup.requireSecondFactor ? {} : undefined;
	const added = addAuthenticator(db, account.userId, input.firstCodeHashes, now, setup, () => {
		db.insert(passkeys).values(passkey).run();
	});
	if (input.activity.added) writeActivity(sql, input.activity.added, now);
	if (added.codesGiven && input.activity.codesGiven) writeActivity(sql, input.activity.codesGiven, now);
	return {
		status: "created",
		passkey,
		account,
		...added,
		upgradedTo: added.upgraded && upgrade ? upgrade.row : null,
		counts: countAuthenticators(db),
		session,
	};
}
