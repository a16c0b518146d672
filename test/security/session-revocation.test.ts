import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MINUTE } from "../../src/lib/clock";
import { revokeAllSessions } from "../../src/services/sessions";
import { userSql } from "../helpers/account";
import { browserSignUp, type CallOptions, call, logIn, ORIGIN, PASSWORD, signUp, type TestUser } from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import { expectError } from "../helpers/expect-error";
import { partialLogin, registerPasskey, userWithPasskey } from "../helpers/flows";
import { freezeClock } from "../helpers/time";

// A user can end the sessions they did not start (OWASP ASVS V3.3): after
// someone else signed in with their password, adding a passkey, new recovery
// codes or removing a factor leaves that session working; "sign out
// everywhere else" and a password change end it.

afterEach(() => {
	vi.restoreAllMocks();
});

const NEW_PASSWORD = "a brand new passphrase";

async function isLive(auth: CallOptions): Promise<boolean> {
	return (await call("GET", "/api/auth/session/", auth)).status === 200;
}

async function sessionCount(userId: string): Promise<number> {
	const row = await userSql(userId, "SELECT COUNT(*) AS n FROM sessions").first<{ n: number }>();
	return row?.n ?? 0;
}

/** A user, and an attacker who signed in with the same password earlier. */
async function victimAndAttacker(): Promise<{ victim: TestUser; attacker: string }> {
	const victim = await signUp();
	const attacker = (await logIn(victim.email)).body.session_token;
	return { victim, attacker };
}

describe("POST /api/auth/sessions/revoke-others/", () => {
	it("ends an attacker's session that survived the victim's cleanup of their factors", async () => {
		const { victim, attacker } = await victimAndAttacker();
		const authenticator = new SoftAuthenticator();
		expect((await registerPasskey(victim, authenticator)).response.status).toBe(201);
		expect((await call("POST", "/api/recovery-codes/regenerate/", { token: victim.token })).status).toBe(200);
		// The cleanup alone does not end it (see the report: that is the user's explicit choice).
		expect(await isLive({ token: attacker })).toBe(true);

		const response = await call("POST", "/api/auth/sessions/revoke-others/", { token: victim.token });
		expect(response.status).toBe(200);
		expect(response.body).toEqual({ success: true, revoked: 1 });
		expect(await isLive({ token: attacker })).toBe(false);
		expect(await isLive({ token: victim.token })).toBe(true);
	});

	it("ends partial sessions too, and browsers' and apps' alike, and says how many", async () => {
		const { user } = await userWithPasskey();
		const partial = await partialLogin(user);
		const browserLogin = await call("POST", "/api/auth/login/", {
			origin: ORIGIN,
			body: { email: user.email, password: PASSWORD },
		});
		expect(browserLogin.status).toBe(200);
		const response = await call("POST", "/api/auth/sessions/revoke-others", { token: user.token });
		expect(response.body).toEqual({ success: true, revoked: 2 });
		expect(await isLive({ token: partial })).toBe(false);
		expect(await sessionCount(user.id)).toBe(1);
		// Nothing left to end.
		expect((await call("POST", "/api/auth/sessions/revoke-others/", { token: user.token })).body).toEqual({
			success: true,
			revoked: 0,
		});
	});

	it("works for a browser from the configured Origin, with an empty body", async () => {
		const user = await browserSignUp();
		const other = (await logIn(user.email)).body.session_token;
		const response = await call("POST", "/api/auth/sessions/revoke-others/", { cookie: user.cookie, origin: ORIGIN });
		expect(response.body).toEqual({ success: true, revoked: 1 });
		expect(await isLive({ token: other })).toBe(false);
		expect(await isLive({ cookie: user.cookie })).toBe(true);
	});

	it("needs a full, recent session and an allowed Origin, and refuses without ending anything", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const { user } = await userWithPasskey();
		const partial = await partialLogin(user);
		const browser = await browserSignUp();
		const browserOther = (await logIn(browser.email)).body.session_token;

		expectError(await call("POST", "/api/auth/sessions/revoke-others/", { token: partial }), 403, "mfa_required");
		expectError(
			await call("POST", "/api/auth/sessions/revoke-others/", {
				cookie: browser.cookie,
				origin: "https://evil.example",
			}),
			403,
			"csrf_failed",
		);
		expectError(await call("POST", "/api/auth/sessions/revoke-others/"), 401, "not_authenticated");
		setNow(start + 5 * MINUTE + 1);
		expectError(
			await call("POST", "/api/auth/sessions/revoke-others/", { token: user.token }),
			401,
			"reauthentication_required",
		);
		expect(await isLive({ token: partial })).toBe(true);
		expect(await isLive({ token: browserOther })).toBe(true);
		expect(await sessionCount(user.id)).toBe(2);
	});
});

