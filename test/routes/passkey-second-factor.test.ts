import { describe, expect, it } from "vitest";
import { call, signUp } from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import { partialLogin, registerPasskey, verifyPasskey } from "../helpers/flows";

describe("passkey as a second factor", () => {
	it("registers a passkey, then requires it after the password", async () => {
		const user = await signUp();
		const { response, authenticator } = await registerPasskey(user, new SoftAuthenticator(), { name: "My key" });
		expect(response.status).toBe(201);
		expect(response.body.passkey.name).toBe("My key");
		expect(response.body.recovery_codes).toHaveLength(10);

		const partial = await partialLogin(user);
		const verified = await verifyPasskey(partial, authenticator);
		expect(verified.status).toBe(200);
		expect(verified.body.session.level).toBe("full");
		expect(verified.body.session_token).toBeTruthy();
		expect((await call("GET", "/api/auth/session", { token: partial })).status).toBe(401);
		expect((await call("GET", "/api/webauthn", { token: verified.body.session_token })).status).toBe(200);
	});
});
