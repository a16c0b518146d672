import {
	createExecutionContext,
	createScheduledController,
	runDurableObjectAlarm,
	runInDurableObject,
	waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { PublicKeyCredentialRequestOptionsJSON } from "@simplewebauthn/server";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { clock, DAY, MINUTE, SECOND } from "../../src/lib/clock";
import { accountStub, userSql } from "../helpers/account";
import {
	browserSignUp,
	call,
	logIn,
	ORIGIN,
	PASSWORD,
	sessionCookie,
	sessionSetCookie,
	signUp,
	uniqueEmail,
} from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import { expectError } from "../helpers/expect-error";
import { partialLogin, registerPasskey, verifyPasskey } from "../helpers/flows";
import { postSignIn, signInAssertion, userWithDiscoverablePasskey } from "../helpers/passwordless";
import { freezeClock } from "../helpers/time";

interface SessionBody {
	session: { level: string; authenticated_at: string; expires_at: string };
}

afterEach(() => {
	vi.restoreAllMocks();
});

function getSession(auth: { token: string } | { cookie: string }) {
	return call<SessionBody>("GET", "/api/auth/session", auth);
}

describe("session expiry", () => {
	it("ends a partial session 10 minutes after it was created", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const user = await signUp();
		await registerPasskey(user);
		const partial = await partialLogin(user);

		const early = await getSession({ token: partial });
		expect(early.status).toBe(200);
		expect(Date.parse(early.body.session.expires_at)).toBe(start + 10 * MINUTE);

		setNow(start + 10 * MINUTE - SECOND);
		expect((await getSession({ token: partial })).status).toBe(200);

		setNow(start + 10 * MINUTE + 1);
		expectError(await getSession({ token: partial }), 401, "not_authenticated");
		expectError(await call("GET", "/api/webauthn/authenticate/options", { token: partial }), 401, "not_authenticated");
	});

	it("ends an unused full session after 30 days", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const user = await signUp();
		expect(Date.parse((await getSession({ token: user.token })).body.session.expires_at)).toBe(start + 30 * DAY);

		setNow(start + 30 * DAY - SECOND);
		const unused = await logIn(user.email);
		setNow(start + 30 * DAY + 1);
		expectError(await getSession({ token: user.token }), 401, "not_authenticated");
		// A session created later is still alive.
		expect((await getSession({ token: unused.body.session_token })).status).toBe(200);
	});

	it("slides a full session's expiry forward when it is used", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const user = await signUp();

		setNow(start + 29 * DAY);
		const used = await getSession({ token: user.token });
		expect(used.status).toBe(200);
		expect(Date.parse(used.body.session.expires_at)).toBe(start + 59 * DAY);

		setNow(start + 45 * DAY);
		expect((await call("GET", "/api/webauthn", { token: user.token })).status).toBe(200);

		setNow(start + 45 * DAY + 30 * DAY + 1);
		expectError(await getSession({ token: user.token }), 401, "not_authenticated");
	});

	it("does not slide a session on a request it refuses: a foreign Origin, a stale authentication", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const browser = await browserSignUp();
		const app = await signUp();

		setNow(start + 29 * DAY);
		const crossSite = await call("POST", "/api/auth/logout", {
			cookie: browser.cookie,
			origin: "https://evil.example",
		});
		expectError(crossSite, 403, "csrf_failed");
		expect(sessionSetCookie(crossSite.headers)).toBeUndefined();
		expectError(
			await call("GET", "/api/webauthn/register/options", { token: app.token }),
			401,
			"reauthentication_required",
		);

		setNow(start + 30 * DAY + 1);
		expectError(await getSession({ cookie: browser.cookie }), 401, "not_authenticated");
		expectError(await getSession({ token: app.token }), 401, "not_authenticated");
	});

	it("renews a browser's cookie when its session slides, so the browser does not drop a live session", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const user = await browserSignUp();

		setNow(start + 29 * DAY);
		const used = await getSession({ cookie: user.cookie });
		expect(used.status).toBe(200);
		const renewed = sessionSetCookie(used.headers);
		expect(renewed).toBeDefined();
		expect(sessionCookie(used.headers)).toBe(user.cookie);
		const expires = /;\s*expires=([^;]+)/i.exec(renewed ?? "")?.[1];
		const maxAge = /;\s*max-age=(\d+)/i.exec(renewed ?? "")?.[1];
		const cookieEnd = maxAge ? start + 29 * DAY + Number(maxAge) * SECOND : Date.parse(expires ?? "");
		// Cookie dates have one-second resolution.
		expect(cookieEnd).toBeGreaterThanOrEqual(start + 59 * DAY - SECOND);
	});
});

