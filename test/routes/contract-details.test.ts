import type { PublicKeyCredentialCreationOptionsJSON } from "@simplewebauthn/server";
import { describe, expect, it } from "vitest";
import { userSql } from "../helpers/account";
import { call, signUp, uniqueEmail } from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import { expectError } from "../helpers/expect-error";

describe("passwords are measured in characters, not UTF-16 units", () => {
	it("accepts 8 emoji and refuses 7", async () => {
		const ok = await call("POST", "/api/auth/signup", {
			app: true,
			body: { email: uniqueEmail(), password: "🔑".repeat(8) },
		});
		expect(ok.status).toBe(201);
		const short = await call("POST", "/api/auth/signup", {
			app: true,
			body: { email: uniqueEmail(), password: "🔑".repeat(7) },
		});
		expectError(short, 400, "invalid_request");
	});

	it("accepts 256 emoji and refuses 257", async () => {
		const ok = await call("POST", "/api/auth/signup", {
			app: true,
			body: { email: uniqueEmail(), password: "🔑".repeat(256) },
		});
		expect(ok.status).toBe(201);
		const long = await call("POST", "/api/auth/signup", {
			app: true,
			body: { email: uniqueEmail(), password: "🔑".repeat(257) },
		});
		expectError(long, 400, "invalid_request");
	});
});

describe("routes without a body", () => {
	it("accept no body, and refuse a body that is not JSON with 415 before anything else", async () => {
		const user = await signUp();
		const text = await call("POST", "/api/auth/logout", {
			token: user.token,
			rawBody: "bye",
			headers: { "content-type": "text/plain" },
		});
		expectError(text, 415, "unsupported_media_type");
		expect((await call("GET", "/api/auth/session", { token: user.token })).status).toBe(200);
		const huge = await call("POST", "/api/totp/setup", { token: user.token, body: { pad: "x".repeat(70_000) } });
		expectError(huge, 413, "payload_too_large");
		expect((await call("POST", "/api/auth/logout", { token: user.token })).status).toBe(200);
	});
});

describe("passwordless registration", () => {
	it("refuses a credential the browser reports as not discoverable (credProps.rk false)", async () => {
		const user = await signUp();
		const options = await call<{ creation_options: PublicKeyCredentialCreationOptionsJSON }>(
			"GET",
			"/api/webauthn/register/options?passwordless=true",
			{ token: user.token },
		);
		const credential = await new SoftAuthenticator().createCredential(options.body.creation_options);
		credential.clientExtensionResults = { credProps: { rk: false } };
		const response = await call("POST", "/api/webauthn/register/complete", { token: user.token, body: { credential } });
		expectError(response, 400, "verification_failed");
		const rows = await userSql(user.id, "SELECT COUNT(*) AS n FROM passkeys").first();
		expect(rows?.n).toBe(0);
	});
});
