import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { build } from "esbuild";
import { defineConfig } from "vitest/config";
import testSigningKeys from "./test/fixtures/token-signing-keys.json" with { type: "json" };

// The example Worker of examples/service-binding-worker runs beside the Worker
// under test as an auxiliary Worker, binding its RPC entrypoint for real.
// Auxiliary Workers take JavaScript, not TypeScript: it is bundled here, in
// memory, from the same source that `wrangler deploy` would bundle.
async function exampleWorkerModule(): Promise<string> {
	const result = await build({
		entryPoints: ["./examples/service-binding-worker/src/index.ts"],
		bundle: true,
		format: "esm",
		platform: "neutral",
		target: "es2022",
		write: false,
		logLevel: "warning",
	});
	const [output] = result.outputFiles;
	if (!output) throw new Error("esbuild produced no output for the service binding example");
	return output.text;
}

// The pool renames the Worker under test; an auxiliary Worker reaches it by
// that name (vitest-plugin-runner-<project name>, the project here has none).
const WORKER_UNDER_TEST = "vitest-plugin-runner-";

export default defineConfig({
	plugins: [
		cloudflareTest(async () => ({
			wrangler: { configPath: "./wrangler.toml" },
			miniflare: {
				bindings: {
					TEST_MIGRATIONS: await readD1Migrations("./migrations"),
					// Test-only secrets; real ones come from `wrangler secret put` or .dev.vars.
					TOTP_ENCRYPTION_KEY: "test-totp-encryption-key-0123456789abcdef",
					RECOVERY_CODE_HMAC_KEY: "test-recovery-code-hmac-key-0123456789abcdef",
					TOKEN_SIGNING_KEYS: JSON.stringify(testSigningKeys.current),
					// Two server keys at once, as during a rotation (test/helpers/server-api.ts reads them).
					SERVER_API_KEYS:
						"django:test-server-key-django-0123456789abcdefghij,old:test-server-key-old-0123456789abcdefghijkl",
					// Webhooks: WEBHOOK_URLS stays empty (wrangler.toml) except in the tests
					// that set it per call; their receiver is test/webhook-receiver.global.mjs.
					WEBHOOK_SECRET: "whsec_dGVzdC13ZWJob29rLXNpZ25pbmctc2VjcmV0LTAxMjM0NTY3",
					// Retries without waiting minutes; the backoff itself is tested with the default.
					WEBHOOK_RETRY_BASE_SECONDS: "0",
				},
				// An empty database of its own for the migration tests, which apply the
				// migrations step by step (test/routes/sessions-migration.test.ts).
				d1Databases: { MIGRATION_TEST_DB: "migration-test" },
				serviceBindings: { EXAMPLE_APP: "service-binding-example" },
				workers: [
					{
						name: "service-binding-example",
						modules: [{ type: "ESModule", path: "index.mjs", contents: await exampleWorkerModule() }],
						compatibilityDate: "2026-11-01",
						serviceBindings: { AUTH: { name: WORKER_UNDER_TEST, entrypoint: "AuthService" } },
					},
				],
			},
		})),
	],
	test: {
		include: ["test/**/*.test.ts"],
		setupFiles: ["./test/setup.ts"],
		globalSetup: ["./test/webhook-receiver.global.mjs"],
		// Bounds against a hung run, not speed checks: the property tests run
		// hundreds of requests each, and on a machine whose CPUs other work keeps
		// busy (CI runners, shared machines) they take minutes, not seconds.
		testTimeout: 240_000,
		hookTimeout: 120_000,
	},
});