describe("POST /api/auth/logout", () => {
	it("clears the cookie, and does not renew it, when the logout is the request that slides the session", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const user = await browserSignUp();
		setNow(start + 29 * DAY);

		const response = await call("POST", "/api/auth/logout", { cookie: user.cookie, origin: ORIGIN });
		expect(response.status).toBe(200);
		const lines = response.headers.getSetCookie().filter((line) => line.startsWith("__Host-pe_session="));
		expect(lines).toHaveLength(1);
		expect(sessionCookie(response.headers)).toBeNull();
	});

	it("revokes an app's token on the server", async () => {
		const user = await signUp();
		const response = await call("POST", "/api/auth/logout/", { token: user.token });
		expect(response.status).toBe(200);
		expect(response.body).toEqual({ success: true });

		expectError(await getSession({ token: user.token }), 401, "not_authenticated");
		expectError(await call("POST", "/api/auth/logout/", { token: user.token }), 401, "not_authenticated");
	});

	it("clears a browser's cookie and revokes it, so a copy of the cookie no longer works", async () => {
		const user = await browserSignUp();
		const response = await call("POST", "/api/auth/logout", { cookie: user.cookie, origin: ORIGIN });
		expect(response.status).toBe(200);

		const cleared = sessionSetCookie(response.headers);
		expect(cleared).toBeDefined();
		expect(sessionCookie(response.headers)).toBeNull();
		expect(cleared).toMatch(/max-age=0|expires=Thu, 01 Jan 1970/i);
		expectError(await getSession({ cookie: user.cookie }), 401, "not_authenticated");
	});

	it("ends only the session it is called with", async () => {
		const user = await signUp();
		const other = await logIn(user.email);
		expect((await call("POST", "/api/auth/logout", { token: other.body.session_token })).status).toBe(200);
		expect((await getSession({ token: user.token })).status).toBe(200);
	});

	it("answers 401 without a session", async () => {
		expectError(await call("POST", "/api/auth/logout"), 401, "not_authenticated");
	});
});

describe("GET /api/auth/session", () => {
	it("answers 401 for a missing, unknown or malformed token", async () => {
		expectError(await call("GET", "/api/auth/session"), 401, "not_authenticated");
		expectError(await getSession({ token: "A".repeat(43) }), 401, "not_authenticated");
		expectError(await getSession({ cookie: "__Host-pe_session=unknown" }), 401, "not_authenticated");
		expectError(
			await call("GET", "/api/auth/session", { headers: { authorization: "Basic dXNlcjpwYXNz" } }),
			401,
			"not_authenticated",
		);
	});

	it("prefers a bad bearer token over a good cookie: the request is not authenticated", async () => {
		const user = await browserSignUp();
		const response = await call("GET", "/api/auth/session", { cookie: user.cookie, token: "A".repeat(43) });
		expectError(response, 401, "not_authenticated");
	});
});

describe("recent authentication", () => {
	const recentRoute = "/api/webauthn/register/options/";

	it("lets a fresh session use recent routes and refuses them once the last authentication is over 5 minutes old", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const user = await signUp();

		setNow(start + 5 * MINUTE - SECOND);
		expect((await call("GET", recentRoute, { token: user.token })).status).toBe(200);

		setNow(start + 5 * MINUTE + SECOND);
		expectError(await call("GET", recentRoute, { token: user.token }), 401, "reauthentication_required");
		// The session itself is still signed in.
		expect((await call("GET", "/api/webauthn/", { token: user.token })).status).toBe(200);
	});

	it("opens recent routes again after POST /api/auth/reauthenticate with the password", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const user = await signUp();
		setNow(start + HOUR);

		const response = await call<SessionBody>("POST", "/api/auth/reauthenticate/", {
			token: user.token,
			body: { password: PASSWORD },
		});
		expect(response.status).toBe(200);
		expect(response.body.session.level).toBe("full");
		expect(Date.parse(response.body.session.authenticated_at)).toBe(start + HOUR);
		expect(response.body).not.toHaveProperty("session_token");
		expect((await call("GET", recentRoute, { token: user.token })).status).toBe(200);

		setNow(start + HOUR + 6 * MINUTE);
		expectError(await call("GET", recentRoute, { token: user.token }), 401, "reauthentication_required");
	});

	it("refuses a wrong password with 400 invalid_credentials and keeps recent routes closed", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const user = await signUp();
		setNow(start + HOUR);

		const response = await call("POST", "/api/auth/reauthenticate", {
			token: user.token,
			body: { password: "not the password" },
		});
		expectError(response, 400, "invalid_credentials");
		expectError(await call("GET", recentRoute, { token: user.token }), 401, "reauthentication_required");
	});

	it("keeps a browser's cookie when reauthenticating", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const user = await browserSignUp();
		setNow(start + HOUR);

		const response = await call("POST", "/api/auth/reauthenticate", {
			cookie: user.cookie,
			origin: ORIGIN,
			body: { password: PASSWORD },
		});
		expect(response.status).toBe(200);
		expect(sessionCookie(response.headers)).toBeNull();
		expect((await call("GET", recentRoute, { cookie: user.cookie })).status).toBe(200);
	});
});

