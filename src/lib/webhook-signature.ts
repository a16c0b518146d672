import { hmacSha256 } from "./crypto";

// Standard Webhooks (standardwebhooks.com): the secret is `whsec_` and the
// base64 of its bytes; the signature is `v1,` and the base64 of
// HMAC-SHA256(secret bytes, "{id}.{timestamp}.{body}"), timestamp in seconds.
const PREFIX = "whsec_";
/** The spec asks for 24 to 64 random bytes. */
const MIN_SECRET_BYTES = 24;
const MAX_SECRET_BYTES = 64;

/** The secret's key bytes, or null when it is not a `whsec_` secret of a sane length. */
export function parseWebhookSecret(secret: string | undefined): Uint8Array | null {
	if (!secret?.startsWith(PREFIX)) return null;
	const encoded = secret.slice(PREFIX.length);
	if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) return null;
	const binary = atob(encoded);
	if (binary.length < MIN_SECRET_BYTES || binary.length > MAX_SECRET_BYTES) return null;
	return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

function toBase64(bytes: Uint8Array): string {
	let binary = "";
	for (const byte of bytes) binary += String.fromCharCode(byte);
	return btoa(binary);
}

export interface SignedHeaders {
	"webhook-id": string;
	"webhook-timestamp": string;
	"webhook-signature": string;
}

/** The three Standard Webhooks headers for one delivery attempt of `body`. */
export async function signWebhook(
	key: Uint8Array,
	id: string,
	timestampSeconds: number,
	body: string,
): Promise<SignedHeaders> {
	const signed = new TextEncoder().encode(`${id}.${timestampSeconds}.${body}`);
	return {
		"webhook-id": id,
		"webhook-timestamp": String(timestampSeconds),
		"webhook-signature": `v1,${toBase64(await hmacSha256(key, signed))}`,
	};
}
