import type { Context } from "hono";
import type { AppEnv } from "../http/context";
import { clientKindOf } from "../http/middleware";
import { describeError } from "../lib/faults";
import { countryOf, describeDevice, UNKNOWN_DEVICE } from "../lib/user-agent";
import { createSecurityEventSink } from "../services/security-events";
import type { SessionSource } from "../services/sessions";

/**
 * Where a session this request creates comes from, for the user's session
 * list: the client kind, the device from the User-Agent (coarse, lib/user-agent.ts)
 * and the country Cloudflare's edge saw. No address is kept. A server API
 * request comes from the app's backend: its User-Agent and country are the
 * backend's, not the person's, so they are not recorded.
 */
function sessionSource(c: Context<AppEnv>, client: SessionSource["client"]): SessionSource {
	if (c.get("serverKey")) return { client, device: UNKNOWN_DEVICE, country: null };
	return { client, device: describeDevice(c.req.header("user-agent")), country: countryOf(c.req.raw.cf) };
}

/** The narrow dependencies a service needs, taken from the request context. */
export function serviceDeps(c: Context<AppEnv>) {
	// An authenticated request's kind follows its credential; otherwise X-Client says.
	// The server API's caller is the app's backend: an app, whose sessions go in the body.
	const viaServer = Boolean(c.get("serverKey"));
	const client = viaServer ? "app" : (c.get("auth")?.client ?? c.get("deferred")?.client ?? clientKindOf(c));
	return {
		db: c.var.db,
		userState: c.env.USER_STATE,
		config: c.var.config,
		metrics: c.var.metrics,
		client,
		source: sessionSource(c, client),
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
