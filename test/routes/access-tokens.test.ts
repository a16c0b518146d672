import { decodeJwt } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import { clock } from "../../src/lib/clock";
import { userSql } from "../helpers/account";
import { call, ORIGIN, signUp } from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import { browserSignUp, partialLogin, userWithPasskey, verifyPasskey } from "../helpers/flows";
import { postSignIn, signInAssertion, userWithDiscoverablePasskey } from "../helpers/passwordless";
import {
	decodeProtectedHeader,
	ISSUER,
	publishedKeys,
	requestToken,
	TEST_KEYS,
	tokenFor,
	verifyToken,
} from "../helpers/tokens";
import { codeFor, partialToken, reauthenticate, userWithTotp, verifyRecoveryCode, verifyTotp } from "../helpers/totp";

// POST /api/auth/token/ hands a full session a short-lived JWT for the app's
// backend. Every token here is checked as a backend would check it: with
// jose, against the keys the Worker publishes at /.well-known/jwks.json.

afterEach(() => {
	vi.restoreAllMocks();
});

describe("POST /api/auth/token/", () => {
	it("answers a full session with an ES256 token whose claims say who signed in, and how", async () => {
		const user = await signUp();
		const before = Math.floor(Date.now() / 1000);
		const response = await requestToken({ token: user.token });

		expect(response.status).toBe(200);
		expect(response.headers.get("cache-control")).toBe("no-store");
		expect(response.body).toEqual({
			success: true,
			access_token: expect.any(String),
			token_type: "Bearer",
			expires_in: 300,
		});
		const header = decodeProtectedHeader(response.body.access_token);
		expect(header).toEqual({ alg: "ES256", kid: "test-key-1", typ: "at+jwt" });

		const claims = await verifyToken(response.body.access_token);
		const session = await call<{ session: { authenticated_at: string } }>("GET", "/api/auth/session/", {
			token: user.token,
		});
		expect(claims).toEqual({
			iss: ISSUER,
			aud: ISSUER,
			sub: user.id,
			sub_type: "user_id",
			sid: expect.stringMatching(/^[0-9a-f]{64}$/),
			iat: expect.any(Number),
			nbf: expect.any(Number),
			exp: expect.any(Number),
			jti: expect.any(String),
			auth_time: Math.floor(Date.parse(session.body.session.authenticated_at) / 1000),
			amr: ["pwd"],
			acr: "aal1",
			email: user.email,
		});
		expect(claims.iat).toBeGreaterThanOrEqual(before);
		expect(claims.nbf).toBe(claims.iat);
		expect(claims.exp).toBe((claims.iat as number) + 300);
	});

	it("never carries the session token, and gives every token its own jti", async () => {
		const user = await signUp();
		const first = await tokenFor({ token: user.token });
		const second = await tokenFor({ token: user.token });
		for (const token of [first, second]) {
			const [header, payload] = token.split(".");
			const decoded = `${atob((header as string).replace(/-/g, "+").replace(/_/g, "/"))}${atob((payload as string).replace(/-/g, "+").replace(/_/g, "/"))}`;
			expect(decoded).not.toContain(user.token);
			expect(token).not.toContain(user.token);
		}
		expect(decodeJwt(first).jti).not.toBe(decodeJwt(second).jti);
		expect(decodeJwt(first).sid).toBe(decodeJwt(second).sid);
	});

	it("works with the session cookie from the configured origin, and refuses a cookie from another", async () => {
		const user = await browserSignUp();
		expect((await requestToken({ cookie: user.cookie })).status).toBe(200);
		const foreign = await requestToken({ cookie: user.cookie, origin: "https://evil.example" });
		expect(foreign.status).toBe(403);
		expect(foreign.body).toMatchObject({ success: false, code: "csrf_failed" });
	});

	it("refuses a request without a session", async () => {
		const response = await requestToken({});
		expect(response.status).toBe(401);
		expect(response.body).toMatchObject({ success: false, code: "not_authenticated" });
	});

	it("gives a partial session no token (403 mfa_required)", async () => {
		const { user } = await userWithPasskey();
		const partial = await partialLogin(user);
		const response = await requestToken({ token: partial });
		expect(response.status).toBe(403);
		expect(response.body).toMatchObject({ success: false, code: "mfa_required" });
	});

	it("issues for a configured audience that the request names, and refuses any other with 400", async () => {
		const vars = { TOKEN_AUDIENCES: "https://api.example.com, https://billing.example.com" };
		const user = await signUp();
		const byDefault = await tokenFor({ token: user.token }, vars);
		expect(decodeJwt(byDefault).aud).toBe("https://api.example.com");
		const named = await tokenFor({ token: user.token, body: { audience: "https://billing.example.com" } }, vars);
		const claims = await verifyToken(named, { audience: "https://billing.example.com", vars });
		expect(claims.aud).toBe("https://billing.example.com");

		const unlisted = await requestToken({ token: user.token, body: { audience: "https://evil.example" } }, vars);
		expect(unlisted.status).toBe(400);
		expect(unlisted.body).toMatchObject({
			success: false,
			code: "invalid_request",
			fields: { audience: expect.any(String) },
		});
		// Without TOKEN_AUDIENCES the only audience is the issuer.
		const notConfigured = await requestToken({ token: user.token, body: { audience: "https://api.example.com" } });
		expect(notConfigured.status).toBe(400);
	});

	it("reads an empty JSON body as no body, and holds a body that is sent to the JSON rules", async () => {
		const user = await signUp();
		const emptyJson = await requestToken({ token: user.token, headers: { "content-type": "application/json" } });
		expect(emptyJson.status).toBe(200);
		const blank = await requestToken({
			token: user.token,
			headers: { "content-type": "application/json" },
			rawBody: " \n",
		});
		expect(blank.status).toBe(200);
		expect((await requestToken({ token: user.token, body: {} })).status).toBe(200);

		const malformed = await requestToken({
			token: user.token,
			headers: { "content-type": "application/json" },
			rawBody: "{audience:",
		});
		expect(malformed.status).toBe(400);
		expect(malformed.body).toMatchObject({ code: "invalid_request" });
		const wrongType = await requestToken({ token: user.token, body: { audience: 5 } });
		expect(wrongType.body).toMatchObject({ code: "invalid_request", fields: { audience: expect.any(String) } });
		const notJson = await requestToken({ token: user.token, headers: { "content-type": "text/plain" }, rawBody: "x" });
		expect(notJson.status).toBe(415);
	});

	it("takes its issuer and lifetime from the configuration, and refuses a lifetime over 15 minutes", async () => {
		const user = await signUp();
		const vars = { TOKEN_ISSUER: "https://auth.example.com", TOKEN_TTL_SECONDS: "900" };
		const response = await requestToken({ token: user.token }, vars);
		expect(response.body.expires_in).toBe(900);
		const claims = decodeJwt(response.body.access_token);
		expect(claims).toMatchObject({ iss: "https://auth.example.com", aud: "https://auth.example.com" });
		expect((claims.exp as number) - (claims.iat as number)).toBe(900);

		const errors = vi.spyOn(console, "error").mockImplementation(() => {});
		for (const ttl of ["901", "0", "five minutes", "-1"]) {
			const refused = await requestToken({ token: user.token }, { TOKEN_TTL_SECONDS: ttl });
			expect(refused.status, ttl).toBe(500);
			expect(refused.body).toMatchObject({ success: false, code: "internal_error" });
		}
		expect(errors.mock.calls.map((args) => String(args[0])).join("\n")).toContain("TOKEN_TTL_SECONDS");
		// The keys and the discovery document do not depend on the lifetime.
		const { callConfigured } = await import("../helpers/configured");
		for (const path of ["/.well-known/jwks.json", "/.well-known/openid-configuration"]) {
			expect((await callConfigured({ TOKEN_TTL_SECONDS: "901" }, "GET", path)).status, path).toBe(200);
		}
	});

	it("stops issuing at once when the session is logged out", async () => {
		const user = await signUp();
		const issued = await tokenFor({ token: user.token });
		expect((await call("POST", "/api/auth/logout/", { token: user.token })).status).toBe(200);
		const after = await requestToken({ token: user.token });
		expect(after.status).toBe(401);
		expect(after.body).toMatchObject({ code: "not_authenticated" });
		// The token already issued lives on until its exp: that is the documented trade-off.
		expect((await verifyToken(issued)).sub).toBe(user.id);
	});

	it("stops issuing at once when the session is revoked (a password change or a revocation deletes its row)", async () => {
		const user = await signUp();
		await tokenFor({ token: user.token });
		await userSql(user.id, "DELETE FROM sessions").run();
		expect((await requestToken({ token: user.token })).status).toBe(401);
	});

	it("is refused by a verifier once expired", async () => {
		const user = await signUp();
		const token = await tokenFor({ token: user.token });
		const { exp } = decodeJwt(token);
		await expect(
			import("jose").then(async ({ createLocalJWKSet, jwtVerify }) =>
				jwtVerify(token, createLocalJWKSet(await publishedKeys()), {
					issuer: ISSUER,
					audience: ISSUER,
					currentDate: new Date(((exp as number) + 1) * 1000),
				}),
			),
		).rejects.toThrow(/exp/);
	});
});

