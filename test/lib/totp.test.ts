import { describe, expect, it } from "vitest";
import { newTotpSecret, otpauthUri, TOTP_DIGITS, TOTP_PERIOD_SECONDS, timeStep, totpCodeAt } from "../../src/lib/totp";

// RFC 6238 Appendix B, SHA-1 rows. The seed is the 20 ASCII bytes of
// "12345678901234567890"; the RFC prints 8 digits, and a 6-digit code is the
// same truncated value modulo 10^6, i.e. the last six digits.
const SEED = new TextEncoder().encode("12345678901234567890");
const VECTORS: [seconds: number, eightDigits: string][] = [
	[59, "94287082"],
	[1111111109, "07081804"],
	[1111111111, "14050471"],
	[1234567890, "89005924"],
	[2000000000, "69279037"],
	[20000000000, "65353130"],
];

describe("TOTP code generation as configured (SHA-1, 6 digits, 30 s)", () => {
	it.each(VECTORS)("matches RFC 6238 at T=%i (last six digits of %s)", async (seconds, eightDigits) => {
		const step = Math.floor(seconds / TOTP_PERIOD_SECONDS);
		expect(timeStep(seconds * 1000)).toBe(step);
		expect(await totpCodeAt(SEED, step)).toBe(eightDigits.slice(-TOTP_DIGITS));
	});

	it("gives the same code for a base32 secret as for its raw bytes", async () => {
		// "12345678901234567890" in base32, the form authenticator apps are given.
		const base32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";
		expect(await totpCodeAt(base32, timeStep(59_000))).toBe("287082");
		expect(await totpCodeAt(base32, timeStep(1_111_111_111_000))).toBe("050471");
	});

	it("puts every second of one 30-second window into the same step", () => {
		expect(timeStep(30_000)).toBe(1);
		expect(timeStep(59_999)).toBe(1);
		expect(timeStep(60_000)).toBe(2);
	});

	it("makes fresh secrets of at least 160 bits that are never repeated", () => {
		const secrets = new Set(Array.from({ length: 50 }, () => newTotpSecret()));
		expect(secrets.size).toBe(50);
		for (const secret of secrets) {
			expect(secret).toMatch(/^[A-Z2-7]{32,}=*$/);
			expect(secret.replace(/=+$/, "").length * 5).toBeGreaterThanOrEqual(160);
		}
	});

	it("writes the otpauth URI with the issuer, label, SHA-1, 6 digits and 30 s", () => {
		const uri = new URL(otpauthUri("passkey-edge", "ann@example.com", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"));
		expect(uri.protocol).toBe("otpauth:");
		expect(uri.host).toBe("totp");
		expect(decodeURIComponent(uri.pathname)).toBe("/passkey-edge:ann@example.com");
		expect(Object.fromEntries(uri.searchParams)).toMatchObject({
			secret: "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
			issuer: "passkey-edge",
			algorithm: "SHA1",
			digits: "6",
			period: "30",
		});
	});
});
