import { describe, expect, it } from "vitest";
import type { Env } from "../../src/env";
import { MalformedSecretError, MissingSecretError, requireKeySet } from "../../src/lib/config";
import { decryptString, encryptString } from "../../src/lib/crypto";
import {
	hmacUnderEachKey,
	hmacWithNewest,
	KeySetFormatError,
	openSealed,
	parseKeySet,
	sealedKeyId,
	sealWithNewest,
	UnlistedKeyError,
} from "../../src/lib/key-set";
import { keySet } from "../helpers/keys";

// TOTP_ENCRYPTION_KEY and RECOVERY_CODE_HMAC_KEY are lists of versioned keys,
// newest first; a value in the format before key sets is the one key "v1".

const OLD = "an-old-secret-of-at-least-16-chars";
const NEW = "a-new-secret-of-at-least-16-chars";

describe("parsing a key set", () => {
	it("reads a plain value as the single key v1, byte for byte", () => {
		for (const value of [OLD, "b64+/with=padding==AAAAAAAA", "  spaces and, commas kept  "]) {
			expect(parseKeySet("K", value)).toEqual({
				name: "K",
				newest: { id: "v1", secret: value },
				keys: [{ id: "v1", secret: value }],
			});
		}
	});

	it("reads id:secret entries newest first, trimming around entries and keeping a ':' inside a secret", () => {
		const keys = parseKeySet("K", ` v3:${NEW} , v2:with:colons:${OLD},2026-07_a:${OLD}x`);
		expect(keys?.newest).toEqual({ id: "v3", secret: NEW });
		expect(keys?.keys.map((key) => key.id)).toEqual(["v3", "v2", "2026-07_a"]);
		expect(keys?.keys[1]?.secret).toBe(`with:colons:${OLD}`);
	});

	it("answers null for an absent or too short plain value, as for a missing secret", () => {
		expect(parseKeySet("K", undefined)).toBeNull();
		expect(parseKeySet("K", "")).toBeNull();
		expect(parseKeySet("K", "fifteen-chars!!")).toBeNull();
	});

	it("refuses a malformed list with a reason that never contains a secret", () => {
		const cases: [string, RegExp][] = [
			[`v2:${NEW},${OLD}`, /entry 2 of 2 is not id:secret/],
			[`v2:${NEW},`, /entry 2 of 2 is not id:secret/],
			[`:${NEW}`, /entry 1 of 1 has an id that is not/],
			[`v 2:${NEW}`, /has an id that is not/],
			[`v.2:${NEW}`, /has an id that is not/],
			[`a-key-id-of-17-ch:${NEW}`, /has an id that is not/],
			[`v2:short,v1:${OLD}`, /key "v2" is shorter than 16 characters/],
			[`v1:${NEW},v1:${OLD}`, /key id "v1" is listed twice/],
		];
		for (const [value, reason] of cases) {
			let thrown: unknown;
			try {
				parseKeySet("K", value);
			} catch (error) {
				thrown = error;
			}
			expect(thrown, value).toBeInstanceOf(KeySetFormatError);
			const message = (thrown as Error).message;
			expect(message).toMatch(reason);
			expect(message).not.toContain(NEW);
			expect(message).not.toContain(OLD);
		}
	});

	it("names the variable when the Worker reads it: missing, malformed, or a set", () => {
		const env = (value: string | undefined) => ({ TOTP_ENCRYPTION_KEY: value }) as unknown as Env;
		expect(() => requireKeySet(env(undefined), "TOTP_ENCRYPTION_KEY")).toThrow(MissingSecretError);
		expect(() => requireKeySet(env("short"), "TOTP_ENCRYPTION_KEY")).toThrow(/Missing secret TOTP_ENCRYPTION_KEY/);
		const malformed = () => requireKeySet(env(`v2:${NEW},v2:${OLD}`), "TOTP_ENCRYPTION_KEY");
		expect(malformed).toThrow(MalformedSecretError);
		expect(malformed).toThrow(/^Malformed secret TOTP_ENCRYPTION_KEY: key id "v2" is listed twice/);
		// A MissingSecretError too, so app.onError logs it as one line and answers 500 internal_error.
		expect(malformed).toThrow(MissingSecretError);
		expect(requireKeySet(env(`v2:${NEW},v1:${OLD}`), "TOTP_ENCRYPTION_KEY").newest.id).toBe("v2");
	});
});

describe("sealing under a key set", () => {
	it("seals under the newest key, naming it, and writes the format before key sets under v1", async () => {
		const rotated = await sealWithNewest(keySet(`v2:${NEW},v1:${OLD}`), "secret", "ad");
		expect(rotated).toMatch(/^v2\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
		expect(sealedKeyId(rotated)).toBe("v2");
		const plain = await sealWithNewest(keySet(OLD), "secret", "ad");
		expect(plain).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
		// What an older build wrote and can still read.
		expect(await decryptString(OLD, plain, "ad")).toBe("secret");
	});

	it("opens each value under the key it names, for as long as that key is listed", async () => {
		const before = await encryptString(OLD, "old secret", "ad");
		const rotated = keySet(`v2:${NEW},v1:${OLD}`);
		const after = await sealWithNewest(rotated, "new secret", "ad");
		expect(await openSealed(rotated, before, "ad")).toEqual({ plaintext: "old secret", keyId: "v1" });
		expect(await openSealed(rotated, after, "ad")).toEqual({ plaintext: "new secret", keyId: "v2" });
		expect(await openSealed(keySet(`v2:${NEW}`), after, "ad")).toEqual({ plaintext: "new secret", keyId: "v2" });
		await expect(openSealed(keySet(`v2:${NEW}`, "TOTP_ENCRYPTION_KEY"), before, "ad")).rejects.toThrow(
			new UnlistedKeyError("TOTP_ENCRYPTION_KEY", "v1"),
		);
		// The id picks the key; another secret under that id does not open it.
		await expect(openSealed(keySet(`v2:${OLD}`), after, "ad")).rejects.toThrow();
	});
});

describe("HMACs under a key set", () => {
	it("hashes under the newest key, naming it, and looks up under every listed key", async () => {
		const rotated = keySet(`v2:${NEW},v1:${OLD}`);
		const [hash] = await hmacWithNewest(rotated, ["message"]);
		expect(hash).toMatch(/^v2:[0-9a-f]{64}$/);
		const [legacy] = await hmacWithNewest(keySet(OLD), ["message"]);
		expect(legacy).toMatch(/^[0-9a-f]{64}$/);
		expect(await hmacUnderEachKey(rotated, "message")).toEqual([hash, legacy]);
		expect(await hmacUnderEachKey(keySet(`v2:${NEW}`), "message")).toEqual([hash]);
	});
});
