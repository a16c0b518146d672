import { decryptString, encryptString, hmacSha256HexEach } from "./crypto";

/**
 * A Worker secret that can rotate without re-enrolment: a list of versioned
 * keys, newest first. The newest encrypts, hashes and signs; every listed key
 * still decrypts and verifies, so data written under an older key keeps
 * working until the operator drops that key.
 *
 *   TOTP_ENCRYPTION_KEY="v2:<new secret>,v1:<old secret>"
 *
 * Entries are `id:secret`, separated by commas; an id is 1–16 of
 * [A-Za-z0-9_-], and a secret at least 16 characters with no comma (it may
 * contain `:`: only the first one separates the id). A value with no `:` at
 * all is a single key of the format before key sets, taken byte for byte,
 * with the id `v1`: existing deployments keep working unchanged.
 *
 * Data under `v1` is stored exactly as before key sets (no id prefix), so a
 * deployment that never rotates writes what an older build can still read.
 */
export interface VersionedKey {
	readonly id: string;
	readonly secret: string;
}

export interface KeySet {
	/** The variable it was read from, for messages about it. */
	readonly name: string;
	/** Encrypts, hashes and signs everything new. */
	readonly newest: VersionedKey;
	/** Every key that still opens or verifies, newest first (`keys[0]` is `newest`). */
	readonly keys: readonly VersionedKey[];
}

/** The id of a value without ids, and of stored data that names no key. */
export const LEGACY_KEY_ID = "v1";
export const MIN_SECRET_LENGTH = 16;
const KEY_ID = /^[A-Za-z0-9_-]{1,16}$/;

/** Why a value is not a key set; it names entries by position or id, never by their secret. */
export class KeySetFormatError extends Error {}

/**
 * Reads a key set. Returns null for an absent or too-short single value (the
 * caller reports it missing, as before key sets); throws KeySetFormatError
 * for a value that is meant as a list and is malformed.
 */
export function parseKeySet(name: string, value: string | undefined): KeySet | null {
	if (value === undefined) return null;
	if (!value.includes(":")) {
		if (value.length < MIN_SECRET_LENGTH) return null;
		const only = { id: LEGACY_KEY_ID, secret: value };
		return { name, newest: only, keys: [only] };
	}
	const keys: VersionedKey[] = [];
	const entries = value.split(",");
	for (const [index, raw] of entries.entries()) {
		const entry = raw.trim();
		const position = `entry ${index + 1} of ${entries.length}`;
		const colon = entry.indexOf(":");
		if (colon < 0) throw new KeySetFormatError(`${position} is not id:secret`);
		const id = entry.slice(0, colon);
		const secret = entry.slice(colon + 1);
		if (!KEY_ID.test(id)) throw new KeySetFormatError(`${position} has an id that is not 1-16 of [A-Za-z0-9_-]`);
		if (secret.length < MIN_SECRET_LENGTH) {
			throw new KeySetFormatError(`key "${id}" is shorter than ${MIN_SECRET_LENGTH} characters`);
		}
		// Two secrets under one id would make stored data ambiguous.
		if (keys.some((key) => key.id === id)) throw new KeySetFormatError(`key id "${id}" is listed twice`);
		keys.push({ id, secret });
	}
	const [newest] = keys;
	if (!newest) throw new KeySetFormatError("no key is listed");
	return { name, newest, keys };
}

export function findKey(keys: KeySet, id: string): VersionedKey | undefined {
	return keys.keys.find((key) => key.id === id);
}

/** Thrown when stored data names a key that is no longer listed: the operator dropped it too early. */
export class UnlistedKeyError extends Error {
	constructor(
		readonly variable: string,
		readonly keyId: string,
	) {
		super(
			`${variable} no longer lists the key "${keyId}" that stored data names: list it again (README, "Rotating keys")`,
		);
		this.name = "UnlistedKeyError";
	}
}

// Sealed values are `iv.ciphertext` (base64url) under `v1`, as before key
// sets, and `id.iv.ciphertext` under any other key: base64url has no ".".

/** AES-GCM under the newest key; the result names its key. */
export async function sealWithNewest(keys: KeySet, plaintext: string, additionalData: string): Promise<string> {
	const sealed = await encryptString(keys.newest.secret, plaintext, additionalData);
	return keys.newest.id === LEGACY_KEY_ID ? sealed : `${keys.newest.id}.${sealed}`;
}

/** The id of the key a sealed value names (`v1` when it names none). */
export function sealedKeyId(sealed: string): string {
	const parts = sealed.split(".");
	return parts.length === 3 ? (parts[0] ?? "") : LEGACY_KEY_ID;
}

/** Opens a sealed value under the key it names; throws if that key is not listed or the value does not open. */
export async function openSealed(
	keys: KeySet,
	sealed: string,
	additionalData: string,
): Promise<{ plaintext: string; keyId: string }> {
	const keyId = sealedKeyId(sealed);
	const key = findKey(keys, keyId);
	if (!key) throw new UnlistedKeyError(keys.name, keyId);
	const body = sealed.split(".").length === 3 ? sealed.slice(keyId.length + 1) : sealed;
	return { plaintext: await decryptString(key.secret, body, additionalData), keyId };
}

// HMACs are stored as `hex` under `v1`, as before key sets, and `id:hex`
// under any other key; ids have no ":", so the prefix is unambiguous.
function labelled(key: VersionedKey, hex: string): string {
	return key.id === LEGACY_KEY_ID ? hex : `${key.id}:${hex}`;
}

/** HMAC-SHA-256 of each message under the newest key, each naming that key. */
export async function hmacWithNewest(keys: KeySet, messages: string[]): Promise<string[]> {
	const hashes = await hmacSha256HexEach(keys.newest.secret, messages);
	return hashes.map((hex) => labelled(keys.newest, hex));
}

/** The stored form of one message's HMAC under every listed key: what a stored value may be equal to. */
export async function hmacUnderEachKey(keys: KeySet, message: string): Promise<string[]> {
	return Promise.all(
		keys.keys.map(async (key) => {
			const [hex] = await hmacSha256HexEach(key.secret, [message]);
			if (hex === undefined) throw new Error("HMAC of one message returned none");
			return labelled(key, hex);
		}),
	);
}
