import type { Env } from "../env";
import { type KeySet, KeySetFormatError, parseKeySet } from "./key-set";

export interface Config {
	rpId: string;
	rpName: string;
	/** Every accepted origin: web origins and Android apk-key-hash origins. */
	origins: string[];
	/** The subset that browsers can send as an `Origin` header. */
	webOrigins: string[];
}

export class MissingSecretError extends Error {
	constructor(readonly secret: string) {
		super(`Missing secret ${secret}: set it with \`wrangler secret put ${secret}\` (or in .dev.vars locally)`);
	}
}

/** A secret that is set but malformed: logged (naming it, never its value) and answered like a missing one. */
export class MalformedSecretError extends MissingSecretError {
	constructor(secret: string, reason: string) {
		super(secret);
		this.message = `Malformed secret ${secret}: ${reason}. Write a key set as "id:secret,id:secret", newest first (README, "Rotating keys")`;
	}
}

export function readConfig(env: Env): Config {
	const origins = (env.ORIGINS ?? "")
		.split(",")
		// An origin has no path: "https://app.example.com/" would otherwise never match.
		.map((origin) => origin.trim().replace(/\/+$/, ""))
		.filter((origin) => origin.length > 0);
	return {
		rpId: env.RP_ID,
		rpName: env.RP_NAME,
		origins,
		webOrigins: origins.filter((origin) => origin.startsWith("https://") || origin.startsWith("http://")),
	};
}

type SecretName = "TOTP_ENCRYPTION_KEY" | "RECOVERY_CODE_HMAC_KEY";

/** A deployed Worker without a secret it needs fails loudly, naming it. */
export function requireSecret(env: Env, name: SecretName): string {
	const value = env[name];
	if (!value || value.length < 16) throw new MissingSecretError(name);
	return value;
}

type KeySetName = "TOTP_ENCRYPTION_KEY" | "RECOVERY_CODE_HMAC_KEY";

/** The versioned keys of a rotating secret (lib/key-set.ts): the newest writes, every listed one reads. */
export function requireKeySet(env: Env, name: KeySetName): KeySet {
	let keys: KeySet | null;
	try {
		keys = parseKeySet(name, env[name]);
	} catch (error) {
		if (error instanceof KeySetFormatError) throw new MalformedSecretError(name, error.message);
		throw error;
	}
	if (!keys) throw new MissingSecretError(name);
	return keys;
}
