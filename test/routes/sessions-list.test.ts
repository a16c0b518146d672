import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { DAY, HOUR, MINUTE } from "../../src/lib/clock";
import { hashToken, tokenUser } from "../../src/services/sessions";
import { userSql } from "../helpers/account";
import {
	type ApiResponse,
	browserSignUp,
	buildRequest,
	type CallOptions,
	call,
	logIn,
	ORIGIN,
	PASSWORD,
	readResponse,
	sessionCookie,
	sessionSetCookie,
	signUp,
	uniqueEmail,
} from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import { expectError } from "../helpers/expect-error";
import { registerPasskey } from "../helpers/flows";
import { createServerUser, SERVER_KEY } from "../helpers/server-api";
import { freezeClock } from "../helpers/time";

// GET /api/auth/sessions/ and DELETE /api/auth/sessions/{id}/ (API.md,
// "Account security"): the user's live sessions without any token, and
// ending one of them by its public id.

interface Entry {
	id: string;
	current: boolean;
	client: string;
	device: string;
	country?: string;
	created_at: string;
	last_used_at: string;
	amr: string[];
}
type ListBody = { success: true; sessions: Entry[] };

const CHROME_MAC =
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const SAFARI_IPHONE =
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";

afterEach(() => {
	vi.restoreAllMocks();
});

/**
 * Calls the Worker with what Cloudflare's edge adds: `request.cf` (its
 * country). The Worker's own fetch handler, with the test's bindings.
 */
async function callFrom<T = Record<string, unknown>>(
	method: string,
	path: string,
	options: CallOptions & { cf?: { country?: string } },
): Promise<ApiResponse<T>> {
	const { cf, ...rest } = options;
	const request = new Request(buildRequest(method, path, rest), cf ? { cf } : {});
	const ctx = createExecutionContext();
	const response = await worker.fetch(request, env, ctx);
	await waitOnExecutionContext(ctx);
	return readResponse<T>(response);
}

function list(auth: CallOptions) {
	return call<ListBody>("GET", "/api/auth/sessions/", auth);
}

function revoke(id: string, auth: CallOptions) {
	return call("DELETE", `/api/auth/sessions/${id}/`, auth);
}

async function sessionRows(userId: string) {
	const { results } = await userSql(
		userId,
		"SELECT id, public_id, client, device, country, last_used_at, expires_at FROM sessions",
	).all<{
		id: string;
		public_id: string;
		client: string | null;
		device: string | null;
		country: string | null;
		last_used_at: number;
		expires_at: number;
	}>();
	return results;
}

async function storedRow(token: string) {
	const userId = (await tokenUser(token)) ?? "";
	return userSql(
		userId,
		"SELECT public_id, last_used_at, expires_at FROM sessions WHERE id = ?",
		await hashToken(token),
	).first<{ public_id: string; last_used_at: number; expires_at: number }>();
}

/** A browser sign-up from a given browser and country; returns the user and its cookie. */
async function browserSignUpFrom(userAgent: string, country?: string) {
	const email = uniqueEmail();
	const response = await callFrom<{ user: { id: string } }>("POST", "/api/auth/signup/", {
		origin: ORIGIN,
		headers: { "user-agent": userAgent },
		body: { email, password: PASSWORD },
		...(country ? { cf: { country } } : {}),
	});
	const cookie = sessionCookie(response.headers);
	if (response.status !== 201 || !cookie) throw new Error(`signup failed: ${response.status}`);
	return { id: response.body.user.id, email, cookie };
}

/** A password sign-in as an app from a given User-Agent and country; returns its token. */
async function appLogInFrom(email: string, userAgent: string, country?: string): Promise<string> {
	const response = await callFrom<{ session_token: string }>("POST", "/api/auth/login/", {
		app: true,
		headers: { "user-agent": userAgent },
		body: { email, password: PASSWORD },
		...(country ? { cf: { country } } : {}),
	});
	if (response.status !== 200) throw new Error(`login failed: ${response.status}`);
	return response.body.session_token;
}

