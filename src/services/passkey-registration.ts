import {
	type AuthenticatorTransport,
	generateRegistrationOptions,
	type PublicKeyCredentialCreationOptionsJSON,
	type RegistrationResponseJSON,
	verifyRegistrationResponse,
} from "@simplewebauthn/server";
import type { PasskeyRow } from "../account/schema";
import type { SetupUpgrade } from "../account/sessions";
import { claimCredential, releaseCredentials } from "../directory/credentials";
import { type UserStateNamespace, userStateFor } from "../durable/stubs";
import { clock, MINUTE } from "../lib/clock";
import type { Config } from "../lib/config";
import { fromBase64Url, randomId, toBase64Url } from "../lib/encoding";
import { ApiError } from "../lib/errors";
import type { KeySet } from "../lib/key-set";
import type { ClientKind, Metrics } from "../lib/metrics";
import type { Db } from "../storage/db";
import { challengeMismatch } from "./canonical-challenge";
import { checkCredentialPublicKey, ES256 } from "./credential-public-key";
import { isSameOriginCeremony } from "./cross-origin";
import { isCanonicalEs256Signature } from "./der-signature";
import { authenticatorName, type PasskeyView, viewPasskey } from "./passkey-view";
import { generateRecoveryCodes, recordCodesGenerated } from "./recovery-codes";
import { emitSecurityEvent, type SecurityEventSink } from "./security-events";
import { type AuthenticatedSession, type IssuedSession, prepareSetupUpgrade, type UserPasskeys } from "./sessions";

type NewPasskey = PasskeyRow;
/** Asks the change that adds a factor to end the user's setup_required sessions; `upgrade`: the requesting one. */
export interface SetupChange {
	upgrade?: SetupUpgrade;
}

import {
	type InspectedRegistration,
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
	events: SecurityEventSink;
}

interface PendingRegistration {
	challenge: string;
	passwordless: boolean;
	/**
	 * Conditional create: the browser makes the passkey by itself right after
	 * a password sign-in, without a gesture, so user presence may be absent
	 * (WebAuthn L3 §5.1.3, "conditional" mediation). Only then.
	 */
	conditional?: true;
}

/**
 * How long after a password was checked the browser may still register a
 * passkey without the user present (conditional create): the upgrade
 * follows the sign-in directly, not a session that merely stays open.
 */
export const CONDITIONAL_CREATE_WINDOW = 5 * MINUTE;

/** Whether the session checked a password within the conditional-create window (lib/amr.ts keeps when). */
export function checkedPasswordRecently(session: AuthenticatedSession, now: number): boolean {
	const password = session.amr.find((entry) => entry.m === "pwd");
	return password !== undefined && now - password.at <= CONDITIONAL_CREATE_WINDOW && password.at <= now;
}

export type RegistrationKind = "second_factor" | "passwordless" | "conditional";

export function registrationChallengeKey(sessionId: string): string {
	return `register:${sessionId}`;
}

/** `found`: the session's user and passkeys, read with the session. */
export async function createRegistrationOptions(
	deps: RegistrationDeps,
	session: AuthenticatedSession,
	kind: RegistrationKind,
	found: UserPasskeys,
): Promise<PublicKeyCredentialCreationOptionsJSON> {
	const { user, passkeys: existing } = found;
	const conditional = kind === "conditional";
	// Not after any sign-in: only one that checked a password moments ago upgrades itself.
	if (conditional && !checkedPasswordRecently(session, clock.now())) throw new ApiError("reauthentication_required");
	// A conditional passkey is discoverable, to sign in with later; user verification is the browser's choice then.
	const passwordless = kind === "passwordless";
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
			: conditional
				? { residentKey: "required", requireResidentKey: true, userVerification: "preferred" }
				: { residentKey: "discouraged", userVerification: "preferred" },
	});
	const pending: PendingRegistration = {
		challenge: options.challenge,
		passwordless,
		...(conditional ? { conditional: true as const } : {}),
	};
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
	/**
	 * The requesting session was setup_required (REQUIRE_SECOND_FACTOR): the
	 * full session that replaced it, under a new token; null otherwise, or
	 * when a concurrent change of the same session upgraded it first.
	 */
	upgraded: IssuedSession | null;
}

/**
 * What the change that adds a factor does to setup_required sessions: under
 * the policy, or from a setup_required session (one made while the policy
 * was on), it ends the user's setup_required sessions and, for the latter,
 * writes the full session that replaces the requesting one (`issued`).
 * Otherwise nothing: with the policy off the batch is as it always was.
 */
