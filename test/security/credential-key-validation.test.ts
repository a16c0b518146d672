import { isoBase64URL } from "@simplewebauthn/server/helpers";
import { describe, expect, it } from "vitest";
import { isAcceptableEd25519Point } from "../../src/webauthn/credential-public-key";
import { userSql } from "../helpers/account";
import { signUp } from "../helpers/api";
import { type CreateOverrides, encodeCoseKey, SoftAuthenticator } from "../helpers/authenticator";
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

// With `none` attestation nothing at registration proves that the COSE key is
// a key: the client writes the map, and the verifier trusts its labels later.
// Each key below was stored before, and several then passed a 2FA verify.
// Now registration accepts only (EC2, ES256, P-256), (OKP, EdDSA, Ed25519)
// and (RSA, RS256) keys that import, RSA of 2048 bits or more with e = 65537,
// no small-order Ed25519 point, and no member beyond the key's own.

const metrics = captureMetricsPerTest();

const b = (text: string | undefined) => isoBase64URL.toBuffer(text ?? "");

async function jwkOf(algorithm: SubtleCryptoGenerateKeyAlgorithm): Promise<JsonWebKey> {
	const pair = (await crypto.subtle.generateKey(algorithm, true, ["sign", "verify"])) as CryptoKeyPair;
	return (await crypto.subtle.exportKey("jwk", pair.privateKey)) as JsonWebKey;
}

const ecKey = (namedCurve: string) => jwkOf({ name: "ECDSA", namedCurve });
const rsaKey = (modulusLength: number) =>
	jwkOf({ name: "RSASSA-PKCS1-v1_5", modulusLength, publicExponent: Uint8Array.of(1, 0, 1), hash: "SHA-256" });
const edKey = () => jwkOf({ name: "Ed25519" });

function hex(text: string): Uint8Array {
	return Uint8Array.from(text.match(/../g) ?? [], (byte) => Number.parseInt(byte, 16));
}

/** The Ed25519 identity point (order 1): 01 00 … 00. */
const IDENTITY = hex(`01${"00".repeat(31)}`);
/** R = identity, S = 0: [0]B = R + [k]A holds for every message when A is the identity. */
const IDENTITY_SIGNATURE = hex(`01${"00".repeat(63)}`);

const okp = (x: Uint8Array) =>
	encodeCoseKey([
		[1, 1],
		[3, -8],
		[-1, 6],
		[-2, x],
	]);

async function registerWithKey(publicKeyCose: Uint8Array, overrides: CreateOverrides = {}) {
	const user = await signUp();
	const options = await registrationOptions({ token: user.token });
	const credential = await new SoftAuthenticator().createCredential(options, { publicKeyCose, ...overrides });
	const response = await completeRegistration({ token: user.token }, credential);
	return { user, response };
}

async function expectKeyRefused(publicKeyCose: Uint8Array, reason: string, overrides: CreateOverrides = {}) {
	const { user, response } = await registerWithKey(publicKeyCose, overrides);
	expectRefused(response, 400, "verification_failed");
	expect(await passkeyCount(user.id)).toBe(0);
	const failed = metrics.failureReasons("webauthn.registration.failed");
	expect(failed).toEqual([reason]);
	metrics.points().length = 0;
}

describe("the key type must be the one its algorithm names (WebAuthn L3 §5.8.5)", () => {
	it("refuses an ES256 label on a P-384 or a P-521 key", async () => {
		for (const [curve, crv] of [
			["P-384", 2],
			["P-521", 3],
		] as const) {
			const jwk = await ecKey(curve);
			const cose = encodeCoseKey([
				[1, 2],
				[3, -7],
				[-1, crv],
				[-2, b(jwk.x)],
				[-3, b(jwk.y)],
			]);
			await expectKeyRefused(cose, "key_type");
		}
	});

	it("refuses an ES256 label on an Ed25519 key", async () => {
		const jwk = await edKey();
		const cose = encodeCoseKey([
			[1, 1],
			[3, -7],
			[-1, 6],
			[-2, b(jwk.x)],
		]);
		await expectKeyRefused(cose, "key_type");
	});

	it("refuses an EdDSA or RS256 label on a P-256 key", async () => {
		const jwk = await ecKey("P-256");
		for (const alg of [-8, -257]) {
			const cose = encodeCoseKey([
				[1, 2],
				[3, alg],
				[-1, 1],
				[-2, b(jwk.x)],
				[-3, b(jwk.y)],
			]);
			await expectKeyRefused(cose, "key_type");
		}
	});

	it("refuses a key without kty", async () => {
		const jwk = await ecKey("P-256");
		const cose = encodeCoseKey([
			[3, -7],
			[-1, 1],
			[-2, b(jwk.x)],
			[-3, b(jwk.y)],
		]);
		await expectKeyRefused(cose, "key_type");
	});
});

