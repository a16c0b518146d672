import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { userSql } from "../helpers/account";
import { call, logIn, PASSWORD, signUp, type TestUser, withVars } from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import { expectError } from "../helpers/expect-error";
import { registerPasskey, verifyPasskey } from "../helpers/flows";
import { postSignIn, signInAssertion } from "../helpers/passwordless";
import {
	createServerUser,
	fullServerSession,
	putUser,
	serverCall,
	serverSession,
	uniqueExternalId,
} from "../helpers/server-api";
import { tokenFor, verifyToken } from "../helpers/tokens";
import { enableTotp } from "../helpers/totp";
import { deliveriesAt, eventOf, receiverEndpoint } from "../helpers/webhooks";

// The server API as an existing app uses it (API.md, "Server API"): users
// known by the app's own ids, sessions the app vouches for, the ordinary
// user routes from there on, access tokens naming the app's id, account
// deletion and the help-desk reset.

afterEach(() => {
	vi.restoreAllMocks();
});

const userPath = (externalId: string) => `/users/${encodeURIComponent(externalId)}`;

/** The app's user as a TestUser of the other helpers: the token of a full session it vouched for. */
async function appUser(): Promise<TestUser & { externalId: string }> {
	const created = await createServerUser();
	return {
		id: created.id,
		email: created.email,
		externalId: created.external_id,
		token: await fullServerSession(created.external_id),
	};
}

describe("PUT /api/server/users/{external_id}", () => {
	it("creates a user (201) and then updates only the fields sent (200)", async () => {
		const externalId = uniqueExternalId();
		const created = await putUser(externalId, {
			email: ` ${externalId.toUpperCase()}@Example.com `,
			display_name: "Ada",
		});
		expect(created.status).toBe(201);
		expect(created.body).toEqual({
			success: true,
			user: {
				id: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
				external_id: externalId,
				email: `${externalId.toLowerCase()}@example.com`,
				display_name: "Ada",
				created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
			},
		});

		const renamed = await putUser(externalId, { display_name: "Ada Lovelace" });
		expect(renamed.status).toBe(200);
		expect(renamed.body.user).toEqual({ ...created.body.user, display_name: "Ada Lovelace" });

		const moved = await putUser(externalId, { email: `new-${externalId}@example.com`, display_name: null });
		expect(moved.status).toBe(200);
		expect(moved.body.user).toMatchObject({
			id: created.body.user.id,
			email: `new-${externalId}@example.com`,
			display_name: null,
		});

		const unchanged = await putUser(externalId, {});
		expect(unchanged.status).toBe(200);
		expect(unchanged.body.user).toEqual(moved.body.user);
	});

	it("needs an email to create a user, and refuses one another user has", async () => {
		const externalId = uniqueExternalId();
		const missing = await putUser(externalId, { display_name: "No email" });
		expectError(missing, 400, "invalid_request");
		expect(missing.body).toMatchObject({ fields: { email: expect.any(String) } });
		expectError(await serverCall("GET", userPath(externalId)), 404, "not_found");

		const someone = await signUp();
		expectError(await putUser(externalId, { email: someone.email.toUpperCase() }), 409, "email_taken");
		const other = await createServerUser();
		expectError(await putUser(other.external_id, { email: someone.email }), 409, "email_taken");
		expect((await serverCall<{ user: { email: string } }>("GET", userPath(other.external_id))).body.user.email).toBe(
			other.email,
		);
	});

	it("makes one user of concurrent first PUTs for one id", async () => {
		for (let round = 0; round < 5; round++) {
			const externalId = uniqueExternalId("race");
			const answers = await Promise.all(
				Array.from({ length: 8 }, () => putUser(externalId, { email: `${externalId}@example.com` })),
			);
			expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 201]);
			expect(new Set(answers.map((a) => a.body.user.id)).size).toBe(1);
		}
	});

	it("takes any printable id exactly as sent, percent-encoded in the path, and refuses others with 400", async () => {
		for (const externalId of ["42", "ada@example.com", "org/7/user:9", "josé-ñ", "用户-7", "a".repeat(128)]) {
			const unique = `${externalId.slice(0, 100)}${crypto.randomUUID().slice(0, 8)}`;
			const created = await putUser(unique, { email: `${crypto.randomUUID()}@example.com` });
			expect({ unique, status: created.status }).toEqual({ unique, status: 201 });
			expect(created.body.user.external_id).toBe(unique);
			const read = await serverCall<{ user: { external_id: string } }>("GET", userPath(unique));
			expect(read.body.user.external_id).toBe(unique);
		}
		for (const bad of ["has space", "tab\there", "a".repeat(129), "line\nbreak", "\u200b"]) {
			const response = await putUser(bad, { email: `${crypto.randomUUID()}@example.com` });
			expectError(response, 400, "invalid_request");
			expect(response.body).toMatchObject({ fields: { external_id: expect.any(String) } });
		}
	});

	it("refuses bodies that are not the contract's", async () => {
		const externalId = uniqueExternalId();
		for (const body of [
			{ email: "not-an-email" },
			{ email: 42 },
			{ display_name: "" },
			{ display_name: "x".repeat(129) },
		]) {
			expectError(await putUser(externalId, body), 400, "invalid_request");
		}
		const raw = await serverCall("PUT", userPath(externalId), {
			rawBody: "{",
			headers: { "content-type": "application/json" },
		});
		expectError(raw, 400, "invalid_request");
		expectError(
			await serverCall("PUT", userPath(externalId), { rawBody: "x", headers: { "content-type": "text/plain" } }),
			415,
			"unsupported_media_type",
		);
		expectError(await serverCall("GET", userPath(externalId)), 404, "not_found");
	});
});

