import { importJWK } from "jose";
import { ConfigError } from "./config";
import { fromBase64Url } from "./encoding";

// The access tokens' signing keys come from the secret TOKEN_SIGNING_KEYS, a
// JWK Set of private P-256 keys: the first signs, every one is published, so
// that a rotation (a new key put first, the old one kept) never breaks a
// token in flight. Keys are never generated here: a Worker that made its own
// would sign with a key no other isolate publishes.

export const SIGNING_ALGORITHM = "ES256";

/** A public signing key as /.well-known/jwks.json publishes it: never `d`. */
export interface PublicJwk {
	kty: "EC";
	crv: "P-256";
	x: string;
	y: string;
	kid: string;
	alg: typeof SIGNING_ALGORITHM;
	use: "sig";
}

interface PrivateJwk {
	kty: "EC";
	crv: "P-256";
	x: string;
	y: string;
	d: string;
	kid: string;
}

export interface SigningKeys {
	/** The first key of the set: it signs. */
	signing: { kid: string; key: CryptoKey };
	/** Every key of the set, public members only. */
	jwks: { keys: PublicJwk[] };
}

export class SigningKeysError extends ConfigError {
	constructor(problem: string) {
		// Names the problem, never a key's value.
		super(
			`TOKEN_SIGNING_KEYS ${problem}: POST /api/auth/token/ answers 500 until it is fixed ` +
				"(`npm run keys -- new` prints a fresh set; set it with `wrangler secret put TOKEN_SIGNING_KEYS`)",
		);
	}
}

// A P-256 coordinate or private scalar: 32 bytes, base64url without padding.
function isScalar(value: unknown): value is string {
	return typeof value === "string" && value.length === 43 && fromBase64Url(value)?.length === 32;
}

/**
 * Reads and checks the set without any cryptography (so the module can check
 * it when the isolate starts): JSON `{"keys": [...]}`, each key EC P-256 with
 * `x`, `y`, `d` and a `kid` of its own, `alg` absent or ES256.
 */
export function parseSigningKeys(text: string | undefined): PrivateJwk[] {
	if (!text || text.trim() === "") throw new SigningKeysError("is missing");
	let parsed: unknown;
	try {
		parsed = JSON.parse(text);
	} catch {
		throw new SigningKeysError("is not JSON");
	}
	const keys = (parsed as { keys?: unknown } | null)?.keys;
	if (!Array.isArray(keys) || keys.length === 0) throw new SigningKeysError('is not a JWK Set with a "keys" list');
	const kids = new Set<string>();
	return keys.map((key: unknown, index): PrivateJwk => {
		const jwk = (key ?? {}) as Record<string, unknown>;
		const where = `key ${index}`;
		if (jwk.kty !== "EC" || jwk.crv !== "P-256") throw new SigningKeysError(`${where} is not an EC P-256 key`);
		if (jwk.alg !== undefined && jwk.alg !== SIGNING_ALGORITHM) throw new SigningKeysError(`${where} is not for ES256`);
		if (!isScalar(jwk.x) || !isScalar(jwk.y)) throw new SigningKeysError(`${where} has no valid x and y`);
		if (!isScalar(jwk.d)) throw new SigningKeysError(`${where} has no private part d`);
		if (typeof jwk.kid !== "string" || !/^[\x21-\x7e]{1,64}$/.test(jwk.kid)) {
			throw new SigningKeysError(`${where} has no kid`);
		}
		if (kids.has(jwk.kid)) throw new SigningKeysError(`has two keys with kid "${jwk.kid}"`);
		kids.add(jwk.kid);
		return { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y, d: jwk.d, kid: jwk.kid };
	});
}

/** Built member by member, so that nothing of the private key can ever be published. */
function publicJwk(key: PrivateJwk): PublicJwk {
	return { kty: "EC", crv: "P-256", x: key.x, y: key.y, kid: key.kid, alg: SIGNING_ALGORITHM, use: "sig" };
}

const PROBE = new TextEncoder().encode("passkey-edge signing key check");
const ECDSA = { name: "ECDSA", hash: "SHA-256" } as const;

async function importSigningKey(key: PrivateJwk): Promise<CryptoKey> {
	let privateKey: CryptoKey;
	let publicKey: CryptoKey;
	try {
		privateKey = (await importJWK(key, SIGNING_ALGORITHM)) as CryptoKey;
		publicKey = (await importJWK(publicJwk(key), SIGNING_ALGORITHM)) as CryptoKey;
	} catch {
		throw new SigningKeysError(`key "${key.kid}" does not import as a P-256 key`);
	}
	// A `d` that does not belong to `x` and `y` would sign tokens that the
	// published key never verifies: find out once, here, not from every app.
	const signature = await crypto.subtle.sign(ECDSA, privateKey, PROBE);
	if (!(await crypto.subtle.verify(ECDSA, publicKey, signature, PROBE))) {
		throw new SigningKeysError(`key "${key.kid}": its d does not match its x and y`);
	}
	return privateKey;
}

async function importSigningKeys(text: string | undefined): Promise<SigningKeys> {
	const keys = parseSigningKeys(text);
	const first = keys[0] as PrivateJwk;
	// Every key is checked, so that a broken old key fails now, not at the next rotation.
	const imported = await Promise.all(keys.map(importSigningKey));
	return { signing: { kid: first.kid, key: imported[0] as CryptoKey }, jwks: { keys: keys.map(publicJwk) } };
}

// Imported keys are kept per isolate, keyed by the secret's text: a new
// secret (a rotation) is a new key, and nothing is ever made up here.
let cached: { source: string | undefined; keys: Promise<SigningKeys> } | null = null;

export function loadSigningKeys(text: string | undefined): Promise<SigningKeys> {
	if (cached && cached.source === text) return cached.keys;
	const keys = importSigningKeys(text);
	cached = { source: text, keys };
	// A set that failed is read again next time rather than its failure kept.
	keys.catch(() => {
		if (cached?.keys === keys) cached = null;
	});
	return keys;
}

/** Logged once when the isolate starts: a deployment without a usable key set says so at once. */
export function reportSigningKeyProblems(text: string | undefined): void {
	try {
		parseSigningKeys(text);
	} catch (error) {
		if (error instanceof SigningKeysError) console.error(`startup: ${error.message}`);
		else throw error;
	}
}
