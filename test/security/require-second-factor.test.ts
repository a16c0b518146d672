import type { PublicKeyCredentialCreationOptionsJSON } from "@simplewebauthn/server";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { MINUTE } from "../../src/lib/clock";
import { totpCodeAt } from "../../src/lib/totp";
import { userSql } from "../helpers/account";
import {
	type ApiResponse,
	type CallOptions,
	call,
	logIn,
	ORIGIN,
	PASSWORD,
	sessionCookie,
	signUp,
	type TestUser,
	uniqueEmail,
	withVars,
} from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import { expectError } from "../helpers/expect-error";
import { countUserRows, registerPasskey, verifyPasskey } from "../helpers/flows";
import { postSignIn, signInAssertion, userWithDiscoverablePasskey } from "../helpers/passwordless";
import { createServerUser, serverSession } from "../helpers/server-api";
import { freezeClock } from "../helpers/time";
import { currentStep, enableTotp, totpActivate, totpSetup } from "../helpers/totp";

// Operator policy (issue 16, item 5; API.md "Account security"): with
// REQUIRE_SECOND_FACTOR=true a password sign-in (or sign-up) of a user with
// no passkey or TOTP gets a `setup_required` session that can only add one:
// session, logout, passkey registration and TOTP set-up; anything else is
// 403 second_factor_required. Adding the factor makes that session full under
// a new token, in the same batch, and ends the user's other setup_required
// sessions. Off by default: wrangler.toml says "false".

const POLICY = { REQUIRE_SECOND_FACTOR: "true" };
const underPolicy = <T>(run: () => Promise<T>) => withVars(POLICY, run);

afterEach(() => vi.restoreAllMocks());

interface SessionView {
	level: string;
	user: { id: string; email: string };
	methods: string[];
	authenticated_at: string;
	expires_at: string;
}
interface SessionBody {
	session: SessionView;
	session_token?: string;
}

/** A user who signed up with the policy off (a full session) and has no second factor. */
async function userWithoutSecondFactor(): Promise<TestUser> {
	return signUp();
}

/** A password sign-in under the policy, as an app: its bearer token, checked to be setup_required. */
async function setupRequiredLogin(user: TestUser): Promise<string> {
	const response = await underPolicy(() => logIn(user.email));
	expect(response.status).toBe(200);
	expect(response.body.session.level).toBe("setup_required");
	return response.body.session_token;
}

/** The same, as a browser: its session cookie. */
async function setupRequiredBrowserLogin(user: TestUser): Promise<string> {
	const response = await underPolicy(() =>
		call<SessionBody>("POST", "/api/auth/login/", { origin: ORIGIN, body: { email: user.email, password: PASSWORD } }),
	);
	expect(response.status).toBe(200);
	expect(response.body.session.level).toBe("setup_required");
	const cookie = sessionCookie(response.headers);
	if (!cookie) throw new Error("no session cookie");
	return cookie;
}

function sessionOf(auth: CallOptions) {
	return underPolicy(() => call<SessionBody>("GET", "/api/auth/session/", auth));
}

function sessionRows(userId: string, level: string): Promise<number> {
	return countUserRows(userId, "SELECT COUNT(*) AS n FROM sessions WHERE level = ?", level);
}

async function registerUnderPolicy(auth: CallOptions, authenticator = new SoftAuthenticator()) {
	const options = await underPolicy(() =>
		call<{ creation_options: PublicKeyCredentialCreationOptionsJSON }>("GET", "/api/webauthn/register/options/", auth),
	);
	expect(options.status).toBe(200);
	const credential = await authenticator.createCredential(options.body.creation_options);
	return underPolicy(() =>
		call<SessionBody & { passkey: { id: string }; recovery_codes?: string[] }>(
			"POST",
			"/api/webauthn/register/complete/",
			{ ...auth, body: { credential } },
		),
	);
}

async function activateTotpUnderPolicy(auth: CallOptions) {
	const setup = await underPolicy(() => totpSetup(auth));
	expect(setup.status).toBe(200);
	const code = await totpCodeAt(setup.body.secret, currentStep());
	return underPolicy(() => totpActivate(auth, code)) as Promise<
		ApiResponse<SessionBody & { recovery_codes?: string[] }>
	>;
}

// --- The OpenAPI document's routes ---------------------------------------------------------------

interface Operation {
	security?: Record<string, string[]>[];
	responses: Record<string, { content?: { "application/json"?: { examples?: Record<string, unknown> } } }>;
}