describe("amr and acr", () => {
	it("password only: pwd, aal1", async () => {
		const user = await signUp();
		expect(decodeJwt(await tokenFor({ token: user.token }))).toMatchObject({ amr: ["pwd"], acr: "aal1" });
	});

	it("password and a device-bound passkey: pwd hwk user mfa, aal2", async () => {
		const { user, authenticator } = await userWithPasskey(new SoftAuthenticator({ backupEligible: false }));
		const partial = await partialLogin(user);
		const verified = await verifyPasskey(partial, authenticator);
		expect(verified.status).toBe(200);
		const claims = await verifyToken(await tokenFor({ token: verified.body.session_token as string }));
		expect(claims).toMatchObject({ amr: ["pwd", "hwk", "user", "mfa"], acr: "aal2" });
	});

	it("password and a synced passkey that did not verify the user: pwd swk mfa, aal2", async () => {
		const authenticator = new SoftAuthenticator({ backupEligible: true, backedUp: true });
		const { user } = await userWithPasskey(authenticator);
		const partial = await partialLogin(user);
		const verified = await verifyPasskey(partial, authenticator, { flags: { uv: false } });
		expect(verified.status).toBe(200);
		const claims = decodeJwt(await tokenFor({ token: verified.body.session_token as string }));
		expect(claims).toMatchObject({ amr: ["pwd", "swk", "mfa"], acr: "aal2" });
	});

	it("a passwordless sign-in with a synced passkey: swk user, aal2 (no mfa: one credential)", async () => {
		const authenticator = new SoftAuthenticator({ backupEligible: true, backedUp: true });
		await userWithDiscoverablePasskey(authenticator);
		const signedIn = await postSignIn(await signInAssertion(authenticator));
		expect(signedIn.status).toBe(200);
		const claims = await verifyToken(await tokenFor({ token: signedIn.body.session_token as string }));
		expect(claims).toMatchObject({ amr: ["swk", "user"], acr: "aal2" });
	});

	it("a passwordless sign-in with a device-bound passkey: hwk user, aal2", async () => {
		const authenticator = new SoftAuthenticator({ backupEligible: false });
		await userWithDiscoverablePasskey(authenticator);
		const signedIn = await postSignIn(await signInAssertion(authenticator));
		expect(signedIn.status).toBe(200);
		const claims = decodeJwt(await tokenFor({ token: signedIn.body.session_token as string }));
		expect(claims).toMatchObject({ amr: ["hwk", "user"], acr: "aal2" });
	});

	it("password and TOTP: pwd otp mfa, aal2", async () => {
		const { user, secret } = await userWithTotp();
		const partial = await partialToken(user);
		// The activation used this step's code: take the next one.
		const verified = await verifyTotp(partial, await codeFor(secret, 1));
		expect(verified.status).toBe(200);
		const claims = await verifyToken(await tokenFor({ token: verified.body.session_token as string }));
		expect(claims).toMatchObject({ amr: ["pwd", "otp", "mfa"], acr: "aal2" });
	});

	it("password and a recovery code: pwd otp mfa, aal2", async () => {
		const { user, recoveryCodes } = await userWithTotp();
		const partial = await partialToken(user);
		const verified = await verifyRecoveryCode(partial, recoveryCodes?.[0]);
		expect(verified.status).toBe(200);
		const claims = decodeJwt(await tokenFor({ token: verified.body.session_token as string }));
		expect(claims).toMatchObject({ amr: ["pwd", "otp", "mfa"], acr: "aal2" });
	});

	it("a reauthentication moves auth_time and keeps one entry per method", async () => {
		const { user, secret } = await userWithTotp();
		const partial = await partialToken(user);
		const full = (await verifyTotp(partial, await codeFor(secret, 1))).body.session_token as string;
		const first = decodeJwt(await tokenFor({ token: full }));

		const later = Date.now() + 10 * 60_000;
		vi.spyOn(clock, "now").mockReturnValue(later);
		await reauthenticate(full);
		const second = decodeJwt(await tokenFor({ token: full }));
		expect(second.auth_time).toBe(Math.floor(later / 1000));
		expect(second.auth_time).toBeGreaterThan(first.auth_time as number);
		expect(second).toMatchObject({ amr: ["pwd", "otp", "mfa"], acr: "aal2" });
	});

	it("a passkey reauthentication adds the passkey to a password session", async () => {
		const user = await signUp();
		const authenticator = new SoftAuthenticator({ backupEligible: false });
		// Registering needs a full session; the user then verifies with it on the same session.
		const { addPasskey } = await import("../helpers/flows");
		await addPasskey(user, authenticator);
		const verified = await verifyPasskey(user.token, authenticator);
		expect(verified.status).toBe(200);
		const claims = decodeJwt(await tokenFor({ token: user.token }));
		expect(claims).toMatchObject({ amr: ["pwd", "hwk", "user", "mfa"], acr: "aal2" });
	});
});

