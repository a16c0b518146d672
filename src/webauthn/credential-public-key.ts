import { decodeCredentialPublicKey } from "@simplewebauthn/server/helpers";
import { toBase64Url } from "../lib/encoding";

/**
 * A credential public key is stored only if it is a real key of a kind we
 * offered. With `none` attestation nothing at registration proves that the
 * client holds a private key, or even that the COSE map describes a key: the
 * label says ES256 and the verifier then trusts the label. So:
 *
 * - (kty, alg, crv) must be one of the three pairs WebAuthn L3 §5.8.5 binds
 *   for the algorithms we offer: (EC2, ES256, P-256), (OKP, EdDSA, Ed25519),
 *   (RSA, RS256). An "ES256" P-384 key or an "RS256" P-256 key is refused.
 * - The map holds exactly the members of that key type, `kty` and `alg`
 *   (§6.5.1.1: "MUST NOT contain any other OPTIONAL parameters"). This is
 *   what keeps private members (`d`, RSA's primes and CRT values) out of D1.
 * - The key must import into WebCrypto: a P-256 point off the curve fails.
 * - RSA: a modulus of at least 2048 bits, minimally encoded; e = 65537.
 * - Ed25519: no small-order point (below). A point of order 1, 2, 4 or 8
 *   makes [k]A vanish in the verification equation [S]B = R + [k]A (up to
 *   the cofactor), so S = 0 with R = identity verifies any message: the
 *   identity point 01 00..00 signed in for anyone holding its credential id,
 *   with no private key in existence. WebCrypto imports such points.
 *
 * The same check runs on the stored key at every assertion, so a key stored
 * before these rules cannot be used either.
 */

const KTY = 1;
const ALG = 3;
// Type-specific labels (RFC 9053): EC2 crv -1, x -2, y -3; OKP crv -1, x -2; RSA n -1, e -2.
const CRV_OR_N = -1;
const X_OR_E = -2;
const Y = -3;

const KTY_OKP = 1;
const KTY_EC2 = 2;
const KTY_RSA = 3;
const CRV_P256 = 1;
const CRV_ED25519 = 6;
export const ES256 = -7;
export const EDDSA = -8;
export const RS256 = -257;

const MIN_RSA_BITS = 2048;
const RSA_EXPONENT = Uint8Array.of(0x01, 0x00, 0x01);

export type CredentialKeyCheck = { valid: true; algorithm: number } | { valid: false; reason: string };

type CoseValue = unknown;

function bytesOf(value: CoseValue, length?: number): Uint8Array<ArrayBuffer> | null {
	if (!(value instanceof Uint8Array)) return null;
	if (length !== undefined && value.length !== length) return null;
	return Uint8Array.from(value);
}

function hasExactly(key: Map<number, CoseValue>, labels: number[]): boolean {
	return key.size === labels.length && labels.every((label) => key.has(label));
}

function refused(reason: string): CredentialKeyCheck {
	return { valid: false, reason };
}

async function imports(
	format: "raw" | "jwk",
	data: Uint8Array<ArrayBuffer> | JsonWebKey,
	algorithm: SubtleCryptoImportKeyAlgorithm,
): Promise<boolean> {
	try {
		await crypto.subtle.importKey(format, data, algorithm, false, ["verify"]);
		return true;
	} catch {
		return false;
	}
}

// --- Ed25519 small-order points ------------------------------------------------------------------

const P = 2n ** 255n - 19n;
// The y coordinate of a point of order 8 (libsodium's ge25519_has_small_order
// blocklist, 26e8958f…fc05 little-endian); the other order-8 points have y = P - Y8.
const Y8 = 0x05fc536d880238b13933c6d305acdfd5f098eff289f4c345b027b2c28f95e826n;
/**
 * Every point of order 1, 2, 4 or 8 has one of these y: 1 (the identity),
 * P - 1 (order 2), 0 (the two points of order 4) and ±Y8 (the four of order 8).
 * Checking y covers both signs of x, as libsodium does by ignoring the sign bit.
 */
const SMALL_ORDER_Y = new Set([0n, 1n, P - 1n, Y8, P - Y8]);

