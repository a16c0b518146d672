import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { captureMetrics, stopCapturingMetrics } from "../../src/lib/metrics";
import { userSql } from "../helpers/account";
import { call, ORIGIN } from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import { partialLogin, verifyPasskey } from "../helpers/flows";
import {
	cookieFrom,
	expectRefused,
	fullSessions,
	type PasskeyJSON,
	postSignIn,
	signInAssertion,
	signInOptions,
	userWithDiscoverablePasskey,
} from "../helpers/passwordless";

afterEach(() => {
	stopCapturingMetrics();
});

describe("GET /api/auth/passkey/options/", () => {
	it("asks for a discoverable credential with user verification, without a session", async () => {
		const response = await call<{ success: boolean; request_options: Record<string, unknown> }>(
			"GET",
			"/api/auth/passkey/options/",
		);
		expect(response.status).toBe(200);
		expect(response.headers.get("cache-control")).toBe("no-store");
		expect(response.body.success).toBe(true);
		expect(response.body.request_options).toMatchObject({
			rpId: "localhost",
			allowCredentials: [],
			userVerification: "required",
			timeout: 300_000,
		});
		// 38 bytes: a 16-byte nonce, the expiry and a 16-byte MAC (services/sign-in-challenge.ts).
		expect(response.body.request_options.challenge).toMatch(/^[A-Za-z0-9_-]{51}$/);
	});

	it("answers the path without its trailing slash too", async () => {
		const response = await call("GET", "/api/auth/passkey/options");
		expect(response.status).toBe(200);
	});

	it("issues a new, signed challenge each time and stores nothing for it", async () => {
		const before = await env.DB.prepare("SELECT COUNT(*) AS n FROM sign_in_challenges").first<{ n: number }>();
		const first = await signInOptions();
		const second = await signInOptions();
		expect(first.challenge).not.toBe(second.challenge);
		const after = await env.DB.prepare("SELECT COUNT(*) AS n FROM sign_in_challenges").first<{ n: number }>();
		expect(after?.n).toBe(before?.n);
	});
});

describe("passwordless registration", () => {
	it("asks for a resident key with user verification required and stores the passkey as passwordless", async () => {
		const { user, passkey } = await userWithDiscoverablePasskey();
		const options = await call<{ creation_options: { authenticatorSelection: unknown } }>(
			"GET",
			"/api/webauthn/register/options/?passwordless=true",
			{ token: user.token },
		);
		expect(options.body.creation_options.authenticatorSelection).toMatchObject({
			residentKey: "required",
			requireResidentKey: true,
			userVerification: "required",
		});
		expect(passkey.passwordless).toBe(true);
	});

	it("keeps the second-factor default (passwordless=false) a non-discoverable request", async () => {
		const { user, passkey } = await userWithDiscoverablePasskey(new SoftAuthenticator(), { passwordless: false });
		const options = await call<{ creation_options: { authenticatorSelection: unknown } }>(
			"GET",
			"/api/webauthn/register/options/",
			{ token: user.token },
		);
		expect(options.body.creation_options.authenticatorSelection).toMatchObject({
			residentKey: "discouraged",
			userVerification: "preferred",
		});
		expect(passkey.passwordless).toBe(false);
	});
});

