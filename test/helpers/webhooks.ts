import { inject } from "vitest";
import type { SecurityEvent } from "../../src/services/security-events";

declare module "vitest" {
	export interface ProvidedContext {
		/** The base URL of test/webhook-receiver.global.mjs. */
		webhookReceiver: string;
	}
}

export interface Delivery {
	headers: Record<string, string>;
	body: string;
	/** What the receiver answered; null while it holds the answer. */
	status: number | null;
}

/** A fresh endpoint of the test receiver; `query` tells it how to answer (fail=2, fail=all, hang=1). */
export function receiverEndpoint(query = ""): { name: string; url: string } {
	const name = crypto.randomUUID();
	return { name, url: `${inject("webhookReceiver")}/hooks/${name}${query ? `?${query}` : ""}` };
}

export async function received(name: string): Promise<Delivery[]> {
	const response = await fetch(`${inject("webhookReceiver")}/received/${name}`);
	return (await response.json()) as Delivery[];
}

export async function release(name: string): Promise<void> {
	await fetch(`${inject("webhookReceiver")}/release/${name}`, { method: "POST" });
}

export function eventOf(delivery: Delivery): SecurityEvent {
	return JSON.parse(delivery.body) as SecurityEvent;
}

/**
 * Polls until `check` returns a value (not undefined), for at most
 * `timeoutMs`: delivery goes through the queue's batching and retries, so
 * the test waits for the state it needs, never for a guessed time.
 */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const value = await check();
		if (value !== undefined) return value;
		if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
		await new Promise((resolve) => setTimeout(resolve, 50));
	}
}

/** Waits until the endpoint has received at least `count` deliveries, all answered. */
export function deliveriesAt(name: string, count: number, timeoutMs?: number): Promise<Delivery[]> {
	return waitFor(
		`${count} deliveries at ${name}`,
		async () => {
			const list = await received(name);
			return list.length >= count && list.every((d) => d.status !== null) ? list : undefined;
		},
		timeoutMs,
	);
}
