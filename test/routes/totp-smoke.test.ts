import { expect, it } from "vitest";
import { clock } from "../../src/lib/clock";
import { timeStep, totpCodeAt } from "../../src/lib/totp";
import { call, logIn, signUp } from "../helpers/api";

it("sets up an authenticator app and signs in with it", async () => {
	const user = await signUp();
	const setup = await call<{ secret: string; otpauth_uri: string; qr_svg: string }>("POST", "/api/totp/setup", {
		token: user.token,
	});
	expect(setup.status).toBe(200);
	expect(setup.body.otpauth_uri).toMatch(/^otpauth:\/\/totp\//);
	expect(setup.body.qr_svg).toMatch(/^<svg/);
	const code = await totpCodeAt(setup.body.secret, timeStep(clock.now()));
	const activated = await call<{ recovery_codes: string[] }>("POST", "/api/totp/activate", {
		token: user.token,
		body: { code },
	});
	expect(activated.status).toBe(201);
	expect(activated.body.recovery_codes).toHaveLength(10);
	const login = await logIn(user.email);
	expect(login.body.session.level).toBe("partial");
	const reused = await call("POST", "/api/totp/verify", { token: login.body.session_token, body: { code } });
	expect(reused.status).toBe(400);
	const recovery = await call<{ unused: number }>("POST", "/api/recovery-codes/verify", {
		token: login.body.session_token,
		app: true,
		body: { code: activated.body.recovery_codes[0]?.toUpperCase() },
	});
	expect(recovery.status).toBe(200);
	expect(recovery.body.unused).toBe(9);
});
