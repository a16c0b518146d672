import { type UserStateNamespace, userStateFor } from "../durable/stubs";
import { clock } from "../lib/clock";
import { ApiError } from "../lib/errors";
import type { ClientKind, MetricEvent, Metrics } from "../lib/metrics";
import type { Db } from "../storage/db";
import { PARTIAL_SESSION_FAILURES, SECOND_FACTOR_LIMIT } from "./limits";
import { type AuthenticatedSession, completeSecondFactor, revokeSession } from "./sessions";

export interface SecondFactorDeps {
	db: Db;
	userState: UserStateNamespace;
	metrics: Metrics;
	client: ClientKind;
	startedAt: number;
}

/** A well-formed attempt that did not verify: counts toward the limits. */
export class CeremonyFailure extends Error {
	constructor(
		readonly code: "verification_failed" | "challenge_expired" | "invalid_code",
		readonly reason: string,
	) {
		super(reason);
	}
}

export interface SecondFactorMethod {
	method: "webauthn" | "totp" | "recovery_code";
	success: MetricEvent;
	failed: MetricEvent;
	/** The pending challenge this attempt consumes, if the method has one. */
	challengeKey?: string;
}

export interface SecondFactorPassed<T> {
	session: AuthenticatedSession;
	token: string | null;
	result: T;
}

export function rateLimited(deps: SecondFactorDeps, retryAfterSeconds: number, method: string): ApiError {
	deps.metrics.record({
		event: "rate_limit.blocked",
		outcome: "blocked",
		reason: "second_factor",
		method: method as "webauthn",
		client: deps.client,
		durationMs: performance.now() - deps.startedAt,
	});
	return new ApiError("too_many_attempts", { retryAfterSeconds });
}

/**
 * The frame of every 2FA verify: the user's Durable Object counts the attempt
 * as a failure before anything is checked (parallel guesses cannot outrun
 * the limit) and hands over the challenge exactly once; a passing check
 * upgrades the session and takes the reservation back.
 */
export async function attemptSecondFactor<T>(
	deps: SecondFactorDeps,
	session: AuthenticatedSession,
	method: SecondFactorMethod,
	check: (challenge: string | null) => Promise<T>,
): Promise<SecondFactorPassed<T>> {
	const stub = userStateFor(deps.userState, session.userId);
	const start = await stub.beginAttempt({
		...SECOND_FACTOR_LIMIT,
		now: clock.now(),
		sessionId: session.id,
		...(method.challengeKey ? { challengeKey: method.challengeKey } : {}),
	});
	if (start.locked) throw rateLimited(deps, start.retryAfterSeconds, method.method);
	const record = (event: MetricEvent, outcome: "success" | "failure", reason?: string) =>
		deps.metrics.record({
			event,
			outcome,
			...(reason ? { reason } : {}),
			method: method.method,
			client: deps.client,
			durationMs: performance.now() - deps.startedAt,
		});
	try {
		const result = await check(start.challenge);
		const completed = await completeSecondFactor(deps.db, session);
		if (!completed) throw new CeremonyFailure("verification_failed", "session_already_upgraded");
		await stub.succeedAttempt(start.attemptId);
		record(method.success, "success");
		return { ...completed, result };
	} catch (error) {
		if (!(error instanceof CeremonyFailure)) throw error;
		record(method.failed, "failure", error.reason);
		if (session.level === "partial") {
			// Only settled failures end a partial session: counting attempts still in
			// flight would let a replay that lost the challenge revoke the session
			// under the request that won it.
			const failures = await stub.failAttempt({
				attemptId: start.attemptId,
				scope: SECOND_FACTOR_LIMIT.scope,
				sessionId: session.id,
				now: clock.now(),
			});
			if (failures >= PARTIAL_SESSION_FAILURES) await revokeSession(deps.db, session);
		}
		throw new ApiError(error.code);
	}
}
