import { defineConfig } from "vitest/config";

// End-to-end tests in a real browser: Node (not workerd) drives Debian's
// Chromium with playwright-core against a `wrangler dev` that the global setup
// starts on a free port with a fresh local database.
export default defineConfig({
	test: {
		include: ["test/e2e/**/*.e2e.ts"],
		environment: "node",
		globalSetup: ["./test/e2e/global-setup.ts"],
		// One Worker, one browser per file: files run one after another.
		fileParallelism: false,
		// The machine is shared with other test suites: allow slow starts. Every
		// wait inside a test is on what the page or the Worker does; these
		// bounds only stop a hung run.
		testTimeout: 300_000,
		hookTimeout: 300_000,
		teardownTimeout: 60_000,
		// expect.poll waits on what the page does (a list re-rendered, a
		// passkey manager updated); under load that can take longer than
		// vitest's default of one second.
		expect: { poll: { timeout: 30_000, interval: 100 } },
	},
});
