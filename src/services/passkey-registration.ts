import {
	type AuthenticatorTransport,
	generateRegistrationOptions,
	type PublicKeyCredentialCreationOptionsJSON,
	type RegistrationResponseJSON,
	verifyRegistrationResponse,
} from "@simplewebauthn/server";
import { type UserStateNamespace, userStateFor } from "../durable/stubs";
import { clock, MINUTE } from "../lib/clock";
import type { Config } from "../lib/config";
import { fromBase64Url, randomId, toBase64Url } from "../lib/encoding";
import { ApiError } from "../lib/errors";
import type { ClientKind, Metrics } from "../lib/metrics";
import type { Db } from "../storage/db";
import { listPasskeys } from "../storage/passkeys";
import { findUserById } from "../storage/users";
import { authenticatorName, type PasskeyView, viewPasskey } from "./passkey-view";
import { recordCodesGenerated } from "./recovery-codes";
import type { AuthenticatedSession } from "./sessions";
import {
	inspectRegistration,
	isSupportedAlgorithm,
	MAX_CREDENTIAL_ID_BYTES,
	SUPPORTED_ALGORITHMS,
} from "./webauthn-inspect";

export const CHALLENGE_TTL = 5 * MINUTE;
const KNOWN_TRANSPORTS = new Set(["ble", "cable", "hybrid", "internal", "nfc", "smart-card", "usb"]);

export interface RegistrationDeps {
	db: Db;
	userState: UserStateNamespace;
	config: Config;
	metrics: Metrics;
	client: ClientKind;
	startedAt: number;
}

interface PendingRegistration {
	challenge: string;
	passwordless: boolean;
}

export function registrationChallengeKey(sessionId: string): string {
	return `register:${sessionId}`;
}

export async function createRegistrationOptions(
	deps: RegistrationDeps,
	session: AuthenticatedSession,
	passwordless: boolean,
): Promise<PublicKeyCredentialCreationOptionsJSON> {
	const user = await findUserById(deps.db, session.userId);
	if (!user) throw new ApiError("not_authenticated");
	const existing = await listPasskeys(deps.db, user.id);
	const userId = fromBase64Url(user.webauthnUserId);
	if (!userId) throw new Error("stored WebAuthn user id is not base64url");
	const options = await generateRegistrationOptions({
		rpName: deps.config.rpName,
		rpID: deps.config.rpId,
		userID: userId,
		userName: user.email,
		userDisplayName: user.email,
		attestationType: "none",
		timeout: CHALLENGE_TTL,
		supportedAlgorithmIDs: [...SUPPORTED_ALGORITHMS],
		excludeCredentials: existing.map((passkey) => ({
			id: passkey.credentialId,
			transports: JSON.parse(passkey.transports) as AuthenticatorTransport[],
		})),
		authenticatorSelection: passwordless
			? { residentKey: "required", requireResidentKey: true, userVerification: "required" }
			: { residentKey: "discouraged", userVerification: "preferred" },
	});
	const pending: PendingRegistration = { challenge: options.challenge, passwordless };
	await userStateFor(deps.userState, user.id).putPending(
		registrationChallengeKey(session.id),
		JSON.stringify(pending),
		clock.now() + CHALLENGE_TTL,
	);
	return options;
}

export interface RegistrationCompleted {
	passkey: PasskeyView;
	recoveryCodes: string[] | null;
}

class RegistrationRefused extends Error {
	constructor(
		readonly code: "verification_failed" | "challenge_expired" | "credential_exists",
		readonly reason: string,
	) {
		super(reason);
	}
}

/**
 * Verifies a new credential. @simplewebauthn/server checks the signature,
 * challenge, origin, RP ID hash and flags; the rules it leaves to the app
 * (credential id length, crossOrigin, attestation formats, id consistency,
 * one account per credential) are checked here.
 */
