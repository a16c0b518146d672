import {
	type AuthenticationResponseJSON,
	type AuthenticatorTransport,
	verifyAuthenticationResponse,
} from "@simplewebauthn/server";
import { clock } from "../lib/clock";
import type { Config } from "../lib/config";
import { fromBase64Url } from "../lib/encoding";
import { challengeMismatch } from "./canonical-challenge";
import { CeremonyFailure, type KnownFailure } from "./ceremony-failure";
import type { PasskeyUse, StoredPasskey } from "./credential";
import { checkCredentialPublicKey, ES256 } from "./credential-public-key";
import { isSameOriginCeremony } from "./cross-origin";
import { isCanonicalEs256Signature } from "./der-signature";
import type { InspectedAssertion } from "./inspect";
import { parseTransports } from "./passkey-view";

// The rules of an assertion (a passkey signing a challenge): pure, no
// storage. The user's object runs them (account ceremonies) between taking
// the challenge and writing the outcome.

export interface PendingAssertion {
	challenge: string;
	/** The credential ids offered in allowCredentials: only these may answer. */
	allowed: string[];
}

/** What an assertion signed, for the Durable Object to hold against its pending challenge. */
export interface SignedAssertion {
	challenge: string;
	credentialId: string;
}

/**
 * Holds an assertion against the consumed pending challenge (run inside the
 * user's Durable Object, right after it took it): it must answer this
 * session's challenge, with one of the credentials that were offered.
 * Returns the failure, or undefined when the assertion may pass.
 */
export function checkAssertionClaim(pendingText: string | null, signed: SignedAssertion): KnownFailure | undefined {
	if (!pendingText) return { code: "challenge_expired", reason: "challenge_unknown" };
	const pending = JSON.parse(pendingText) as PendingAssertion;
	const mismatch = challengeMismatch(pending.challenge, signed.challenge);
	if (mismatch) return { code: "verification_failed", reason: mismatch };
	if (!pending.allowed.includes(signed.credentialId)) {
		return { code: "verification_failed", reason: "credential_not_allowed" };
	}
	return undefined;
}

export interface AssertionRules {
	requireUserVerification: boolean;
	config: Pick<Config, "origins" | "rpId">;
}

/**
 * Verifies an assertion against a stored passkey. Besides what
 * @simplewebauthn/server checks, it refuses crossOrigin, a changed
 * backup-eligible flag, a stored key that is not a real key of a kind we
 * offered, an ES256 signature that is not canonical DER, and a sign count
 * that does not grow (a possible clone). Returns the use to record.
 */
export async function verifyAssertion(
	passkey: StoredPasskey,
	response: AuthenticationResponseJSON,
	inspected: InspectedAssertion,
	challenge: string,
	rules: AssertionRules,
): Promise<PasskeyUse> {
	if (!isSameOriginCeremony(inspected.clientData)) throw new CeremonyFailure("verification_failed", "cross_origin");
	if (!inspected.authData.flags.up) throw new CeremonyFailure("verification_failed", "user_presence");
	if (rules.requireUserVerification && !inspected.authData.flags.uv) {
		throw new CeremonyFailure("verification_failed", "user_verification");
	}
	if (inspected.authData.flags.be !== passkey.backupEligible) {
		throw new CeremonyFailure("verification_failed", "backup_eligibility_changed");
	}
	const publicKey = fromBase64Url(passkey.publicKey);
	if (!publicKey) throw new CeremonyFailure("verification_failed", "algorithm");
	// Checked again here, not only at registration: a key stored before the rules were kept cannot sign in.
	const key = await checkCredentialPublicKey(publicKey);
	if (!key.valid) throw new CeremonyFailure("verification_failed", key.reason);
	if (key.algorithm === ES256) {
		const signature = fromBase64Url(response.response.signature);
		if (!signature || !isCanonicalEs256Signature(signature)) {
			throw new CeremonyFailure("verification_failed", "signature_encoding");
		}
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
	return {
		id: passkey.id,
		previousCount: passkey.signCount,
		signCount: counter,
		backedUp: verified.authenticationInfo.credentialBackedUp,
		usedAt: clock.now(),
	};
}
