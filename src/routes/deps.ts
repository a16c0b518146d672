import type { Context } from "hono";
import type { AppEnv } from "../lib/context";
import { clientKindOf } from "../lib/middleware";

/** The narrow dependencies a service needs, taken from the request context. */
export function serviceDeps(c: Context<AppEnv>) {
	return {
		db: c.var.db,
		userState: c.env.USER_STATE,
		config: c.var.config,
		metrics: c.var.metrics,
		// An authenticated request's kind follows its credential; otherwise X-Client says.
		client: c.get("auth")?.client ?? clientKindOf(c),
		startedAt: c.var.startedAt,
	};
}
