import { describe, expect, it } from "vitest";
import { call, ORIGIN } from "../helpers/api";
import { callConfigured, type Vars } from "../helpers/configured";
import { expectRefused } from "../helpers/passwordless";

// Apple's CDN, Android's Credential Manager and browsers (related origins)
// each fetch one of these documents and trust what it says about which apps
// and origins may use this RP's passkeys. Each must have exactly the shape
// its platform parses, as JSON with no redirect, and must not exist at all
// when nothing is configured (an empty document would still be a claim).

const FINGERPRINT = "14:6D:E9:83:C5:73:06:50:D8:EE:B9:95:2F:34:FC:64:16:A0:83:42:E6:1D:BE:A8:8A:04:96:B2:3F:CF:44:E5";
const SECOND_FINGERPRINT =
	"B7:1A:0C:55:9E:3D:21:44:F0:88:6B:D2:93:7E:01:CC:5A:69:42:17:E8:3B:90:AD:6F:14:C2:7D:35:08:9B:E6";

function get(vars: Vars, path: string) {
	return callConfigured<unknown>(vars, "GET", path);
}

function expectPublicJson(response: { status: number; headers: Headers }): void {
	expect(response.status).toBe(200);
	expect(response.headers.get("content-type")).toBe("application/json");
	expect(response.headers.get("cache-control")).toMatch(/^public\b/);
	expect(response.headers.get("location")).toBeNull();
}

describe("GET /.well-known/assetlinks.json", () => {
	const android = { ANDROID_PACKAGE_NAME: "com.example.app", ANDROID_SHA256_CERT_FINGERPRINTS: FINGERPRINT };

	it("states that the Android app may use this site's sign-in credentials", async () => {
		const response = await get(android, "/.well-known/assetlinks.json");
		expectPublicJson(response);
		expect(response.body).toEqual([
			{
				relation: ["delegate_permission/common.handle_all_urls", "delegate_permission/common.get_login_creds"],
				target: {
					namespace: "android_app",
					package_name: "com.example.app",
					sha256_cert_fingerprints: [FINGERPRINT],
				},
			},
		]);
	});

	it("lists every configured signing certificate, trimmed", async () => {
		const response = await get(
			{ ...android, ANDROID_SHA256_CERT_FINGERPRINTS: ` ${FINGERPRINT} , ${SECOND_FINGERPRINT} ` },
			"/.well-known/assetlinks.json",
		);
		expect(response.body).toMatchObject([{ target: { sha256_cert_fingerprints: [FINGERPRINT, SECOND_FINGERPRINT] } }]);
	});

	it("writes fingerprints in the colon-separated upper-case form Android compares", async () => {
		const bare = FINGERPRINT.replaceAll(":", "").toLowerCase();
		const response = await get({ ...android, ANDROID_SHA256_CERT_FINGERPRINTS: bare }, "/.well-known/assetlinks.json");
		expect(response.body).toMatchObject([{ target: { sha256_cert_fingerprints: [FINGERPRINT] } }]);
	});

	it("leaves out a value that is not a SHA-256 fingerprint, and is absent when none is left", async () => {
		const mixed = await get(
			{ ...android, ANDROID_SHA256_CERT_FINGERPRINTS: `${FINGERPRINT},AB:CD` },
			"/.well-known/assetlinks.json",
		);
		expect(mixed.body).toMatchObject([{ target: { sha256_cert_fingerprints: [FINGERPRINT] } }]);
		const none = await get(
			{ ...android, ANDROID_SHA256_CERT_FINGERPRINTS: "not-a-fingerprint" },
			"/.well-known/assetlinks.json",
		);
		expectRefused(none, 404, "not_found");
	});

	it("is absent when nothing is configured", async () => {
		expectRefused(await call("GET", "/.well-known/assetlinks.json"), 404, "not_found");
	});

	it("is absent with a package name but no fingerprint, or fingerprints but no package name", async () => {
		expectRefused(
			await get({ ANDROID_PACKAGE_NAME: "com.example.app" }, "/.well-known/assetlinks.json"),
			404,
			"not_found",
		);
		expectRefused(
			await get({ ANDROID_SHA256_CERT_FINGERPRINTS: FINGERPRINT }, "/.well-known/assetlinks.json"),
			404,
			"not_found",
		);
	});
});

describe("GET /.well-known/apple-app-site-association", () => {
	it("lists the configured apps in the webcredentials section and nothing else", async () => {
		const response = await get(
			{ APPLE_APP_IDS: "ABCDE12345.com.example.app, ABCDE12345.com.example.app.beta" },
			"/.well-known/apple-app-site-association",
		);
		expectPublicJson(response);
		expect(response.body).toEqual({
			webcredentials: { apps: ["ABCDE12345.com.example.app", "ABCDE12345.com.example.app.beta"] },
		});
	});

	it("is absent when no app is configured", async () => {
		expectRefused(await call("GET", "/.well-known/apple-app-site-association"), 404, "not_found");
		expectRefused(await get({ APPLE_APP_IDS: " , " }, "/.well-known/apple-app-site-association"), 404, "not_found");
	});
});

describe("GET /.well-known/webauthn", () => {
	it("lists the web origins when more than one is configured", async () => {
		const response = await get({ ORIGINS: `${ORIGIN},https://shop.example` }, "/.well-known/webauthn");
		expectPublicJson(response);
		expect(response.body).toEqual({ origins: [ORIGIN, "https://shop.example"] });
	});

	it("leaves Android app origins out of the list", async () => {
		const response = await get(
			{ ORIGINS: `${ORIGIN},android:apk-key-hash:FG3pg8VzBlDY7rmVLzT8ZBagg0LmHb6oigSWsj_PROU,https://shop.example` },
			"/.well-known/webauthn",
		);
		expect(response.body).toEqual({ origins: [ORIGIN, "https://shop.example"] });
	});

	it("is absent with the default single web origin", async () => {
		expectRefused(await call("GET", "/.well-known/webauthn"), 404, "not_found");
	});

	it("is absent with one web origin and an Android app origin", async () => {
		const response = await get(
			{ ORIGINS: `${ORIGIN},android:apk-key-hash:FG3pg8VzBlDY7rmVLzT8ZBagg0LmHb6oigSWsj_PROU` },
			"/.well-known/webauthn",
		);
		expectRefused(response, 404, "not_found");
	});
});

it("answers a 404 for the well-known documents with no-store, so no cache keeps the absence", async () => {
	const response = await call("GET", "/.well-known/apple-app-site-association");
	expect(response.headers.get("cache-control")).toBe("no-store");
});
