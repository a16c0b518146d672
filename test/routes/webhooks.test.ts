import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { verifyWebhook } from "../../examples/verify-webhook";
import worker from "../../src/index";
import { captureMetrics, stopCapturingMetrics } from "../../src/lib/metrics";
import {
	buildSecurityEvent,
	createSecurityEventSink,
	type WebhookMessage,
	webhookEndpoints,
} from "../../src/services/security-events";
import { call, PASSWORD, uniqueEmail, withVars } from "../helpers/api";
import { deliveriesAt, received, receiverEndpoint, release, waitFor } from "../helpers/webhooks";

// Security events go through the real WEBHOOKS queue of miniflare: the
// request's producer sends, the Worker's queue() handler is the consumer, and
// it POSTs to a real HTTP server the test run started
// (test/webhook-receiver.global.mjs). WEBHOOK_RETRY_BASE_SECONDS is 0 in
// vitest.config.ts so retries do not wait minutes; wrangler.toml's
// max_retries (5) and dead-letter queue are the real ones.

const SECRET = env.WEBHOOK_SECRET ?? "";
const MAX_ATTEMPTS = 6; // wrangler.toml: max_retries = 5, then the dead-letter queue.

afterEach(() => {
	stopCapturingMetrics();
	vi.restoreAllMocks();
});

function signUpWith(urls: string[]) {
	return withVars({ WEBHOOK_URLS: urls.join(",") }, () =>
		call<{ user: { id: string } }>("POST", "/api/auth/signup", {
			app: true,
			body: { email: uniqueEmail(), password: PASSWORD },
		}),
	);
}

describe("security events as webhooks", () => {
	it("delivers a signed session.created that the README's verifier accepts", async () => {
		const endpoint = receiverEndpoint();
		const response = await signUpWith([endpoint.url]);
		expect(response.status).toBe(201);

		const [delivery] = await deliveriesAt(endpoint.name, 1);
		if (!delivery) throw new Error("no delivery");
		const headers = new Headers(delivery.headers);
		expect(headers.get("content-type")).toBe("application/json");
		expect(headers.get("webhook-signature")).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
		const event = await verifyWebhook(SECRET, headers, delivery.body);
		expect(event).toMatchObject({
			type: "session.created",
			user: { id: response.body.user.id, external_id: null },
			data: { method: "sign_up", level: "full", client: "app" },
		});
		expect(event.id).toMatch(/^evt_[A-Za-z0-9_-]{22}$/);
		expect(headers.get("webhook-id")).toBe(event.id);
		expect(Number.isNaN(Date.parse(event.timestamp))).toBe(false);
	});

	it("refuses a delivery whose body, id, timestamp or secret was changed", async () => {
		const endpoint = receiverEndpoint();
		await signUpWith([endpoint.url]);
		const [delivery] = await deliveriesAt(endpoint.name, 1);
		if (!delivery) throw new Error("no delivery");
		const headers = () => new Headers(delivery.headers);
		await expect(verifyWebhook(SECRET, headers(), delivery.body)).resolves.toBeTruthy();

		await expect(verifyWebhook(SECRET, headers(), delivery.body.replace("sign_up", "password"))).rejects.toThrow();
		const otherId = headers();
		otherId.set("webhook-id", "evt_another");
		await expect(verifyWebhook(SECRET, otherId, delivery.body)).rejects.toThrow();
		const stale = headers();
		await expect(verifyWebhook(SECRET, stale, delivery.body, Date.now() + 6 * 60_000)).rejects.toThrow("stale");
		const moved = headers();
		moved.set("webhook-timestamp", String(Number(moved.get("webhook-timestamp")) + 1));
		await expect(verifyWebhook(SECRET, moved, delivery.body)).rejects.toThrow();
		const notANumber = headers();
		notANumber.set("webhook-timestamp", "soon");
		await expect(verifyWebhook(SECRET, notANumber, delivery.body)).rejects.toThrow("stale");
		const otherSecret = `whsec_${btoa("another-secret-of-enough-bytes-000")}`;
		await expect(verifyWebhook(otherSecret, headers(), delivery.body)).rejects.toThrow("bad signature");
	});

	it("retries a receiver that fails twice, with the same webhook-id, and does not repeat the other endpoint", async () => {
		const flaky = receiverEndpoint("fail=2");
		const steady = receiverEndpoint();
		const metrics = captureMetrics();
		await signUpWith([flaky.url, steady.url]);

		const attempts = await deliveriesAt(flaky.name, 3);
		expect(attempts.map((d) => d.status)).toEqual([503, 503, 204]);
		const ids = new Set(attempts.map((d) => d.headers["webhook-id"]));
		expect(ids.size).toBe(1);
		// Each attempt is signed anew, and each signature verifies.
		for (const attempt of attempts) await verifyWebhook(SECRET, new Headers(attempt.headers), attempt.body);
		expect(new Set(attempts.map((d) => d.body)).size).toBe(1);

		// The good endpoint had its own message: acked once, never re-delivered by the other's retries.
		const steadyDeliveries = await received(steady.name);
		expect(steadyDeliveries).toHaveLength(1);
		expect(steadyDeliveries[0]?.headers["webhook-id"]).toBe([...ids][0]);

		await waitFor("the delivery metrics", async () =>
			metrics.filter((p) => p.blobs[0] === "webhook.delivered").length >= 2 ? true : undefined,
		);
		const failed = metrics.filter((p) => p.blobs[0] === "webhook.failed");
		expect(failed.map((p) => p.blobs[2])).toEqual(["status_503", "status_503"]);
	});

	it("moves an event to the dead-letter queue after max_retries, and counts it", async () => {
		const broken = receiverEndpoint("fail=all");
		const metrics = captureMetrics();
		await signUpWith([broken.url]);

		const attempts = await deliveriesAt(broken.name, MAX_ATTEMPTS, 40_000);
		const deadLettered = await waitFor("the dead-letter metric", async () =>
			metrics.find((p) => p.blobs[0] === "webhook.dead_lettered"),
		);
		expect(deadLettered.blobs).toEqual(["webhook.dead_lettered", "failure", "", "", "app"]);
		expect(attempts).toHaveLength(MAX_ATTEMPTS);
		expect(new Set(attempts.map((d) => d.headers["webhook-id"])).size).toBe(1);
		// No seventh attempt after the message was dead-lettered.
		expect(await received(broken.name)).toHaveLength(MAX_ATTEMPTS);
	}, 60_000);

	it("answers the request while the receiver still holds its answer", async () => {
		const slow = receiverEndpoint("hang=1");
		try {
			const response = await signUpWith([slow.url]);
			expect(response.status).toBe(201);
			// The response came first; the delivery arrives after it and is still unanswered.
			const held = await waitFor("the held delivery", async () => {
				const list = await received(slow.name);
				return list.length > 0 ? list : undefined;
			});
			expect(held[0]?.status).toBeNull();
			// A second sign-in is not slowed by the held one either.
			const again = await withVars({ WEBHOOK_URLS: slow.url }, () =>
				call("POST", "/api/auth/signup", { app: true, body: { email: uniqueEmail(), password: PASSWORD } }),
			);
			expect(again.status).toBe(201);
		} finally {
			await release(slow.name);
		}
	});

	it("sends nothing when WEBHOOK_URLS is empty or holds no usable URL", () => {
		const waitUntil = vi.fn();
		const onSendFailed = vi.fn();
		vi.spyOn(console, "error").mockImplementation(() => {});
		for (const urls of [undefined, "", " , ", "ftp://example.com/hook, http://example.com/hook, not a url"]) {
			const sink = createSecurityEventSink({ queue: env.WEBHOOKS, urls, client: "app", waitUntil, onSendFailed });
			sink.emit({ type: "totp.enabled", userId: "user-1", externalId: null, data: {} });
		}
		expect(waitUntil).not.toHaveBeenCalled();
		expect(onSendFailed).not.toHaveBeenCalled();
	});

	it("accepts https endpoints, and plain http only to the loopback host", () => {
		vi.spyOn(console, "error").mockImplementation(() => {});
		expect(
			webhookEndpoints(
				" https://app.example.com/hooks/auth ,http://localhost:3000/h,http://127.0.0.1:9/h,http://[::1]/h," +
					"http://app.example.com/h,https://user:pass@app.example.com/h,javascript:alert(1),,",
			),
		).toEqual([
			"https://app.example.com/hooks/auth",
			"http://localhost:3000/h",
			"http://127.0.0.1:9/h",
			"http://[::1]/h",
		]);
	});
});

