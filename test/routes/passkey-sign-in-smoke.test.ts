import type { PublicKeyCredentialRequestOptionsJSON } from "@simplewebauthn/server";
import { expect, it } from "vitest";
import { call, signUp } from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import { registerPasskey } from "../helpers/flows";

it("signs in without a password using a discoverable passkey", async () => {
	const user = await signUp();
	const authenticator = new SoftAuthenticator();
	const registered = await registerPasskey(user, authenticator, { passwordless: true });
	expect(registered.response.status).toBe(201);
	const options = await call<{ request_options: PublicKeyCredentialRequestOptionsJSON }>(
		"GET",
		"/api/auth/passkey/options",
	);
	expect(options.body.request_options.allowCredentials).toEqual([]);
	const credential = await authenticator.getAssertion(options.body.request_options);
	const login = await call<{ session: { level: string; user: { id: string } } }>("POST", "/api/auth/passkey/login", {
		app: true,
		body: { credential },
	});
	expect(login.status).toBe(200);
	expect(login.body.session.level).toBe("full");
	expect(login.body.session.user.id).toBe(user.id);
	const replay = await call("POST", "/api/auth/passkey/login", { app: true, body: { credential } });
	expect(replay.status).toBe(400);
});

it("serves no well-known documents when nothing is configured", async () => {
	expect((await call("GET", "/.well-known/assetlinks.json")).status).toBe(404);
	expect((await call("GET", "/.well-known/apple-app-site-association")).status).toBe(404);
	expect((await call("GET", "/.well-known/webauthn")).status).toBe(404);
});
