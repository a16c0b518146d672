import { type UserStateNamespace, userStateFor } from "../durable/stubs";
import type { AmrUse } from "../lib/amr";
import { clock } from "../lib/clock";
import type { Config } from "../lib/config";
import { ApiError } from "../lib/errors";
import type { ClientKind, MetricEvent, Metrics } from "../lib/metrics";
import type { Db } from "../storage/db";
import type { SingleUse } from "../storage/sessions";
import { SECOND_FACTOR_LIMIT } from "./limits";
import type { SignedAssertion } from "./passkey-verification";
import { emitSecurityEvent, type SecurityEventSink } from "./security-events";
import { type AuthenticatedSession, completeSecondFactor } from "./sessions";

export interface SecondFactorDeps {
	db: Db;
	/** The absolute lifetime of the full session an upgrade writes. */
	config: Pick<Config, "sessionMaxAge">;
	userState: UserStateNamespace;
	metrics: Metrics;
	client: ClientKind;
	startedAt: number;
	events: SecurityEventSink;
	/** The browser asked to be remembered and may be (routes/trusted-device.ts): said in the upgrade's event. */
	rememberDevice?: boolean;
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
 * code is checked here, before the Durable Object decides); then, once the
 * attempt passed, the use is made to stick. A passkey's `commit` records
 * its sign count before the session changes (its challenge, taken by the
 * Durable Object, already made the attempt single). A code that works once
 * (a TOTP step, a recovery code) gives its `use`, spent in the same
 * transaction as the session change, so a request that loses the race for
 * the session does not burn it; `result` then reads what the answer shows.
 */
export type SecondFactorCheck<V, T> = (
	| { verify: () => Promise<V>; commit: (verified: V) => Promise<T> }
	| { verify: () => Promise<V>; use: (verified: V) => SingleUse; result: () => Promise<T> }
) & {
	/** The method the session's record gains (lib/amr.ts): a passkey's kind depends on what verified. */
	amr: (verified: V) => AmrUse;
};

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
 * A passed attempt that loses the commit to a concurrent use (the same
 * TOTP code or recovery code, another code on the same session, or the
 * session already upgraded) is answered as a failure but not counted: it is
 * not a guess, and counting those would let a burst of replays lock the
 * user out. A partial session whose token another verify already replaced
 * answers 401, as any later request with that token does.
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
	const passed = (completed: { session: AuthenticatedSession; token: string | null }, result: T) => {
		record(method.success, "success");
		// Only an upgrade makes a new session; a reauthentication keeps its own.
		if (completed.token !== null) {
			emitSecurityEvent(deps, {
				type: "session.created",
				userId: session.userId,
				externalId: session.externalId,
				data: {
					method: method.method === "webauthn" ? "passkey" : method.method,
					level: "full",
					client: deps.client,
					...(deps.rememberDevice ? { device_remembered: true as const } : {}),
				},
			});
		}
		return { session: completed.session, token: completed.token, result };
	};
	try {
		if (decision.outcome === "failed") {
			if (decision.limitReached) {
				emitSecurityEvent(deps, {
					type: "sign_in.failed_limit",
					userId: session.userId,
					externalId: session.externalId,
					data: { limit: "second_factor" },
				});
			}
			throw new CeremonyFailure(decision.failure.code, decision.failure.reason);
		}
		if (!verified) throw new Error("a passed attempt without a verified result");
		if ("commit" in check) {
			const result = await check.commit(verified.value);
			const completed = await completeSecondFactor(
				deps.db,
				session,
				check.amr(verified.value),
				deps.config.sessionMaxAge,
			);
			if (!completed.completed) throw new CeremonyFailure("verification_failed", "session_already_upgraded");
			return passed(completed, result);
		}
		const completed = await completeSecondFactor(
			deps.db,
			session,
			check.amr(verified.value),
			deps.config.sessionMaxAge,
			check.use(verified.value),
		);
		if (!completed.completed) {
			if (completed.reason === "session_gone") {
				record(method.failed, "failure", "session_already_upgraded");
				throw new ApiError("not_authenticated");
			}
			throw new CeremonyFailure("invalid_code", "lost_to_concurrent_use");
		}
		return passed(completed, await check.result());
	} catch (error) {
		if (!(error instanceof CeremonyFailure)) throw error;
		record(method.failed, "failure", error.reason);
		throw new ApiError(error.code);
	}
}
