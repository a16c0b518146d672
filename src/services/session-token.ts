import { env } from "cloudflare:workers";
import { requireKeySet } from "../lib/config";
import { labelledMac, timingSafeEqual } from "../lib/crypto";
import { fromBase64Url, randomBytes, toBase64Url } from "../lib/encoding";
import type { KeySet } from "../lib/key-set";

/**
 * A session token names its user beside its secret, so that a session check
 * goes straight to that user's object and never asks a shared database whose
 * token it is:
 *
 *   token = user id (22 base64url chars) "." base64url(nonce (16 random bytes) ‖ MAC (16 bytes))
 *   MAC = HMAC-SHA-256(K, "session-token:v1" ‖ user id ‖ nonce), first 16 bytes
 *   K = HMAC-SHA-256(a key of RECOVERY_CODE_HMAC_KEY, "passkey-edge:session-token-key")
 *
 * The MAC lets the Worker refuse a made-up token before any object is
 * reached: a token of the right form for a random id would otherwise make
 * that id's object exist (and be stored) just to answer "no session". The
 * session itself is the stored hash of the whole token in the user's object:
 * the nonce's 128 bits are what no one can guess, and a token moved to
 * another user's object matches nothing there. The key is derived under its
 * own label from a secret the Worker already has; the newest key of the set
 * signs, every listed one verifies, so a rotation keeps sessions alive until
 * the old key is dropped (which ends the sessions made under it).
 */
const TOKEN_FORMAT = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;
const NONCE_BYTES = 16;
const MAC_BYTES = 16;
const KEY_LABEL = "passkey-edge:session-token-key";
const MAC_LABEL = "session-token:v1";
const encoder = new TextEncoder();

function tokenKeys(): KeySet {
	return requireKeySet(env, "RECOVERY_CODE_HMAC_KEY");
}

async function macOf(secret: string, userId: string, nonce: Uint8Array): Promise<Uint8Array> {
	const id = encoder.encode(userId);
	const payload = new Uint8Array(id.length + nonce.length);
	payload.set(id, 0);
	payload.set(nonce, id.length);
	return (await labelledMac(secret, KEY_LABEL, MAC_LABEL, payload)).subarray(0, MAC_BYTES);
}

export async function newToken(userId: string): Promise<string> {
	const body = new Uint8Array(NONCE_BYTES + MAC_BYTES);
	body.set(randomBytes(NONCE_BYTES), 0);
	body.set(await macOf(tokenKeys().newest.secret, userId, body.subarray(0, NONCE_BYTES)), NONCE_BYTES);
	return `${userId}.${toBase64Url(body)}`;
}

/**
 * The user a token names, when it is a token this Worker made (its MAC
 * holds under a listed key); null for anything else: a made-up token, one of
 * the earlier D1 design, a malformed string. Every key is compared in
 * constant time.
 */
export async function tokenUser(token: string): Promise<string | null> {
	const match = TOKEN_FORMAT.exec(token);
	const userId = match?.[1];
	const body = match?.[2] ? fromBase64Url(match[2]) : null;
	if (!userId || !body || body.length !== NONCE_BYTES + MAC_BYTES || toBase64Url(body) !== match?.[2]) return null;
	const nonce = body.subarray(0, NONCE_BYTES);
	const presented = body.subarray(NONCE_BYTES);
	const expected = await Promise.all(tokenKeys().keys.map((key) => macOf(key.secret, userId, nonce)));
	return expected.map((mac) => timingSafeEqual(mac, presented)).includes(true) ? userId : null;
}
