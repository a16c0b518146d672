import type { Env } from "../env";
import { DAY } from "./clock";
import { type KeySet, KeySetFormatError, parseKeySet } from "./key-set";

/** API.md: a full session ends 90 days after it was created, however much it is used, unless configured. */
export const DEFAULT_SESSION_MAX_AGE_DAYS = 90;
// One day at least (a shorter one would end sessions people are using mid-task);
// a year at most (a longer one would not be an end; browsers cap cookies near there anyway).
const SESSION_MAX_AGE_DAYS_RANGE = [1, 365] as const;

export interface Config {
	rpId: string;
	rpName: string;
	/** Every accepted origin: web origins and Android apk-key-hash origins. */
	origins: string[];
	/** The subset that browsers can send as an `Origin` header. */
	webOrigins: string[];
	/** A session's absolute lifetime in milliseconds: it never outlives created_at + this. */
	sessionMaxAge: number;
	/** TRUSTED_DEVICE_DAYS: how long a browser may skip the second factor after one; null: off (the default). */
	trustedDeviceDays: number | null;
	/**
	 * REQUIRE_SECOND_FACTOR: a password sign-in (or sign-up) of a user with no
	 * passkey or TOTP gets a `setup_required` session, good only for adding
	 * one (API.md, "Account security"). Default off.
	 */
	requireSecondFactor: boolean;
}

/** A configuration value that is present but wrong: the Worker refuses to guess. */
export class ConfigError extends Error {}

export class MissingSecretError extends ConfigError {
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
		sessionMaxAge: readSessionMaxAgeDays(env.SESSION_MAX_AGE_DAYS) * DAY,
		trustedDeviceDays: readTrustedDeviceDays(env.TRUSTED_DEVICE_DAYS),
		requireSecondFactor: readSwitch("REQUIRE_SECOND_FACTOR", env.REQUIRE_SECOND_FACTOR),
	};
}

// A day at least; a quarter at most, so that a remembered browser is asked
// for its second factor again at least that often (a lost laptop with a
// remembered password is then a 2FA bypass for a bounded time).
export const TRUSTED_DEVICE_DAYS_RANGE = [1, 90] as const;

/**
 * TRUSTED_DEVICE_DAYS: absent, empty or "0" leaves trusted devices off;
 * otherwise whole days in range. A value that is set but wrong fails loudly,
 * as SESSION_MAX_AGE_DAYS does.
 */
function readTrustedDeviceDays(value: string | undefined): number | null {
	const text = value?.trim() ?? "";
	if (text === "" || text === "0") return null;
	const [min, max] = TRUSTED_DEVICE_DAYS_RANGE;
	const days = /^\d{1,3}$/.test(text) ? Number(text) : Number.NaN;
	if (!(days >= min && days <= max)) {
		throw new ConfigError(`TRUSTED_DEVICE_DAYS must be 0 (off) or a whole number of days from ${min} to ${max}`);
	}
	return days;
}

/**
 * A variable that turns a policy on: "true" or "false" (any case, trimmed),
 * unset or empty is off. Anything else fails loudly: a typo ("ture", "yes")
 * must not leave a security policy off while the operator believes it on.
 */
function readSwitch(name: string, value: string | undefined): boolean {
	const text = value?.trim().toLowerCase() ?? "";
	if (text === "" || text === "false") return false;
	if (text === "true") return true;
	throw new ConfigError(`${name} must be "true" or "false"`);
}

/**
 * SESSION_MAX_AGE_DAYS: whole days in a sane range. A value that is set but
 * wrong fails loudly rather than falling back, so that a typo cannot leave
 * sessions living longer (or shorter) than the operator believes.
 */
function readSessionMaxAgeDays(value: string | undefined): number {
	const text = value?.trim() ?? "";
	if (text === "") return DEFAULT_SESSION_MAX_AGE_DAYS;
	const [min, max] = SESSION_MAX_AGE_DAYS_RANGE;
	const days = /^\d{1,4}$/.test(text) ? Number(text) : Number.NaN;
	if (!(days >= min && days <= max)) {
		throw new ConfigError(`SESSION_MAX_AGE_DAYS must be a whole number of days from ${min} to ${max}`);
	}
	return days;
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
