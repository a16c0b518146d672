import { describe, expect, it } from "vitest";
import { call, logIn, ORIGIN, signUp } from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import {
	authenticationOptions,
	browserLogin,
	browserSignUp,
	partialLogin,
	registerPasskey,
	registrationOptions,
	sessionCookie,
	sessionCount,
	verifyPasskey,
} from "../helpers/flows";

describe("the passkey ceremony for an app client (bearer token)", () => {
	it("registers a passkey and then passes the second factor with a new session_token in the body", async () => {
		const user = await signUp();
		const { response, authenticator } = await registerPasskey(user);
		expect(response.status).toBe(201);
		expect(response.headers.getSetCookie()).toEqual([]);

		const partial = await partialLogin(user);
		expect((await call("GET", "/api/webauthn/", { token: partial })).body).toMatchObject({ code: "mfa_required" });

		const verified = await verifyPasskey(partial, authenticator);
		expect(verified.status).toBe(200);
		expect(verified.body).toMatchObject({ success: true, session: { level: "full", user: { id: user.id } } });
		expect(verified.body.session_token).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
		expect(verified.body.session_token).not.toBe(partial);
		expect(verified.headers.getSetCookie()).toEqual([]);

		expect((await call("GET", "/api/auth/session/", { token: partial })).status).toBe(401);
		const listed = await call("GET", "/api/webauthn/", { token: verified.body.session_token });
		expect(listed.status).toBe(200);
		expect(await sessionCount(user.id, "partial")).toBe(0);
	});

	it("refuses every passkey route without a session", async () => {
		const routes: Array<[string, string]> = [
			["GET", "/api/webauthn/register/options/"],
			["POST", "/api/webauthn/register/complete/"],
			["GET", "/api/webauthn/authenticate/options/"],
			["POST", "/api/webauthn/verify/"],
			["GET", "/api/webauthn/"],
			["PATCH", "/api/webauthn/abc/"],
			["DELETE", "/api/webauthn/abc/"],
		];
		for (const [method, path] of routes) {
			const body = method === "POST" || method === "PATCH" ? { name: "x" } : undefined;
			const response = await call(method, path, { token: "not-a-real-token", body });
			expect(response.status, `${method} ${path}`).toBe(401);
			expect(response.body).toMatchObject({ success: false, code: "not_authenticated" });
		}
	});

	it("does not let a partial session register or list passkeys", async () => {
		const user = await signUp();
		await registerPasskey(user);
		const partial = await partialLogin(user);
		for (const [method, path] of [
			["GET", "/api/webauthn/register/options/"],
			["GET", "/api/webauthn/"],
		] as const) {
			const response = await call(method, path, { token: partial });
			expect(response.status).toBe(403);
			expect(response.body).toMatchObject({ code: "mfa_required" });
		}
	});

	it("signs a user without a passkey straight into a full session", async () => {
		const user = await signUp();
		const login = await logIn(user.email);
		expect(login.body.session.level).toBe("full");
		const options = await call("GET", "/api/webauthn/authenticate/options/", { token: login.body.session_token });
		expect(options.status).toBe(400);
		expect(options.body).toMatchObject({ code: "invalid_request" });
	});
});

describe("the passkey ceremony for a browser (__Host-pe_session cookie)", () => {
	it("registers a passkey and then passes the second factor with a new cookie; the old cookie stops working", async () => {
		const user = await browserSignUp();
		const authenticator = new SoftAuthenticator();
		const { response } = await registerPasskey({ id: user.id, email: user.email, token: "" }, authenticator, {
			auth: { cookie: user.cookie },
		});
		expect(response.status).toBe(201);
		expect(response.body).not.toHaveProperty("session_token");

		const partial = await browserLogin(user.email);
		const options = await call<{ request_options: Parameters<SoftAuthenticator["getAssertion"]>[0] }>(
			"GET",
			"/api/webauthn/authenticate/options/",
			{ cookie: partial },
		);
		expect(options.status).toBe(200);
		const credential = await authenticator.getAssertion(options.body.request_options);
		const verified = await call("POST", "/api/webauthn/verify/", { cookie: partial, body: { credential } });
		expect(verified.status).toBe(200);
		expect(verified.body).toMatchObject({ success: true, session: { level: "full" } });
		expect(verified.body).not.toHaveProperty("session_token");

		const fresh = sessionCookie(verified.headers);
		expect(fresh).not.toBeNull();
		expect(fresh).not.toBe(partial);
		const setCookie = verified.headers.getSetCookie().join("\n");
		expect(setCookie).toMatch(/HttpOnly/i);
		expect(setCookie).toMatch(/Secure/i);
		expect(setCookie).toMatch(/SameSite=Lax/i);

		const old = await call("GET", "/api/auth/session/", { cookie: partial });
		expect(old.status).toBe(401);
		expect(old.body).toMatchObject({ code: "not_authenticated" });
		const now = await call("GET", "/api/auth/session/", { cookie: fresh ?? "" });
		expect(now.status).toBe(200);
		expect(now.body).toMatchObject({ session: { level: "full" } });
	});

	it("refuses a cookie registration without an allowed Origin and keeps its challenge", async () => {
		const user = await browserSignUp();
		const authenticator = new SoftAuthenticator();
		const options = await registrationOptions({ cookie: user.cookie });
		const credential = await authenticator.createCredential(options);

		for (const origin of [null, "https://evil.example"]) {
			const refused = await call("POST", "/api/webauthn/register/complete/", {
				cookie: user.cookie,
				origin,
				body: { credential },
			});
			expect(refused.status).toBe(403);
			expect(refused.body).toMatchObject({ success: false, code: "csrf_failed" });
		}
		const accepted = await call("POST", "/api/webauthn/register/complete/", {
			cookie: user.cookie,
			origin: ORIGIN,
			body: { credential },
		});
		expect(accepted.status).toBe(201);
	});

	it("refuses a cookie verify without an allowed Origin and leaves the session partial", async () => {
		const user = await browserSignUp();
		const authenticator = new SoftAuthenticator();
		await registerPasskey({ id: user.id, email: user.email, token: "" }, authenticator, {
			auth: { cookie: user.cookie },
		});
		const partial = await browserLogin(user.email);
		const options = await call<{ request_options: Parameters<SoftAuthenticator["getAssertion"]>[0] }>(
			"GET",
			"/api/webauthn/authenticate/options/",
			{ cookie: partial },
		);
		const credential = await authenticator.getAssertion(options.body.request_options);
		const refused = await call("POST", "/api/webauthn/verify/", {
			cookie: partial,
			origin: "https://evil.example",
			body: { credential },
		});
		expect(refused.status).toBe(403);
		expect(refused.body).toMatchObject({ code: "csrf_failed" });
		expect(sessionCookie(refused.headers)).toBeNull();
		expect((await call("GET", "/api/auth/session/", { cookie: partial })).body).toMatchObject({
			session: { level: "partial" },
		});
	});
});

describe("authenticate options", () => {
	it("lists exactly the user's passkeys in allowCredentials", async () => {
		const user = await signUp();
		const first = await registerPasskey(user);
		const second = await registerPasskey(user);
		await registerPasskey(await signUp());
		const partial = await partialLogin(user);
		const options = await authenticationOptions(partial);
		expect(options.allowCredentials?.map((c) => c.id).sort()).toEqual(
			[first.response.body.passkey.credential_id, second.response.body.passkey.credential_id].sort(),
		);
		expect(options.rpId).toBe("localhost");
		expect(options.challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
	});
});
