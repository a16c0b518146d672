import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import testSigningKeys from "./test/fixtures/token-signing-keys.json" with { type: "json" };

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
				},
			},
		})),
	],
	test: {
		include: ["test/**/*.test.ts"],
		setupFiles: ["./test/setup.ts"],
		testTimeout: 30_000,
		hookTimeout: 30_000,
	},
});