describe("the key must be a real key", () => {
	it("refuses a P-256 point that is not on the curve", async () => {
		const jwk = await ecKey("P-256");
		const y = b(jwk.y);
		y[31] = (y[31] ?? 0) ^ 0x01;
		const cose = encodeCoseKey([
			[1, 2],
			[3, -7],
			[-1, 1],
			[-2, b(jwk.x)],
			[-3, y],
		]);
		await expectKeyRefused(cose, "key_import");
	});

	it("refuses RSA moduli of 512 and 1024 bits", async () => {
		const short512 = crypto.getRandomValues(new Uint8Array(64));
		short512[0] = (short512[0] ?? 0) | 0x80;
		short512[63] = (short512[63] ?? 0) | 0x01;
		const jwk1024 = await rsaKey(1024);
		for (const n of [short512, b(jwk1024.n)]) {
			const cose = encodeCoseKey([
				[1, 3],
				[3, -257],
				[-1, n],
				[-2, Uint8Array.of(1, 0, 1)],
			]);
			await expectKeyRefused(cose, "rsa_key_size");
		}
	});

	it("refuses an RSA exponent other than 65537, or 65537 spelled with a leading zero", async () => {
		const jwk = await rsaKey(2048);
		for (const e of [Uint8Array.of(3), Uint8Array.of(0, 1, 0, 1), Uint8Array.of(1, 0, 0, 1)]) {
			const cose = encodeCoseKey([
				[1, 3],
				[3, -257],
				[-1, b(jwk.n)],
				[-2, e],
			]);
			await expectKeyRefused(cose, "rsa_exponent");
		}
	});
});

describe("no private or optional members", () => {
	it("refuses an EC2 key carrying its private scalar d (-4)", async () => {
		const jwk = await ecKey("P-256");
		const cose = encodeCoseKey([
			[1, 2],
			[3, -7],
			[-1, 1],
			[-2, b(jwk.x)],
			[-3, b(jwk.y)],
			[-4, b(jwk.d)],
		]);
		await expectKeyRefused(cose, "key_members");
	});

	it("refuses an OKP key carrying its private key d (-4)", async () => {
		const jwk = await edKey();
		const cose = encodeCoseKey([
			[1, 1],
			[3, -8],
			[-1, 6],
			[-2, b(jwk.x)],
			[-4, b(jwk.d)],
		]);
		await expectKeyRefused(cose, "key_members");
	});

	it("refuses an RSA key carrying d and its CRT members (-3 … -8)", async () => {
		const jwk = await rsaKey(2048);
		const cose = encodeCoseKey([
			[1, 3],
			[3, -257],
			[-1, b(jwk.n)],
			[-2, b(jwk.e)],
			[-3, b(jwk.d)],
			[-4, b(jwk.p)],
			[-5, b(jwk.q)],
			[-6, b(jwk.dp)],
			[-7, b(jwk.dq)],
			[-8, b(jwk.qi)],
		]);
		await expectKeyRefused(cose, "key_members");
	});

	it("refuses an optional member (kid), which §6.5.1.1 forbids", async () => {
		const jwk = await ecKey("P-256");
		const cose = encodeCoseKey([
			[1, 2],
			[2, Uint8Array.of(1, 2, 3)],
			[3, -7],
			[-1, 1],
			[-2, b(jwk.x)],
			[-3, b(jwk.y)],
		]);
		await expectKeyRefused(cose, "key_members");
	});
});