describe("GET /api/auth/sessions/", () => {
	it("lists the user's sessions newest first, the current one marked, with no token, hash or address", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const user = await browserSignUpFrom(CHROME_MAC, "DE");
		setNow(start + MINUTE);
		const appToken = await appLogInFrom(user.email, SAFARI_IPHONE);
		setNow(start + 2 * MINUTE);

		const response = await list({ cookie: user.cookie });
		expect(response.status).toBe(200);
		expect(response.body.success).toBe(true);
		const [newest, oldest] = response.body.sessions;
		expect(response.body.sessions).toHaveLength(2);
		expect(newest).toEqual({
			id: expect.stringMatching(/^[0-9a-f]{32}$/),
			current: false,
			client: "app",
			device: "Safari on iOS",
			created_at: new Date(start + MINUTE).toISOString(),
			last_used_at: new Date(start + MINUTE).toISOString(),
			amr: ["pwd"],
		});
		expect(oldest).toEqual({
			id: expect.stringMatching(/^[0-9a-f]{32}$/),
			current: true,
			client: "browser",
			device: "Chrome on macOS",
			country: "DE",
			created_at: new Date(start).toISOString(),
			last_used_at: new Date(start).toISOString(),
			amr: ["pwd"],
		});

		// Nothing of the tokens or their hashes, under any key.
		const text = JSON.stringify(response.body);
		const cookieToken = user.cookie.split("=")[1] ?? "";
		for (const secret of [cookieToken, appToken, await hashToken(cookieToken), await hashToken(appToken)]) {
			expect(text).not.toContain(secret);
		}
		const rows = await sessionRows(user.id);
		for (const row of rows) expect(text).not.toContain(row.id);
		expect(new Set(rows.map((row) => row.public_id))).toEqual(new Set([newest?.id, oldest?.id]));

		// The app sees the same list, itself the current one.
		const fromApp = await list({ token: appToken });
		expect(fromApp.body.sessions.map((entry) => entry.current)).toEqual([true, false]);
		expect(fromApp.body.sessions.map((entry) => entry.id)).toEqual([newest?.id, oldest?.id]);
	});

	it("stores no address and no User-Agent: only the device name and the country", async () => {
		const user = await browserSignUpFrom(FIREFOX_WINDOWS, "FR");
		const columns = await userSql(user.id, "SELECT name FROM pragma_table_info('sessions')").all<{ name: string }>();
		expect(columns.results.map((column) => column.name).sort()).toEqual(
			[
				"amr",
				"authenticated_at",
				"client",
				"country",
				"created_at",
				"device",
				"expires_at",
				"id",
				"last_used_at",
				"level",
				"public_id",
				"user_id",
			].sort(),
		);
		const [row] = await sessionRows(user.id);
		expect(row).toMatchObject({ client: "browser", device: "Firefox on Windows", country: "FR" });
	});

	it("shows no country when Cloudflare gave none, and Unknown device without a User-Agent", async () => {
		const user = await signUp();
		const [entry] = (await list({ token: user.token })).body.sessions;
		expect(entry).not.toHaveProperty("country");
		expect(entry).toMatchObject({ client: "app", device: "Unknown device", current: true });
	});

	it("lists only the user's own sessions", async () => {
		const alice = await signUp();
		const bob = await signUp();
		await logIn(bob.email);
		const aliceList = await list({ token: alice.token });
		expect(aliceList.body.sessions).toHaveLength(1);
		const bobIds = (await sessionRows(bob.id)).map((row) => row.public_id);
		for (const entry of aliceList.body.sessions) expect(bobIds).not.toContain(entry.id);
	});

	it("lists a partial session (a password sign-in waiting for its second factor), not ended ones", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const user = await signUp();
		await registerPasskey(user);
		const ended = await logIn(user.email);
		await call("POST", "/api/auth/logout/", { token: ended.body.session_token });
		setNow(start + MINUTE);
		const partial = await logIn(user.email);
		expect(partial.body.session.level).toBe("partial");

		const sessions = (await list({ token: user.token })).body.sessions;
		expect(sessions).toHaveLength(2);
		expect(sessions[0]).toMatchObject({ current: false, amr: ["pwd"] });

		// Ten minutes later the partial one has expired: gone from the list.
		setNow(start + 12 * MINUTE);
		expect((await list({ token: user.token })).body.sessions.map((entry) => entry.current)).toEqual([true]);
	});

	it("shows how each session was authenticated, as RFC 8176 amr values", async () => {
		const authenticator = new SoftAuthenticator();
		const user = await signUp();
		await registerPasskey(user, authenticator);
		const partial = await logIn(user.email);
		const options = await call<{ request_options: never }>("GET", "/api/webauthn/authenticate/options/", {
			token: partial.body.session_token,
		});
		const credential = await authenticator.getAssertion(options.body.request_options);
		const verified = await callFrom<{ session_token: string }>("POST", "/api/webauthn/verify/", {
			token: partial.body.session_token,
			app: true,
			headers: { "user-agent": FIREFOX_WINDOWS },
			body: { credential },
		});
		expect(verified.status).toBe(200);
		const sessions = (await list({ token: verified.body.session_token })).body.sessions;
		const current = sessions.find((entry) => entry.current);
		expect(current?.amr).toEqual(["pwd", "hwk", "user", "mfa"]);
		expect(sessions.find((entry) => !entry.current)?.amr).toEqual(["pwd"]);
	});

	it("needs a full session; a cookie request marked cross-site is refused", async () => {
		const user = await signUp();
		await registerPasskey(user);
		const partial = await logIn(user.email);
		expectError(await list({ token: partial.body.session_token }), 403, "mfa_required");
		expectError(await call("GET", "/api/auth/sessions/"), 401, "not_authenticated");

		const browser = await browserSignUp();
		expectError(
			await list({ cookie: browser.cookie, headers: { "sec-fetch-site": "cross-site" } }),
			403,
			"csrf_failed",
		);
		// A GET needs no Origin (a same-origin GET carries none).
		expect((await list({ cookie: browser.cookie, origin: null })).status).toBe(200);
	});
});

