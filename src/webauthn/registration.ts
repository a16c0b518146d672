import { type RegistrationResponseJSON, verifyRegistrationResponse } from "@simplewebauthn/server";
import type { AmrRecord } from "../lib/amr";
import { MINUTE } from "../lib/clock";
import type { Config } from "../lib/config";
import { randomId, toBase64Url } from "../lib/encoding";
import { challengeMismatch } from "./canonical-challenge";
import type { StoredPasskey } from "./credential";
import { checkCredentialPublicKey, ES256 } from "./credential-public-key";
import { isSameOriginCeremony } from "./cross-origin";
import { isCanonicalEs256Signature } from "./der-signature";
import {
	type InspectedRegistration,
	isSupportedAlgorithm,
	MAX_CREDENTIAL_ID_BYTES,
	SUPPORTED_ALGORITHMS,
} from "./inspect";
import { authenticatorName } from "./passkey-view";

// The rules of a registration (a new credential): pure, no storage. The
// Worker verifies the response (verifyNewCredential); the user's object
// holds what it claims against the pending challenge it takes
// (checkRegistrationClaim).

type NewPasskey = StoredPasskey;

/**
 * How long after a password was checked the browser may still register a
 * passkey without the user present (conditional create): the upgrade
 * follows the sign-in directly, not a session that merely stays open.
 */
export const CONDITIONAL_CREATE_WINDOW = 5 * MINUTE;

/** Whether a session's record says a password was checked within the conditional-create window (lib/amr.ts keeps when). */
export function checkedPasswordRecently(amr: AmrRecord, now: number): boolean {
	const password = amr.find((entry) => entry.m === "pwd");
	return password !== undefined && now - password.at <= CONDITIONAL_CREATE_WINDOW && password.at <= now;
}

export const CHALLENGE_TTL = 5 * MINUTE;

const KNOWN_TRANSPORTS = new Set(["ble", "cable", "hybrid", "internal", "nfc", "smart-card", "usb"]);

export interface PendingRegistration {
	challenge: string;
	passwordless: boolean;
	/**
	 * Conditional create: the browser makes the passkey by itself right after
	 * a password sign-in, without a gesture, so user presence may be absent
	 * (WebAuthn L3 §5.1.3, "conditional" mediation). Only then.
	 */
	conditional?: true;
}

type RefusalCode = "verification_failed" | "challenge_expired" | "credential_exists" | "email_taken";

/** A refused registration: the API error code, and the reason the failure metric names. */
export class RegistrationRefused extends Error {
	constructor(
		readonly code: RefusalCode,
		readonly reason: string,
	) {
		super(reason);
	}
}

/** What a verified registration response claims, for the Durable Object to hold against its pending challenge. */
export interface RegistrationClaim {
	/** The challenge in the signed clientDataJSON. */
	challenge: string;
	userVerified: boolean;
	/** The UP flag: false only in a conditional create, which the pending registration must say it is. */
	userPresent: boolean;
	/** The browser reported credProps.rk === false: the authenticator made a server-side credential. */
	notDiscoverable: boolean;
}

export type ClaimCheck =
	| { accepted: true; passwordless: boolean; conditional: boolean }
	| { accepted: false; code: "challenge_expired" | "verification_failed"; reason: string };

/**
 * Holds a claim against the consumed pending registration (run inside the
 * user's Durable Object, right after it took the challenge): the response
 * must answer this session's challenge, and a passwordless passkey must be
 * user-verified and discoverable.
 */
export function checkRegistrationClaim(
	pendingText: string | null,
	claim: RegistrationClaim & {
		/** The session checked a password within CONDITIONAL_CREATE_WINDOW when the response arrived. */
		passwordRecent: boolean;
	},
): ClaimCheck {
	if (!pendingText) return { accepted: false, code: "challenge_expired", reason: "challenge_unknown" };
	const pending = JSON.parse(pendingText) as PendingRegistration;
	const mismatch = challengeMismatch(pending.challenge, claim.challenge);
	if (mismatch) return { accepted: false, code: "verification_failed", reason: mismatch };
	// User presence may be absent in a conditional create only, and only right after a password sign-in.
	if (pending.conditional) {
		if (!claim.passwordRecent) return { accepted: false, code: "verification_failed", reason: "password_not_recent" };
		if (claim.notDiscoverable) return { accepted: false, code: "verification_failed", reason: "not_discoverable" };
		// A conditional passkey signs in alone only when the authenticator verified the user.
		return { accepted: true, passwordless: claim.userVerified, conditional: true };
	}
	const problem = pending.passwordless ? passwordlessClaimProblem(claim) : presenceProblem(claim);
	if (problem) return { accepted: false, code: "verification_failed", reason: problem };
	return { accepted: true, passwordless: pending.passwordless, conditional: false };
}