describe("POST /api/auth/password/", () => {
	it("changes the password and ends every other session, partial ones too; this one stays", async () => {
		const { user } = await userWithPasskey();
		const partial = await partialLogin(user);
		const other = (
			await call("POST", "/api/auth/login/", { origin: ORIGIN, body: { email: user.email, password: PASSWORD } })
		).status;
		expect(other).toBe(200);

		const response = await call("POST", "/api/auth/password/", { token: user.token, body: { password: NEW_PASSWORD } });
		expect(response.status).toBe(200);
		expect(response.body).toEqual({ success: true, revoked: 2 });
		expect(await isLive({ token: partial })).toBe(false);
		expect(await isLive({ token: user.token })).toBe(true);
		expect(await sessionCount(user.id)).toBe(1);

		expectError(await logIn(user.email), 400, "invalid_credentials");
		expect((await logIn(user.email, NEW_PASSWORD)).status).toBe(200);
	});

	it("holds the new password to the sign-up rules, and changes nothing when it is refused", async () => {
		const { victim, attacker } = await victimAndAttacker();
		for (const password of ["short", "x".repeat(257), 12345678, ""]) {
			const response = await call("POST", "/api/auth/password/", { token: victim.token, body: { password } });
			expectError(response, 400, "invalid_request");
		}
		expectError(await call("POST", "/api/auth/password/", { token: victim.token, body: {} }), 400, "invalid_request");
		expect(await isLive({ token: attacker })).toBe(true);
		expect((await logIn(victim.email)).status).toBe(200);
		// 8 and 256 code points (an emoji is one) are accepted.
		expect(
			(await call("POST", "/api/auth/password/", { token: victim.token, body: { password: "😀".repeat(8) } })).status,
		).toBe(200);
		expect((await logIn(victim.email, "😀".repeat(8))).status).toBe(200);
	});

	it("needs a full, recent session", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const { user } = await userWithPasskey();
		const partial = await partialLogin(user);
		const body = { password: NEW_PASSWORD };
		expectError(await call("POST", "/api/auth/password/", { token: partial, body }), 403, "mfa_required");
		setNow(start + 5 * MINUTE + 1);
		expectError(
			await call("POST", "/api/auth/password/", { token: user.token, body }),
			401,
			"reauthentication_required",
		);
		expect(await isLive({ token: partial })).toBe(true);
		expect((await logIn(user.email)).status).toBe(200);
	});

	it("leaves no session of the old password behind, even from sign-ins in flight as it changes", async () => {
		// A sign-in checks the password (a slow hash), then writes its session.
		// One that checked the old password just before the change must not
		// write its session just after the change revoked the others.
		for (let round = 0; round < 4; round++) {
			const user = await signUp();
			const logins = Array.from({ length: 6 }, () => logIn(user.email));
			const change = call("POST", "/api/auth/password/", { token: user.token, body: { password: NEW_PASSWORD } });
			const [changed, ...answers] = await Promise.all([change, ...logins]);
			expect(changed.status).toBe(200);
			for (const answer of answers) {
				if (answer.status === 200)
					expect(await isLive({ token: answer.body.session_token }), `round ${round}`).toBe(false);
				else expectError(answer, 400, "invalid_credentials");
			}
			expect(await sessionCount(user.id), `round ${round}`).toBe(1);
		}
	});
});

describe("revokeAllSessions (for a reset of the second factors)", () => {
	it("ends every session of the user and no one else's", async () => {
		const { victim, attacker } = await victimAndAttacker();
		const bystander = await signUp();
		expect(await revokeAllSessions(env.USER_STATE, victim.id)).toBe(2);
		expect(await isLive({ token: victim.token })).toBe(false);
		expect(await isLive({ token: attacker })).toBe(false);
		expect(await isLive({ token: bystander.token })).toBe(true);
	});
});
