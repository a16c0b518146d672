import {
	type AuthenticationResponseJSON,
	generateAuthenticationOptions,
	type PublicKeyCredentialRequestOptionsJSON,
} from "@simplewebauthn/server";
import { clock } from "../lib/clock";
import type { Config } from "../lib/config";
import { ApiError } from "../lib/errors";
import type { ClientKind, Metrics } from "../lib/metrics";
import type { Db } from "../storage/db";
import { insertSignInChallenge, takeSignInChallenge } from "../storage/sign-in-challenges";
import { CHALLENGE_TTL } from "./passkey-registration";
import { recordAssertion, verifyAssertion } from "./passkey-verification";
import { CeremonyFailure } from "./second-factor";
import { type IssuedSession, issueSession, methodsOf, type SessionView, sessionView } from "./sessions";
import { inspectAssertion } from "./webauthn-inspect";

export interface SignInDeps {
	db: Db;
	config: Config;
	metrics: Metrics;
	client: ClientKind;
	startedAt: number;
}

/**
 * A sign-in challenge has no user and no session yet, so it lives in D1 and
 * is found again from the clientDataJSON that the authenticator signed.
 */
export async function createSignInOptions(deps: SignInDeps): Promise<PublicKeyCredentialRequestOptionsJSON> {
	const options = await generateAuthenticationOptions({
		rpID: deps.config.rpId,
		timeout: CHALLENGE_TTL,
		userVerification: "required",
		allowCredentials: [],
	});
	const now = clock.now();
	await insertSignInChallenge(deps.db, options.challenge, now + CHALLENGE_TTL, now);
	return options;
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
 * Three D1 round trips on success: the challenge taken with the passkey, its
 * user and their authenticator counts (one batch); the passkey's use
 * recorded (conditional on the sign count read); the session inserted.
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
		const taken = await takeSignInChallenge(
			deps.db,
			inspected.clientData.challenge,
			inspected.credentialId,
			clock.now(),
		);
		if (!taken.live) throw new CeremonyFailure("challenge_expired", "challenge_unknown");
		const found = taken.candidate;
		if (!found) throw new CeremonyFailure("verification_failed", "unknown_credential");
		const userHandle = response.response.userHandle;
		if (!userHandle || userHandle !== found.user.webauthnUserId) {
			throw new CeremonyFailure("verification_failed", "user_handle");
		}
		const use = await verifyAssertion(found.passkey, response, inspected, inspected.clientData.challenge, {
			requireUserVerification: true,
			config: deps.config,
		});
		await recordAssertion(deps.db, use);
		const issued = await issueSession(deps.db, found.user, "full");
		record("success");
		return { issued, view: sessionView(issued.session, methodsOf(found.counts)) };
	} catch (error) {
		if (!(error instanceof CeremonyFailure)) throw error;
		record("failure", error.reason);
		throw new ApiError(error.code);
	}
}