/** Whether a 32-byte Ed25519 encoding is canonical (y < p) and not of small order. */
export function isAcceptableEd25519Point(encoded: Uint8Array): boolean {
	if (encoded.length !== 32) return false;
	let y = 0n;
	for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(encoded[i] ?? 0);
	y &= (1n << 255n) - 1n; // the top bit is the sign of x
	// y ≥ p is a second spelling of y - p (some small-order points among them): only canonical encodings.
	if (y >= P) return false;
	return !SMALL_ORDER_Y.has(y);
}

// --- the check ---------------------------------------------------------------------------------

async function checkEc2(key: Map<number, CoseValue>): Promise<CredentialKeyCheck> {
	if (key.get(ALG) !== ES256 || key.get(CRV_OR_N) !== CRV_P256) return refused("key_type");
	if (!hasExactly(key, [KTY, ALG, CRV_OR_N, X_OR_E, Y])) return refused("key_members");
	const x = bytesOf(key.get(X_OR_E), 32);
	const y = bytesOf(key.get(Y), 32);
	if (!x || !y) return refused("key_members");
	const point = new Uint8Array(65);
	point[0] = 0x04;
	point.set(x, 1);
	point.set(y, 33);
	// Import checks that the point is on P-256.
	if (!(await imports("raw", point, { name: "ECDSA", namedCurve: "P-256" }))) return refused("key_import");
	return { valid: true, algorithm: ES256 };
}

async function checkOkp(key: Map<number, CoseValue>): Promise<CredentialKeyCheck> {
	if (key.get(ALG) !== EDDSA || key.get(CRV_OR_N) !== CRV_ED25519) return refused("key_type");
	if (!hasExactly(key, [KTY, ALG, CRV_OR_N, X_OR_E])) return refused("key_members");
	const x = bytesOf(key.get(X_OR_E), 32);
	if (!x) return refused("key_members");
	if (!isAcceptableEd25519Point(x)) return refused("key_small_order");
	if (!(await imports("raw", x, { name: "Ed25519" }))) return refused("key_import");
	return { valid: true, algorithm: EDDSA };
}

function bitLength(bytes: Uint8Array): number {
	const first = bytes[0] ?? 0;
	return first === 0 ? 0 : (bytes.length - 1) * 8 + (32 - Math.clz32(first));
}

async function checkRsa(key: Map<number, CoseValue>): Promise<CredentialKeyCheck> {
	if (key.get(ALG) !== RS256) return refused("key_type");
	if (!hasExactly(key, [KTY, ALG, CRV_OR_N, X_OR_E])) return refused("key_members");
	const n = bytesOf(key.get(CRV_OR_N));
	const e = bytesOf(key.get(X_OR_E));
	if (!n || !e) return refused("key_members");
	// A leading zero byte is another spelling of a shorter modulus (bitLength 0 then).
	if (bitLength(n) < MIN_RSA_BITS) return refused("rsa_key_size");
	if (e.length !== RSA_EXPONENT.length || !e.every((byte, i) => byte === RSA_EXPONENT[i])) {
		return refused("rsa_exponent");
	}
	const jwk: JsonWebKey = { kty: "RSA", n: toBase64Url(n), e: toBase64Url(e), alg: "RS256", ext: true };
	if (!(await imports("jwk", jwk, { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }))) return refused("key_import");
	return { valid: true, algorithm: RS256 };
}

/** Checks a COSE credential public key; the reason names the rule it broke, for metrics. */
export async function checkCredentialPublicKey(cose: Uint8Array): Promise<CredentialKeyCheck> {
	let key: Map<number, CoseValue>;
	try {
		key = decodeCredentialPublicKey(Uint8Array.from(cose)) as unknown as Map<number, CoseValue>;
	} catch {
		return refused("key_not_cose");
	}
	if (!(key instanceof Map)) return refused("key_not_cose");
	switch (key.get(KTY)) {
		case KTY_EC2:
			return checkEc2(key);
		case KTY_OKP:
			return checkOkp(key);
		case KTY_RSA:
			return checkRsa(key);
		default:
			return refused("key_type");
	}
}