export async function setupChangeFor(
	session: AuthenticatedSession,
	config: Pick<Config, "sessionMaxAge" | "requireSecondFactor">,
): Promise<{ change: SetupChange; issued: IssuedSession | null } | null> {
	if (session.level === "setup_required") {
		const { upgrade, issued } = await prepareSetupUpgrade(session, config.sessionMaxAge);
		return { change: { upgrade }, issued };
	}
	return config.requireSecondFactor ? { change: {}, issued: null } : null;
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
 * Verifies a new credential. @simplewebauthn/server checks the signature,
 * origin, RP ID hash and flags; the rules it leaves to the app (credential id
 * length, crossOrigin, attestation formats, id consistency, one account per
 * credential) are checked here. The response is verified against the
 * challenge it signed, and the user's Durable Object then, in one call,
 * consumes the pending challenge, holds the claim against it and adds the
 * passkey. A refused response still consumes the challenge (one call too),
 * and an unknown challenge answers challenge_expired before any other reason.
 */
export async function completeRegistration(
	deps: RegistrationDeps & { recoveryKeys: KeySet },
	session: AuthenticatedSession,
	response: RegistrationResponseJSON,
	requestedName: string | undefined,
): Promise<RegistrationCompleted> {
	const inspected = inspectRegistration(response);
	const stub = userStateFor(deps.userState, session.userId);
	const challengeKey = registrationChallengeKey(session.id);
	const now = clock.now();
	try {
		let row: NewPasskey;
		let claim: RegistrationClaim;
		try {
			({ row, claim } = await verifyNewCredential(deps, session.userId, response, inspected, requestedName, now));
		} catch (error) {
			if (!(error instanceof RegistrationRefused)) throw error;
			const pending = await stub.takePending(challengeKey, now);
			throw pending ? error : new RegistrationRefused("challenge_expired", "challenge_unknown");
		}
		// Made here, not in the Durable Object, so that only their hashes leave the Worker.
		const firstCodes = await generateRecoveryCodes(deps.recoveryKeys);
		const setup = await setupChangeFor(session, deps.config);
		// The credential id is claimed in the directory first (UNIQUE across
		// accounts), then the passkey is added in the user's object; a refusal
		// or a failure there releases the claim, so no claim outlives a passkey
		// that never was.
		// Another account's (or this one's) credential: the object still takes
		// the challenge and holds the claim, so the answer's reason is the same
		// as without the directory, and adds nothing.
		const claimed = await claimCredential(deps.db, row.credentialId, session.userId, now);
		let added: Awaited<ReturnType<typeof stub.completeRegistration>>;
		try {
			added = await stub.completeRegistration({
				challengeKey,
				claim: { ...claim, passwordRecent: checkedPasswordRecently(session, now) },
				passkey: row,
				firstCodeHashes: firstCodes.hashes,
				now,
				...(setup ? { setup: setup.change } : {}),
				credentialTaken: !claimed,
			});
		} catch (error) {
			// The passkey may have been added with only the answer lost: the
			// claim stays with it. Released only when the object says it has
			// no such passkey; when it cannot say, a stale claim (no passkey
			// behind it: no one signs in with it) is the safe side.
			if (claimed && (await stub.hasCredential(row.credentialId).catch(() => true)) === false) {
				await releaseCredentials(deps.db, session.userId, [row.credentialId]);
			}
			throw error;
		}
		if (claimed && added.status !== "created") await releaseCredentials(deps.db, session.userId, [row.credentialId]);
		if (added.status === "refused") throw new RegistrationRefused(added.code, added.reason);
		if (added.status === "credential_exists") throw new RegistrationRefused("credential_exists", "credential_exists");
		recordRegistration(deps, "webauthn.registration.success", "success");
		if (added.codesGiven) recordCodesGenerated(deps, "first_authenticator");
		emitSecurityEvent(deps, {
			type: "passkey.added",
			userId: session.userId,
			externalId: session.externalId,
			data: { passkey_id: added.passkey.id, name: added.passkey.name },
		});
		if (added.codesGiven) {
			emitSecurityEvent(deps, { type: "recovery_codes.generated", userId: session.userId, data: {} });
		}
		return {
			passkey: viewPasskey(added.passkey),
			recoveryCodes: added.codesGiven ? firstCodes.codes : null,
			upgraded: added.upgraded ? (setup?.issued ?? null) : null,
		};
	} catch (error) {
		if (!(error instanceof RegistrationRefused)) throw error;
		recordRegistration(deps, "webauthn.registration.failed", "failure", error.reason);
		throw new ApiError(error.code);
	}
}

/**
 * Every check that needs no stored state, for the passkey of `userId`; the
 * row it yields is passwordless once the caller's challenge says so. The
 * challenge is taken as the client data spells it: the caller holds it
 * against its own (pending, or signed) and checks its spelling.
 */
export async function verifyNewCredential(
	deps: Pick<RegistrationDeps, "config">,
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

export function recordRegistration(
	deps: Pick<RegistrationDeps, "metrics" | "client" | "startedAt">,
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
