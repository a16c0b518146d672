import {
	type AuthenticatorTransport,
	generateRegistrationOptions,
	type PublicKeyCredentialCreationOptionsJSON,
	type RegistrationResponseJSON,
} from "@simplewebauthn/server";
import type { RegistrationKind } from "../account/passkey-registration";
import type { PasskeyRow } from "../account/schema";
import { claimCredential, releaseCredentials } from "../directory/credentials";
import { type UserStateNamespace, userStateFor } from "../durable/stubs";
import { clock } from "../lib/clock";
import type { Config } from "../lib/config";
import { fromBase64Url, randomBytes, toBase64Url } from "../lib/encoding";
import { ApiError } from "../lib/errors";
import type { KeySet } from "../lib/key-set";
import type { ClientKind, Metrics } from "../lib/metrics";
import { type Db, isForeignKeyViolation } from "../storage/db";
import type { KnownFailure } from "../webauthn/ceremony-failure";
import { inspectRegistration, SUPPORTED_ALGORITHMS } from "../webauthn/inspect";
import { type PasskeyView, viewPasskey } from "../webauthn/passkey-view";
import {
	CHALLENGE_TTL,
	type RegistrationClaim,
	RegistrationRefused,
	verifyNewCredential,
} from "../webauthn/registration";
import { type DeferredSession, sessionGate } from "./ceremony-session";
import { generateRecoveryCodes, recordCodesGenerated } from "./recovery-codes";
import { emitSecurityEvent, type SecurityEventSink } from "./security-events";
import { draftSession, type IssuedSession, methodsOf, type SecondFactorMethod, UNKNOWN_SOURCE } from "./sessions";

export interface RegistrationDeps {
	db: Db;
	userState: UserStateNamespace;
	config: Config;
	metrics: Metrics;
	client: ClientKind;
	startedAt: number;
	events: SecurityEventSink;
}

export type { RegistrationKind };

/**
 * Creation options for a new passkey, with one call of the user's object:
 * the session checked (deferred, lib/middleware.ts), the challenge stored,
 * the passkeys read for excludeCredentials. The challenge is made here and
 * handed to the options.
 */