describe("GET /.well-known/jwks.json", () => {
	it("publishes the public members of every key, never d, cached for 5 minutes", async () => {
		const response = await call<{ keys: Record<string, unknown>[] }>("GET", "/.well-known/jwks.json");
		expect(response.status).toBe(200);
		expect(response.headers.get("cache-control")).toBe("public, max-age=300");
		expect(response.headers.get("content-type")).toBe("application/json");
		const [key] = TEST_KEYS.current.keys;
		expect(response.body).toEqual({
			keys: [{ kty: "EC", crv: "P-256", x: key?.x, y: key?.y, kid: "test-key-1", alg: "ES256", use: "sig" }],
		});
		expect(JSON.stringify(response.body)).not.toContain(key?.d as string);
	});

	it("never publishes a private member, whatever else the secret's keys carry", async () => {
		const [key] = TEST_KEYS.current.keys;
		const loaded = { ...key, ext: true, key_ops: ["sign"], p: "x", q: "y", dp: "z", x5c: ["MII"] };
		const vars = { TOKEN_SIGNING_KEYS: JSON.stringify({ keys: [loaded] }) };
		const keys = await publishedKeys(vars);
		expect(Object.keys(keys.keys[0] as object).sort()).toEqual(["alg", "crv", "kid", "kty", "use", "x", "y"]);
	});
});