describe("POST /api/auth/passkey/login/ for an app client", () => {
	it("signs in end to end with the discoverable credential and its user handle: a full session and a bearer token", async () => {
		const { user, authenticator, userHandle } = await userWithDiscoverablePasskey();
		const credential = await signInAssertion(authenticator);
		expect(credential.response.userHandle).toBe(userHandle);
		const before = await fullSessions(user.id);

		const login = await postSignIn(credential);

		expect(login.status).toBe(200);
		expect(login.body).toMatchObject({
			success: true,
			session: { level: "full", user: { id: user.id, email: user.email }, methods: ["webauthn", "recovery_codes"] },
		});
		expect(login.body.session_token).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
		expect(login.headers.getSetCookie()).toEqual([]);
		expect(await fullSessions(user.id)).toBe(before + 1);

		const token = login.body.session_token as string;
		const session = await call<{ session: { level: string; user: { id: string } } }>("GET", "/api/auth/session/", {
			token,
		});
		expect(session.status).toBe(200);
		expect(session.body.session).toMatchObject({ level: "full", user: { id: user.id } });
		const listed = await call<{ passkeys: PasskeyJSON[] }>("GET", "/api/webauthn/", { token });
		expect(listed.body.passkeys).toHaveLength(1);
		expect(listed.body.passkeys[0]?.last_used_at).not.toBeNull();
	});

	it("counts as a recent authentication: the new session may register another passkey at once", async () => {
		const { authenticator } = await userWithDiscoverablePasskey();
		const login = await postSignIn(await signInAssertion(authenticator));
		const options = await call("GET", "/api/webauthn/register/options/", { token: login.body.session_token });
		expect(options.status).toBe(200);
	});

	it("also signs in with a second-factor passkey whose assertion carries a userHandle and user verification", async () => {
		const { user, authenticator } = await userWithDiscoverablePasskey(new SoftAuthenticator(), {
			passwordless: false,
		});
		const login = await postSignIn(await signInAssertion(authenticator, { flags: { uv: true } }));
		expect(login.status).toBe(200);
		expect(login.body.session).toMatchObject({ level: "full", user: { id: user.id } });
	});

	it("leaves the password path unchanged: a passwordless passkey is a second factor after a password", async () => {
		const { user, authenticator } = await userWithDiscoverablePasskey();
		const partial = await partialLogin(user);
		const verified = await verifyPasskey(partial, authenticator);
		expect(verified.status).toBe(200);
		expect(verified.body.session.level).toBe("full");
	});

	it("refuses a body without a credential as invalid_request", async () => {
		const response = await call("POST", "/api/auth/passkey/login/", { app: true, body: {} });
		expect(response.status).toBe(400);
		expect(response.body).toMatchObject({
			success: false,
			code: "invalid_request",
			fields: { credential: expect.any(String) },
		});
	});

	it("refuses a body that is not JSON with 415", async () => {
		const response = await call("POST", "/api/auth/passkey/login/", {
			app: true,
			rawBody: "credential=1",
			headers: { "content-type": "application/x-www-form-urlencoded" },
		});
		expectRefused(response, 415, "unsupported_media_type");
	});

	it("does not consume the challenge on a malformed request", async () => {
		const { user, authenticator } = await userWithDiscoverablePasskey();
		const credential = await signInAssertion(authenticator);
		const malformed = await postSignIn({ ...credential, rawId: "AAAA" });
		expect(malformed.body).toMatchObject({ code: "invalid_request" });
		const login = await postSignIn(credential);
		expect(login.status).toBe(200);
		expect(login.body.session.user.id).toBe(user.id);
	});
});

describe("POST /api/auth/passkey/login/ for a browser", () => {
	it("sets an HttpOnly, Secure, SameSite=Lax session cookie and returns no token", async () => {
		const { user, authenticator } = await userWithDiscoverablePasskey();
		const login = await postSignIn(await signInAssertion(authenticator), { origin: ORIGIN });
		expect(login.status).toBe(200);
		expect(login.body).not.toHaveProperty("session_token");
		const line = login.headers.getSetCookie().find((header) => header.startsWith("__Host-pe_session="));
		expect(line).toMatch(/; HttpOnly/i);
		expect(line).toMatch(/; Secure/i);
		expect(line).toMatch(/; SameSite=Lax/i);
		const cookie = cookieFrom(login.headers);
		expect(cookie).not.toBeNull();
		const session = await call("GET", "/api/auth/session/", { cookie: cookie as string });
		expect(session.body).toMatchObject({ session: { level: "full", user: { id: user.id } } });
	});

	it("refuses a foreign Origin with 403 csrf_failed before the ceremony, creating no session", async () => {
		const { user, authenticator } = await userWithDiscoverablePasskey();
		const credential = await signInAssertion(authenticator);
		const before = await fullSessions(user.id);

		const foreign = await postSignIn(credential, { origin: "https://evil.example" });
		expectRefused(foreign, 403, "csrf_failed");
		expect(foreign.headers.getSetCookie()).toEqual([]);
		expect(await fullSessions(user.id)).toBe(before);

		// The refused request never reached the ceremony, so the challenge is still unused.
		const login = await postSignIn(credential, { origin: ORIGIN });
		expect(login.status).toBe(200);
	});
});