describe("where a session comes from", () => {
	it("records client, device and country at sign-up, password and passwordless sign-in", async () => {
		const authenticator = new SoftAuthenticator();
		const user = await browserSignUpFrom(CHROME_MAC, "DE");
		const appToken = await appLogInFrom(user.email, SAFARI_IPHONE, "JP");
		await registerPasskey({ id: user.id, email: user.email, token: appToken }, authenticator, { passwordless: true });
		const options = await call<{ request_options: never }>("GET", "/api/auth/passkey/options/");
		const credential = await authenticator.getAssertion(options.body.request_options);
		const signedIn = await callFrom("POST", "/api/auth/passkey/login/", {
			origin: ORIGIN,
			headers: { "user-agent": FIREFOX_WINDOWS },
			body: { credential },
			cf: { country: "BR" },
		});
		expect(signedIn.status).toBe(200);

		const sessions = (await list({ token: appToken })).body.sessions;
		expect(sessions.map(({ client, device, country }) => ({ client, device, country }))).toEqual([
			{ client: "browser", device: "Firefox on Windows", country: "BR" },
			{ client: "app", device: "Safari on iOS", country: "JP" },
			{ client: "browser", device: "Chrome on macOS", country: "DE" },
		]);
	});

	it("carries the partial session's device over to the full one a second factor makes", async () => {
		const authenticator = new SoftAuthenticator();
		const user = await signUp();
		await registerPasskey(user, authenticator);
		const partial = await appLogInFrom(user.email, SAFARI_IPHONE, "NL");
		const before = (await sessionRows(user.id)).find((row) => row.device === "Safari on iOS");
		const options = await call<{ request_options: never }>("GET", "/api/webauthn/authenticate/options/", {
			token: partial,
		});
		const credential = await authenticator.getAssertion(options.body.request_options);
		// Completed from a request that says nothing about itself: the sign-in's source stays.
		const verified = await call<{ session_token: string }>("POST", "/api/webauthn/verify/", {
			token: partial,
			app: true,
			body: { credential },
		});
		expect(verified.status).toBe(200);
		const sessions = (await list({ token: verified.body.session_token })).body.sessions;
		const current = sessions.find((entry) => entry.current);
		expect(current).toMatchObject({ client: "app", device: "Safari on iOS", country: "NL" });
		// A new token is a new session: a new public id too.
		expect(current?.id).not.toBe(before?.public_id);
		expect(sessions.map((entry) => entry.id)).not.toContain(before?.public_id);
	});

	it("keeps the app backend's User-Agent and country out of a server API session", async () => {
		const user = await createServerUser();
		const created = await callFrom<{ session_token: string }>(
			"POST",
			`/api/server/users/${encodeURIComponent(user.external_id)}/sessions`,
			{
				token: SERVER_KEY,
				headers: { "user-agent": "python-requests/2.32.3 on Linux" },
				body: { level: "full", amr: ["pwd"] },
				cf: { country: "US" },
			},
		);
		expect(created.status).toBe(201);
		const sessions = (await list({ token: created.body.session_token })).body.sessions;
		for (const entry of sessions) {
			expect(entry).toMatchObject({ client: "app", device: "Unknown device" });
			expect(entry).not.toHaveProperty("country");
		}
	});
});

