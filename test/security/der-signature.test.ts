import { describe, expect, it } from "vitest";
import { isCanonicalEs256Signature } from "../../src/webauthn/der-signature";
import { signUp } from "../helpers/api";
import { rawEcdsaToDer, SoftAuthenticator } from "../helpers/authenticator";
import {
	completeRegistration,
	partialLogin,
	passkeyCount,
	registrationOptions,
	userWithPasskey,
	verifyPasskey,
} from "../helpers/flows";
import { captureMetricsPerTest } from "../helpers/metrics";
import {
	expectRefused,
	fullSessions,
	postSignIn,
	signInAssertion,
	userWithDiscoverablePasskey,
} from "../helpers/passwordless";

// An ES256 signature is DER (WebAuthn §6.5.5), and DER has one encoding of a
// value. The BER-lenient parser under @simplewebauthn/server accepted
// trailing bytes, long-form lengths and an indefinite-length sequence, so one
// signature had many encodings that all verified. Only the canonical one
// passes now, in assertions and in packed attestation.

const metrics = captureMetricsPerTest();

const concat = (...parts: (Uint8Array | number[])[]) => Uint8Array.from(parts.flatMap((part) => [...part]));

/** The parts of a canonical DER signature: r and s as their INTEGER bodies. */
function split(der: Uint8Array): { r: Uint8Array; s: Uint8Array } {
	const rLength = der[3] ?? 0;
	const r = der.subarray(4, 4 + rLength);
	const s = der.subarray(6 + rLength);
	return { r, s };
}

/** Re-encodings that a BER parser reads as the same (r, s). */
const NON_CANONICAL: [string, (der: Uint8Array) => Uint8Array][] = [
	["a trailing byte", (der) => concat(der, [0x00])],
	["a long-form sequence length", (der) => concat([0x30, 0x81, der[1] ?? 0], der.subarray(2))],
	["an indefinite-length sequence", (der) => concat([0x30, 0x80], der.subarray(2), [0x00, 0x00])],
	[
		"a long-form INTEGER length",
		(der) => {
			const { r, s } = split(der);
			const body = concat([0x02, 0x81, r.length], r, [0x02, s.length], s);
			return concat([0x30, body.length], body);
		},
	],
];

describe("isCanonicalEs256Signature", () => {
	const raw = (rFirst: number, sFirst: number) => {
		const bytes = crypto.getRandomValues(new Uint8Array(64));
		bytes[0] = rFirst;
		bytes[32] = sFirst;
		return bytes;
	};

	it("accepts the DER of signatures with and without a sign byte, and with a short r", () => {
		for (const [r0, s0] of [
			[0x12, 0x34],
			[0x80, 0xff],
			[0x00, 0x7f],
		] as const) {
			expect(isCanonicalEs256Signature(rawEcdsaToDer(raw(r0, s0)))).toBe(true);
		}
	});

	it.each(NON_CANONICAL)("refuses %s", (_, reencode) => {
		expect(isCanonicalEs256Signature(reencode(rawEcdsaToDer(raw(0x12, 0x34))))).toBe(false);
	});

	it("refuses a non-minimal INTEGER (a 0x00 before a byte below 0x80)", () => {
		const { r, s } = split(rawEcdsaToDer(raw(0x12, 0x34)));
		const body = concat([0x02, r.length + 1, 0x00], r, [0x02, s.length], s);
		expect(isCanonicalEs256Signature(concat([0x30, body.length], body))).toBe(false);
	});

	it("refuses a negative INTEGER (the 0x00 sign byte dropped)", () => {
		const { r, s } = split(rawEcdsaToDer(raw(0x80, 0x34)));
		const unsigned = r.subarray(1);
		const body = concat([0x02, unsigned.length], unsigned, [0x02, s.length], s);
		expect(isCanonicalEs256Signature(concat([0x30, body.length], body))).toBe(false);
	});

	it("refuses an empty INTEGER, a third INTEGER, a wrong tag and raw r||s", () => {
		const der = rawEcdsaToDer(raw(0x12, 0x34));
		const { r, s } = split(der);
		const emptyR = concat([0x30, 2 + 2 + s.length, 0x02, 0x00, 0x02, s.length], s);
		const three = concat([0x30, der.length - 2 + 3], der.subarray(2), [0x02, 0x01, 0x01]);
		const wrongTag = concat([0x31], der.subarray(1));
		for (const bad of [emptyR, three, wrongTag, raw(0x12, 0x34), concat([0x30, 0x00])]) {
			expect(isCanonicalEs256Signature(bad)).toBe(false);
		}
		expect(r.length).toBeGreaterThan(0);
	});
});

describe("an ES256 assertion", () => {
	it.each(NON_CANONICAL)("with %s is refused at a 2FA verify", async (_, reencode) => {
		const { user, authenticator } = await userWithPasskey();
		const response = await verifyPasskey(await partialLogin(user), authenticator, { reencodeSignature: reencode });
		expectRefused(response, 400, "verification_failed");
		expect(metrics.failureReasons()).toEqual(["signature_encoding"]);
	});

	it.each(NON_CANONICAL)("with %s is refused at a passwordless sign-in", async (_, reencode) => {
		const { user, authenticator } = await userWithDiscoverablePasskey();
		const before = await fullSessions(user.id);
		const response = await postSignIn(await signInAssertion(authenticator, { reencodeSignature: reencode }));
		expectRefused(response, 400, "verification_failed");
		expect(await fullSessions(user.id)).toBe(before);
		expect(metrics.failureReasons()).toEqual(["signature_encoding"]);
	});
});

describe("a packed self attestation signed with ES256", () => {
	it.each(NON_CANONICAL)("with %s is refused and stores nothing", async (_, reencode) => {
		const user = await signUp();
		const options = await registrationOptions({ token: user.token });
		const credential = await new SoftAuthenticator({ attestation: "packed-self" }).createCredential(options, {
			reencodeSignature: reencode,
		});
		const response = await completeRegistration({ token: user.token }, credential);
		expectRefused(response, 400, "verification_failed");
		expect(await passkeyCount(user.id)).toBe(0);
		expect(metrics.failureReasons()).toEqual(["signature_encoding"]);
	});
});
