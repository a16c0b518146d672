import { MalformedSecretError, MissingSecretError } from "./config";
import { timingSafeEqual } from "./crypto";

// Server keys: the app's backend calls /api/server/ with one of the keys of
// the secret SERVER_API_KEYS, `name:key` pairs separated by commas. Several
// may be listed at once, so a key is rotated by adding the new one, moving
// the backend to it, then removing the old one. The name is for logs and
// metrics; the key itself is compared only as a SHA-256 digest, against
// every configured digest in time that does not depend on where (or
// whether) it matched.

export const SERVER_KEYS_SECRET = "SERVER_API_KEYS";
/** 32 characters at least: a key someone could guess is no key (ours are 43 base64url characters, 256 bits). */
export const MIN_SERVER_KEY_LENGTH = 32;
const MAX_SERVER_KEY_LENGTH = 256;
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
// Printable ASCII without space or comma (the list's separator) or colon (the name's).
const KEY = /^[\x21-\x2b\x2d-\x39\x3b-\x7e]+$/;

export interface ServerKey {
	name: string;
	digest: Uint8Array;
}

const encoder = new TextEncoder();

async function digestOf(key: string): Promise<Uint8Array> {
	return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(`server-key:${key}`)));
}

/** The configured keys, checked; a missing or malformed secret is a configuration error (500, logged by name). */
export async function parseServerKeys(secret: string | undefined): Promise<ServerKey[]> {
	const text = secret?.trim();
	if (!text) throw new MissingSecretError(SERVER_KEYS_SECRET);
	const keys: ServerKey[] = [];
	for (const entry of text.split(",")) {
		const pair = entry.trim();
		const colon = pair.indexOf(":");
		const name = colon > 0 ? pair.slice(0, colon) : "";
		const key = colon > 0 ? pair.slice(colon + 1) : "";
		if (!NAME.test(name)) throw malformed("each entry is name:key, the name 1-64 of A-Z a-z 0-9 _ . -");
		if (key.length < MIN_SERVER_KEY_LENGTH || key.length > MAX_SERVER_KEY_LENGTH || !KEY.test(key)) {
			throw malformed(
				`the key named ${name} must be ${MIN_SERVER_KEY_LENGTH}-${MAX_SERVER_KEY_LENGTH} printable characters without spaces, commas or colons`,
			);
		}
		if (keys.some((known) => known.name === name)) throw malformed(`the name ${name} is listed twice`);
		keys.push({ name, digest: await digestOf(key) });
	}
	return keys;
}

function malformed(reason: string): MalformedSecretError {
	const error = new MalformedSecretError(SERVER_KEYS_SECRET, reason);
	error.message = `Malformed secret ${SERVER_KEYS_SECRET}: ${reason}. Write it as "name:key,name:key" (README, "Adding passkeys to an existing app")`;
	return error;
}

/**
 * The name of the configured key that `presented` is, or null. Every digest
 * is compared, whichever matched, so the time taken says nothing about
 * which key (or how much of one) was right.
 */
export async function matchServerKey(keys: ServerKey[], presented: string): Promise<string | null> {
	const digest = await digestOf(presented);
	let match: string | null = null;
	for (const key of keys) {
		if (timingSafeEqual(digest, key.digest) && match === null) match = key.name;
	}
	return match;
}