describe("token rotation from partial to full", () => {
	it("replaces a browser's partial cookie with a new one and the old cookie stops working", async () => {
		const user = await signUp(uniqueEmail());
		const authenticator = new SoftAuthenticator();
		await registerPasskey(user, authenticator);

		const login = await call("POST", "/api/auth/login", {
			origin: ORIGIN,
			body: { email: user.email, password: PASSWORD },
		});
		expect(login.status).toBe(200);
		const partialCookie = sessionCookie(login.headers);
		expect(partialCookie).not.toBeNull();
		const cookie = partialCookie ?? "";

		const options = await call<{ request_options: PublicKeyCredentialRequestOptionsJSON }>(
			"GET",
			"/api/webauthn/authenticate/options",
			{ cookie },
		);
		expect(options.status).toBe(200);
		const credential = await authenticator.getAssertion(options.body.request_options);
		const verified = await call<SessionBody>("POST", "/api/webauthn/verify", {
			cookie,
			origin: ORIGIN,
			body: { credential },
		});

		expect(verified.status).toBe(200);
		expect(verified.body.session.level).toBe("full");
		expect(verified.body).not.toHaveProperty("session_token");
		const fullCookie = sessionCookie(verified.headers);
		expect(fullCookie).not.toBeNull();
		expect(fullCookie).not.toBe(cookie);

		expectError(await getSession({ cookie }), 401, "not_authenticated");
		expect((await call("GET", "/api/webauthn", { cookie: fullCookie ?? "" })).status).toBe(200);
	});
});

const HOUR = 60 * MINUTE;