/** The routes a setup_required session may call: session, logout, passkey registration, TOTP set-up. */
const ALLOWED = new Set([
	"GET /api/auth/session",
	"POST /api/auth/logout",
	"GET /api/webauthn/register/options",
	"POST /api/webauthn/register/complete",
	"POST /api/totp/setup",
	"POST /api/totp/activate",
]);

let userRoutes: [string, Operation][] = [];
beforeAll(async () => {
	const doc = await call<{ paths: Record<string, Record<string, Operation>> }>("GET", "/api/openapi.json");
	userRoutes = Object.entries(doc.body.paths).flatMap(([path, item]) =>
		Object.entries(item)
			.filter(
				([, operation]) => JSON.stringify(operation.security) === JSON.stringify([{ cookie: [] }, { bearer: [] }]),
			)
			.map(([method, operation]): [string, Operation] => [`${method.toUpperCase()} ${path}`, operation]),
	);
});

function codes403(operation: Operation): string[] {
	return Object.keys(operation.responses["403"]?.content?.["application/json"]?.examples ?? {});
}

describe("REQUIRE_SECOND_FACTOR=true: a password sign-in without a second factor", () => {
	it("gets a setup_required session: methods [], ten minutes, shown as such by GET /api/auth/session/", async () => {
		const user = await userWithoutSecondFactor();
		const response = await underPolicy(() => logIn(user.email));
		expect(response.status).toBe(200);
		const session = response.body.session as unknown as SessionView;
		expect(session.level).toBe("setup_required");
		expect(session.methods).toEqual([]);
		const lifetime = Date.parse(session.expires_at) - Date.parse(session.authenticated_at);
		expect(lifetime).toBe(10 * MINUTE);
		const shown = await sessionOf({ token: response.body.session_token });
		expect(shown.status).toBe(200);
		expect(shown.body.session).toMatchObject({ level: "setup_required", methods: [], user: { id: user.id } });
		// The cookie of a browser sign-in is the same kind of session.
		const cookie = await setupRequiredBrowserLogin(user);
		expect((await sessionOf({ cookie })).body.session.level).toBe("setup_required");
	});

	it("answers 403 second_factor_required on every other route of the OpenAPI document, which says so", async () => {
		const user = await userWithoutSecondFactor();
		const token = await setupRequiredLogin(user);
		expect(userRoutes.length).toBeGreaterThan(20);
		const refused: string[] = [];
		for (const [route, operation] of userRoutes) {
			if (ALLOWED.has(route)) {
				// The set-up routes and session/logout never answer it.
				expect({ route, codes: codes403(operation) }).not.toEqual(
					expect.objectContaining({ codes: expect.arrayContaining(["second_factor_required"]) }),
				);
				continue;
			}
			expect({ route, codes: codes403(operation) }).toEqual({
				route,
				codes: expect.arrayContaining(["second_factor_required"]),
			});
			const [method, path] = route.split(" ") as [string, string];
			const unsafe = method !== "GET";
			const response = await underPolicy(() =>
				call(method, `${path.replace(/\{\w+\}/g, "x")}/`, { token, ...(unsafe ? { body: {} } : {}) }),
			);
			expect({ route, status: response.status, code: (response.body as { code?: string }).code }).toEqual({
				route,
				status: 403,
				code: "second_factor_required",
			});
			expectError(response, 403, "second_factor_required");
			refused.push(route);
		}
		// Among them the access token, the passkey list, the second-factor verifies and reauthentication.
		expect(refused).toEqual(
			expect.arrayContaining([
				"POST /api/auth/token",
				"GET /api/webauthn",
				"POST /api/webauthn/verify",
				"POST /api/totp/verify",
				"POST /api/recovery-codes/verify",
				"POST /api/auth/reauthenticate",
				"GET /api/auth/sessions",
			]),
		);
		// Refused calls did not end the session.
		expect((await sessionOf({ token })).body.session.level).toBe("setup_required");
	});

	it("refuses the access token with 403 second_factor_required, for a browser too", async () => {
		const user = await userWithoutSecondFactor();
		const cookie = await setupRequiredBrowserLogin(user);
		expectError(await underPolicy(() => call("POST", "/api/auth/token/", { cookie })), 403, "second_factor_required");
	});

	it("lets the session, logout, registration options and TOTP set-up work", async () => {
		const user = await userWithoutSecondFactor();
		const token = await setupRequiredLogin(user);
		expect((await sessionOf({ token })).status).toBe(200);
		const options = await underPolicy(() =>
			call("GET", "/api/webauthn/register/options/?passwordless=true", { token }),
		);
		expect(options.status).toBe(200);
		const setup = await underPolicy(() => totpSetup({ token }));
		expect(setup.status).toBe(200);
		expect(setup.body.otpauth_uri).toMatch(/^otpauth:\/\/totp\//);
		const logout = await underPolicy(() => call("POST", "/api/auth/logout/", { token }));
		expect(logout.status).toBe(200);
		expectError(await sessionOf({ token }), 401, "not_authenticated");
	});

	it("still needs a recent authentication to add a factor, and reauthentication is not among its routes", async () => {
		const start = Date.now();
		const move = freezeClock(start);
		const user = await userWithoutSecondFactor();
		const token = await setupRequiredLogin(user);
		move(start + 6 * MINUTE);
		expectError(
			await underPolicy(() => call("GET", "/api/webauthn/register/options/", { token })),
			401,
			"reauthentication_required",
		);
		expectError(
			await underPolicy(() => call("POST", "/api/auth/reauthenticate/", { token, body: { password: PASSWORD } })),
			403,
			"second_factor_required",
		);
		// It ends ten minutes after the sign-in: signing in again starts over.
		move(start + 10 * MINUTE);
		expectError(await sessionOf({ token }), 401, "not_authenticated");
	});
});

describe("adding the second factor", () => {
	it("a passkey makes the app's session full under a new token; other setup_required sessions end, full ones stay", async () => {
		const user = await userWithoutSecondFactor();
		const token = await setupRequiredLogin(user);
		const otherDevice = await setupRequiredBrowserLogin(user);
		const before = await sessionOf({ token });
		expect(await sessionRows(user.id, "setup_required")).toBe(2);

		const response = await registerUnderPolicy({ token });
		expect(response.status).toBe(201);
		expect(response.body.recovery_codes).toHaveLength(10);
		expect(response.body.session).toMatchObject({
			level: "full",
			user: { id: user.id },
			methods: ["webauthn", "recovery_codes"],
		});
		// Adding a factor is not authenticating with it: the last authentication is still the password's.
		expect(response.body.session.authenticated_at).toBe(before.body.session.authenticated_at);
		const newToken = response.body.session_token;
		expect(newToken).toBeTypeOf("string");
		expect(newToken).not.toBe(token);
		expect(sessionCookie(response.headers)).toBeFalsy();

		// The old token has ended; the new one is full and reaches every route.
		expectError(await sessionOf({ token }), 401, "not_authenticated");
		expect((await sessionOf({ token: newToken })).body.session.level).toBe("full");
		expect((await underPolicy(() => call("GET", "/api/webauthn/", { token: newToken }))).status).toBe(200);
		expect((await underPolicy(() => call("POST", "/api/auth/token/", { token: newToken }))).status).toBe(200);
		// The other device's setup_required session ended: it never proved a second factor.
		expectError(await sessionOf({ cookie: otherDevice }), 401, "not_authenticated");
		expect(await sessionRows(user.id, "setup_required")).toBe(0);
		// The sign-up's full session (from before the policy) stays.
		expect((await sessionOf({ token: user.token })).body.session.level).toBe("full");
		// The next password sign-in asks for the passkey.
		expect((await underPolicy(() => logIn(user.email))).body.session.level).toBe("partial");
	});

	it("a browser gets the new session as a cookie, and the old cookie stops working", async () => {
		const user = await userWithoutSecondFactor();
		const cookie = await setupRequiredBrowserLogin(user);
		const response = await registerUnderPolicy({ cookie });
		expect(response.status).toBe(201);
		expect(response.body.session?.level).toBe("full");
		expect(response.body.session_token).toBeUndefined();
		const newCookie = sessionCookie(response.headers);
		expect(newCookie).toBeDefined();
		expect(newCookie).not.toBe(cookie);
		expectError(await sessionOf({ cookie }), 401, "not_authenticated");
		expect((await sessionOf({ cookie: newCookie as string })).body.session.level).toBe("full");
	});

	it("a passkey added from a full session ends the user's setup_required sessions elsewhere", async () => {
		const user = await userWithoutSecondFactor();
		const elsewhere = await setupRequiredLogin(user);
		// The sign-up's full session (policy off then) adds the passkey: no session of its own to upgrade.
		const response = await registerUnderPolicy({ token: user.token });
		expect(response.status).toBe(201);
		expect(response.body).not.toHaveProperty("session");
		expect(response.body).not.toHaveProperty("session_token");
		expectError(await sessionOf({ token: elsewhere }), 401, "not_authenticated");
		expect((await sessionOf({ token: user.token })).body.session.level).toBe("full");
	});

	it("activating TOTP makes the session full under a new token, in the same answer", async () => {
		const user = await userWithoutSecondFactor();
		const token = await setupRequiredLogin(user);
		const otherDevice = await setupRequiredLogin(user);
		const response = await activateTotpUnderPolicy({ token });
		expect(response.status).toBe(201);
		expect(response.body.recovery_codes).toHaveLength(10);
		expect(response.body.session).toMatchObject({ level: "full", methods: ["totp", "recovery_codes"] });
		const newToken = response.body.session_token as string;
		expect(newToken).toBeTypeOf("string");
		expectError(await sessionOf({ token }), 401, "not_authenticated");
		expectError(await sessionOf({ token: otherDevice }), 401, "not_authenticated");
		expect((await underPolicy(() => call("GET", "/api/totp/", { token: newToken }))).body).toMatchObject({
			enabled: true,
		});
	});

	it("with the policy off, nothing of this happens: registration answers as before", async () => {
		const user = await userWithoutSecondFactor();
		const { response } = await registerPasskey(user);
		expect(response.status).toBe(201);
		expect(Object.keys(response.body).sort()).toEqual(["passkey", "recovery_codes", "success"]);
		expect((await sessionOf({ token: user.token })).body.session.level).toBe("full");
	});
});

describe("races on one setup_required session", () => {
	it("two registrations completing at once: one passkey, one full session, one new token", async () => {
		const user = await userWithoutSecondFactor();
		const token = await setupRequiredLogin(user);
		const options = await underPolicy(() =>
			call<{ creation_options: PublicKeyCredentialCreationOptionsJSON }>("GET", "/api/webauthn/register/options/", {
				token,
			}),
		);
		// Two authenticators answer the same challenge; both responses arrive together.
		const [first, second] = await Promise.all([
			new SoftAuthenticator().createCredential(options.body.creation_options),
			new SoftAuthenticator().createCredential(options.body.creation_options),
		]);
		const responses = await underPolicy(() =>
			Promise.all(
				[first, second].map((credential) =>
					call<SessionBody>("POST", "/api/webauthn/register/complete/", { token, body: { credential } }),
				),
			),
		);
		// The object runs one completion at a time, each whole: the second finds
		// the setup_required session replaced by the first (its token stopped working).
		const statuses = responses.map((response) => response.status).sort();
		expect(statuses).toEqual([201, 401]);
		const lost = responses.find((response) => response.status === 401) as ApiResponse<unknown>;
		expectError(lost, 401, "not_authenticated");
		const won = responses.find((response) => response.status === 201) as ApiResponse<SessionBody>;
		expect(won.body.session.level).toBe("full");
		expect(await countUserRows(user.id, "SELECT COUNT(*) AS n FROM passkeys")).toBe(1);
		expect(await sessionRows(user.id, "setup_required")).toBe(0);
		// The sign-up's own full session, and the one the registration made.
		expect(await sessionRows(user.id, "full")).toBe(2);
		expect((await sessionOf({ token: won.body.session_token as string })).body.session.level).toBe("full");
	});

	it("a passkey and TOTP added at once: both are added, exactly one answer carries the new session", async () => {
		const user = await underPolicy(() => signUp());
		const token = user.token;
		const options = await underPolicy(() =>
			call<{ creation_options: PublicKeyCredentialCreationOptionsJSON }>("GET", "/api/webauthn/register/options/", {
				token,
			}),
		);
		const credential = await new SoftAuthenticator().createCredential(options.body.creation_options);
		const setup = await underPolicy(() => totpSetup({ token }));
		const code = await totpCodeAt(setup.body.secret, currentStep());
		const [registered, activated] = await underPolicy(() =>
			Promise.all([
				call<SessionBody>("POST", "/api/webauthn/register/complete/", { token, body: { credential } }),
				call<SessionBody>("POST", "/api/totp/activate/", { token, body: { code } }),
			]),
		);
		expect([registered.status, activated.status]).toEqual([201, 201]);
		const upgraded = [registered, activated].filter((response) => response.body.session_token !== undefined);
		expect(upgraded).toHaveLength(1);
		expect(upgraded[0]?.body.session.level).toBe("full");
		expect(await sessionRows(user.id, "full")).toBe(1);
		expect(await sessionRows(user.id, "setup_required")).toBe(0);
		expectError(await sessionOf({ token }), 401, "not_authenticated");
		expect((await sessionOf({ token: upgraded[0]?.body.session_token as string })).body.session.methods.sort()).toEqual(
			["recovery_codes", "totp", "webauthn"],
		);
	});
});

describe("what already satisfies the policy, and what it leaves alone", () => {
	it("passwordless sign-in is full", async () => {
		const { authenticator } = await userWithDiscoverablePasskey();
		const response = await underPolicy(async () => postSignIn(await signInAssertion(authenticator)));
		expect(response.status).toBe(200);
		expect(response.body.session.level).toBe("full");
	});

	it("a user with a second factor gets a partial session, then full, as before", async () => {
		const user = await userWithoutSecondFactor();
		const { authenticator } = await registerPasskey(user);
		const login = await underPolicy(() => logIn(user.email));
		expect(login.body.session.level).toBe("partial");
		const verified = await underPolicy(() => verifyPasskey(login.body.session_token, authenticator));
		expect(verified.status).toBe(200);
		expect(verified.body.session.level).toBe("full");
	});

	it("a user with TOTP only gets a partial session too", async () => {
		const user = await userWithoutSecondFactor();
		await enableTotp(user);
		expect((await underPolicy(() => logIn(user.email))).body.session.level).toBe("partial");
	});

	it("with the policy off (the default) a password sign-in without a second factor is full", async () => {
		const user = await userWithoutSecondFactor();
		expect((await logIn(user.email)).body.session.level).toBe("full");
		expect((await withVars({ REQUIRE_SECOND_FACTOR: "false" }, () => logIn(user.email))).body.session.level).toBe(
			"full",
		);
	});

	it("a value that is neither true nor false fails loudly rather than leaving the policy off", async () => {
		const user = await userWithoutSecondFactor();
		const errors = vi.spyOn(console, "error").mockImplementation(() => {});
		const response = await withVars({ REQUIRE_SECOND_FACTOR: "yes" }, () => logIn(user.email));
		expectError(response, 500, "internal_error");
		expect(errors.mock.calls.flat().join(" ")).toContain("REQUIRE_SECOND_FACTOR");
	});
});

describe("sign-up under the policy", () => {
	it("a password sign-up is setup_required too, or signing up would be the way around the policy", async () => {
		const email = uniqueEmail();
		const response = await underPolicy(() =>
			call<SessionBody & { user: { id: string } }>("POST", "/api/auth/signup/", {
				app: true,
				body: { email, password: PASSWORD },
			}),
		);
		expect(response.status).toBe(201);
		expect(response.body.session).toMatchObject({ level: "setup_required", methods: [] });
		const token = response.body.session_token as string;
		expectError(await underPolicy(() => call("GET", "/api/webauthn/", { token })), 403, "second_factor_required");
		const registered = await registerUnderPolicy({ token });
		expect(registered.status).toBe(201);
		expect(registered.body.session.level).toBe("full");
	});

	it("a passkey-first sign-up is full: its passkey is the second factor", async () => {
		const options = await underPolicy(() =>
			call<{ creation_options: PublicKeyCredentialCreationOptionsJSON }>("POST", "/api/auth/signup/passkey/options/", {
				app: true,
				body: { email: uniqueEmail() },
			}),
		);
		expect(options.status).toBe(200);
		const credential = await new SoftAuthenticator().createCredential(options.body.creation_options);
		const response = await underPolicy(() =>
			call<SessionBody>("POST", "/api/auth/signup/passkey/complete/", { app: true, body: { credential } }),
		);
		expect(response.status).toBe(201);
		expect(response.body.session.level).toBe("full");
	});
});

describe("server API sessions under the policy", () => {
	it("`partial` for a user without a second factor is setup_required; `full` is the app vouching for all and stays full", async () => {
		const user = await createServerUser();
		const partial = await underPolicy(() => serverSession(user.external_id, "partial"));
		expect(partial.status).toBe(201);
		expect(partial.body.session.level).toBe("setup_required");
		expectError(
			await underPolicy(() => call("GET", "/api/webauthn/", { token: partial.body.session_token })),
			403,
			"second_factor_required",
		);
		const full = await underPolicy(() => serverSession(user.external_id, "full"));
		expect(full.body.session.level).toBe("full");
		// Policy off: a partial request for a user without a second factor is full, as before.
		expect((await serverSession(user.external_id, "partial")).body.session.level).toBe("full");
	});

	it("`partial` for a user with a second factor is partial, as before", async () => {
		const user = await createServerUser();
		const token = (await underPolicy(() => serverSession(user.external_id, "full"))).body.session_token;
		const { response } = await registerPasskey({ id: "", email: "", token });
		expect(response.status).toBe(201);
		expect((await underPolicy(() => serverSession(user.external_id, "partial"))).body.session.level).toBe("partial");
	});
});

describe("storage", () => {
	it("the sessions table takes the new level without a table rebuild (no CHECK on level)", async () => {
		const user = await signUp();
		const table = await userSql(user.id, "SELECT sql FROM sqlite_master WHERE name = 'sessions'").first<{
			sql: string;
		}>();
		expect(table?.sql).not.toMatch(/CHECK/i);
	});
});
