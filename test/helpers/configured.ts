import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { app } from "../../src/app";
import type { Env } from "../../src/env";
import { type ApiResponse, buildRequest, type CallOptions, readResponse } from "./api";

/** Plain variables a test may set: the bindings (D1, the Durable Object) stay the real ones. */
export type Vars = Partial<
	Pick<
		Env,
		| "RP_ID"
		| "RP_NAME"
		| "ORIGINS"
		| "ANDROID_PACKAGE_NAME"
		| "ANDROID_SHA256_CERT_FINGERPRINTS"
		| "APPLE_APP_IDS"
		| "TOKEN_SIGNING_KEYS"
		| "TOKEN_ISSUER"
		| "TOKEN_AUDIENCES"
		| "TOKEN_TTL_SECONDS"
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
	const ctx = createExecutionContext();
	const response = await app.fetch(buildRequest(method, path, options), { ...env, ...vars }, ctx);
	await waitOnExecutionContext(ctx);
	return readResponse<T>(response);
}
