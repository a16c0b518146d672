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
 * Android compares fingerprints as 32 colon-separated upper-case hex bytes,
 * the form `keytool -list -v` prints; the bare hex that `apksigner` prints is
 * accepted too. Anything else is left out (and logged) rather than published
 * as a statement no device could ever match.
 */
function certificateFingerprint(value: string): string | null {
	const hex = value.replaceAll(":", "").toUpperCase();
	if (!/^[0-9A-F]{64}$/.test(hex)) {
		console.error(
			`ANDROID_SHA256_CERT_FINGERPRINTS: "${value}" is not a SHA-256 fingerprint; left out of assetlinks.json`,
		);
		return null;
	}
	return Array.from({ length: 32 }, (_, byte) => hex.slice(byte * 2, byte * 2 + 2)).join(":");
}

/**
 * Digital Asset Links: lets the Android app with this package and signing
 * certificate use the site's passkeys (Credential Manager checks
 * `get_login_creds`).
 */
export function assetLinks(env: Env): Record<string, unknown>[] | null {
	const packageName = env.ANDROID_PACKAGE_NAME?.trim();
	const fingerprints = list(env.ANDROID_SHA256_CERT_FINGERPRINTS)
		.map(certificateFingerprint)
		.filter((fingerprint) => fingerprint !== null);
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
