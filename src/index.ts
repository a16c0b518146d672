import { env } from "cloudflare:workers";
import { app } from "./app";
import type { Env } from "./env";
import { reportSigningKeyProblems } from "./lib/signing-keys";
import { sweepExpired } from "./services/housekeeping";
import { createDb } from "./storage/db";

export type { AppType } from "./app";
export { UserState } from "./durable/user-state";

// A deployment without a usable TOKEN_SIGNING_KEYS says so in the logs as
// the isolate starts, not only when the first token is asked for.
reportSigningKeyProblems((env as Env).TOKEN_SIGNING_KEYS);

export default {
	fetch: app.fetch,
	// The cron trigger in wrangler.toml: the sweep of expired rows.
	scheduled(controller, env, ctx) {
		ctx.waitUntil(sweepExpired(createDb(env.DB), controller.scheduledTime));
	},
} satisfies ExportedHandler<Env>;