describe("last_used_at", () => {
	it("is written at most once an hour, by requests that pass their checks", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const user = await browserSignUp();
		const token = user.cookie.split("=")[1] ?? "";
		expect((await storedRow(token))?.last_used_at).toBe(start);

		// Used within the hour: nothing is written.
		for (const at of [start + MINUTE, start + 30 * MINUTE, start + HOUR - 1]) {
			setNow(at);
			expect((await call("GET", "/api/auth/session/", { cookie: user.cookie })).status).toBe(200);
			expect((await storedRow(token))?.last_used_at).toBe(start);
		}

		// A request refused for its Origin is not a use.
		setNow(start + HOUR + MINUTE);
		expectError(
			await call("POST", "/api/auth/logout/", { cookie: user.cookie, origin: "https://evil.example" }),
			403,
			"csrf_failed",
		);
		expect((await storedRow(token))?.last_used_at).toBe(start);

		// An hour after the last recorded use: recorded, once.
		setNow(start + HOUR + 2 * MINUTE);
		const listed = await list({ cookie: user.cookie });
		expect(listed.body.sessions[0]?.last_used_at).toBe(new Date(start + HOUR + 2 * MINUTE).toISOString());
		setNow(start + HOUR + 50 * MINUTE);
		await call("GET", "/api/auth/session/", { cookie: user.cookie });
		expect((await storedRow(token))?.last_used_at).toBe(start + HOUR + 2 * MINUTE);
	});

	it("rides on the sliding expiry's write: one update sets both", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const user = await signUp();
		setNow(start + 2 * DAY);
		expect((await call("GET", "/api/auth/session/", { token: user.token })).status).toBe(200);
		const row = await storedRow(user.token);
		expect(row).toMatchObject({ last_used_at: start + 2 * DAY, expires_at: start + 2 * DAY + 30 * DAY });
	});
});

