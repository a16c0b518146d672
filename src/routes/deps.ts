import type { Context } from "hono";
import type { AppEnv } from "../lib/context";
import { describeDevice } from "../lib/device";
import { describeError } from "../lib/faults";
import { clientKindOf } from "../lib/middleware";
import { createSecurityEventSink } from "../services/security-events";

/** The narrow dependencies a service needs, taken from the request context. */
export function serviceDeps(c: Context<AppEnv>) {
	// An authenticated request's kind follows its credential; otherwise X-Client says.
	// The server API's caller is the app's backend: an app, whose sessions go in the body.
	const viaServer = Boolean(c.get("serverKey"));
	const client = viaServer ? "app" : (c.get("auth")?.client ?? clientKindOf(c));
	return {
		db: c.var.db,
		userState: c.env.USER_STATE,
		config: c.var.config,
		metrics: c.var.metrics,
		client,
		startedAt: c.var.startedAt,
		events: createSecurityEventSink({
			queue: c.env.WEBHOOKS,
			urls: c.env.WEBHOOK_URLS,
			client,
			waitUntil: (promise) => c.executionCtx.waitUntil(promise),
			onSendFailed: (event, error) => {
				console.error(
					`[${c.var.requestId}] webhooks: ${event.type} ${event.id} was not enqueued:`,
					error instanceof Error ? error.message : "unknown",
				);
				c.var.metrics.record({
					event: "webhook.failed",
					outcome: "failure",
					reason: "enqueue_failed",
					method: "",
					client,
					durationMs: 0,
				});
			},
			activity: {
				userState: c.env.USER_STATE,
				// The server API's caller is the app's backend: its User-Agent is not the user's device.
				...(viaServer ? {} : { client, device: describeDevice(c.req.header("user-agent")) }),
				onRecordFailed: (type, error) => {
					console.error(`[${c.var.requestId}] activity: ${type} was not recorded:`, describeError(error));
					c.var.metrics.record({
						event: "activity.failed",
						outcome: "failure",
						reason: type,
						method: "",
						client,
						durationMs: 0,
					});
				},
			},
		}),
	};
}
