import { describe, expect, it } from "vitest";
import { call } from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import {
	expectRefused,
	type PasskeyJSON,
	postSignIn,
	signInAssertion,
	userWithDiscoverablePasskey,
} from "../helpers/passwordless";

// The foundation's rules for every assertion hold for a sign-in without a
// password too: a sign count that does not grow is a possible clone, the
// backup-eligible flag is fixed at registration, and the assertion must be
// for this RP, from a configured origin, in a top-level context.

async function storedSignCount(token: string): Promise<PasskeyJSON[]> {
	const listed = await call<{ passkeys: PasskeyJSON[] }>("GET", "/api/webauthn/", { token });
	return listed.body.passkeys;
}

describe("sign count at passwordless sign-in", () => {
	it("refuses a sign count that does not grow, then accepts the authenticator's next one", async () => {
		const { authenticator } = await userWithDiscoverablePasskey(new SoftAuthenticator({ incrementCounter: true }));
		expect((await postSignIn(await signInAssertion(authenticator))).status).toBe(200); // count 1
		expect((await postSignIn(await signInAssertion(authenticator))).status).toBe(200); // count 2

		expectRefused(await postSignIn(await signInAssertion(authenticator, { signCount: 2 })), 400, "verification_failed");
		expectRefused(await postSignIn(await signInAssertion(authenticator, { signCount: 1 })), 400, "verification_failed");
		expectRefused(await postSignIn(await signInAssertion(authenticator, { signCount: 0 })), 400, "verification_failed");

		expect((await postSignIn(await signInAssertion(authenticator))).status).toBe(200); // count 3
	});

	it("accepts an authenticator that always reports zero", async () => {
		const { authenticator } = await userWithDiscoverablePasskey();
		expect((await postSignIn(await signInAssertion(authenticator))).status).toBe(200);
		expect((await postSignIn(await signInAssertion(authenticator))).status).toBe(200);
	});
});

describe("backup flags at passwordless sign-in", () => {
	it("refuses an assertion that claims backup eligibility for a single-device passkey", async () => {
		const { authenticator } = await userWithDiscoverablePasskey();
		const credential = await signInAssertion(authenticator, { flags: { be: true, bs: true } });
		expectRefused(await postSignIn(credential), 400, "verification_failed");
	});

	it("refuses an assertion that drops backup eligibility from a synced passkey", async () => {
		const { authenticator } = await userWithDiscoverablePasskey(new SoftAuthenticator({ backupEligible: true }));
		const credential = await signInAssertion(authenticator, { flags: { be: false, bs: false } });
		expectRefused(await postSignIn(credential), 400, "verification_failed");
	});

	it("records a synced passkey's new backup state", async () => {
		const { user, authenticator, passkey } = await userWithDiscoverablePasskey(
			new SoftAuthenticator({ backupEligible: true, backedUp: false }),
		);
		expect(passkey).toMatchObject({ backed_up: false, device_type: "multi_device" });
		const login = await postSignIn(await signInAssertion(authenticator, { flags: { be: true, bs: true } }));
		expect(login.status).toBe(200);
		expect((await storedSignCount(user.token))[0]).toMatchObject({ backed_up: true });
	});
});

describe("origin, RP and context at passwordless sign-in", () => {
	it("refuses an origin that is not configured", async () => {
		const { authenticator } = await userWithDiscoverablePasskey();
		const credential = await signInAssertion(authenticator, { origin: "https://evil.example" });
		expectRefused(await postSignIn(credential), 400, "verification_failed");
	});

	it("refuses an assertion for another RP ID", async () => {
		const { authenticator } = await userWithDiscoverablePasskey();
		const credential = await signInAssertion(authenticator, { rpId: "evil.example" });
		expectRefused(await postSignIn(credential), 400, "verification_failed");
	});

	it("refuses crossOrigin: true", async () => {
		const { authenticator } = await userWithDiscoverablePasskey();
		const credential = await signInAssertion(authenticator, { crossOrigin: true });
		expectRefused(await postSignIn(credential), 400, "verification_failed");
	});

	it("refuses clientData of a registration (type webauthn.create)", async () => {
		const { authenticator } = await userWithDiscoverablePasskey();
		const credential = await signInAssertion(authenticator, { type: "webauthn.create" });
		expectRefused(await postSignIn(credential), 400, "verification_failed");
	});
});
