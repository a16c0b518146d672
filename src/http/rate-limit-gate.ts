import type { Context, MiddlewareHandler } from "hono";
import { userStateFor } from "../durable/stubs";
import { clock } from "../lib/clock";
import type { ClientKind } from "../lib/metrics";
import { SECOND_FACTOR_LIMIT } from "../services/limits";
import { rateLimited } from "../services/second-factor";
import type { AppEnv } from "./context";

/**
 * API.md answers 429 before it looks at the body, so a locked user learns
 * nothing from a malformed request either. This only reads the counter; the
 * attempt itself is counted by the service, atomically with its challenge.
 */
export function secondFactorGate(method: "webauthn" | "totp" | "recovery_code"): MiddlewareHandler<AppEnv> {
	return async function secondFactorGate(c, next) {
		await assertSecondFactorOpen(c, c.var.auth.session.userId, c.var.auth.client, method);
		await next();
	};
}

/** 429 `too_many_attempts` (counted as rate_limit.blocked) while the user's 2FA limit is closed; reads only. */
export async function assertSecondFactorOpen(
	c: Context<AppEnv>,
	userId: string,
	client: ClientKind,
	method: "webauthn" | "totp" | "recovery_code",
): Promise<void> {
	const status = await userStateFor(c.env.USER_STATE, userId).attemptStatus({
		...SECOND_FACTOR_LIMIT,
		now: clock.now(),
	});
	if (status.locked) {
		throw rateLimited(
			{ userState: c.env.USER_STATE, metrics: c.var.metrics, client, startedAt: c.var.startedAt },
			status.retryAfterSeconds,
			method,
		);
	}
}
