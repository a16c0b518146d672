import { describe, expect, it } from "vitest";
import { signUp } from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import { registerPasskey } from "../helpers/flows";
import {
	expectRefused,
	fullSessions,
	postSignIn,
	signInAssertion,
	userWithDiscoverablePasskey,
} from "../helpers/passwordless";

// "Future logins require just a biometric confirmation": a passkey that signs
// in on its own must prove the user (UV), not only their presence (UP), or a
// stolen unlocked security key would be an account.

describe("user verification at passwordless registration", () => {
	it("refuses a passwordless registration whose response lacks user verification", async () => {
		const user = await signUp();
		const { response } = await registerPasskey(user, new SoftAuthenticator(), {
			passwordless: true,
			overrides: { flags: { uv: false } },
		});
		expectRefused(response, 400, "verification_failed");
	});

	it("stores nothing for the refused registration: the user still has no authenticator", async () => {
		const user = await signUp();
		const authenticator = new SoftAuthenticator();
		await registerPasskey(user, authenticator, { passwordless: true, overrides: { flags: { uv: false } } });
		const retried = await registerPasskey(user, authenticator, { passwordless: true });
		expect(retried.response.status).toBe(201);
		// The first authenticator brings the recovery codes: the refused one did not count.
		expect(retried.response.body.recovery_codes).toHaveLength(10);
	});

	it("accepts the same response without UV for a second-factor registration (the rule is passwordless only)", async () => {
		const user = await signUp();
		const { response } = await registerPasskey(user, new SoftAuthenticator(), {
			passwordless: false,
			overrides: { flags: { uv: false } },
		});
		expect(response.status).toBe(201);
	});
});

describe("user verification at passwordless sign-in", () => {
	it("refuses an assertion without user verification", async () => {
		const { user, authenticator } = await userWithDiscoverablePasskey();
		const before = await fullSessions(user.id);
		const response = await postSignIn(await signInAssertion(authenticator, { flags: { uv: false } }));
		expectRefused(response, 400, "verification_failed");
		expect(await fullSessions(user.id)).toBe(before);
	});

	it("refuses an assertion without UV from a second-factor passkey too", async () => {
		const { authenticator } = await userWithDiscoverablePasskey(new SoftAuthenticator(), { passwordless: false });
		const response = await postSignIn(await signInAssertion(authenticator, { flags: { uv: false } }));
		expectRefused(response, 400, "verification_failed");
	});

	it("refuses an assertion without user presence", async () => {
		const { authenticator } = await userWithDiscoverablePasskey();
		const response = await postSignIn(await signInAssertion(authenticator, { flags: { up: false } }));
		expectRefused(response, 400, "verification_failed");
	});
});
