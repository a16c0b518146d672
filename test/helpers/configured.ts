import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { app } from "../../src/app";
import type { Env } from "../../src/env";
import { type ApiResponse, type CallOptions, ORIGIN } from "./api";

/** Plain variables a test may set: the bindings (D1, the Durable Object) stay the real ones. */
export type Vars = Partial<
	Pick<
		Env,
		"RP_ID" | "RP_NAME" | "ORIGINS" | "ANDROID_PACKAGE_NAME" | "ANDROID_SHA256_CERT_FINGERPRINTS" | "APPLE_APP_IDS"
	>
>;

/**
 * Calls the Hono app directly with wrangler.toml's environment plus `vars`,
 * as a Worker deployed with that configuration would answer. The default
 * export (`call`) always runs with wrangler.toml's configuration.
 */
export async function callConfigured<T = Record<string, unknown>>(
	vars: Vars,
	method: string,
	path: string,
	options: CallOptions = {},
): Promise<ApiResponse<T>> {
	const headers = new Headers(options.headers);
	if (options.token) headers.set("authorization", `Bearer ${options.token}`);
	if (options.app) headers.set("x-client", "app");
	if (options.cookie) headers.set("cookie", options.cookie);
	const origin = options.origin === undefined ? (options.cookie ? ORIGIN : null) : options.origin;
	if (origin) headers.set("origin", origin);
	let body: BodyInit | undefined = options.rawBody;
	if (options.body !== undefined) {
		body = JSON.stringify(options.body);
		if (!headers.has("content-type")) headers.set("content-type", "application/json");
	}
	const ctx = createExecutionContext();
	const response = await app.fetch(
		new Request(`http://localhost:8787${path}`, { method, headers, body }),
		{ ...env, ...vars },
		ctx,
	);
	await waitOnExecutionContext(ctx);
	const text = await response.text();
	let parsed: unknown = text;
	try {
		parsed = JSON.parse(text);
	} catch {
		// Non-JSON bodies are returned as text so a test can show them.
	}
	return { status: response.status, headers: response.headers, body: parsed as T };
}
