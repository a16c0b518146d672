import type { Env } from "../env";

export interface Config {
	rpId: string;
	rpName: string;
	/** Every accepted origin: web origins and Android apk-key-hash origins. */
	origins: string[];
	/** The subset that browsers can send as an `Origin` header. */
	webOrigins: string[];
}

/** A deployment mistake: logged as it is (it names the setting, never a secret's value), answered 500. */
export class ConfigError extends Error {}

export class MissingSecretError extends ConfigError {
	constructor(readonly secret: string) {
		super(`Missing secret ${secret}: set it with \`wrangler secret put ${secret}\` (or in .dev.vars locally)`);
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
