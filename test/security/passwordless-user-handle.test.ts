import { describe, expect, it } from "vitest";
import { SoftAuthenticator } from "../helpers/authenticator";
import {
	expectRefused,
	fullSessions,
	postSignIn,
	signInAssertion,
	userWithDiscoverablePasskey,
} from "../helpers/passwordless";

// The user is found from the credential id; the userHandle that the
// authenticator signed alongside must name that same user. A credential
// that answers for someone else, or for no one, signs no one in.

describe("the userHandle of a passwordless sign-in", () => {
	it("refuses an assertion without a userHandle", async () => {
		const { user, authenticator } = await userWithDiscoverablePasskey();
		const before = await fullSessions(user.id);
		const credential = await signInAssertion(authenticator, { userHandle: null });
		expect(credential.response).not.toHaveProperty("userHandle");
		expectRefused(await postSignIn(credential), 400, "verification_failed");
		expect(await fullSessions(user.id)).toBe(before);
	});

	it("refuses an assertion whose userHandle is another user's", async () => {
		const victim = await userWithDiscoverablePasskey();
		const attacker = await userWithDiscoverablePasskey(new SoftAuthenticator());
		const victimBefore = await fullSessions(victim.user.id);
		const attackerBefore = await fullSessions(attacker.user.id);

		const credential = await signInAssertion(attacker.authenticator, { userHandle: victim.userHandle });
		expectRefused(await postSignIn(credential), 400, "verification_failed");

		expect(await fullSessions(victim.user.id)).toBe(victimBefore);
		expect(await fullSessions(attacker.user.id)).toBe(attackerBefore);
	});

	it("refuses a userHandle that belongs to no one", async () => {
		const { authenticator } = await userWithDiscoverablePasskey();
		const credential = await signInAssertion(authenticator, { userHandle: "bm8tc3VjaC11c2Vy" });
		expectRefused(await postSignIn(credential), 400, "verification_failed");
	});

	it("accepts the userHandle the server issued at registration (the control case)", async () => {
		const { user, authenticator, userHandle } = await userWithDiscoverablePasskey();
		const login = await postSignIn(await signInAssertion(authenticator, { userHandle }));
		expect(login.status).toBe(200);
		expect(login.body.session.user.id).toBe(user.id);
	});
});