describe("GET /.well-known/openid-configuration", () => {
	it("names the issuer and where its keys are, so JWT libraries can discover them", async () => {
		const response = await call<Record<string, unknown>>("GET", "/.well-known/openid-configuration");
		expect(response.status).toBe(200);
		expect(response.headers.get("cache-control")).toBe("public, max-age=300");
		expect(response.body).toMatchObject({ issuer: ISSUER, jwks_uri: `${ISSUER}/.well-known/jwks.json` });
	});

	it("follows TOKEN_ISSUER", async () => {
		const { callConfigured } = await import("../helpers/configured");
		const response = await callConfigured<Record<string, unknown>>(
			{ TOKEN_ISSUER: "https://auth.example.com" },
			"GET",
			"/.well-known/openid-configuration",
		);
		expect(response.body).toMatchObject({ issuer: "https://auth.example.com" });
	});
});

describe("key rotation", () => {
	it("a token signed by the old first key still verifies after a rotation, and new tokens use the new key", async () => {
		const user = await signUp();
		const old = await tokenFor({ token: user.token });
		expect(decodeProtectedHeader(old).kid).toBe("test-key-1");

		const rotated = { TOKEN_SIGNING_KEYS: JSON.stringify({ keys: [TEST_KEYS.next, ...TEST_KEYS.current.keys] }) };
		const published = await publishedKeys(rotated);
		expect(published.keys.map((key) => key.kid)).toEqual(["test-key-2", "test-key-1"]);
		expect((await verifyToken(old, { vars: rotated })).sub).toBe(user.id);

		const fresh = await tokenFor({ token: user.token }, rotated);
		expect(decodeProtectedHeader(fresh).kid).toBe("test-key-2");
		expect((await verifyToken(fresh, { vars: rotated })).sub).toBe(user.id);
	});
});

