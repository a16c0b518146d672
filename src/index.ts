import { env } from "cloudflare:workers";
import { app } from "./app";
import type { Env } from "./env";
import { createMetrics } from "./lib/metrics";
import { reportSigningKeyProblems } from "./lib/signing-keys";
import { sweepExpired } from "./services/housekeeping";
import type { WebhookMessage } from "./services/security-events";
import { deliverWebhooks, recordDeadLetters, retryBaseSeconds } from "./services/webhook-delivery";
import { createDb } from "./storage/db";

export type { AppType } from "./app";
export { AuthService } from "./auth-service";
export { UserState } from "./durable/user-state";

// A deployment without a usable TOKEN_SIGNING_KEYS says so in the logs as
// the isolate starts, not only when the first token is asked for.
reportSigningKeyProblems((env as Env).TOKEN_SIGNING_KEYS);

/** wrangler.toml's dead-letter queue of the webhooks queue. */
const DEAD_LETTER_QUEUE = "passkey-edge-webhooks-dlq";

export default {
	fetch: app.fetch,
	// The cron trigger in wrangler.toml: the sweep of expired rows.
	scheduled(controller, env, ctx) {
		ctx.waitUntil(sweepExpired(createDb(env.DB), controller.scheduledTime));
	},
	// The webhooks queue and its dead-letter queue (wrangler.toml).
	async queue(batch, env) {
		const metrics = createMetrics(env.METRICS);
		if (batch.queue === DEAD_LETTER_QUEUE) return recordDeadLetters(batch, { metrics });
		await deliverWebhooks(batch, {
			secret: env.WEBHOOK_SECRET,
			metrics,
			retryBaseSeconds: retryBaseSeconds(env.WEBHOOK_RETRY_BASE_SECONDS),
		});
	},
} satisfies ExportedHandler<Env, WebhookMessage>;
