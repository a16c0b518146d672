import { afterEach, describe, expect, it, vi } from "vitest";
import { loadSigningKeys, parseSigningKeys, reportSigningKeyProblems } from "../../src/lib/signing-keys";
import testSigningKeys from "../fixtures/token-signing-keys.json";

// TOKEN_SIGNING_KEYS is checked as the isolate starts (src/index.ts), so a
// deployment with a missing or malformed set says so in its logs at once.

afterEach(() => {
	vi.restoreAllMocks();
});

const [key] = testSigningKeys.current.keys;

describe("the start-up check of TOKEN_SIGNING_KEYS", () => {
	it("logs one clear error that names the secret and the problem, never a key", () => {
		const errors = vi.spyOn(console, "error").mockImplementation(() => {});
		const { d: _d, ...publicOnly } = key as Record<string, string>;
		reportSigningKeyProblems(JSON.stringify({ keys: [publicOnly] }));
		reportSigningKeyProblems(undefined);
		expect(errors.mock.calls.map((args) => args.join(" "))).toEqual([
			expect.stringMatching(/^startup: TOKEN_SIGNING_KEYS key 0 has no private part d: .*npm run keys -- new/),
			expect.stringMatching(/^startup: TOKEN_SIGNING_KEYS is missing/),
		]);
		expect(JSON.stringify(errors.mock.calls)).not.toContain(key?.x as string);
	});

	it("logs nothing for a good set, and generates nothing", async () => {
		const errors = vi.spyOn(console, "error").mockImplementation(() => {});
		const generate = vi.spyOn(crypto.subtle, "generateKey");
		const text = JSON.stringify(testSigningKeys.current);
		reportSigningKeyProblems(text);
		expect(parseSigningKeys(text).map((k) => k.kid)).toEqual(["test-key-1"]);
		const keys = await loadSigningKeys(text);
		expect(keys.signing.kid).toBe("test-key-1");
		expect(keys.jwks.keys).toHaveLength(1);
		expect(errors).not.toHaveBeenCalled();
		expect(generate).not.toHaveBeenCalled();
	});

	it("accepts a key without alg and refuses one for another algorithm", () => {
		const { alg: _alg, ...withoutAlg } = key as Record<string, string>;
		expect(parseSigningKeys(JSON.stringify({ keys: [withoutAlg] }))).toHaveLength(1);
		expect(() => parseSigningKeys(JSON.stringify({ keys: [{ ...key, alg: "ES384" }] }))).toThrow(/not for ES256/);
	});
});
