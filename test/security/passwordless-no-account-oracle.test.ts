import type { AuthenticationResponseJSON } from "@simplewebauthn/server";
import { isoBase64URL } from "@simplewebauthn/server/helpers";
import { describe, expect, it } from "vitest";
import { call } from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import { registerPasskey } from "../helpers/flows";
import { postSignIn, signInAssertion, userWithDiscoverablePasskey } from "../helpers/passwordless";

// Passwordless sign-in takes no email, but a credential id is still a
// question "does this exist?". An unknown credential, a bad signature and a
// wrong userHandle must be indistinguishable, so the route reveals no
// accounts and no passkeys.

async function refusal(credential: AuthenticationResponseJSON) {
	const response = await postSignIn(credential);
	return { status: response.status, body: response.body, contentType: response.headers.get("content-type") };
}

describe("failures of a passwordless sign-in that must look alike", () => {
	it("answers an unknown credential (random id) exactly like a bad signature", async () => {
		const { authenticator } = await userWithDiscoverablePasskey();
		const badSignature = await refusal(await signInAssertion(authenticator, { badSignature: true }));
		const unknown = await refusal(
			await signInAssertion(authenticator, {
				responseId: isoBase64URL.fromBuffer(crypto.getRandomValues(new Uint8Array(32))),
			}),
		);
		expect(badSignature.status).toBe(400);
		expect(badSignature.body).toMatchObject({ code: "verification_failed" });
		expect(unknown).toEqual(badSignature);
	});

	it("answers a credential whose passkey was deleted exactly like a bad signature", async () => {
		const { user, authenticator } = await userWithDiscoverablePasskey();
		const other = new SoftAuthenticator();
		const second = await registerPasskey(user, other, { passwordless: true });
		expect(second.response.status).toBe(201);
		const deleted = await call("DELETE", `/api/webauthn/${second.response.body.passkey.id}/`, { token: user.token });
		expect(deleted.status).toBe(200);

		const gone = await refusal(await signInAssertion(other));
		const badSignature = await refusal(await signInAssertion(authenticator, { badSignature: true }));
		expect(gone.status).toBe(400);
		expect(gone).toEqual(badSignature);
	});

	it("answers a wrong or missing userHandle exactly like a bad signature", async () => {
		const { authenticator } = await userWithDiscoverablePasskey();
		const badSignature = await refusal(await signInAssertion(authenticator, { badSignature: true }));
		const missing = await refusal(await signInAssertion(authenticator, { userHandle: null }));
		const wrong = await refusal(await signInAssertion(authenticator, { userHandle: "d3Jvbmc" }));
		expect(missing).toEqual(badSignature);
		expect(wrong).toEqual(badSignature);
	});
});
