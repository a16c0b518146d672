import { describe, expect, it } from "vitest";
import {
	type BrowserUser,
	browserSignUp,
	call,
	ORIGIN,
	PASSWORD,
	sessionCookie,
	signUp,
	uniqueEmail,
} from "../helpers/api";
import { expectError } from "../helpers/expect-error";
import { registerPasskey } from "../helpers/flows";

// A browser attaches the session cookie to requests that other sites start,
// so every unsafe request authenticated by the cookie must come from one of
// the configured origins. A bearer token is never sent by the browser on its
// own, so it needs no such check.

const FOREIGN_ORIGINS = [
	"https://evil.example",
	"http://localhost:8787.evil.example",
	"https://localhost:8787",
	"http://localhost:8788",
	"null",
];

async function sessionIsAlive(user: BrowserUser): Promise<boolean> {
	return (await call("GET", "/api/auth/session", { cookie: user.cookie })).status === 200;
}

describe("CSRF: unsafe requests authenticated by the cookie", () => {
	it("refuses a cookie POST without an Origin with 403 csrf_failed and does nothing", async () => {
		const user = await browserSignUp();
		expectError(await call("POST", "/api/auth/logout", { cookie: user.cookie, origin: null }), 403, "csrf_failed");
		expect(await sessionIsAlive(user)).toBe(true);
	});

	it("refuses a cookie POST from a foreign or look-alike Origin", async () => {
		const user = await browserSignUp();
		for (const origin of FOREIGN_ORIGINS) {
			const response = await call("POST", "/api/auth/logout", { cookie: user.cookie, origin });
			expectError(response, 403, "csrf_failed");
		}
		expect(await sessionIsAlive(user)).toBe(true);
	});

	it("lets a cookie POST from the configured Origin through", async () => {
		const user = await browserSignUp();
		const response = await call("POST", "/api/auth/logout", { cookie: user.cookie, origin: ORIGIN });
		expect(response.status).toBe(200);
		expect(await sessionIsAlive(user)).toBe(false);
	});

	it("refuses cookie PATCH and DELETE without an allowed Origin before looking at the target", async () => {
		const user = await browserSignUp();
		const patch = { cookie: user.cookie, body: { name: "Renamed" } };
		expectError(await call("PATCH", "/api/webauthn/no-such-id", { ...patch, origin: null }), 403, "csrf_failed");
		expectError(
			await call("DELETE", "/api/webauthn/no-such-id", { cookie: user.cookie, origin: "https://evil.example" }),
			403,
			"csrf_failed",
		);
		// From the right origin the same requests reach the route and its own rules.
		expectError(await call("PATCH", "/api/webauthn/no-such-id", { ...patch, origin: ORIGIN }), 404, "not_found");
		expectError(
			await call("DELETE", "/api/webauthn/no-such-id", { cookie: user.cookie, origin: ORIGIN }),
			404,
			"not_found",
		);
	});

	it("refuses a cookie POST with a JSON body and no Origin before validating the body", async () => {
		const user = await browserSignUp();
		const response = await call("POST", "/api/auth/reauthenticate", {
			cookie: user.cookie,
			origin: null,
			rawBody: "{not json",
			headers: { "content-type": "application/json" },
		});
		expectError(response, 403, "csrf_failed");
	});

	it("allows a GET with the cookie and no Origin", async () => {
		const user = await browserSignUp();
		expect((await call("GET", "/api/auth/session", { cookie: user.cookie, origin: null })).status).toBe(200);
		expect((await call("GET", "/api/webauthn/", { cookie: user.cookie, origin: null })).status).toBe(200);
	});

	it("allows a bearer-token POST without an Origin, or with any Origin", async () => {
		const first = await signUp();
		expect((await call("POST", "/api/auth/logout", { token: first.token, origin: null })).status).toBe(200);
		const second = await signUp();
		const withOrigin = await call("POST", "/api/auth/logout", { token: second.token, origin: "https://evil.example" });
		expect(withOrigin.status).toBe(200);
	});
});

describe("CSRF: routes that create a session", () => {
	it("refuses a browser signup from a foreign Origin and creates no account", async () => {
		const email = uniqueEmail();
		const response = await call("POST", "/api/auth/signup", {
			origin: "https://evil.example",
			body: { email, password: PASSWORD },
		});
		expectError(response, 403, "csrf_failed");
		expect(sessionCookie(response.headers)).toBeNull();
		// The email is still free.
		expect(
			(await call("POST", "/api/auth/signup", { origin: ORIGIN, body: { email, password: PASSWORD } })).status,
		).toBe(201);
	});

	it("refuses a browser login from a foreign Origin without setting a cookie (login CSRF)", async () => {
		const user = await signUp();
		const response = await call("POST", "/api/auth/login", {
			origin: "https://evil.example",
			body: { email: user.email, password: PASSWORD },
		});
		expectError(response, 403, "csrf_failed");
		expect(sessionCookie(response.headers)).toBeNull();
	});

	it("lets a browser sign up and log in from the configured Origin", async () => {
		const user = await signUp();
		const response = await call("POST", "/api/auth/login", {
			origin: ORIGIN,
			body: { email: user.email, password: PASSWORD },
		});
		expect(response.status).toBe(200);
		expect(sessionCookie(response.headers)).not.toBeNull();
	});
});

describe("CSRF in API.md's order of checks", () => {
	it("answers 415 before csrf_failed for a cookie POST without Origin whose body is not JSON", async () => {
		const user = await browserSignUp();
		const response = await call("POST", "/api/auth/reauthenticate", {
			cookie: user.cookie,
			origin: null,
			rawBody: `password=${PASSWORD}`,
			headers: { "content-type": "application/x-www-form-urlencoded" },
		});
		expectError(response, 415, "unsupported_media_type");
	});

	it("answers 401 before csrf_failed when the cookie is not a live session", async () => {
		const response = await call("POST", "/api/auth/logout", {
			cookie: "__Host-pe_session=not-a-session",
			origin: null,
		});
		expectError(response, 401, "not_authenticated");
	});

	it("answers csrf_failed before mfa_required for a partial session's cookie", async () => {
		const user = await browserSignUp();
		// A partial cookie: the user has a passkey and has only given the password.
		const registered = await registerPasskey({ ...user, token: "" }, undefined, { auth: { cookie: user.cookie } });
		expect(registered.response.status).toBe(201);
		const login = await call("POST", "/api/auth/login", {
			origin: ORIGIN,
			body: { email: user.email, password: PASSWORD },
		});
		expect(login.body).toMatchObject({ session: { level: "partial" } });
		const partial = sessionCookie(login.headers) ?? "";

		const noOrigin = await call("POST", "/api/auth/reauthenticate", {
			cookie: partial,
			origin: null,
			body: { password: PASSWORD },
		});
		expectError(noOrigin, 403, "csrf_failed");
		const allowed = await call("POST", "/api/auth/reauthenticate", { cookie: partial, body: { password: PASSWORD } });
		expectError(allowed, 403, "mfa_required");
	});
});