describe("the queue consumer", () => {
	function messageFor(endpoint: string, attempts: number) {
		const event = buildSecurityEvent({ type: "totp.enabled", userId: "user-1", externalId: null, data: {} });
		const body: WebhookMessage = { endpoint, event, client: "browser" };
		return { id: `msg-${attempts}`, timestamp: new Date(), attempts, body };
	}

	it("backs off exponentially from WEBHOOK_RETRY_BASE_SECONDS, 60 by default", async () => {
		const broken = receiverEndpoint("fail=all");
		const batch = createMessageBatch<WebhookMessage>("passkey-edge-webhooks", [
			messageFor(broken.url, 1),
			messageFor(broken.url, 2),
			messageFor(broken.url, 5),
		]);
		// getQueueResult does not report the delays, so the calls to retry() are watched.
		const retries = batch.messages.map((message) => vi.spyOn(message, "retry"));
		await worker.queue(batch, { ...env, WEBHOOK_RETRY_BASE_SECONDS: undefined });
		const result = await getQueueResult(batch, createExecutionContext());
		expect(result.explicitAcks).toEqual([]);
		expect(result.retryMessages.map((m) => m.msgId)).toEqual(["msg-1", "msg-2", "msg-5"]);
		expect(retries.map((spy) => spy.mock.calls)).toEqual([
			[[{ delaySeconds: 60 }]],
			[[{ delaySeconds: 120 }]],
			[[{ delaySeconds: 960 }]],
		]);
		expect(await received(broken.name)).toHaveLength(3);
	});

	it("acks a delivered message and retries, unsent, when WEBHOOK_SECRET is missing", async () => {
		const endpoint = receiverEndpoint();
		const delivered = createMessageBatch<WebhookMessage>("passkey-edge-webhooks", [messageFor(endpoint.url, 1)]);
		await worker.queue(delivered, env);
		expect((await getQueueResult(delivered, createExecutionContext())).explicitAcks).toEqual(["msg-1"]);

		const unsigned = receiverEndpoint();
		const batch = createMessageBatch<WebhookMessage>("passkey-edge-webhooks", [messageFor(unsigned.url, 1)]);
		await worker.queue(batch, { ...env, WEBHOOK_SECRET: undefined });
		const result = await getQueueResult(batch, createExecutionContext());
		expect(result.retryMessages.map((m) => m.msgId)).toEqual(["msg-1"]);
		expect(await received(unsigned.name)).toEqual([]);
	});
});
