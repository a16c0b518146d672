import {
	type AuthenticationResponseJSON,
	type AuthenticatorTransport,
	generateAuthenticationOptions,
	type PublicKeyCredentialRequestOptionsJSON,
	verifyAuthenticationResponse,
} from "@simplewebauthn/server";
import { type UserStateNamespace, userStateFor } from "../durable/stubs";
import { clock } from "../lib/clock";
import type { Config } from "../lib/config";
import { fromBase64Url } from "../lib/encoding";
import { ApiError } from "../lib/errors";
import type { Db } from "../storage/db";
import { listPasskeys, type PasskeyRow, recordPasskeyUse } from "../storage/passkeys";
import { CHALLENGE_TTL } from "./passkey-registration";
import { parseTransports } from "./passkey-view";
import { attemptSecondFactor, CeremonyFailure, type SecondFactorDeps, type SecondFactorPassed } from "./second-factor";
import type { AuthenticatedSession } from "./sessions";
import {
	type InspectedAssertion,
	inspectAssertion,
	isSupportedAlgorithm,
	storedKeyAlgorithm,
} from "./webauthn-inspect";

export interface PendingAssertion {
	challenge: string;
	/** The credential ids offered in allowCredentials: only these may answer. */
	allowed: string[];
}

export function assertionChallengeKey(sessionId: string): string {
	return `authenticate:${sessionId}`;
}

export async function createAuthenticationOptions(
	deps: { db: Db; userState: UserStateNamespace; config: Config },
	session: AuthenticatedSession,
): Promise<PublicKeyCredentialRequestOptionsJSON> {
	const passkeys = await listPasskeys(deps.db, session.userId);
	if (passkeys.length === 0) {
		throw new ApiError("invalid_request", { message: "This account has no passkey to verify with." });
	}
	const options = await generateAuthenticationOptions({
		rpID: deps.config.rpId,
		timeout: CHALLENGE_TTL,
		userVerification: "preferred",
		allowCredentials: passkeys.map((passkey) => ({
			id: passkey.credentialId,
			transports: parseTransports(passkey.transports) as AuthenticatorTransport[],
		})),
	});
	const pending: PendingAssertion = { challenge: options.challenge, allowed: passkeys.map((p) => p.credentialId) };
	await userStateFor(deps.userState, session.userId).putPending(
		assertionChallengeKey(session.id),
		JSON.stringify(pending),
		clock.now() + CHALLENGE_TTL,
	);
	return options;
}

export interface AssertionRules {
	requireUserVerification: boolean;
	config: Config;
}

/**
 * Verifies an assertion against a stored passkey and records the use. Besides
 * what @simplewebauthn/server checks, it refuses crossOrigin, a changed
 * backup-eligible flag, a key algorithm we never offered, and a sign count
 * that does not grow (a possible clone).
 */
export async function verifyAssertion(
	db: Db,
	passkey: PasskeyRow,
	response: AuthenticationResponseJSON,
	inspected: InspectedAssertion,
	challenge: string,
	rules: AssertionRules,
): Promise<void> {
	if (inspected.clientData.crossOrigin === true) throw new CeremonyFailure("verification_failed", "cross_origin");
	if (!inspected.authData.flags.up) throw new CeremonyFailure("verification_failed", "user_presence");
	if (rules.requireUserVerification && !inspected.authData.flags.uv) {
		throw new CeremonyFailure("verification_failed", "user_verification");
	}
	if (inspected.authData.flags.be !== passkey.backupEligible) {
		throw new CeremonyFailure("verification_failed", "backup_eligibility_changed");
	}
	const publicKey = fromBase64Url(passkey.publicKey);
	if (!publicKey || !isSupportedAlgorithm(storedKeyAlgorithm(publicKey))) {
		throw new CeremonyFailure("verification_failed", "algorithm");
	}
	let verified: Awaited<ReturnType<typeof verifyAuthenticationResponse>>;
	try {
		verified = await verifyAuthenticationResponse({
			response,
			expectedChallenge: challenge,
			expectedOrigin: rules.config.origins,
			expectedRPID: rules.config.rpId,
			expectedType: "webauthn.get",
			requireUserVerification: rules.requireUserVerification,
			credential: {
				id: passkey.credentialId,
				publicKey,
				// The sign-count rule is applied below, after the signature is known
				// to be genuine, so that only a real clone is reported as one.
				counter: 0,
				transports: parseTransports(passkey.transports) as AuthenticatorTransport[],
			},
		});
	} catch (error) {
		console.warn("assertion refused by verifier:", error instanceof Error ? error.message : error);
		throw new CeremonyFailure("verification_failed", "verifier");
	}
	if (!verified.verified) throw new CeremonyFailure("verification_failed", "signature");
	const counter = verified.authenticationInfo.newCounter;
	if ((counter > 0 || passkey.signCount > 0) && counter <= passkey.signCount) {
		console.warn(`possible cloned authenticator: passkey ${passkey.id} sign count did not grow`);
		throw new CeremonyFailure("verification_failed", "sign_count");
	}
	const recorded = await recordPasskeyUse(db, {
		id: passkey.id,
		previousCount: passkey.signCount,
		signCount: verified.authenticationInfo.newCounter,
		backedUp: verified.authenticationInfo.credentialBackedUp,
		usedAt: clock.now(),
	});
	if (!recorded) throw new CeremonyFailure("verification_failed", "concurrent_use");
}

/** The passkey second factor (and reauthentication on a full session). */
export async function verifyPasskeySecondFactor(
	deps: SecondFactorDeps & { config: Config },
	session: AuthenticatedSession,
	response: AuthenticationResponseJSON,
): Promise<SecondFactorPassed<void>> {
	const inspected = inspectAssertion(response);
	const passkeys = await listPasskeys(deps.db, session.userId);
	return attemptSecondFactor(
		deps,
		session,
		{
			method: "webauthn",
			success: "webauthn.verify.success",
			failed: "webauthn.verify.failed",
			challengeKey: assertionChallengeKey(session.id),
		},
		async (pendingText) => {
			if (!pendingText) throw new CeremonyFailure("challenge_expired", "challenge_unknown");
			const pending = JSON.parse(pendingText) as PendingAssertion;
			const passkey = passkeys.find((p) => p.credentialId === inspected.credentialId);
			if (!passkey || !pending.allowed.includes(inspected.credentialId)) {
				throw new CeremonyFailure("verification_failed", "credential_not_allowed");
			}
			await verifyAssertion(deps.db, passkey, response, inspected, pending.challenge, {
				requireUserVerification: false,
				config: deps.config,
			});
		},
	);
}
