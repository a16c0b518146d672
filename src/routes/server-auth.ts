import type { MiddlewareHandler } from "hono";
import { clientLimiterFor } from "../durable/stubs";
import type { AppEnv } from "../http/context";
import { clientKeyOf } from "../lib/client-address";
import { clock } from "../lib/clock";
import { ApiError } from "../lib/errors";
import { matchServerKey, parseServerKeys } from "../lib/server-keys";
import { SERVER_KEY_LIMIT } from "../services/limits";

// Every /api/server/ route: `Authorization: Bearer <server key>` and nothing
// else. A user's session (cookie or token) is no key; a server key is no
// session on the user routes either (it matches no session there). A client
// address that sent SERVER_KEY_LIMIT missing or wrong keys is refused (429)
// before its key is looked at, so guessing stops, not only its answers.

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export function requireServerKey(): MiddlewareHandler<AppEnv> {
	return async function requireServerKey(c, next) {
		// A missing or malformed SERVER_API_KEYS is the operator's: 500, logged by name.
		const keys = await parseServerKeys(c.env.SERVER_API_KEYS);
		const clientKey = clientKeyOf(c.req.header("cf-connecting-ip"));
		const limiter = clientKey ? await clientLimiterFor(c.env.USER_STATE, clientKey) : null;
		const record = (event: "server_key.failed" | "rate_limit.blocked", reason: string) =>
			c.var.metrics.record({
				event,
				outcome: event === "rate_limit.blocked" ? "blocked" : "failure",
				reason,
				client: "app",
				durationMs: performance.now() - c.var.startedAt,
			});
		if (limiter) {
			const status = await limiter.attemptStatus({ ...SERVER_KEY_LIMIT, now: clock.now() });
			if (status.locked) {
				record("rate_limit.blocked", "server_key");
				throw new ApiError("too_many_attempts", { retryAfterSeconds: status.retryAfterSeconds });
			}
		}
		const presented = BEARER.exec(c.req.header("authorization") ?? "")?.[1];
		const name = presented ? await matchServerKey(keys, presented) : null;
		if (name === null) {
			record("server_key.failed", presented ? "wrong_key" : "missing_key");
			// Counted before the answer. Requests in flight together may each pass the
			// status check before any is counted; they are still wrong keys.
			if (limiter) await limiter.beginAttempt({ ...SERVER_KEY_LIMIT, now: clock.now() });
			throw new ApiError("invalid_server_key");
		}
		c.set("serverKey", name);
		await next();
	};
}