describe("DELETE /api/auth/sessions/{id}/", () => {
	it("signs out one other session of the user: its token stops working, the rest go on", async () => {
		const user = await signUp();
		const other = (await logIn(user.email)).body.session_token;
		const third = (await logIn(user.email)).body.session_token;
		const otherId = (await storedRow(other))?.public_id ?? "";

		const response = await revoke(otherId, { token: user.token });
		expect(response.status).toBe(200);
		expect(response.body).toEqual({ success: true });
		expectError(await call("GET", "/api/auth/session/", { token: other }), 401, "not_authenticated");
		expect((await call("GET", "/api/auth/session/", { token: third })).status).toBe(200);
		const ids = (await list({ token: user.token })).body.sessions.map((entry) => entry.id);
		expect(ids).toHaveLength(2);
		expect(ids).not.toContain(otherId);
		// Twice: it is gone.
		expectError(await revoke(otherId, { token: user.token }), 404, "not_found");
	});

	it("answers 404 for another user's session and changes nothing", async () => {
		const alice = await signUp();
		const bob = await signUp();
		const bobRowsBefore = await sessionRows(bob.id);
		const bobId = bobRowsBefore[0]?.public_id ?? "";

		expectError(await revoke(bobId, { token: alice.token }), 404, "not_found");
		expect(await sessionRows(bob.id)).toEqual(bobRowsBefore);
		expect((await call("GET", "/api/auth/session/", { token: bob.token })).status).toBe(200);
		expect((await list({ token: alice.token })).body.sessions).toHaveLength(1);
	});

	it("answers 404 for ids that are not a session's: unknown, malformed, the token or its hash", async () => {
		const user = await signUp();
		const publicId = (await storedRow(user.token))?.public_id ?? "";
		for (const id of [
			"0".repeat(32),
			"x",
			publicId.toUpperCase(),
			`${publicId}0`,
			user.token,
			await hashToken(user.token),
			"%27%20OR%201%3D1",
		]) {
			expectError(await revoke(id, { token: user.token }), 404, "not_found");
		}
		expect((await call("GET", "/api/auth/session/", { token: user.token })).status).toBe(200);
	});

	it("signs the current session out when given its own id, clearing a browser's cookie", async () => {
		const user = await browserSignUp();
		const current = (await list({ cookie: user.cookie })).body.sessions[0]?.id ?? "";
		const response = await revoke(current, { cookie: user.cookie });
		expect(response.status).toBe(200);
		expect(sessionSetCookie(response.headers)).toBeDefined();
		expect(sessionCookie(response.headers)).toBeNull();
		expectError(await call("GET", "/api/auth/session/", { cookie: user.cookie }), 401, "not_authenticated");
	});

	it("needs a recent authentication: 401 reauthentication_required, and nothing ends", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const user = await signUp();
		const other = (await logIn(user.email)).body.session_token;
		const otherId = (await storedRow(other))?.public_id ?? "";

		setNow(start + 6 * MINUTE);
		expectError(await revoke(otherId, { token: user.token }), 401, "reauthentication_required");
		expect((await call("GET", "/api/auth/session/", { token: other })).status).toBe(200);

		const reauthenticated = await call("POST", "/api/auth/reauthenticate/", {
			token: user.token,
			body: { password: PASSWORD },
		});
		expect(reauthenticated.status).toBe(200);
		expect((await revoke(otherId, { token: user.token })).status).toBe(200);
	});

	it("needs a full session", async () => {
		const user = await signUp();
		await registerPasskey(user);
		const partial = (await logIn(user.email)).body.session_token;
		const fullId = (await storedRow(user.token))?.public_id ?? "";
		expectError(await revoke(fullId, { token: partial }), 403, "mfa_required");
		expect((await call("GET", "/api/auth/session/", { token: user.token })).status).toBe(200);
	});

	it("holds a cookie request to the Origin rule, as every unsafe route", async () => {
		const user = await browserSignUp();
		const other = (await logIn(user.email)).body.session_token;
		const otherId = (await storedRow(other))?.public_id ?? "";

		expectError(await revoke(otherId, { cookie: user.cookie, origin: "https://evil.example" }), 403, "csrf_failed");
		expectError(await revoke(otherId, { cookie: user.cookie, origin: null }), 403, "csrf_failed");
		expectError(
			await revoke(otherId, { cookie: user.cookie, headers: { "sec-fetch-site": "cross-site" } }),
			403,
			"csrf_failed",
		);
		expect((await call("GET", "/api/auth/session/", { token: other })).status).toBe(200);

		expect((await revoke(otherId, { cookie: user.cookie })).status).toBe(200);
		expectError(await call("GET", "/api/auth/session/", { token: other }), 401, "not_authenticated");
	});
});
