import { type UserStateNamespace, userStateFor } from "../durable/stubs";
import type { FactorUse } from "../durable/user-state";
import { type AmrUse, withUse } from "../lib/amr";
import { clock } from "../lib/clock";
import type { Config } from "../lib/config";
import { ApiError } from "../lib/errors";
import type { ClientKind, MetricEvent, Metrics } from "../lib/metrics";
import { CeremonyFailure } from "../webauthn/ceremony-failure";
import { SECOND_FACTOR_LIMIT } from "./limits";
import { emitSecurityEvent, type SecurityEventSink } from "./security-events";
import { type AuthenticatedSession, prepareSecondFactorUpgrade } from "./sessions";

export interface SecondFactorDeps {
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

/** The factors that work once (a passkey's second factor is verifyPasskeySecondFactor's). */
export interface SecondFactorMethod {
	method: "totp" | "recovery_code";
	success: MetricEvent;
	failed: MetricEvent;
}

/**
 * A method's checks: `verify` runs in the Worker and only reads (a
 * signature, a TOTP code against the secret); `use` says what a passed
 * attempt spends, which the user's object spends in the transaction that
 * changes the session, or not at all: a request that loses a race for the
 * session spends nothing. A recovery code is matched inside the object.
 */
export interface SecondFactorCheck<V> {
	verify: () => Promise<V>;
	use?: (verified: V) => FactorUse;
	/** The method the session's record gains (lib/amr.ts): a passkey's kind depends on what verified. */
	amr: (verified: V) => AmrUse;
}

export interface SecondFactorPassed {
	session: AuthenticatedSession;
	token: string | null;
	/** The user's unused recovery codes after this attempt (a recovery code's answer shows them). */
	unusedRecoveryCodes: number;
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
 * the Worker verifies what it can without writing, then the object, in one
 * transaction, checks the limit, consumes the challenge, holds the signed
 * one against it, counts a failure before anything is answered (so parallel
 * guesses cannot outrun the limit), and for a passed attempt spends its
 * factor and upgrades (or refreshes) the session.
 *
 * A passed attempt that loses to a concurrent use (the same TOTP code or
 * recovery code, another code on the same session, the session already
 * upgraded) is answered as a failure but not counted: it is not a guess,
 * and counting those would let a burst of replays lock the user out. A
 * partial session whose token another verify already replaced answers 401,
 * as any later request with that token does.
 */
export async function attemptSecondFactor<V>(
	deps: SecondFactorDeps,
	session: AuthenticatedSession,
	method: SecondFactorMethod,
	check: SecondFactorCheck<V>,
): Promise<SecondFactorPassed> {
	let verified: { value: V } | undefined;
	let failure: CeremonyFailure | undefined;
	try {
		verified = { value: await check.verify() };
	} catch (error) {
		if (!(error instanceof CeremonyFailure)) throw error;
		failure = error;
	}
	const now = clock.now();
	const amr = verified ? withUse(session.amr, check.amr(verified.value), now) : session.amr;
	// The full session a partial one becomes, prepared here so that its token never leaves the Worker.
	const upgrade =
		verified && session.level === "partial"
			? await prepareSecondFactorUpgrade(session, amr, now, deps.config.sessionMaxAge)
			: undefined;
	const use = verified && check.use ? check.use(verified.value) : undefined;
	const decision = await userStateFor(deps.userState, session.userId).secondFactor({
		...SECOND_FACTOR_LIMIT,
		now,
		sessionId: session.id,
		seenAt: session.authenticatedAt,
		amr,
		maxAge: deps.config.sessionMaxAge,
		...(failure ? { failure: { code: failure.code, reason: failure.reason } } : {}),
		...(use ? { use } : {}),
		...(upgrade ? { next: upgrade.row } : {}),
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
	if (decision.outcome === "failed") {
		if (decision.limitReached) {
			emitSecurityEvent(deps, {
				type: "sign_in.failed_limit",
				userId: session.userId,
				externalId: session.externalId,
				data: { limit: "second_factor" },
			});
		}
		record(method.failed, "failure", decision.failure.reason);
		throw new ApiError(decision.failure.code);
	}
	if (decision.outcome === "lost") {
		// A factor that works once, used by a concurrent request first: not counted.
		if (decision.reason === "session_gone") {
			record(method.failed, "failure", "session_already_upgraded");
			throw new ApiError("not_authenticated");
		}
		record(method.failed, "failure", "lost_to_concurrent_use");
		throw new ApiError("invalid_code");
	}
	record(method.success, "success");
	if (upgrade) {
		// Only an upgrade makes a new session; a reauthentication keeps its own.
		emitSecurityEvent(deps, {
			type: "session.created",
			userId: session.userId,
			externalId: session.externalId,
			data: {
				method: method.method,
				level: "full",
				client: deps.client,
				...(deps.rememberDevice ? { device_remembered: true as const } : {}),
			},
		});
		return { ...upgrade.issued, unusedRecoveryCodes: decision.unusedRecoveryCodes };
	}
	return {
		session: { ...session, authenticatedAt: decision.authenticatedAt, amr },
		token: null,
		unusedRecoveryCodes: decision.unusedRecoveryCodes,
	};
}
