import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

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
					// Webhooks: WEBHOOK_URLS stays empty (wrangler.toml) except in the tests
					// that set it per call; their receiver is test/webhook-receiver.global.mjs.
					WEBHOOK_SECRET: "whsec_dGVzdC13ZWJob29rLXNpZ25pbmctc2VjcmV0LTAxMjM0NTY3",
					// Retries without waiting minutes; the backoff itself is tested with the default.
					WEBHOOK_RETRY_BASE_SECONDS: "0",
				},
			},
		})),
	],
	test: {
		include: ["test/**/*.test.ts"],
		setupFiles: ["./test/setup.ts"],
		globalSetup: ["./test/webhook-receiver.global.mjs"],
		testTimeout: 30_000,
		hookTimeout: 30_000,
	},
});