describe("a missing or malformed TOKEN_SIGNING_KEYS", () => {
	const [key] = TEST_KEYS.current.keys;
	const { d: _d, ...publicOnly } = key as Record<string, string>;
	const BROKEN: Record<string, string> = {
		missing: "",
		"not JSON": "{keys:",
		"no keys": JSON.stringify({ keys: [] }),
		"a key without d": JSON.stringify({ keys: [publicOnly] }),
		"a key without kid": JSON.stringify({ keys: [{ ...key, kid: undefined }] }),
		"two keys with one kid": JSON.stringify({ keys: [key, key] }),
		"an RSA key": JSON.stringify({ keys: [{ kty: "RSA", n: "AQAB", e: "AQAB", d: "AQAB", kid: "r" }] }),
		"a d of another key": JSON.stringify({ keys: [{ ...key, d: TEST_KEYS.next.d }] }),
	};

	for (const [name, value] of Object.entries(BROKEN)) {
		it(`(${name}) answers 500 internal_error on the token route, logs why, and leaves sign-in working`, async () => {
			const errors = vi.spyOn(console, "error").mockImplementation(() => {});
			const vars = { TOKEN_SIGNING_KEYS: value };
			const user = await signUp();
			const response = await requestToken({ token: user.token }, vars);
			expect(response.status).toBe(500);
			expect(response.body).toEqual({
				success: false,
				code: "internal_error",
				message: "Something went wrong on our side.",
			});
			const logged = errors.mock.calls.map((args) => args.map(String).join(" ")).join("\n");
			expect(logged).toContain("TOKEN_SIGNING_KEYS");
			// The log names the problem, never a key.
			expect(logged).not.toContain(key?.d as string);
			expect(logged).not.toContain(TEST_KEYS.next.d);

			const { callConfigured } = await import("../helpers/configured");
			const login = await callConfigured(vars, "POST", "/api/auth/login/", {
				app: true,
				body: { email: user.email, password: "correct horse battery staple" },
			});
			expect(login.status).toBe(200);
			expect((await callConfigured(vars, "GET", "/api/auth/session/", { token: user.token })).status).toBe(200);
			expect((await callConfigured(vars, "GET", "/.well-known/openid-configuration")).status).toBe(200);
			// No keys to publish either: 500, not an empty set that verifiers would cache for 5 minutes.
			const jwks = await callConfigured(vars, "GET", "/.well-known/jwks.json");
			expect(jwks.status).toBe(500);
			expect(jwks.headers.get("cache-control")).toBe("no-store");
		});
	}
});

describe("a browser asking for a token", () => {
	it("needs the configured Origin like every cookie POST", async () => {
		const user = await browserSignUp();
		const response = await requestToken({ cookie: user.cookie, origin: ORIGIN });
		expect(response.status).toBe(200);
		expect((await requestToken({ cookie: user.cookie, origin: null })).status).toBe(403);
	});
});