describe("Ed25519 points of small order", () => {
	const P = 2n ** 255n - 19n;
	const le = (value: bigint, signBit = false) => {
		const out = new Uint8Array(32);
		let v = value;
		for (let i = 0; i < 32; i++) {
			out[i] = Number(v & 0xffn);
			v >>= 8n;
		}
		if (signBit) out[31] = (out[31] ?? 0) | 0x80;
		return out;
	};
	const ORDER_8 = hex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05");
	const ORDER_8_OTHER = hex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a");
	const SMALL: [string, Uint8Array][] = [
		["the identity (order 1)", IDENTITY],
		["the identity with the sign bit set", le(1n, true)],
		["y = 0 (order 4)", le(0n)],
		["y = p - 1 (order 2)", le(P - 1n)],
		["y = y8 (order 8)", ORDER_8],
		["y = p - y8 (order 8)", ORDER_8_OTHER],
		["y = p + 1, a non-canonical spelling of the identity", le(P + 1n)],
		["y = p, a non-canonical spelling of y = 0", le(P)],
	];

	it("WebCrypto itself imports the identity point, and it verifies a fixed signature over any message", async () => {
		// The premise of the rule: nothing below us refuses such a key.
		const key = await crypto.subtle.importKey("raw", IDENTITY, { name: "Ed25519" }, false, ["verify"]);
		const message = crypto.getRandomValues(new Uint8Array(40));
		expect(await crypto.subtle.verify({ name: "Ed25519" }, key, IDENTITY_SIGNATURE, message)).toBe(true);
	});

	it.each(SMALL)("isAcceptableEd25519Point refuses %s", (_, point) => {
		expect(isAcceptableEd25519Point(point)).toBe(false);
	});

	it("isAcceptableEd25519Point accepts a real public key", async () => {
		expect(isAcceptableEd25519Point(b((await edKey()).x))).toBe(true);
	});

	it.each(SMALL)("registration refuses %s", async (_, point) => {
		await expectKeyRefused(okp(point), "key_small_order", { fixedSignature: IDENTITY_SIGNATURE });
	});

	it("an identity point already stored passes neither a passwordless sign-in nor a 2FA verify", async () => {
		// A key stored before these rules: the check runs again at every assertion.
		const { user, authenticator } = await userWithDiscoverablePasskey(new SoftAuthenticator({ algorithm: "EdDSA" }));
		const record = authenticator.credentials[0];
		if (!record) throw new Error("no credential");
		await userSql(
			user.id,
			"UPDATE passkeys SET public_key = ? WHERE credential_id = ?",
			isoBase64URL.fromBuffer(okp(IDENTITY)),
			record.credentialId,
		).run();
		record.fixedSignature = IDENTITY_SIGNATURE;
		const before = await fullSessions(user.id);
		expectRefused(await postSignIn(await signInAssertion(authenticator)), 400, "verification_failed");
		expect(await fullSessions(user.id)).toBe(before);
		expectRefused(await verifyPasskey(await partialLogin(user), authenticator), 400, "verification_failed");
		const reasons = metrics.failureReasons();
		expect(reasons).toEqual(["key_small_order", "key_small_order"]);
	});
});

describe("packed self attestation", () => {
	it("refuses an attStmt.alg other than the key's own (§8.2)", async () => {
		for (const [algorithm, alg] of [
			["ES256", -257],
			["ES256", -8],
			["EdDSA", -7],
			["RS256", -7],
		] as const) {
			const user = await signUp();
			const options = await registrationOptions({ token: user.token });
			const credential = await new SoftAuthenticator({ algorithm, attestation: "packed-self" }).createCredential(
				options,
				{ attestationAlgorithm: alg },
			);
			const response = await completeRegistration({ token: user.token }, credential);
			expectRefused(response, 400, "verification_failed");
			expect(await passkeyCount(user.id)).toBe(0);
			const failed = metrics.failureReasons("webauthn.registration.failed");
			expect(failed).toEqual(["attestation_algorithm"]);
			metrics.points().length = 0;
		}
	});
});

describe("real keys of each kind", () => {
	it.each(["ES256", "EdDSA", "RS256"] as const)(
		"registers a %s key with none and packed self attestation, and it verifies afterwards",
		async (algorithm) => {
			for (const attestation of ["none", "packed-self"] as const) {
				const { user, authenticator } = await userWithPasskey(new SoftAuthenticator({ algorithm, attestation }));
				expect((await verifyPasskey(await partialLogin(user), authenticator)).status).toBe(200);
			}
		},
	);
});
