import { labelledMac, timingSafeEqual } from "../lib/crypto";
import { fromBase64Url, randomBytes } from "../lib/encoding";
import type { KeySet } from "../lib/key-set";

/**
 * A passwordless sign-in challenge carries its own expiry under an HMAC, so
 * issuing one writes nothing: `GET /api/auth/passkey/options/` needs no
 * session, and an anonymous caller can no longer fill a table by asking.
 * Single use is kept where it must be: the sign-in that presents a challenge
 * records it in D1 (a primary key), and a second presentation finds it there.
 *
 *   challenge = nonce (16 random bytes) ‖ expires_at (6 bytes, ms, big-endian) ‖ MAC (16 bytes)
 *   MAC = HMAC-SHA-256(K, "sign-in-challenge:v1" ‖ nonce ‖ expires_at), first 16 bytes
 *   K = HMAC-SHA-256(a key of RECOVERY_CODE_HMAC_KEY, "passkey-edge:sign-in-challenge-key")
 *
 * The key is derived from a secret the Worker already has, under its own
 * label, so a recovery-code hash can never stand for a challenge's MAC.
 * The newest key of the set signs; a challenge verifies under any listed
 * one, so the challenges issued in the five minutes before a rotation still
 * work. The challenge names no key: trying each of a handful is cheaper than
 * a format change, and a MAC under a key that is not listed matches none.
 */
const NONCE_BYTES = 16;
export const EXPIRY_BYTES = 6;
const MAC_BYTES = 16;
const PAYLOAD_BYTES = NONCE_BYTES + EXPIRY_BYTES;
export const SIGN_IN_CHALLENGE_BYTES = PAYLOAD_BYTES + MAC_BYTES;

const KEY_LABEL = "passkey-edge:sign-in-challenge-key";
const MAC_LABEL = "sign-in-challenge:v1";

async function macOf(secret: string, payload: Uint8Array): Promise<Uint8Array> {
	return (await labelledMac(secret, KEY_LABEL, MAC_LABEL, payload)).subarray(0, MAC_BYTES);
}

/** Writes a 6-byte big-endian expiry (ms): the sign-up challenge's layout uses it too. */
export function writeExpiry(target: Uint8Array, offset: number, expiresAt: number): void {
	let value = expiresAt;
	for (let i = EXPIRY_BYTES - 1; i >= 0; i--) {
		target[offset + i] = value % 256;
		value = Math.floor(value / 256);
	}
}

export function readExpiry(source: Uint8Array, offset: number): number {
	let value = 0;
	for (let i = 0; i < EXPIRY_BYTES; i++) value = value * 256 + (source[offset + i] ?? 0);
	return value;
}

/** A new challenge valid until `expiresAt` (ms since the epoch): its bytes, which the options carry as base64url. */
export async function issueSignInChallenge(keys: KeySet, expiresAt: number): Promise<Uint8Array<ArrayBuffer>> {
	const bytes = new Uint8Array(SIGN_IN_CHALLENGE_BYTES);
	bytes.set(randomBytes(NONCE_BYTES), 0);
	writeExpiry(bytes, NONCE_BYTES, expiresAt);
	bytes.set(await macOf(keys.newest.secret, bytes.subarray(0, PAYLOAD_BYTES)), PAYLOAD_BYTES);
	return bytes;
}

/**
 * The expiry of a challenge this Worker issued and that has not expired at
 * `now`; null for anything else (malformed, forged, another ceremony's
 * challenge, expired). It says nothing of use: that is D1's to answer.
 */
export async function openSignInChallenge(keys: KeySet, challenge: string, now: number): Promise<number | null> {
	const bytes = fromBase64Url(challenge);
	if (!bytes || bytes.length !== SIGN_IN_CHALLENGE_BYTES) return null;
	const payload = bytes.subarray(0, PAYLOAD_BYTES);
	const presented = bytes.subarray(PAYLOAD_BYTES);
	// Every key is compared, in constant time, whichever matches.
	const expected = await Promise.all(keys.keys.map((key) => macOf(key.secret, payload)));
	const matches = expected.map((mac) => timingSafeEqual(mac, presented));
	if (!matches.includes(true)) return null;
	const expiresAt = readExpiry(bytes, NONCE_BYTES);
	return expiresAt > now ? expiresAt : null;
}