/**
 * The verifier is told not to require user presence (a conditional create
 * may lack it, checkRegistrationClaim): every other registration, and a
 * passkey-first sign-up, is refused here without it.
 */
export function presenceProblem(claim: RegistrationClaim): "user_presence" | undefined {
	return claim.userPresent ? undefined : "user_presence";
}

/**
 * The rules of a passkey for passwordless sign-in (registered with
 * `passwordless=true`, or made by a passkey-first sign-up): user-verified,
 * and not reported non-discoverable by the browser (credProps.rk === false).
 */
export function passwordlessClaimProblem(
	claim: RegistrationClaim,
): "user_presence" | "user_verification" | "not_discoverable" | undefined {
	const presence = presenceProblem(claim);
	if (presence) return presence;
	if (!claim.userVerified) return "user_verification";
	if (claim.notDiscoverable) return "not_discoverable";
	return undefined;
}

/**
 * Every check that needs no stored state, for the passkey of `userId`; the
 * row it yields is passwordless once the caller's challenge says so. The
 * challenge is taken as the client data spells it: the caller holds it
 * against its own (pending, or signed) and checks its spelling.
 */
export async function verifyNewCredential(
	deps: { config: Pick<Config, "origins" | "rpId"> },
	userId: string,
	response: RegistrationResponseJSON,
	inspected: InspectedRegistration,
	requestedName: string | undefined,
	now: number,
): Promise<{ row: NewPasskey; claim: RegistrationClaim }> {
	if (!isSameOriginCeremony(inspected.clientData)) throw new RegistrationRefused("verification_failed", "cross_origin");
	if (inspected.credentialIdBytes > MAX_CREDENTIAL_ID_BYTES) {
		throw new RegistrationRefused("verification_failed", "credential_id_too_long");
	}
	if (inspected.credentialId !== response.id) throw new RegistrationRefused("verification_failed", "id_mismatch");
	const selfAttested = inspected.format === "packed" && !inspected.hasCertificateChain;
	const emptyNone = inspected.format === "none" && inspected.attestationStatementSize === 0;
	if (!selfAttested && !emptyNone) throw new RegistrationRefused("verification_failed", "attestation_format");
	// The library checks this too (supportedAlgorithmIDs); checking it here names the reason.
	if (!isSupportedAlgorithm(inspected.algorithm)) throw new RegistrationRefused("verification_failed", "algorithm");
	const key = await checkCredentialPublicKey(inspected.credentialPublicKey);
	if (!key.valid) throw new RegistrationRefused("verification_failed", key.reason);
	if (selfAttested) {
		// §8.2: a self attestation is signed with the credential's own key, so it names that key's algorithm.
		if (inspected.attestationAlgorithm !== key.algorithm) {
			throw new RegistrationRefused("verification_failed", "attestation_algorithm");
		}
		const signature = inspected.attestationSignature;
		if (key.algorithm === ES256 && (!signature || !isCanonicalEs256Signature(signature))) {
			throw new RegistrationRefused("verification_failed", "signature_encoding");
		}
	}
	let verification: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
	try {
		verification = await verifyRegistrationResponse({
			response,
			// The challenge is compared with the pending one in the Durable Object.
			expectedChallenge: inspected.clientData.challenge,
			expectedOrigin: deps.config.origins,
			expectedRPID: deps.config.rpId,
			expectedType: "webauthn.create",
			// Held in checkRegistrationClaim: absent only in a conditional create.
			requireUserPresence: false,
			// Required for passwordless passkeys: checkRegistrationClaim.
			requireUserVerification: false,
			supportedAlgorithmIDs: [...SUPPORTED_ALGORITHMS],
		});
	} catch (error) {
		console.warn("registration refused by verifier:", error instanceof Error ? error.message : error);
		throw new RegistrationRefused("verification_failed", "verifier");
	}
	if (!verification.verified) throw new RegistrationRefused("verification_failed", "not_verified");
	const info = verification.registrationInfo;
	const transports = (response.response.transports ?? []).filter((t) => KNOWN_TRANSPORTS.has(t));
	const row: NewPasskey = {
		id: randomId(),
		userId,
		credentialId: inspected.credentialId,
		publicKey: toBase64Url(info.credential.publicKey),
		signCount: info.credential.counter,
		transports: JSON.stringify(transports),
		backupEligible: info.credentialDeviceType === "multiDevice",
		backedUp: info.credentialBackedUp,
		aaguid: info.aaguid,
		passwordless: false,
		name: requestedName ?? authenticatorName(info.aaguid) ?? "Passkey",
		createdAt: now,
		lastUsedAt: null,
	};
	const claim: RegistrationClaim = {
		challenge: inspected.clientData.challenge,
		userVerified: info.userVerified,
		userPresent: inspected.authData.flags.up,
		notDiscoverable: response.clientExtensionResults.credProps?.rk === false,
	};
	return { row, claim };
}