describe("expired sessions", () => {
	const userSessions = (userId: string) =>
		userSql(userId, "SELECT id, expires_at FROM sessions ORDER BY created_at")
			.all<{ id: string; expires_at: number }>()
			.then((result) => result.results);

	it("are deleted when the user's next session is written, and live ones are kept", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const user = await signUp();
		setNow(start + 10 * DAY);
		expect((await logIn(user.email)).status).toBe(200);
		expect(await userSessions(user.id)).toHaveLength(2);

		// The sign-up's session has expired (30 days); the login's has not.
		setNow(start + 31 * DAY);
		expect((await logIn(user.email)).status).toBe(200);
		const left = await userSessions(user.id);
		expect(left).toHaveLength(2);
		expect(left.every((row) => row.expires_at > start + 31 * DAY)).toBe(true);
	});

	it("are deleted by a passkey second factor and by a passwordless sign-in too", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const { user, authenticator } = await userWithDiscoverablePasskey();
		// The sign-up's session is still live when the password is checked...
		setNow(start + 30 * DAY - MINUTE);
		const partial = await partialLogin(user);
		expect(await userSessions(user.id)).toHaveLength(2);
		// ...and has expired when the second factor upgrades the partial one.
		setNow(start + 30 * DAY + SECOND);
		expect((await verifyPasskey(partial, authenticator)).status).toBe(200);
		const upgraded = await userSessions(user.id);
		expect(upgraded).toHaveLength(1);
		expect(upgraded[0]?.expires_at).toBe(start + 60 * DAY + SECOND);

		setNow(start + 62 * DAY);
		expect((await postSignIn(await signInAssertion(authenticator))).status).toBe(200);
		const left = await userSessions(user.id);
		expect(left).toHaveLength(1);
		expect(left[0]?.expires_at).toBeGreaterThan(start + 62 * DAY);
	});

	/** Runs the user's object's alarm as the runtime would when it is due; false when none was set. */
	function runCleanup(userId: string): Promise<boolean> {
		return runDurableObjectAlarm(accountStub(userId));
	}

	function plannedCleanup(userId: string): Promise<number | null> {
		return runInDurableObject(accountStub(userId), (_, state) => state.storage.getAlarm());
	}

	it("of users who never sign in again are deleted by their own object's alarm, and live ones are kept", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const dormant = await signUp();
		await logIn(dormant.email);
		setNow(start + 10 * DAY);
		const active = await signUp();
		expect(await userSessions(dormant.id)).toHaveLength(2);
		// The alarm is set for the first expiry: the sign-up's, thirty days on.
		expect(await plannedCleanup(dormant.id)).toBe(start + 30 * DAY);

		setNow(start + 31 * DAY);
		expect(await runCleanup(dormant.id)).toBe(true);
		expect(await runCleanup(active.id)).toBe(true);
		expect(await userSessions(dormant.id)).toHaveLength(0);
		expect(await userSessions(active.id)).toHaveLength(1);
		expect((await getSession({ token: active.token })).status).toBe(200);
	});

	it("leave the alarm set for the next expiry once the first ones are deleted", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const user = await signUp();
		setNow(start + 10 * DAY);
		await logIn(user.email);
		setNow(start + 31 * DAY);
		expect(await runCleanup(user.id)).toBe(true);
		expect(await userSessions(user.id)).toHaveLength(1);
		expect(await plannedCleanup(user.id)).toBe(start + 40 * DAY);
	});

	it("and used passwordless challenges are deleted too, once a minute past their expiry", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const { user, authenticator } = await userWithDiscoverablePasskey();
		// Only the sign-up's session and this sign-in's challenge: the challenge expires first.
		await userSql(user.id, "DELETE FROM sessions").run();
		expect((await postSignIn(await signInAssertion(authenticator))).status).toBe(200);
		// This test's challenge: issued at start, valid for five minutes.
		const used = () =>
			userSql(user.id, "SELECT COUNT(*) AS n FROM used_challenges")
				.first<{ n: number }>()
				.then((row) => row?.n ?? 0);
		expect(await used()).toBe(1);
		// Five minutes of validity and a minute of grace: still kept just before.
		setNow(start + 6 * MINUTE - SECOND);
		await runCleanup(user.id);
		expect(await used()).toBe(1);
		setNow(start + 6 * MINUTE + SECOND);
		await runCleanup(user.id);
		expect(await used()).toBe(0);
	});
});

describe("the scheduled sweep of the directory", () => {
	/** Runs the Worker's cron handler as the trigger would, and waits for its work. */
	async function runScheduledSweep(): Promise<void> {
		const ctx = createExecutionContext();
		worker.scheduled(createScheduledController({ scheduledTime: clock.now(), cron: "*/15 * * * *" }), env, ctx);
		await waitOnExecutionContext(ctx);
	}

	it("deletes expired sessions of the D1 design and used sign-up challenges, and keeps what is live", async () => {
		const now = Date.now();
		const user = await signUp();
		const legacy = (id: string, expiresAt: number) =>
			env.DB.prepare(
				"INSERT INTO sessions (id, user_id, level, created_at, authenticated_at, expires_at, public_id) VALUES (?, ?, 'full', ?, ?, ?, ?)",
			)
				.bind(id, user.id, now - DAY, now - DAY, expiresAt, crypto.randomUUID().replaceAll("-", ""))
				.run();
		await legacy(`expired-${user.id}`, now - MINUTE);
		await legacy(`live-${user.id}`, now + DAY);
		const challenge = `sweep-${user.id}`;
		await env.DB.prepare("INSERT INTO sign_in_challenges (challenge, expires_at) VALUES (?, ?)")
			.bind(challenge, now - 10 * MINUTE)
			.run();

		await runScheduledSweep();

		const left = await env.DB.prepare("SELECT id FROM sessions WHERE user_id = ?").bind(user.id).all<{ id: string }>();
		expect(left.results).toEqual([{ id: `live-${user.id}` }]);
		const used = await env.DB.prepare("SELECT COUNT(*) AS n FROM sign_in_challenges WHERE challenge = ?")
			.bind(challenge)
			.first<{ n: number }>();
		expect(used?.n).toBe(0);
	});
});
