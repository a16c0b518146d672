import { isoBase64URL } from "@simplewebauthn/server/helpers";
import { describe, expect, it } from "vitest";
import { ORIGIN } from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import { callConfigured } from "../helpers/configured";
import { registerPasskey } from "../helpers/flows";
import {
	expectRefused,
	postSignIn,
	type SignInResult,
	signInAssertion,
	userWithDiscoverablePasskey,
} from "../helpers/passwordless";

// Credential Manager on Android puts `android:apk-key-hash:<base64url of the
// SHA-256 of the app's signing certificate>` into clientDataJSON instead of a
// web origin. Any app can claim any package name, but not another app's
// signing key, so an app origin is accepted only when that exact hash is
// configured in ORIGINS.

// The SHA-256 fingerprint `keytool -list -v` would print for a test signing certificate.
const FINGERPRINT = "14:6D:E9:83:C5:73:06:50:D8:EE:B9:95:2F:34:FC:64:16:A0:83:42:E6:1D:BE:A8:8A:04:96:B2:3F:CF:44:E5";
const APK_KEY_HASH = isoBase64URL.fromBuffer(
	Uint8Array.from(FINGERPRINT.split(":"), (byte) => Number.parseInt(byte, 16)),
);
const ANDROID_ORIGIN = `android:apk-key-hash:${APK_KEY_HASH}`;
const WITH_ANDROID = { ORIGINS: `${ORIGIN},${ANDROID_ORIGIN}` };

function signInConfigured(vars: { ORIGINS: string }, credential: unknown) {
	return callConfigured<SignInResult>(vars, "POST", "/api/auth/passkey/login/", { app: true, body: { credential } });
}

describe("an Android app origin at passwordless sign-in", () => {
	it("is refused with the default configuration", async () => {
		const { authenticator } = await userWithDiscoverablePasskey();
		const credential = await signInAssertion(authenticator, { origin: ANDROID_ORIGIN });
		expectRefused(await postSignIn(credential), 400, "verification_failed");
	});

	it("signs in when that exact apk-key-hash origin is in ORIGINS", async () => {
		const { user, authenticator } = await userWithDiscoverablePasskey();
		const credential = await signInAssertion(authenticator, { origin: ANDROID_ORIGIN });
		const login = await signInConfigured(WITH_ANDROID, credential);
		expect(login.status).toBe(200);
		expect(login.body.session).toMatchObject({ level: "full", user: { id: user.id } });
		expect(login.body.session_token).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
	});

	it("is refused when only another app's hash is configured", async () => {
		const { authenticator } = await userWithDiscoverablePasskey();
		const otherApp = `android:apk-key-hash:${isoBase64URL.fromBuffer(crypto.getRandomValues(new Uint8Array(32)))}`;
		const credential = await signInAssertion(authenticator, { origin: ANDROID_ORIGIN });
		expectRefused(await signInConfigured({ ORIGINS: `${ORIGIN},${otherApp}` }, credential), 400, "verification_failed");
	});

	it("is matched exactly: the same hash with padding is refused", async () => {
		const { authenticator } = await userWithDiscoverablePasskey();
		const credential = await signInAssertion(authenticator, { origin: `${ANDROID_ORIGIN}=` });
		expectRefused(await signInConfigured(WITH_ANDROID, credential), 400, "verification_failed");
	});

	it("keeps web sign-in working alongside it", async () => {
		const { authenticator } = await userWithDiscoverablePasskey();
		const login = await signInConfigured(WITH_ANDROID, await signInAssertion(authenticator));
		expect(login.status).toBe(200);
	});

	it("is never an allowed browser Origin header, even when configured", async () => {
		const { authenticator } = await userWithDiscoverablePasskey();
		const response = await callConfigured(WITH_ANDROID, "POST", "/api/auth/passkey/login/", {
			origin: ANDROID_ORIGIN,
			body: { credential: await signInAssertion(authenticator) },
		});
		expectRefused(response, 403, "csrf_failed");
	});
});

describe("an Android app origin at registration", () => {
	it("registers a passwordless passkey from the app only when its origin is configured", async () => {
		const { user } = await userWithDiscoverablePasskey();
		const authenticator = new SoftAuthenticator({ origin: ANDROID_ORIGIN });
		const refused = await registerPasskey(user, authenticator, { passwordless: true });
		expectRefused(refused.response, 400, "verification_failed");

		const options = await callConfigured<{ creation_options: Parameters<SoftAuthenticator["createCredential"]>[0] }>(
			WITH_ANDROID,
			"GET",
			"/api/webauthn/register/options/?passwordless=true",
			{ token: user.token },
		);
		const credential = await authenticator.createCredential(options.body.creation_options);
		const registered = await callConfigured(WITH_ANDROID, "POST", "/api/webauthn/register/complete/", {
			token: user.token,
			body: { credential },
		});
		expect(registered.status).toBe(201);
		// The software authenticator also kept the refused credential: sign with the registered one.
		const assertion = await signInAssertion(authenticator, { credentialId: credential.id });
		const login = await signInConfigured(WITH_ANDROID, assertion);
		expect(login.status).toBe(200);
	});
});