export async function completeRegistration(
	deps: RegistrationDeps,
	session: AuthenticatedSession,
	response: RegistrationResponseJSON,
	requestedName: string | undefined,
): Promise<RegistrationCompleted> {
	const inspected = inspectRegistration(response);
	const stub = userStateFor(deps.userState, session.userId);
	const now = clock.now();
	try {
		const pendingText = await stub.takePending(registrationChallengeKey(session.id), now);
		if (!pendingText) throw new RegistrationRefused("challenge_expired", "challenge_unknown");
		const pending = JSON.parse(pendingText) as PendingRegistration;
		if (inspected.clientData.crossOrigin === true) throw new RegistrationRefused("verification_failed", "cross_origin");
		if (inspected.credentialIdBytes > MAX_CREDENTIAL_ID_BYTES) {
			throw new RegistrationRefused("verification_failed", "credential_id_too_long");
		}
		if (inspected.credentialId !== response.id) throw new RegistrationRefused("verification_failed", "id_mismatch");
		const selfAttested = inspected.format === "packed" && !inspected.hasCertificateChain;
		const emptyNone = inspected.format === "none" && inspected.attestationStatementSize === 0;
		if (!selfAttested && !emptyNone) throw new RegistrationRefused("verification_failed", "attestation_format");
		// The library checks this too (supportedAlgorithmIDs); checking it here names the reason.
		if (!isSupportedAlgorithm(inspected.algorithm)) throw new RegistrationRefused("verification_failed", "algorithm");
		// A passwordless passkey must be discoverable: when the browser reports
		// that the authenticator made a server-side credential, it cannot sign in alone.
		if (pending.passwordless && response.clientExtensionResults.credProps?.rk === false) {
			throw new RegistrationRefused("verification_failed", "not_discoverable");
		}
		let verification: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
		try {
			verification = await verifyRegistrationResponse({
				response,
				expectedChallenge: pending.challenge,
				expectedOrigin: deps.config.origins,
				expectedRPID: deps.config.rpId,
				expectedType: "webauthn.create",
				requireUserPresence: true,
				requireUserVerification: pending.passwordless,
				supportedAlgorithmIDs: [...SUPPORTED_ALGORITHMS],
			});
		} catch (error) {
			console.warn("registration refused by verifier:", error instanceof Error ? error.message : error);
			throw new RegistrationRefused("verification_failed", "verifier");
		}
		if (!verification.verified) throw new RegistrationRefused("verification_failed", "not_verified");
		const info = verification.registrationInfo;
		const transports = (response.response.transports ?? []).filter((t) => KNOWN_TRANSPORTS.has(t));
		const name = requestedName ?? authenticatorName(info.aaguid) ?? "Passkey";
		const row = {
			id: randomId(),
			userId: session.userId,
			credentialId: inspected.credentialId,
			publicKey: toBase64Url(info.credential.publicKey),
			signCount: info.credential.counter,
			transports: JSON.stringify(transports),
			backupEligible: info.credentialDeviceType === "multiDevice",
			backedUp: info.credentialBackedUp,
			aaguid: info.aaguid,
			passwordless: pending.passwordless,
			name,
			createdAt: now,
			lastUsedAt: null,
		};
		const added = await stub.addPasskey(row, now);
		if (added.status === "credential_exists") throw new RegistrationRefused("credential_exists", "credential_exists");
		recordRegistration(deps, "webauthn.registration.success", "success");
		if (added.recoveryCodes) recordCodesGenerated(deps, "first_authenticator");
		return { passkey: viewPasskey(row), recoveryCodes: added.recoveryCodes };
	} catch (error) {
		if (!(error instanceof RegistrationRefused)) throw error;
		recordRegistration(deps, "webauthn.registration.failed", "failure", error.reason);
		throw new ApiError(error.code);
	}
}

function recordRegistration(
	deps: RegistrationDeps,
	event: "webauthn.registration.success" | "webauthn.registration.failed",
	outcome: "success" | "failure",
	reason?: string,
): void {
	deps.metrics.record({
		event,
		outcome,
		...(reason ? { reason } : {}),
		method: "webauthn",
		client: deps.client,
		durationMs: performance.now() - deps.startedAt,
	});
}
