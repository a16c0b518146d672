import { exports } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import guide from "../../docs/typed-client.md?raw";
import readme from "../../README.md?raw";
import { PASSWORD, uniqueEmail } from "../helpers/api";
import { signUpAndLook } from "./typed-client.example";
import exampleSource from "./typed-client.example.ts?raw";
import { readmeSnippet } from "./typed-client.readme";
import readmeSource from "./typed-client.readme.ts?raw";

// docs/typed-client.md shows typed-client.example.ts verbatim; `npm run
// check` type-checks that file against AppType, and this test runs it
// against the Worker, so the example in the guide cannot rot.

/** hc's fetch, answered by this Worker inside workerd instead of the network. */
const workerFetch: typeof fetch = (input, init) => exports.default.fetch(new Request(input, init));

describe("the typed client example", () => {
	it("is shown in docs/typed-client.md exactly as it is compiled and run here", () => {
		expect(guide).toContain(`\`\`\`ts\n${exampleSource}\`\`\``);
	});

	it("signs up, reads the session and lists the passkeys through hc<AppType>", async () => {
		const email = uniqueEmail("typed");
		const result = await signUpAndLook("http://localhost:8787", { email, password: PASSWORD }, workerFetch);
		expect(result).toEqual({ userId: expect.any(String), level: "full", methods: [], passkeys: [] });
	});

	it("surfaces the error envelope's code when the API refuses", async () => {
		const email = uniqueEmail("typed");
		await signUpAndLook("http://localhost:8787", { email, password: PASSWORD }, workerFetch);
		await expect(signUpAndLook("http://localhost:8787", { email, password: PASSWORD }, workerFetch)).rejects.toThrow(
			"sign-up refused: email_taken",
		);
		await expect(
			signUpAndLook("http://localhost:8787", { email: uniqueEmail("typed"), password: "short" }, workerFetch),
		).rejects.toThrow("sign-up refused: invalid_request");
	});
});

describe("the typed client snippet of the README", () => {
	afterEach(() => {
		vi.unstubAllGlobals();
		vi.restoreAllMocks();
	});

	it("is in README.md exactly as typed-client.readme.ts compiles it", () => {
		const marked = /\/\/ README:start\n([\s\S]*?)\n\s*\/\/ README:end/.exec(readmeSource)?.[1] ?? "";
		const lines = marked.split("\n").map((line) => line.replace(/^\t/, ""));
		expect(lines.length).toBeGreaterThan(1);
		expect(readme).toContain(`\`\`\`ts\n${lines.join("\n")}\n\`\`\``);
	});

	it("runs: it signs up and prints the session level", async () => {
		// The snippet calls the global fetch: this Worker answers it.
		vi.stubGlobal("fetch", workerFetch);
		const log = vi.spyOn(console, "log").mockImplementation(() => {});
		await readmeSnippet(uniqueEmail("readme"), PASSWORD);
		expect(log).toHaveBeenCalledWith("full");
	});
});
