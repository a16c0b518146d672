import type { Env } from "../env";
import { readConfig } from "../lib/config";

function list(value: string | undefined): string[] {
	return (value ?? "")
		.split(",")
		.map((item) => item.trim())
		.filter((item) => item.length > 0);
}

/** WebAuthn related origins: only meaningful when more than one web origin shares the RP ID. */
export function relatedOrigins(env: Env): { origins: string[] } | null {
	const { webOrigins } = readConfig(env);
	return webOrigins.length > 1 ? { origins: webOrigins } : null;
}

/**
 * Digital Asset Links: lets the Android app with this package and signing
 * certificate use the site's passkeys (Credential Manager checks
 * `get_login_creds`).
 */
export function assetLinks(env: Env): Record<string, unknown>[] | null {
	const packageName = env.ANDROID_PACKAGE_NAME?.trim();
	const fingerprints = list(env.ANDROID_SHA256_CERT_FINGERPRINTS).map((fp) => fp.toUpperCase());
	if (!packageName || fingerprints.length === 0) return null;
	return [
		{
			relation: ["delegate_permission/common.handle_all_urls", "delegate_permission/common.get_login_creds"],
			target: { namespace: "android_app", package_name: packageName, sha256_cert_fingerprints: fingerprints },
		},
	];
}

/** Apple's associated domains: `webcredentials` lets these apps (TEAMID.bundle.id) use the site's passkeys. */
export function appleAppSiteAssociation(env: Env): { webcredentials: { apps: string[] } } | null {
	const apps = list(env.APPLE_APP_IDS);
	return apps.length > 0 ? { webcredentials: { apps } } : null;
}
