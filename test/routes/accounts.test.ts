import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { clock } from "../../src/lib/clock";
import { timeStep, totpCodeAt } from "../../src/lib/totp";
import { userSql } from "../helpers/account";
import {
	call,
	logIn,
	ORIGIN,
	PASSWORD,
	sessionCookie,
	sessionSetCookie,
	signUp,
	type TestUser,
	uniqueEmail,
} from "../helpers/api";
import { expectError } from "../helpers/expect-error";
import { registerPasskey } from "../helpers/flows";

interface SessionBody {
	level: string;
	user: { id: string; email: string };
	methods: string[];
	authenticated_at: string;
	expires_at: string;
}

interface SignupBody {
	success: true;
	user: { id: string; email: string };
	session: SessionBody;
	session_token?: string;
}

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function signUpAs(email: string, password: string, options: { app?: boolean } = { app: true }) {
	return call<SignupBody>("POST", "/api/auth/signup", {
		...(options.app ? { app: true } : { origin: ORIGIN }),
		body: { email, password },
	});
}

describe("POST /api/auth/signup", () => {
	it("creates the account with a full session and gives an app its token in the body, without a cookie", async () => {
		const email = uniqueEmail();
		const response = await signUpAs(email, PASSWORD);

		expect(response.status).toBe(201);
		const body = response.body;
		expect(Object.keys(body).sort()).toEqual(["session", "session_token", "success", "user"]);
		expect(body.success).toBe(true);
		expect(body.user).toEqual({ id: expect.any(String), email });
		expect(body.session).toEqual({
			level: "full",
			user: body.user,
			methods: [],
			authenticated_at: expect.stringMatching(ISO_UTC),
			expires_at: expect.stringMatching(ISO_UTC),
		});
		expect(body.session_token).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
		expect(sessionSetCookie(response.headers)).toBeUndefined();

		const session = await call("GET", "/api/auth/session", { token: body.session_token });
		expect(session.status).toBe(200);
	});

	it("gives a browser an HttpOnly, Secure, SameSite=Lax cookie for / and no token in the body", async () => {
		const email = uniqueEmail();
		const response = await signUpAs(email, PASSWORD, { app: false });

		expect(response.status).toBe(201);
		expect(response.body).not.toHaveProperty("session_token");
		expect(response.body.session.level).toBe("full");
		const line = sessionSetCookie(response.headers);
		expect(line).toBeDefined();
		const attributes = (line ?? "")
			.split(";")
			.slice(1)
			.map((part) => part.trim().toLowerCase());
		expect(attributes).toEqual(expect.arrayContaining(["httponly", "secure", "samesite=lax", "path=/"]));
		const cookie = sessionCookie(response.headers);
		expect(cookie).toMatch(/^__Host-pe_session=[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);

		const session = await call<{ session: SessionBody }>("GET", "/api/auth/session", { cookie: cookie ?? "" });
		expect(session.status).toBe(200);
		expect(session.body.session.user.email).toBe(email);
	});

	it("trims the email and stores it lower-cased, so a login with other case and spaces finds the account", async () => {
		const local = uniqueEmail("Mixed").replace("@example.com", "");
		const response = await signUpAs(`  ${local.toUpperCase()}@Example.COM `, PASSWORD);
		expect(response.status).toBe(201);
		const stored = `${local.toLowerCase()}@example.com`;
		expect(response.body.user.email).toBe(stored);

		const lower = await logIn(stored);
		expect(lower.status).toBe(200);
		expect(lower.body.session.level).toBe("full");
		const shouted = await logIn(` ${stored.toUpperCase()}  `);
		expect(shouted.status).toBe(200);
	});

	it("refuses a second account for the same email with 409 email_taken, whatever its case", async () => {
		const email = uniqueEmail();
		expect((await signUpAs(email, PASSWORD)).status).toBe(201);

		expectError(await signUpAs(email, "another password"), 409, "email_taken");
		expectError(await signUpAs(email.toUpperCase(), "another password"), 409, "email_taken");
		expectError(await signUpAs(` ${email} `, "another password"), 409, "email_taken");

		// The first account keeps its password.
		expect((await logIn(email)).status).toBe(200);
		expectError(await logIn(email, "another password"), 400, "invalid_credentials");
	});

	it("creates one account when two sign-ups with one email race", async () => {
		const email = uniqueEmail();
		const responses = await Promise.all([
			signUpAs(email, PASSWORD),
			signUpAs(email.toUpperCase(), "the other password"),
			signUpAs(email, "a third password"),
		]);
		const statuses = responses.map((response) => response.status).sort();
		expect(statuses).toEqual([201, 409, 409]);
		for (const response of responses) if (response.status === 409) expectError(response, 409, "email_taken");
		const { results } = await env.DB.prepare("SELECT id FROM users WHERE email = ?").bind(email).all();
		expect(results).toHaveLength(1);
	});

	it("accepts passwords of 8 and of 256 characters", async () => {
		expect((await signUpAs(uniqueEmail(), "12345678")).status).toBe(201);
		const longEmail = uniqueEmail();
		const long = `${"p".repeat(255)}!`;
		expect((await signUpAs(longEmail, long)).status).toBe(201);
		expect((await logIn(longEmail, long)).status).toBe(200);
	});

	it("refuses a password of 7 characters with 400 invalid_request naming the field", async () => {
		const email = uniqueEmail();
		const response = await signUpAs(email, "1234567");
		expectError(response, 400, "invalid_request");
		expect(response.body).toMatchObject({ fields: { password: expect.any(String) } });
		expectError(await logIn(email, "1234567"), 400, "invalid_credentials");
	});

	it("refuses a password of 257 characters with 400 invalid_request naming the field", async () => {
		const response = await signUpAs(uniqueEmail(), "p".repeat(257));
		expectError(response, 400, "invalid_request");
		expect(response.body).toMatchObject({ fields: { password: expect.any(String) } });
	});

	it("refuses an email that is not an email address, naming the field", async () => {
		const response = await signUpAs("not-an-email", PASSWORD);
		expectError(response, 400, "invalid_request");
		expect(response.body).toMatchObject({ fields: { email: expect.any(String) } });
		expect(response.body).not.toHaveProperty("fields.password");
	});
});

describe("POST /api/auth/login", () => {
	it("answers a wrong password and an unknown email with the same 400 invalid_credentials body", async () => {
		const user = await signUp();
		const wrongPassword = await logIn(user.email, "not the password");
		const unknownEmail = await logIn(uniqueEmail("nobody"), PASSWORD);

		expectError(wrongPassword, 400, "invalid_credentials");
		expectError(unknownEmail, 400, "invalid_credentials");
		expect(unknownEmail.body).toEqual(wrongPassword.body);
		expect(sessionSetCookie(wrongPassword.headers)).toBeUndefined();
	});

	it("signs a user without two-factor authentication in fully, with a new token", async () => {
		const user = await signUp();
		const response = await logIn(user.email);

		expect(response.status).toBe(200);
		expect(Object.keys(response.body).sort()).toEqual(["session", "session_token", "success"]);
		expect(response.body.session).toMatchObject({ level: "full", user: { id: user.id, email: user.email } });
		expect(response.body.session_token).not.toBe(user.token);
		expect((await call("GET", "/api/webauthn", { token: response.body.session_token })).status).toBe(200);
		// Signing in again leaves the other session alone.
		expect((await call("GET", "/api/auth/session", { token: user.token })).status).toBe(200);
	});

	it("sets the session cookie for a browser login and puts no token in the body", async () => {
		const user = await signUp();
		const response = await call("POST", "/api/auth/login", {
			origin: ORIGIN,
			body: { email: user.email, password: PASSWORD },
		});
		expect(response.status).toBe(200);
		expect(response.body).not.toHaveProperty("session_token");
		const cookie = sessionCookie(response.headers);
		expect(cookie).not.toBeNull();
		expect((await call("GET", "/api/webauthn", { cookie: cookie ?? "" })).status).toBe(200);
	});

	it("gives a partial session to a user with a passkey", async () => {
		const user = await signUp();
		expect((await registerPasskey(user)).response.status).toBe(201);

		const response = await logIn(user.email);
		expect(response.status).toBe(200);
		expect(response.body.session).toMatchObject({
			level: "partial",
			user: { id: user.id, email: user.email },
			methods: ["webauthn", "recovery_codes"],
		});
		expect(response.body.session_token).toBeTruthy();
	});

	it("gives a partial session to a user whose only second factor is an authenticator app", async () => {
		const user = await signUp();
		const setup = await call<{ secret: string }>("POST", "/api/totp/setup", { token: user.token });
		expect(setup.status).toBe(200);
		// A pending secret is not a second factor yet.
		expect((await logIn(user.email)).body.session.level).toBe("full");

		const code = await totpCodeAt(setup.body.secret, timeStep(clock.now()));
		expect((await call("POST", "/api/totp/activate", { token: user.token, body: { code } })).status).toBe(201);
		const response = await logIn(user.email);
		expect(response.body.session).toMatchObject({ level: "partial", methods: ["totp", "recovery_codes"] });
	});

	it("derives partial or full from the user's live authenticators at each login", async () => {
		const user = await signUp();
		expect((await logIn(user.email)).body.session.level).toBe("full");

		await registerPasskey(user);
		expect((await logIn(user.email)).body.session.level).toBe("partial");

		// No flag is cached on the account: once the passkey rows are gone, the
		// password alone signs in fully again.
		await userSql(user.id, "DELETE FROM passkeys").run();
		expect((await logIn(user.email)).body.session.level).toBe("full");
	});

	it("stays partial after one of two passkeys is deleted", async () => {
		const user = await signUp();
		const first = await registerPasskey(user);
		await registerPasskey(user);
		const deleted = await call("DELETE", `/api/webauthn/${first.response.body.passkey.id}`, { token: user.token });
		expect(deleted.status).toBe(200);

		const response = await logIn(user.email);
		expect(response.body.session).toMatchObject({ level: "partial", methods: expect.arrayContaining(["webauthn"]) });
	});

	it("refuses a login body without a password as invalid_request, not as a failed login", async () => {
		const user = await signUp();
		const response = await call("POST", "/api/auth/login", { app: true, body: { email: user.email } });
		expectError(response, 400, "invalid_request");
		expect(response.body).toMatchObject({ fields: { password: expect.any(String) } });
	});
});

describe("partial sessions", () => {
	async function partialUser(): Promise<{ user: TestUser; partial: string; passkeyId: string }> {
		const user = await signUp();
		const { response } = await registerPasskey(user);
		const login = await logIn(user.email);
		expect(login.body.session.level).toBe("partial");
		return { user, partial: login.body.session_token, passkeyId: response.body.passkey.id };
	}

	it("can read the session and fetch second-factor options", async () => {
		const { partial } = await partialUser();
		const session = await call<{ session: SessionBody }>("GET", "/api/auth/session/", { token: partial });
		expect(session.status).toBe(200);
		expect(session.body.session.level).toBe("partial");
		expect((await call("GET", "/api/webauthn/authenticate/options/", { token: partial })).status).toBe(200);
	});

	it("is refused with 403 mfa_required on every route that needs a full session", async () => {
		const { partial, passkeyId } = await partialUser();
		const refused = [
			await call("GET", "/api/webauthn/", { token: partial }),
			await call("GET", "/api/webauthn/register/options/", { token: partial }),
			await call("POST", "/api/webauthn/register/complete/", { token: partial, body: {} }),
			await call("PATCH", `/api/webauthn/${passkeyId}/`, { token: partial, body: { name: "Renamed" } }),
			await call("DELETE", `/api/webauthn/${passkeyId}/`, { token: partial }),
			await call("POST", "/api/auth/reauthenticate/", { token: partial, body: { password: PASSWORD } }),
			await call("GET", "/api/totp/", { token: partial }),
			await call("POST", "/api/totp/setup/", { token: partial }),
			await call("POST", "/api/totp/activate/", { token: partial, body: { code: "123456" } }),
			await call("DELETE", "/api/totp/", { token: partial }),
			await call("GET", "/api/recovery-codes/", { token: partial }),
			await call("POST", "/api/recovery-codes/regenerate/", { token: partial }),
		];
		for (const response of refused) expectError(response, 403, "mfa_required");
	});

	it("can log out, which ends it", async () => {
		const { partial } = await partialUser();
		expect((await call("POST", "/api/auth/logout/", { token: partial })).status).toBe(200);
		expectError(await call("GET", "/api/auth/session/", { token: partial }), 401, "not_authenticated");
		expectError(await call("GET", "/api/webauthn/authenticate/options/", { token: partial }), 401, "not_authenticated");
	});
});
