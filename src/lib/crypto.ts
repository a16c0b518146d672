import { fromBase64Url, randomBytes, toBase64Url, toHex } from "./encoding";

const encoder = new TextEncoder();

// Production Workers refuse PBKDF2 above 100,000 iterations (local workerd
// does not), so every derivation goes through this one guard.
export const PBKDF2_MAX_ITERATIONS = 100_000;
export const PASSWORD_ITERATIONS = PBKDF2_MAX_ITERATIONS;

export async function pbkdf2Sha256(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
	if (!Number.isInteger(iterations) || iterations < 1 || iterations > PBKDF2_MAX_ITERATIONS) {
		throw new Error(`PBKDF2 iteration count ${iterations} is outside 1..${PBKDF2_MAX_ITERATIONS}`);
	}
	const key = await crypto.subtle.importKey("raw", encoder.encode(password), "PBKDF2", false, ["deriveBits"]);
	const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, key, 256);
	return new Uint8Array(bits);
}

export interface PasswordHash {
	hash: string;
	salt: string;
	iterations: number;
}

export async function hashPassword(password: string): Promise<PasswordHash> {
	const salt = randomBytes(16);
	const hash = await pbkdf2Sha256(password, salt, PASSWORD_ITERATIONS);
	return { hash: toBase64Url(hash), salt: toBase64Url(salt), iterations: PASSWORD_ITERATIONS };
}

export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
	const salt = fromBase64Url(stored.salt);
	const expected = fromBase64Url(stored.hash);
	if (!salt || !expected) return false;
	const actual = await pbkdf2Sha256(password, salt, stored.iterations);
	return timingSafeEqual(actual, expected);
}

/** Compares two byte strings in time that depends only on their lengths. */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
	if (a.length !== b.length) return false;
	const subtle = crypto.subtle as SubtleCrypto & {
		timingSafeEqual?: (a: ArrayBufferView, b: ArrayBufferView) => boolean;
	};
	if (subtle.timingSafeEqual) return subtle.timingSafeEqual(a, b);
	let diff = 0;
	for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
	return diff === 0;
}

export async function sha256Hex(text: string): Promise<string> {
	return toHex(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

function importHmacKey(key: Uint8Array): Promise<CryptoKey> {
	return crypto.subtle.importKey("raw", new Uint8Array(key), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
}

export async function hmacSha256(key: Uint8Array, message: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
	return new Uint8Array(await crypto.subtle.sign("HMAC", await importHmacKey(key), new Uint8Array(message)));
}

/**
 * A MAC for one purpose: HMAC-SHA-256 under a key derived from `secret` with
 * `keyLabel`, over `macLabel` ‖ `payload`. Each kind of signed value (a
 * sign-in or sign-up challenge, a trusted-device cookie) has labels of its
 * own, so a MAC of one kind never verifies as another, and none stands for a
 * recovery-code hash made under the same secret.
 */
export async function labelledMac(
	secret: string,
	keyLabel: string,
	macLabel: string,
	payload: Uint8Array,
): Promise<Uint8Array<ArrayBuffer>> {
	const key = await hmacSha256(encoder.encode(secret), encoder.encode(keyLabel));
	const label = encoder.encode(macLabel);
	const message = new Uint8Array(label.length + payload.length);
	message.set(label, 0);
	message.set(payload, label.length);
	return hmacSha256(key, message);
}

/** HMAC-SHA-256 of each message under one secret, which is imported once for all of them. */
export async function hmacSha256HexEach(secret: string, messages: string[]): Promise<string[]> {
	const key = await importHmacKey(encoder.encode(secret));
	return Promise.all(
		messages.map(async (message) =>
			toHex(new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(message)))),
		),
	);
}

// AES-256-GCM under a key derived from the Worker secret; the additional data
// binds a ciphertext to its owner, so a row copied to another user fails.
async function aesKey(secret: string): Promise<CryptoKey> {
	const raw = await crypto.subtle.digest("SHA-256", encoder.encode(`passkey-edge:aes-gcm:${secret}`));
	return crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
}

export async function encryptString(secret: string, plaintext: string, additionalData: string): Promise<string> {
	const iv = randomBytes(12);
	const ciphertext = await crypto.subtle.encrypt(
		{ name: "AES-GCM", iv, additionalData: encoder.encode(additionalData) },
		await aesKey(secret),
		encoder.encode(plaintext),
	);
	return `${toBase64Url(iv)}.${toBase64Url(new Uint8Array(ciphertext))}`;
}

export async function decryptString(secret: string, sealed: string, additionalData: string): Promise<string> {
	const [ivText, dataText] = sealed.split(".");
	const iv = ivText ? fromBase64Url(ivText) : null;
	const data = dataText ? fromBase64Url(dataText) : null;
	if (!iv || !data) throw new Error("sealed value is malformed");
	const plaintext = await crypto.subtle.decrypt(
		{ name: "AES-GCM", iv, additionalData: encoder.encode(additionalData) },
		await aesKey(secret),
		data,
	);
	return new TextDecoder().decode(plaintext);
}
