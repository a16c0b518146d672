import { type UserStateNamespace, userStateFor } from "../durable/stubs";
import type { AmrUse } from "../lib/amr";
import { clock } from "../lib/clock";
import type { Config } from "../lib/config";
import { ApiError } from "../lib/errors";
import type { ClientKind, MetricEvent, Metrics } from "../lib/metrics";
import type { Db } from "../storage/db";
import { PARTIAL_SESSION_FAILURES, SECOND_FACTOR_LIMIT } from "./limits";
import type { SignedAssertion } from "./passkey-verification";
import { emitSecurityEvent, type SecurityEventSink } from "./security-events";
import { type AuthenticatedSession, completeSecondFactor, revokeSession } from "./sessions";

export interface SecondFactorDeps {
	db: Db;
	/** The absolute lifetime of the full session an upgrade writes. */
	config: Pick<Config, "sessionMaxAge">;
	userState: UserStateNamespace;
	metrics: Metrics;
	client: ClientKind;
	startedAt: number;
	events: SecurityEventSink;
}

export type CeremonyCode = "verification_failed" | "challenge_expired" | "invalid_code";

/** A well-formed attempt that did not verify: counts toward the limits. */
export class CeremonyFailure extends Error {
	constructor(
		readonly code: CeremonyCode,
		readonly reason: string,
	) {
		super(reason);
	}
}

export interface SecondFactorMethod {
	method: "webauthn" | "totp" | "recovery_code";
	success: MetricEvent;
	failed: MetricEvent;
	/** The pending challenge this attempt consumes, if the method has one, and what the response signed. */
	challenge?: { key: string; signed: SignedAssertion };
}

/**
 * A method's checks, in two parts: `verify` only reads (the signature or
 * code is checked here, before the Durable Object decides), and `commit`
 * makes the use stick once the attempt passed (a sign count, a TOTP step,
 * a recovery code), which a concurrent replay can still lose.
 */
export interface SecondFactorCheck<V, T> {
	verify: () => Promise<V>;
	commit: (verified: V) => Promise<T>;
	/** The method the session's record gains (lib/amr.ts): a passkey's kind depends on what verified. */
	amr: (verified: V) => AmrUse;
}

export interface SecondFactorPassed<T> {
	session: AuthenticatedSession;
	token: string | null;
	result: T;
}

export function rateLimited(
	deps: Omit<SecondFactorDeps, "config" | "events">,
	retryAfterSeconds: number,
	method: string,
): ApiError {
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
 * The frame of every 2FA verify, with one call of the user's Durable Object:
 * the Worker verifies what it can without writing, then the object (without
 * an await) checks the limit, consumes the challenge, holds the signed one
 * against it and counts a failure before anything is answered, so parallel
 * guesses cannot outrun the limit. A passed attempt commits its use and
 * upgrades the session.
 *
 * A passed attempt that loses the commit to a concurrent use of the same
 * valid factor (the same TOTP code or recovery code, or the session already
 * upgraded) is answered as a failure but not counted: it is not a guess, and
 * counting those would let a burst of replays revoke the partial session
 * under the request that won, or lock the user out.
 */
export async function attemptSecondFactor<V, T>(
	deps: SecondFactorDeps,
	session: AuthenticatedSession,
	method: SecondFactorMethod,
	check: SecondFactorCheck<V, T>,
): Promise<SecondFactorPassed<T>> {
	const stub = userStateFor(deps.userState, session.userId);
	let verified: { value: V } | undefined;
	let failure: CeremonyFailure | undefined;
	try {
		verified = { value: await check.verify() };
	} catch (error) {
		if (!(error instanceof CeremonyFailure)) throw error;
		failure = error;
	}
	const decision = await stub.decideAttempt({
		...SECOND_FACTOR_LIMIT,
		now: clock.now(),
		sessionId: session.id,
		...(method.challenge ? { challenge: method.challenge } : {}),
		...(failure ? { failure: { code: failure.code, reason: failure.reason } } : {}),
	});
	if (decision.outcome === "locked") throw rateLimited(deps, decision.retryAfterSeconds, method.method);
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
		if (decision.outcome === "failed") {
			if (decision.limitReached)
				emitSecurityEvent(deps, {
					type: "sign_in.failed_limit",
					userId: session.userId,
					data: { limit: "second_factor" },
				});
			// A partial session ends after its own failures; a full one stays (it only re-verified).
			if (session.level === "partial" && decision.sessionFailures >= PARTIAL_SESSION_FAILURES) {
				await revokeSession(deps.db, session);
			}
			throw new CeremonyFailure(decision.failure.code, decision.failure.reason);
		}
		if (!verified) throw new Error("a passed attempt without a verified result");
		const result = await check.commit(verified.value);
		const completed = await completeSecondFactor(
			deps.db,
			session,
			check.amr(verified.value),
			deps.config.sessionMaxAge,
		);
		if (!completed) throw new CeremonyFailure("verification_failed", "session_already_upgraded");
		record(method.success, "success");
		if (completed.token !== null)
			emitSecurityEvent(deps, {
				type: "session.created",
				userId: session.userId,
				data: { method: method.method === "webauthn" ? "passkey" : method.method, level: "full", client: deps.client },
			});
		return { ...completed, result };
	} catch (error) {
		if (!(error instanceof CeremonyFailure)) throw error;
		record(method.failed, "failure", error.reason);
		throw new ApiError(error.code);
	}
}