describe("sign-in metrics", () => {
	it("writes webauthn.login.success with the method and client, and nothing identifying", async () => {
		const { user, authenticator } = await userWithDiscoverablePasskey();
		const credential = await signInAssertion(authenticator);
		const points = captureMetrics();
		await postSignIn(credential);
		const logins = points.filter((point) => point.indexes[0]?.startsWith("webauthn.login"));
		expect(logins).toHaveLength(1);
		expect(logins[0]).toMatchObject({
			indexes: ["webauthn.login.success"],
			blobs: ["webauthn.login.success", "success", "", "webauthn", "app"],
		});
		expect(logins[0]?.doubles[0]).toBe(1);
		expect(logins[0]?.doubles[1]).toBeGreaterThanOrEqual(0);
		expect(JSON.stringify(points)).not.toContain(user.email);
	});

	it("writes webauthn.login.failed with the reason for a refused assertion", async () => {
		const { authenticator } = await userWithDiscoverablePasskey();
		const credential = await signInAssertion(authenticator, { flags: { uv: false } });
		const points = captureMetrics();
		const refused = await postSignIn(credential, { origin: ORIGIN });
		expectRefused(refused, 400, "verification_failed");
		expect(points).toEqual([
			{
				indexes: ["webauthn.login.failed"],
				blobs: ["webauthn.login.failed", "failure", "user_verification", "webauthn", "browser"],
				doubles: [1, expect.any(Number)],
			},
		]);
	});

	it("writes webauthn.login.failed for a replayed challenge, and nothing for a malformed request", async () => {
		const { authenticator } = await userWithDiscoverablePasskey();
		const credential = await signInAssertion(authenticator);
		expect((await postSignIn(credential)).status).toBe(200);
		const points = captureMetrics();
		await postSignIn({ ...credential, id: "AAAA" });
		expect(points).toEqual([]);
		await postSignIn(credential);
		expect(points.map((point) => point.blobs.slice(0, 3))).toEqual([
			["webauthn.login.failed", "failure", "challenge_unknown"],
		]);
	});
});

describe("used sign-in challenges", () => {
	it("are recorded when presented and kept until they expire, so a replay finds them", async () => {
		const { user, authenticator } = await userWithDiscoverablePasskey();
		const options = await signInOptions();
		const credential = await authenticator.getAssertion(options);
		expect((await postSignIn(credential)).status).toBe(200);
		// In the object of the user whose passkey signed it.
		const row = await userSql(
			user.id,
			"SELECT expires_at FROM used_challenges WHERE challenge = ?",
			options.challenge,
		).first<{ expires_at: number }>();
		expect(row?.expires_at).toBeGreaterThan(Date.now() + 4 * 60_000);
		expect(row?.expires_at).toBeLessThanOrEqual(Date.now() + 5 * 60_000);
	});

	it("are swept a minute after they expire, by the user's sign-ins that come after", async () => {
		const { user, authenticator } = await userWithDiscoverablePasskey();
		const insert = (challenge: string, expiresAt: number) =>
			userSql(user.id, "INSERT INTO used_challenges (challenge, expires_at) VALUES (?, ?)", challenge, expiresAt).run();
		// Just expired: kept a minute longer, for a Worker whose clock runs behind.
		await insert("just-expired-record", Date.now() - 30_000);
		await insert("long-expired-record", Date.now() - 2 * 60_000);
		expect((await postSignIn(await signInAssertion(authenticator))).status).toBe(200);
		const left = await userSql(
			user.id,
			"SELECT challenge FROM used_challenges WHERE challenge IN ('just-expired-record', 'long-expired-record')",
		).all<{ challenge: string }>();
		expect(left.results).toEqual([{ challenge: "just-expired-record" }]);
	});
});
