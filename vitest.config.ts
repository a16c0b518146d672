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
				},
			},
		})),
	],
	test: {
		include: ["test/**/*.test.ts"],
		setupFiles: ["./test/setup.ts"],
		// Bounds against a hung run, not speed checks: the property tests run
		// hundreds of requests each, and on a machine whose CPUs other work keeps
		// busy (CI runners, shared machines) they take minutes, not seconds.
		testTimeout: 240_000,
		hookTimeout: 120_000,
	},
});
