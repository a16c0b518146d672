import {
	generateRegistrationOptions,
	type PublicKeyCredentialCreationOptionsJSON,
	type RegistrationResponseJSON,
} from "@simplewebauthn/server";
import { findUserByEmail } from "../directory/users";
import { createUser } from "../flows/accounts";
import { passkeyUse } from "../lib/amr";
import { clock } from "../lib/clock";
import type { Config } from "../lib/config";
import { randomId } from "../lib/encoding";
import { ApiError } from "../lib/errors";
import type { KeySet } from "../lib/key-set";
import { consumeSignUpChallenge } from "../storage/sign-up-challenges";
import { readChallenge } from "../webauthn/canonical-challenge";
import { inspectRegistration, SUPPORTED_ALGORITHMS } from "../webauthn/inspect";
import {
	CHALLENGE_TTL,
	passwordlessClaimProblem,
	RegistrationRefused,
	verifyNewCredential,
} from "../webauthn/registration";
import { type AccountDeps, countClientSignUp, normalizeEmail } from "./accounts";
import { recordRegistration } from "./passkey-registration";
import { generateRecoveryCodes, recordCodesGenerated } from "./recovery-codes";
import { emitSecurityEvent } from "./security-events";
import { type IssuedSession, methodsOf, prepareSession, type SessionView, sessionView } from "./sessions";
import { issueSignUpChallenge, openSignUpChallenge } from "./sign-up-challenge";

export interface PasskeySignUpDeps extends AccountDeps {
	config: Config;
	/** The key set the sign-up challenges' MAC keys are derived from (under their own label). */
	challengeKeys: KeySet;
	/** Hashes the first recovery codes. */
	recoveryKeys: KeySet;
}

/**
 * `POST /api/auth/signup/passkey/options/`: creation options for a
 * discoverable passkey with user verification, for a new account with this
 * email. Nothing is stored: the email and the fresh user handle travel in the
 * signed challenge (sign-up-challenge.ts). The attempt counts against the
 * client's sign-up limit here, where an email is first answered
 * `email_taken`; completing it does not count again (see completeSignUp).
 */
export async function createSignUpOptions(
	deps: PasskeySignUpDeps,
	input: { email: string },
): Promise<PublicKeyCredentialCreationOptionsJSON> {
	await countClientSignUp(deps, "webauthn");
	const email = normalizeEmail(input.email);
	if (await findUserByEmail(deps.db, email)) throw new ApiError("email_taken");
	const { challenge, userHandle } = await issueSignUpChallenge(deps.challengeKeys, email, clock.now() + CHALLENGE_TTL);
	return generateRegistrationOptions({
		rpName: deps.config.rpName,
		rpID: deps.config.rpId,
		userID: userHandle,
		userName: email,
		userDisplayName: email,
		challenge,
		attestationType: "none",
		timeout: CHALLENGE_TTL,
		supportedAlgorithmIDs: [...SUPPORTED_ALGORITHMS],
		excludeCredentials: [],
		authenticatorSelection: { residentKey: "required", requireResidentKey: true, userVerification: "required" },
	});
}

export interface PasskeySignedUp {
	user: { id: string; email: string };
	issued: IssuedSession;
	view: SessionView;
	recoveryCodes: string[];
}

/**
 * `POST /api/auth/signup/passkey/complete/`. The challenge must be one this
 * Worker signed for a sign-up and still valid (else challenge_expired); its
 * first presentation is recorded in D1, whatever follows, so a replay is
 * challenge_expired too. The credential then passes every rule of a
 * passwordless registration (passkey-registration.ts: attestation format,
 * algorithms, key, id, origin, RP ID, crossOrigin, user presence, and user
 * verification and discoverability). Only then is anything created
 * (flows/accounts.ts createUser): the email and the credential id claimed in
 * the directory (one D1 batch), then the account in the new user's object
 * with its passkey (passwordless), ten recovery codes and a full session (one
 * transaction); the claims go if that write fails. A fault leaves nothing; a
 * lost race for the email is 409 email_taken, for the credential 409
 * credential_exists.
 *
 * Not counted against the client's sign-up limit: each completion needs a
 * challenge that was counted when it was issued, and works once.
 */
export async function completeSignUp(
	deps: PasskeySignUpDeps,
	response: RegistrationResponseJSON,
	requestedName: string | undefined,
): Promise<PasskeySignedUp> {
	// Structure first: a malformed request is invalid_request and consumes nothing.
	const inspected = inspectRegistration(response);
	const now = clock.now();
	try {
		const presented = inspected.clientData.challenge;
		const ceremony = await openSignUpChallenge(deps.challengeKeys, presented, now);
		if (!ceremony) throw new RegistrationRefused("challenge_expired", "challenge_unknown");
		// As for sign-in: the use is recorded under the canonical spelling, so
		// every spelling of one challenge is the same use; another spelling is
		// refused once it has consumed the challenge.
		const spelled = readChallenge(presented);
		if (!spelled) throw new RegistrationRefused("challenge_expired", "challenge_unknown");
		const consumed = await consumeSignUpChallenge(deps.db, spelled.canonical, ceremony.expiresAt, ceremony.email, now);
		if (!consumed.first) throw new RegistrationRefused("challenge_expired", "challenge_unknown");
		if (!spelled.isCanonical) throw new RegistrationRefused("verification_failed", "challenge_not_canonical");

		const userId = randomId();
		const { row, claim } = await verifyNewCredential(deps, userId, response, inspected, requestedName, now);
		const problem = passwordlessClaimProblem(claim);
		if (problem) throw new RegistrationRefused("verification_failed", problem);
		// What options already answered, unless the email was taken since.
		if (consumed.emailTaken) throw new RegistrationRefused("email_taken", "email_taken");

		const passkey = { ...row, passwordless: true };
		const user = {
			id: userId,
			email: ceremony.email,
			webauthnUserId: ceremony.userHandle,
			createdAt: now,
			externalId: null,
			displayName: null,
		};
		const codes = await generateRecoveryCodes(deps.recoveryKeys);
		const { row: sessionRow, issued } = await prepareSession(
			{ id: userId, email: user.email, externalId: null },
			"full",
			deps.source,
			deps.config.sessionMaxAge,
			passkeyUse(passkey.backupEligible, claim.userVerified),
		);
		// No password: password sign-in answers invalid_credentials for this account.
		const created = await createUser(deps.db, deps.userState, {
			entry: user,
			password: null,
			session: sessionRow,
			passkey,
			codeHashes: codes.hashes,
		});
		if (created.status !== "created") throw new RegistrationRefused(created.status, created.status);
		recordRegistration(deps, "webauthn.registration.success", "success");
		recordCodesGenerated(deps, "first_authenticator");
		emitSecurityEvent(deps, {
			type: "passkey.added",
			userId,
			externalId: null,
			data: { passkey_id: passkey.id, name: passkey.name },
		});
		emitSecurityEvent(deps, {
			type: "session.created",
			userId,
			externalId: null,
			data: { method: "passkey_sign_up", level: "full", client: deps.client },
		});
		const counts = { passkeys: 1, totp: 0, unusedRecoveryCodes: codes.codes.length };
		return {
			user: { id: userId, email: user.email },
			issued,
			view: sessionView(issued.session, methodsOf(counts)),
			recoveryCodes: codes.codes,
		};
	} catch (error) {
		if (!(error instanceof RegistrationRefused)) throw error;
		recordRegistration(deps, "webauthn.registration.failed", "failure", error.reason);
		throw new ApiError(error.code);
	}
}
