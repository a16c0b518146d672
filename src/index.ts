import { app } from "./app";
import type { Env } from "./env";
import { sweepExpired } from "./services/housekeeping";
import { createDb } from "./storage/db";

export type { AppType } from "./app";
export { UserState } from "./durable/user-state";

export default {
	fetch: app.fetch,
	// The cron trigger in wrangler.toml: the sweep of expired rows.
	scheduled(controller, env, ctx) {
		ctx.waitUntil(sweepExpired(createDb(env.DB), controller.scheduledTime));
	},
} satisfies ExportedHandler<Env>;
