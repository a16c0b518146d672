import { labelledMac, timingSafeEqual } from "../lib/crypto";
import { fromBase64Url, randomBytes, toBase64Url } from "../lib/encoding";
import type { KeySet } from "../lib/key-set";
import { EXPIRY_BYTES, readExpiry, writeExpiry } from "./sign-in-challenge";

/**
 * A passkey-first sign-up has no user and no session while its ceremony runs:
 * nothing is written at `signup/passkey/options/`, so an abandoned sign-up
 * leaves nothing behind and an anonymous caller cannot fill a table. The
 * challenge itself carries what `complete/` needs (the email asked for and the
 * WebAuthn user handle put into the options) under an HMAC, with its expiry:
 *
 *   challenge = nonce (16) ‖ expires_at (6, ms, big-endian) ‖ user handle (32) ‖ email (UTF-8) ‖ MAC (16)
 *   MAC = HMAC-SHA-256(K, "sign-up-challenge:v1" ‖ everything before the MAC), first 16 bytes
 *   K = HMAC-SHA-256(a key of RECOVERY_CODE_HMAC_KEY, "passkey-edge:sign-up-challenge-key")
 *
 * Domain separation: the key is derived under a label of its own, not the
 * sign-in challenge's ("passkey-edge:sign-in-challenge-key"), and the MAC's
 * message starts with another label, so a sign-in challenge never opens as a
 * sign-up challenge nor the other way round, whatever its length (a sign-in
 * challenge is also shorter than any sign-up challenge). As for sign-in, the
 * newest key signs and every listed key verifies.
 *
 * The email in the challenge is the one the client sent (normalized): the
 * clientDataJSON that carries it goes only between that client and this
 * Worker. Single use is recorded in D1 (sign_in_challenges, under the
 * canonical spelling) when `complete/` presents it.
 */
const NONCE_BYTES = 16;
const USER_HANDLE_BYTES = 32;
const MAC_BYTES = 16;
const HEADER_BYTES = NONCE_BYTES + EXPIRY_BYTES + USER_HANDLE_BYTES;
/** Emails are at most 254 characters (routes/schemas.ts): 1 KiB of UTF-8 is more than any can need. */
const MAX_EMAIL_BYTES = 1024;

const encoder = new TextEncoder();
const KEY_LABEL = "passkey-edge:sign-up-challenge-key";
const MAC_LABEL = "sign-up-challenge:v1";

async function macOf(secret: string, payload: Uint8Array): Promise<Uint8Array> {
	return (await labelledMac(secret, KEY_LABEL, MAC_LABEL, payload)).subarray(0, MAC_BYTES);
}

export interface SignUpCeremony {
	/** Normalized (trimmed, lower-cased). */
	email: string;
	/** The WebAuthn user handle of the account to be, base64url of 32 random bytes. */
	userHandle: string;
	expiresAt: number;
}

/** A new sign-up challenge for this email with a fresh user handle: its bytes, and the handle for the options. */
export async function issueSignUpChallenge(
	keys: KeySet,
	email: string,
	expiresAt: number,
): Promise<{ challenge: Uint8Array<ArrayBuffer>; userHandle: Uint8Array<ArrayBuffer> }> {
	const emailBytes = encoder.encode(email);
	if (emailBytes.length === 0 || emailBytes.length > MAX_EMAIL_BYTES) throw new Error("sign-up email out of range");
	const userHandle = randomBytes(USER_HANDLE_BYTES);
	const payloadBytes = HEADER_BYTES + emailBytes.length;
	const bytes = new Uint8Array(payloadBytes + MAC_BYTES);
	bytes.set(randomBytes(NONCE_BYTES), 0);
	writeExpiry(bytes, NONCE_BYTES, expiresAt);
	bytes.set(userHandle, NONCE_BYTES + EXPIRY_BYTES);
	bytes.set(emailBytes, HEADER_BYTES);
	bytes.set(await macOf(keys.newest.secret, bytes.subarray(0, payloadBytes)), payloadBytes);
	return { challenge: bytes, userHandle };
}

/**
 * What a sign-up challenge this Worker issued says, if it has not expired at
 * `now`; null for anything else (malformed, forged, a sign-in challenge,
 * expired). Whether it was used already is D1's to answer.
 */
export async function openSignUpChallenge(
	keys: KeySet,
	challenge: string,
	now: number,
): Promise<SignUpCeremony | null> {
	const bytes = fromBase64Url(challenge);
	if (!bytes || bytes.length <= HEADER_BYTES + MAC_BYTES || bytes.length > HEADER_BYTES + MAX_EMAIL_BYTES + MAC_BYTES) {
		return null;
	}
	const payloadBytes = bytes.length - MAC_BYTES;
	const payload = bytes.subarray(0, payloadBytes);
	const presented = bytes.subarray(payloadBytes);
	// Every key is compared, in constant time, whichever matches.
	const expected = await Promise.all(keys.keys.map((key) => macOf(key.secret, payload)));
	const matches = expected.map((mac) => timingSafeEqual(mac, presented));
	if (!matches.includes(true)) return null;
	const expiresAt = readExpiry(bytes, NONCE_BYTES);
	if (expiresAt <= now) return null;
	let email: string;
	try {
		email = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(
			bytes.subarray(HEADER_BYTES, payloadBytes),
		);
	} catch {
		// Only this Worker writes these bytes, and it writes UTF-8.
		return null;
	}
	return {
		email,
		userHandle: toBase64Url(bytes.subarray(NONCE_BYTES + EXPIRY_BYTES, HEADER_BYTES)),
		expiresAt,
	};
}