describe("a user of the app, from the server API on", () => {
	it("has no password here: every password sign-in answers invalid_credentials", async () => {
		const created = await createServerUser();
		for (const password of [PASSWORD, "", " ", "x".repeat(8)]) {
			const response = await call("POST", "/api/auth/login/", { app: true, body: { email: created.email, password } });
			expect(response.status).toBe(400);
			expect(response.body).toMatchObject({ success: false });
			expect(["invalid_credentials", "invalid_request"]).toContain((response.body as { code: string }).code);
		}
		expectError(await logIn(created.email), 400, "invalid_credentials");
	});

	it("gets a full session for `partial` while it has no second factor, as a password sign-in does", async () => {
		const created = await createServerUser();
		const response = await serverSession(created.external_id, "partial");
		expect(response.status).toBe(201);
		expect(response.body).toEqual({
			success: true,
			session: {
				level: "full",
				user: { id: created.id, email: created.email },
				methods: [],
				authenticated_at: expect.any(String),
				expires_at: expect.any(String),
			},
			session_token: expect.stringMatching(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/),
		});
		const session = await call<{ session: { level: string } }>("GET", "/api/auth/session/", {
			token: response.body.session_token,
		});
		expect(session.body.session.level).toBe("full");
	});

	it("registers a passkey with the vouched session, then completes a partial one with it", async () => {
		const user = await appUser();
		const authenticator = new SoftAuthenticator();
		const registered = await registerPasskey(user, authenticator);
		expect(registered.response.status).toBe(201);
		expect(registered.response.body.recovery_codes).toHaveLength(10);

		const partial = await serverSession(user.externalId, "partial");
		expect(partial.status).toBe(201);
		expect(partial.body.session).toMatchObject({ level: "partial" });
		const token = partial.body.session_token;
		expectError(await call("POST", "/api/auth/token/", { token }), 403, "mfa_required");
		expectError(await call("GET", "/api/webauthn/", { token }), 403, "mfa_required");

		const verified = await verifyPasskey(token, authenticator);
		expect(verified.status).toBe(200);
		expect(verified.body.session.level).toBe("full");
		const full = verified.body.session_token ?? "";
		expectError(await call("GET", "/api/auth/session/", { token }), 401, "not_authenticated");

		const claims = await verifyToken(await tokenFor({ token: full }));
		expect(claims).toMatchObject({
			sub: user.externalId,
			sub_type: "external_id",
			email: user.email,
			amr: ["pwd", "hwk", "user", "mfa"],
			acr: "aal2",
		});
	});

	it("names the app's id in the token of a `full` session, with the methods the app used", async () => {
		const user = await appUser();
		const pwd = await verifyToken(await tokenFor({ token: user.token }));
		expect(pwd).toMatchObject({ sub: user.externalId, sub_type: "external_id", amr: ["pwd"], acr: "aal1" });

		const both = await serverSession(user.externalId, "full", ["pwd", "otp"]);
		const claims = await verifyToken(await tokenFor({ token: both.body.session_token }));
		expect(claims).toMatchObject({ sub: user.externalId, amr: ["pwd", "otp", "mfa"], acr: "aal2" });

		// A user of our own sign-up keeps our id, and says so.
		const own = await signUp();
		expect(await verifyToken(await tokenFor({ token: own.token }))).toMatchObject({ sub: own.id, sub_type: "user_id" });
	});

	it("refuses sessions with a level or methods the app cannot vouch for, and for unknown users", async () => {
		const created = await createServerUser();
		const path = `${userPath(created.external_id)}/sessions`;
		for (const body of [
			{ level: "partial", amr: [] },
			{ level: "full", amr: ["hwk"] },
			{ level: "full", amr: ["pwd", "pwd"] },
			{ level: "full", amr: ["pwd", "otp", "pwd"] },
			{ level: "setup_required", amr: ["pwd"] },
			{ level: "full" },
			{ amr: ["pwd"] },
		]) {
			expectError(await serverCall("POST", path, { body }), 400, "invalid_request");
		}
		expectError(await serverSession(uniqueExternalId("nobody"), "full"), 404, "not_found");
	});

	it("signs in with a passkey and no password: the token names the app's id", async () => {
		const user = await appUser();
		const authenticator = new SoftAuthenticator();
		const registered = await registerPasskey(user, authenticator, { passwordless: true });
		expect(registered.response.status).toBe(201);

		const login = await postSignIn(await signInAssertion(authenticator));
		expect(login.status).toBe(200);
		expect(login.body.session).toMatchObject({ level: "full", user: { id: user.id, email: user.email } });
		const claims = await verifyToken(await tokenFor({ token: login.body.session_token ?? "" }));
		expect(claims).toMatchObject({ sub: user.externalId, sub_type: "external_id", acr: "aal2" });
	});
});