export async function createRegistrationOptions(
	deps: RegistrationDeps,
	deferred: DeferredSession,
	kind: RegistrationKind,
): Promise<PublicKeyCredentialCreationOptionsJSON> {
	// Made here and stored before the options exist: the options carry these bytes, spelled as stored.
	const challengeBytes = randomBytes(32);
	const challenge = toBase64Url(challengeBytes);
	const stored = await userStateFor(deps.userState, deferred.userId).registrationOptions({
		gate: sessionGate(deferred, deps.config.sessionMaxAge),
		kind,
		challenge,
		ttl: CHALLENGE_TTL,
	});
	if (stored.status === "refused_session") throw new ApiError(stored.refusal);
	deferred.checked = true;
	const { account, passkeys: existing } = stored;
	deferred.used = { row: stored.session, email: account.email, externalId: account.externalId };
	const conditional = kind === "conditional";
	// A conditional passkey is discoverable, to sign in with later; user verification is the browser's choice then.
	const passwordless = kind === "passwordless";
	const userId = fromBase64Url(account.webauthnUserId);
	if (!userId) throw new Error("stored WebAuthn user id is not base64url");
	return generateRegistrationOptions({
		rpName: deps.config.rpName,
		rpID: deps.config.rpId,
		userID: userId,
		userName: account.email,
		userDisplayName: account.email,
		attestationType: "none",
		timeout: CHALLENGE_TTL,
		challenge: challengeBytes,
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
}

export interface RegistrationCompleted {
	passkey: PasskeyView;
	recoveryCodes: string[] | null;
	/**
	 * The requesting session was setup_required (REQUIRE_SECOND_FACTOR): the
	 * full session that replaced it, under a new token; null otherwise, or
	 * when a concurrent change of the same session upgraded it first.
	 */
	upgraded: (IssuedSession & { methods: SecondFactorMethod[] }) | null;
}

/**
 * Verifies a new credential and stores it, with one write to the directory
 * and one call of the user's object. @simplewebauthn/server checks the
 * signature, origin, RP ID hash and flags; the rules it leaves to the app
 * (credential id length, crossOrigin, attestation formats, id consistency)
 * are checked here too (webauthn/registration.ts), with no stored state.
 * Then the credential id is claimed in the directory (UNIQUE across
 * accounts), and the object checks the session, takes the pending
 * challenge, holds the claim against it and adds the passkey, in one
 * transaction. A refusal there, or a failure that left no passkey, releases
 * the claim. A response the Worker refused still goes to the object, which
 * checks the session first and consumes the challenge; an unknown challenge
 * answers challenge_expired before any other reason.
 */
export async function completeRegistration(
	deps: RegistrationDeps & { recoveryKeys: KeySet },
	deferred: DeferredSession,
	response: RegistrationResponseJSON,
	requestedName: string | undefined,
): Promise<RegistrationCompleted> {
	const inspected = inspectRegistration(response);
	const { userId } = deferred;
	const stub = userStateFor(deps.userState, userId);
	const now = clock.now();
	const gate = sessionGate(deferred, deps.config.sessionMaxAge, now);
	try {
		let verified: { row: PasskeyRow; claim: RegistrationClaim } | { failure: KnownFailure };
		try {
			verified = await verifyNewCredential(deps, userId, response, inspected, requestedName, now);
		} catch (error) {
			if (!(error instanceof RegistrationRefused)) throw error;
			verified = { failure: { code: error.code as KnownFailure["code"], reason: error.reason } };
		}
		// Made here, not in the Durable Object, so that only their hashes leave the Worker.
		const firstCodes = await generateRecoveryCodes(deps.recoveryKeys);
		// A setup_required session becomes full under a new token (REQUIRE_SECOND_FACTOR).
		const next = await draftSession(userId, "full", UNKNOWN_SOURCE, deps.config.sessionMaxAge);
		const activity = {
			added: deps.events.activityFor({
				type: "passkey.added",
				userId,
				externalId: null,
				data: { passkey_id: "", name: "" },
			}),
			codesGiven: deps.events.activityFor({ type: "recovery_codes.generated", userId, data: {} }),
		};
		const common = {
			gate,
			firstCodeHashes: firstCodes.hashes,
			setup: { requireSecondFactor: deps.config.requireSecondFactor, next: next.row },
			activity,
		};
		if ("failure" in verified) {
			const refused = await stub.registerPasskey({ ...common, failure: verified.failure, credentialTaken: false });
			if (refused.status === "refused_session") throw new ApiError(refused.refusal);
			deferred.checked = true;
			if (refused.status === "refused") throw refusedRegistration(refused);
			throw new Error("a refused registration was stored");
		}
		const { row } = verified;
		// Another account's (or this one's) credential: the object still checks
		// the session, takes the challenge and holds the claim, so the answer's
		// reason is the same as without the directory, and adds nothing.
		// A token naming a user the directory does not know names no one: the claim's foreign key says so.
		const claimed = await claimCredential(deps.db, row.credentialId, userId, now).catch((error: unknown) => {
			if (isForeignKeyViolation(error)) throw new ApiError("not_authenticated");
			throw error;
		});
		let added: Awaited<ReturnType<typeof stub.registerPasskey>>;
		try {
			added = await stub.registerPasskey({
				...common,
				claim: verified.claim,
				passkey: row,
				credentialTaken: !claimed,
			});
		} catch (error) {
			// The passkey may have been added with only the answer lost: the
			// claim stays with it. Released only when the object says it has
			// no such passkey; when it cannot say, a stale claim (no passkey
			// behind it: no one signs in with it) is the safe side.
			if (claimed && (await stub.hasCredential(row.credentialId).catch(() => true)) === false) {
				await releaseCredentials(deps.db, userId, [row.credentialId]);
			}
			throw error;
		}
		// Kept beside a passkey the object has (credential_exists with our claim: the claim was missing, now repaired).
		if (claimed && added.status !== "created" && added.status !== "credential_exists") {
			await releaseCredentials(deps.db, userId, [row.credentialId]);
		}
		if (added.status === "refused_session") throw new ApiError(added.refusal);
		deferred.checked = true;
		if (added.status === "created" && !added.upgradedTo) {
			deferred.used = { row: added.session, email: added.account.email, externalId: added.account.externalId };
		}
		if (added.status === "refused") throw refusedRegistration(added);
		if (added.status === "credential_exists") throw new RegistrationRefused("credential_exists", "credential_exists");
		const externalId = added.account.externalId;
		recordRegistration(deps, "webauthn.registration.success", "success");
		if (added.codesGiven) recordCodesGenerated(deps, "first_authenticator");
		emitSecurityEvent(
			deps,
			{
				type: "passkey.added",
				userId,
				externalId,
				data: { passkey_id: added.passkey.id, name: added.passkey.name },
			},
			{ activityWritten: true },
		);
		if (added.codesGiven) {
			emitSecurityEvent(deps, { type: "recovery_codes.generated", userId, data: {} }, { activityWritten: true });
		}
		const upgraded = added.upgradedTo ? next.issue(added.upgradedTo, added.account) : null;
		return {
			passkey: viewPasskey(added.passkey),
			recoveryCodes: added.codesGiven ? firstCodes.codes : null,
			upgraded: upgraded ? { ...upgraded, methods: methodsOf(added.counts) } : null,
		};
	} catch (error) {
		if (!(error instanceof RegistrationRefused)) throw error;
		recordRegistration(deps, "webauthn.registration.failed", "failure", error.reason);
		throw new ApiError(error.code);
	}
}

/** A ceremony's refusal as a registration's: only a verification failure or an unknown challenge can come back. */
function refusedRegistration(failure: KnownFailure): RegistrationRefused {
	return new RegistrationRefused(
		failure.code === "challenge_expired" ? "challenge_expired" : "verification_failed",
		failure.reason,
	);
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
