import { clock } from "../lib/clock";
import type { Metrics } from "../lib/metrics";
import { parseWebhookSecret, signWebhook } from "../lib/webhook-signature";
import type { WebhookMessage } from "./security-events";

/** A receiver that has not answered by then counts as failed, so one hung endpoint cannot hold the consumer. */
export const DELIVERY_TIMEOUT_MS = 10_000;
/** Without WEBHOOK_RETRY_BASE_SECONDS: 1, 2, 4, 8, 16 minutes between the attempts. */
export const DEFAULT_RETRY_BASE_SECONDS = 60;
/** Queues refuses delays over 12 hours. */
const MAX_RETRY_DELAY_SECONDS = 12 * 60 * 60;

export interface DeliveryDeps {
	/** WEBHOOK_SECRET, `whsec_…`. */
	secret: string | undefined;
	metrics: Metrics;
	retryBaseSeconds: number;
}

/** Exponential backoff: `attempts` is the attempt that just failed (1 for the first). */
export function retryDelaySeconds(attempts: number, baseSeconds: number): number {
	const exponent = Math.max(0, Math.min(attempts - 1, 20));
	return Math.min(baseSeconds * 2 ** exponent, MAX_RETRY_DELAY_SECONDS);
}

export function retryBaseSeconds(value: string | undefined): number {
	const parsed = value === undefined || value.trim() === "" ? Number.NaN : Number(value);
	return Number.isFinite(parsed) && parsed >= 0 ? parsed : DEFAULT_RETRY_BASE_SECONDS;
}

type Outcome = { delivered: true } | { delivered: false; reason: string };

async function post(key: Uint8Array, message: WebhookMessage): Promise<Outcome> {
	const body = JSON.stringify(message.event);
	// The id stays the event's across retries (the receiver deduplicates on
	// it); the timestamp is this attempt's, so a retry an hour later still
	// passes the receiver's five-minute tolerance.
	const headers = await signWebhook(key, message.event.id, Math.floor(clock.now() / 1000), body);
	let response: Response;
	try {
		response = await fetch(message.endpoint, {
			method: "POST",
			headers: { "content-type": "application/json", "user-agent": "passkey-edge-webhooks", ...headers },
			body,
			// A redirect is not followed: the event goes to the configured URL or nowhere.
			redirect: "manual",
			signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
		});
	} catch (error) {
		const timeout = error instanceof Error && error.name === "TimeoutError";
		return { delivered: false, reason: timeout ? "timeout" : "network" };
	}
	// The body is not read: nothing in it matters, and it must not hold the connection.
	await response.body?.cancel();
	if (response.status >= 200 && response.status < 300) return { delivered: true };
	return { delivered: false, reason: `status_${response.status}` };
}

/** Where a log line may name an endpoint: its origin, never a path or query that could hold a token. */
function originOf(endpoint: string): string {
	try {
		return new URL(endpoint).origin;
	} catch {
		return "invalid-url";
	}
}

/**
 * The consumer: each message is one event for one endpoint, signed and
 * POSTed. A 2xx acks it; anything else retries it alone with a growing delay,
 * until the queue's max_retries moves it to the dead-letter queue.
 */
export async function deliverWebhooks(batch: MessageBatch<WebhookMessage>, deps: DeliveryDeps): Promise<void> {
	const key = parseWebhookSecret(deps.secret);
	await Promise.all(
		batch.messages.map(async (message) => {
			const started = performance.now();
			const outcome: Outcome = key ? await post(key, message.body) : { delivered: false, reason: "secret_missing" };
			const point = { method: "" as const, client: message.body.client, durationMs: performance.now() - started };
			if (outcome.delivered) {
				deps.metrics.record({ event: "webhook.delivered", outcome: "success", ...point });
				message.ack();
				return;
			}
			if (!key) console.error("webhooks: WEBHOOK_SECRET is missing or not a whsec_ secret of 24 to 64 bytes");
			console.warn(
				`webhooks: ${message.body.event.type} ${message.body.event.id} to ${originOf(message.body.endpoint)} failed (${outcome.reason}), attempt ${message.attempts}`,
			);
			deps.metrics.record({ event: "webhook.failed", outcome: "failure", reason: outcome.reason, ...point });
			message.retry({ delaySeconds: retryDelaySeconds(message.attempts, deps.retryBaseSeconds) });
		}),
	);
}

/** The dead-letter queue's consumer: what could not be delivered is logged (no body, no secret) and counted. */
export function recordDeadLetters(batch: MessageBatch<WebhookMessage>, deps: Pick<DeliveryDeps, "metrics">): void {
	for (const message of batch.messages) {
		const { event, endpoint, client } = message.body;
		console.error(
			`webhooks: gave up on ${event.type} ${event.id} for user ${event.user.id} to ${originOf(endpoint)}; it is dropped`,
		);
		deps.metrics.record({ event: "webhook.dead_lettered", outcome: "failure", method: "", client, durationMs: 0 });
		message.ack();
	}
}
