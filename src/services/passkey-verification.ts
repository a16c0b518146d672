import {
	type AuthenticationResponseJSON,
	type AuthenticatorTransport,
	generateAuthenticationOptions,
	type PublicKeyCredentialRequestOptionsJSON,
} from "@simplewebauthn/server";
import type { AuthenticatorCounts } from "../account/authenticators";
import { type UserStateNamespace, userStateFor } from "../durable/stubs";
import type { Config } from "../lib/config";
import { randomBytes, toBase64Url } from "../lib/encoding";
import { ApiError } from "../lib/errors";
import type { MetricEvent } from "../lib/metrics";
import { inspectAssertion } from "../webauthn/inspect";
import { parseTransports } from "../webauthn/passkey-view";
import { CHALLENGE_TTL } from "../webauthn/registration";
import { type DeferredSession, sessionGate } from "./ceremony-session";
import { SECOND_FACTOR_LIMIT } from "./limits";
import { rateLimited, type SecondFactorDeps, type SecondFactorPassed } from "./second-factor";
import { emitSecurityEvent } from "./security-events";
import { draftSession, UNKNOWN_SOURCE } from "./sessions";

/**
 * The options of a passkey second factor, with one call of the user's
 * object: the session checked (deferred), the challenge stored with the
 * credentials that may answer it.
 */
export async function createAuthenticationOptions(
	deps: { userState: UserStateNamespace; config: Config },
	deferred: DeferredSession,
): Promise<PublicKeyCredentialRequestOptionsJSON> {
	// Made here and stored before the options exist: the options carry these bytes, spelled as stored.
	const challengeBytes = randomBytes(32);
	const challenge = toBase64Url(challengeBytes);
	const stored = await userStateFor(deps.userState, deferred.userId).assertionOptions({
		gate: sessionGate(deferred, deps.config.sessionMaxAge),
		challenge,
		ttl: CHALLENGE_TTL,
	});
	if (stored.status === "refused_session") throw new ApiError(stored.refusal);
	deferred.checked = true;
	if (stored.status === "no_passkey") {
		throw new ApiError("invalid_request", { message: "This account has no passkey to verify with." });
	}
	deferred.used = { row: stored.session, email: stored.account.email, externalId: stored.account.externalId };
	return generateAuthenticationOptions({
		rpID: deps.config.rpId,
		timeout: CHALLENGE_TTL,
		userVerification: "preferred",
		challenge: challengeBytes,
		allowCredentials: stored.passkeys.map((passkey) => ({
			id: passkey.credentialId,
			transports: parseTransports(passkey.transports) as AuthenticatorTransport[],
		})),
	});
}

/**
 * The passkey second factor (and reauthentication on a full session), in
 * one call of the user's object (account/passkey-second-factor.ts): the
 * session and the limit checked, the attempt counted, the challenge taken
 * and held against what the response signed, the assertion verified, the
 * sign count recorded and the session upgraded (a partial one becomes full
 * under a new token) or its authentication refreshed, with the activity
 * entry. A failure is counted before the answer; a verified assertion
 * that loses to a concurrent one is not.
 */
export async function verifyPasskeySecondFactor(
	deps: SecondFactorDeps & { config: Config },
	deferred: DeferredSession,
	response: AuthenticationResponseJSON,
): Promise<SecondFactorPassed & { counts: AuthenticatorCounts }> {
	const inspected = inspectAssertion(response);
	const { userId } = deferred;
	const next = await draftSession(userId, "full", UNKNOWN_SOURCE, deps.config.sessionMaxAge);
	const event = {
		type: "session.created" as const,
		userId,
		externalId: null,
		data: {
			method: "passkey" as const,
			level: "full" as const,
			client: deps.client,
			...(deps.rememberDevice ? { device_remembered: true as const } : {}),
		},
	};
	const outcome = await userStateFor(deps.userState, userId).verifyPasskey({
		gate: sessionGate(deferred, deps.config.sessionMaxAge),
		limit: SECOND_FACTOR_LIMIT,
		signed: { challenge: inspected.clientData.challenge, credentialId: inspected.credentialId },
		response,
		rules: { origins: deps.config.origins, rpId: deps.config.rpId },
		next: next.row,
		activity: deps.events.activityFor(event),
	});
	if (outcome.status === "refused_session") throw new ApiError(outcome.refusal);
	deferred.checked = true;
	if (outcome.status === "locked") throw rateLimited(deps, outcome.retryAfterSeconds, "webauthn");
	const record = (metric: MetricEvent, result: "success" | "failure", reason?: string) =>
		deps.metrics.record({
			event: metric,
			outcome: result,
			...(reason ? { reason } : {}),
			method: "webauthn",
			client: deps.client,
			durationMs: performance.now() - deps.startedAt,
		});
	const externalId = outcome.account.externalId;
	if (outcome.status === "failed") {
		if (outcome.limitReached) {
			emitSecurityEvent(deps, {
				type: "sign_in.failed_limit",
				userId,
				externalId,
				data: { limit: "second_factor" },
			});
		}
		record("webauthn.verify.failed", "failure", outcome.failure.reason);
		throw new ApiError(outcome.failure.code);
	}
	if (outcome.status === "lost") {
		record("webauthn.verify.failed", "failure", outcome.reason);
		throw new ApiError("verification_failed");
	}
	record("webauthn.verify.success", "success");
	const user = { email: outcome.account.email, externalId };
	if (outcome.upgraded) {
		emitSecurityEvent(deps, { ...event, externalId }, { activityWritten: true });
		return {
			...next.issue(outcome.session, user),
			unusedRecoveryCodes: outcome.counts.unusedRecoveryCodes,
			counts: outcome.counts,
		};
	}
	const { session } = next.issue(outcome.session, user);
	deferred.used = { row: outcome.session, ...user };
	return { session, token: null, unusedRecoveryCodes: outcome.counts.unusedRecoveryCodes, counts: outcome.counts };
}