describe("GET /api/server/users/{external_id}", () => {
	it("shows support staff the passkeys, TOTP, codes left, live sessions and the newest sign-in", async () => {
		const created = await createServerUser();
		const fresh = await serverCall("GET", userPath(created.external_id));
		expect(fresh.status).toBe(200);
		expect(fresh.body).toEqual({
			success: true,
			user: created,
			passkeys: [],
			totp: false,
			recovery_codes_left: 0,
			sessions: 0,
			last_sign_in_at: null,
		});

		const token = await fullServerSession(created.external_id);
		const user = { id: created.id, email: created.email, token };
		const registered = await registerPasskey(user, new SoftAuthenticator(), { name: "Office key" });
		await enableTotp(user);
		const partial = await serverSession(created.external_id, "partial");
		expect(partial.body.session.level).toBe("partial");

		const details = await serverCall<Record<string, unknown>>("GET", userPath(created.external_id));
		expect(details.body).toEqual({
			success: true,
			user: created,
			passkeys: [expect.objectContaining({ id: registered.response.body.passkey.id, name: "Office key" })],
			totp: true,
			recovery_codes_left: 10,
			// The full session and the partial one.
			sessions: 2,
			last_sign_in_at: expect.any(String),
		});
		const own = await call<{ session: { authenticated_at: string } }>("GET", "/api/auth/session/", { token });
		expect(details.body.last_sign_in_at).toBe(own.body.session.authenticated_at);
		// Nothing secret: no TOTP secret, no code, no token, no hash.
		const text = JSON.stringify(details.body);
		expect(text).not.toContain(token);
		expect(text).not.toMatch(/secret|hash|code"/i);
	});

	it("answers 404 for an id no user has, and never finds a user of our own sign-up by its id", async () => {
		expectError(await serverCall("GET", userPath(uniqueExternalId("nobody"))), 404, "not_found");
		const own = await signUp();
		expectError(await serverCall("GET", userPath(own.id)), 404, "not_found");
		expectError(await serverSession(own.id, "full"), 404, "not_found");
		expectError(await serverCall("DELETE", `${userPath(own.id)}/sessions`), 404, "not_found");
		expectError(await serverCall("POST", `${userPath(own.id)}/second-factors/reset`), 404, "not_found");
		expect((await serverCall("DELETE", userPath(own.id))).status).toBe(200);
		expect((await call("GET", "/api/auth/session/", { token: own.token })).status).toBe(200);
	});
});

describe("DELETE /api/server/users/{external_id}/sessions", () => {
	it("ends every session of the user and says how many", async () => {
		const user = await appUser();
		const second = await fullServerSession(user.externalId);
		const response = await serverCall("DELETE", `${userPath(user.externalId)}/sessions`);
		expect(response.status).toBe(200);
		expect(response.body).toEqual({ success: true, revoked: 2 });
		for (const token of [user.token, second]) {
			expectError(await call("GET", "/api/auth/session/", { token }), 401, "not_authenticated");
		}
		expect((await serverCall("DELETE", `${userPath(user.externalId)}/sessions`)).body).toEqual({
			success: true,
			revoked: 0,
		});
	});
});

describe("DELETE /api/server/users/{external_id}", () => {
	it("deletes the user and all they own, idempotently, and frees the email and the id", async () => {
		const user = await appUser();
		const authenticator = new SoftAuthenticator();
		await registerPasskey(user, authenticator, { passwordless: true });
		const path = userPath(user.externalId);

		expect(await serverCall("DELETE", path)).toMatchObject({ status: 200, body: { success: true } });
		expectError(await serverCall("GET", path), 404, "not_found");
		expectError(await call("GET", "/api/auth/session/", { token: user.token }), 401, "not_authenticated");
		// Its passkey signs nobody in any more.
		expectError(await postSignIn(await signInAssertion(authenticator)), 400, "verification_failed");
		const rows = await userSql(
			user.id,
			"SELECT (SELECT COUNT(*) FROM sessions) + (SELECT COUNT(*) FROM passkeys) + (SELECT COUNT(*) FROM recovery_codes) + (SELECT COUNT(*) FROM account) AS n",
		).first<{ n: number }>();
		expect(rows?.n).toBe(0);
		// Nor is anything of the user left in the directory.
		const directory = await env.DB.prepare(
			"SELECT (SELECT COUNT(*) FROM users WHERE id = ?1) + (SELECT COUNT(*) FROM credentials WHERE user_id = ?1) AS n",
		)
			.bind(user.id)
			.first<{ n: number }>();
		expect(directory?.n).toBe(0);

		expect(await serverCall("DELETE", path)).toMatchObject({ status: 200, body: { success: true } });
		const again = await putUser(user.externalId, { email: user.email });
		expect(again.status).toBe(201);
		expect(again.body.user.id).not.toBe(user.id);
	});
});

describe("POST /api/server/users/{external_id}/second-factors/reset", () => {
	it("removes passkeys, TOTP and recovery codes, revokes the sessions, and the user starts over", async () => {
		const user = await appUser();
		const authenticator = new SoftAuthenticator();
		await registerPasskey(user, authenticator, { passwordless: true });
		await enableTotp(user);
		const path = userPath(user.externalId);

		const reset = await serverCall("POST", `${path}/second-factors/reset`);
		expect(reset.status).toBe(200);
		expect(reset.body).toEqual({ success: true, revoked: 1 });
		expectError(await call("GET", "/api/auth/session/", { token: user.token }), 401, "not_authenticated");
		expect((await serverCall("GET", path)).body).toMatchObject({
			passkeys: [],
			totp: false,
			recovery_codes_left: 0,
			sessions: 0,
		});
		expectError(await postSignIn(await signInAssertion(authenticator)), 400, "verification_failed");

		// A new session is full (no second factor), and a new passkey brings new codes.
		const fresh = await serverSession(user.externalId, "partial");
		expect(fresh.body.session.level).toBe("full");
		const again = await registerPasskey({ ...user, token: fresh.body.session_token });
		expect(again.response.body.recovery_codes).toHaveLength(10);
	});

	it("leaves no passkey from a registration racing the reset, however they interleave", async () => {
		for (let round = 0; round < 8; round++) {
			const user = await appUser();
			const authenticator = new SoftAuthenticator();
			const path = userPath(user.externalId);
			const [registered, reset] = await Promise.all([
				registerPasskey(user, authenticator),
				serverCall("POST", `${path}/second-factors/reset`),
			]);
			expect(reset.status).toBe(200);
			// Registered first and then removed, or refused: never left behind.
			expect([201, 400, 401]).toContain(registered.response.status);
			const details = await serverCall<{ passkeys: unknown[]; recovery_codes_left: number }>("GET", path);
			expect({ round, passkeys: details.body.passkeys.length, codes: details.body.recovery_codes_left }).toEqual({
				round,
				passkeys: 0,
				codes: 0,
			});
		}
	});

	it("refuses a registration begun before the reset and completed after it", async () => {
		const user = await appUser();
		const authenticator = new SoftAuthenticator();
		const options = await call<{ creation_options: Parameters<SoftAuthenticator["createCredential"]>[0] }>(
			"GET",
			"/api/webauthn/register/options/",
			{ token: user.token },
		);
		// The app vouches for a new session first, which the reset ends too.
		const second = await fullServerSession(user.externalId);
		const credential = await authenticator.createCredential(options.body.creation_options);
		expect((await serverCall("POST", `${userPath(user.externalId)}/second-factors/reset`)).status).toBe(200);
		for (const token of [user.token, second]) {
			const complete = await call("POST", "/api/webauthn/register/complete/", { token, body: { credential } });
			expectError(complete, 401, "not_authenticated");
		}
		const details = await serverCall<{ passkeys: unknown[] }>("GET", userPath(user.externalId));
		expect(details.body.passkeys).toEqual([]);
	});
});

describe("security events of the app's users", () => {
	it("name the app's id, say a session came from the server API, and report the reset", async () => {
		const endpoint = receiverEndpoint();
		const created = await createServerUser();
		const { external_id: externalId } = created;
		await withVars({ WEBHOOK_URLS: endpoint.url }, async () => {
			const token = await fullServerSession(externalId);
			await registerPasskey({ id: created.id, email: created.email, token });
			await fullServerSession(externalId);
			expect((await serverCall("POST", `${userPath(externalId)}/second-factors/reset`)).status).toBe(200);
		});
		const events = (await deliveriesAt(endpoint.name, 4, 60_000)).map(eventOf);
		for (const event of events) expect(event.user).toEqual({ id: created.id, external_id: externalId });
		const byType = (type: string) => events.filter((event) => event.type === type).map((event) => event.data);
		expect(byType("session.created")).toEqual([
			{ method: "server", level: "full", client: "app" },
			{ method: "server", level: "full", client: "app" },
		]);
		expect(byType("passkey.added")).toHaveLength(1);
		expect(byType("second_factors.reset")).toEqual([{ passkeys_removed: 1, totp_removed: false, sessions_revoked: 2 }]);
	});
});
