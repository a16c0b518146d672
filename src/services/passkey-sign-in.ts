import {
	type AuthenticationResponseJSON,
	generateAuthenticationOptions,
	type PublicKeyCredentialRequestOptionsJSON,
} from "@simplewebauthn/server";
import { credentialOwner } from "../directory/credentials";
import { type UserStateNamespace, userStateFor } from "../durable/stubs";
import { clock } from "../lib/clock";
import type { Config } from "../lib/config";
import { ApiError } from "../lib/errors";
import type { KeySet } from "../lib/key-set";
import type { ClientKind, Metrics } from "../lib/metrics";
import type { Db } from "../storage/db";
import { readChallenge } from "../webauthn/canonical-challenge";
import { CeremonyFailure } from "../webauthn/ceremony-failure";
import { inspectAssertion } from "../webauthn/inspect";
import { CHALLENGE_TTL } from "../webauthn/registration";
import { emitSecurityEvent, type SecurityEventSink } from "./security-events";
import {
	draftSession,
	type IssuedSession,
	methodsOf,
	type SessionSource,
	type SessionView,
	sessionView,
} from "./sessions";
import { issueSignInChallenge, openSignInChallenge } from "./sign-in-challenge";

export interface SignInDeps {
	db: Db;
	userState: UserStateNamespace;
	config: Config;
	metrics: Metrics;
	client: ClientKind;
	/** Where the session a sign-in writes comes from (its list shows it). */
	source: SessionSource;
	startedAt: number;
	/** The key set the sign-in challenges' MAC keys are derived from: the newest signs, each listed one verifies. */
	challengeKeys: KeySet;
	events: SecurityEventSink;
}

/**
 * A sign-in challenge has no user and no session to be kept with: it is
 * signed and carries its expiry (sign-in-challenge.ts), so issuing it stores
 * nothing, and it is found again from the clientDataJSON that the
 * authenticator signed.
 */
export async function createSignInOptions(
	deps: Pick<SignInDeps, "config" | "challengeKeys">,
): Promise<PublicKeyCredentialRequestOptionsJSON> {
	return generateAuthenticationOptions({
		rpID: deps.config.rpId,
		timeout: CHALLENGE_TTL,
		userVerification: "required",
		allowCredentials: [],
		challenge: await issueSignInChallenge(deps.challengeKeys, clock.now() + CHALLENGE_TTL),
	});
}

export interface PasskeySignedIn {
	issued: IssuedSession;
	view: SessionView;
}

/**
 * Passwordless sign-in: the user is found from the credential id, and the
 * userHandle must be present and be that user's WebAuthn user id. An unknown
 * credential, a bad signature and a wrong userHandle all answer the same
 * 400 verification_failed, so the route reveals no accounts.
 *
 * One directory read (credential id → user), then two calls of the user's
 * object: the challenge recorded as used there with the passkey, the user
 * and their authenticator counts read; the passkey's use and the new session
 * written (the session only if the use was recorded). A challenge this
 * Worker did not sign, or one that has expired, is refused before any
 * storage is touched. A challenge is single-use per user: presenting it with
 * another account's passkey needs that account's authenticator to sign it.
 */
export async function signInWithPasskey(
	deps: SignInDeps,
	response: AuthenticationResponseJSON,
): Promise<PasskeySignedIn> {
	const inspected = inspectAssertion(response);
	const record = (outcome: "success" | "failure", reason?: string) =>
		deps.metrics.record({
			event: outcome === "success" ? "webauthn.login.success" : "webauthn.login.failed",
			outcome,
			...(reason ? { reason } : {}),
			method: "webauthn",
			client: deps.client,
			durationMs: performance.now() - deps.startedAt,
		});
	try {
		const challenge = inspected.clientData.challenge;
		const now = clock.now();
		const expiresAt = await openSignInChallenge(deps.challengeKeys, challenge, now);
		if (expiresAt === null) throw new CeremonyFailure("challenge_expired", "challenge_unknown");
		// The MAC held, so the challenge decodes. Its use is recorded under
		// its bytes (their canonical spelling), so every spelling of one
		// challenge is the same first use; a spelling other than ours is then
		// refused, after it has consumed the challenge like any failure.
		const spelled = readChallenge(challenge);
		if (!spelled) throw new CeremonyFailure("challenge_expired", "challenge_unknown");
		// The credential's user, from the directory (one read); an unknown
		// credential is refused before any object is asked.
		const owner = await credentialOwner(deps.db, inspected.credentialId);
		if (owner === null) throw new CeremonyFailure("verification_failed", "unknown_credential");
		const { userId } = owner;
		const stub = userStateFor(deps.userState, userId);
		// A user made before the per-user design: their object takes over their rows first (once).
		if (owner.legacy) await stub.importLegacy(userId);
		const draft = await draftSession(userId, "full", deps.source, deps.config.sessionMaxAge);
		const event = {
			type: "session.created" as const,
			userId,
			externalId: null,
			data: { method: "passkey" as const, level: "full" as const, client: deps.client },
		};
		// One call of the user's object: the challenge's use, the passkey and user
		// handle, the assertion, the sign count, the session and the activity entry.
		const outcome = await stub.signInWithPasskey({
			presented: challenge,
			canonical: spelled.canonical,
			isCanonical: spelled.isCanonical,
			expiresAt,
			response,
			rules: { origins: deps.config.origins, rpId: deps.config.rpId },
			session: draft.row,
			activity: deps.events.activityFor(event),
			now,
		});
		if (outcome.status === "refused") throw new CeremonyFailure(outcome.code, outcome.reason);
		const issued = draft.issue(outcome.session, outcome);
		record("success");
		emitSecurityEvent(deps, { ...event, externalId: outcome.externalId }, { activityWritten: true });
		return { issued, view: sessionView(issued.session, methodsOf(outcome.counts)) };
	} catch (error) {
		if (!(error instanceof CeremonyFailure)) throw error;
		record("failure", error.reason);
		throw new ApiError(error.code);
	}
}
