import type { UserState } from "./durable/user-state";
import type { WebhookMessage } from "./services/security-events";

/** The Worker's bindings: wrangler.toml's vars and bindings, and its secrets. */
export interface Env {
	DB: D1Database;
	USER_STATE: DurableObjectNamespace<UserState>;
	METRICS?: AnalyticsEngineDataset;
	RP_ID: string;
	RP_NAME: string;
	ORIGINS: string;
	/** A session's absolute lifetime in days (default 90; 1 to 365). */
	SESSION_MAX_AGE_DAYS?: string;
	/** "Don't ask again on this device" for browsers, for this many days (1 to 90); absent or "0": off. */
	TRUSTED_DEVICE_DAYS?: string;
	/** "true": a password sign-in of a user without a passkey or TOTP can only set one up (default "false"). */
	REQUIRE_SECOND_FACTOR?: string;
	/** Encrypts TOTP secrets at rest (AES-GCM). */
	TOTP_ENCRYPTION_KEY?: string;
	/** Keys the HMAC under which recovery codes are stored. */
	RECOVERY_CODE_HMAC_KEY?: string;
	/** A JWK Set of private P-256 keys: the first signs the access tokens, every one is published. */
	TOKEN_SIGNING_KEYS?: string;
	/** The access tokens' `iss`; default: the first web origin of ORIGINS. */
	TOKEN_ISSUER?: string;
	/** Comma-separated audiences a token may be asked for; default: the issuer. */
	TOKEN_AUDIENCES?: string;
	/** An access token's lifetime: default 300, at most 900. */
	TOKEN_TTL_SECONDS?: string;
	ANDROID_PACKAGE_NAME?: string;
	ANDROID_SHA256_CERT_FINGERPRINTS?: string;
	APPLE_APP_IDS?: string;
	/** The server API's keys: `name:key` pairs, comma-separated (lib/server-keys.ts). */
	SERVER_API_KEYS?: string;
	/** The producer of security events; its consumer delivers them as webhooks. */
	WEBHOOKS?: Queue<WebhookMessage>;
	/** Comma-separated endpoints for security events; empty: none are sent. */
	WEBHOOK_URLS?: string;
	/** Signs each delivery (Standard Webhooks): `whsec_` and base64 of 24 to 64 random bytes. */
	WEBHOOK_SECRET?: string;
	/** The first retry's delay, doubled at each attempt (default 60). */
	WEBHOOK_RETRY_BASE_SECONDS?: string;
}

type WorkerEnv = Env;

declare global {
	namespace Cloudflare {
		interface Env extends WorkerEnv {}
		interface GlobalProps {
			mainModule: typeof import("./index");
			durableNamespaces: "UserState";
		}
	}
}
