import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DOCS_CSP } from "../../src/routes/docs";
import { type ApiResponse, browserSignUp, call, logIn, ORIGIN, PASSWORD, signUp, uniqueEmail } from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import { callConfigured } from "../helpers/configured";
import { addPasskey, partialLogin, registerPasskey, verifyPasskey } from "../helpers/flows";
import { postSignIn, signInAssertion, userWithDiscoverablePasskey } from "../helpers/passwordless";
import { codeFor, enableTotp, totpActivate, totpSetup, verifyRecoveryCode, verifyTotp } from "../helpers/totp";

// The headers that keep answers out of caches and out of other sites' hands:
// `Cache-Control: no-store` on every auth answer (success or error),
// `X-Content-Type-Options: nosniff` everywhere, credentialed CORS only for
// the configured origins, and a strict CSP with frame-ancestors on pages.

function expectAuthHeaders(label: string, response: ApiResponse<unknown>): void {
	expect({ label, cacheControl: response.headers.get("cache-control") }).toEqual({ label, cacheControl: "no-store" });
	expect({ label, nosniff: response.headers.get("x-content-type-options") }).toEqual({ label, nosniff: "nosniff" });
}

describe("Cache-Control: no-store and nosniff", () => {
	it("are on the success answer of every API route", async () => {
		const answers: [string, ApiResponse<unknown>][] = [];
		const note = (label: string, response: ApiResponse<unknown>, status: number) => {
			expect({ label, status: response.status }).toEqual({ label, status });
			answers.push([label, response]);
		};

		// Accounts.
		const email = uniqueEmail("headers");
		const signup = await call<{ session_token: string }>("POST", "/api/auth/signup/", {
			app: true,
			body: { email, password: PASSWORD },
		});
		note("POST signup", signup, 201);
		const token = signup.body.session_token;
		note("POST login", await logIn(email), 200);
		note("GET session", await call("GET", "/api/auth/session/", { token }), 200);
		note(
			"POST reauthenticate",
			await call("POST", "/api/auth/reauthenticate/", { token, body: { password: PASSWORD } }),
			200,
		);
		const throwaway = (await logIn(email)).body.session_token;
		note("POST logout", await call("POST", "/api/auth/logout/", { token: throwaway }), 200);

		// Passkeys: register two, verify, list, rename, delete one.
		const user = { id: "", email, token };
		note("GET register/options", await call("GET", "/api/webauthn/register/options/", { token }), 200);
		const authenticator = new SoftAuthenticator();
		const first = await registerPasskey(user, authenticator);
		note("POST register/complete", first.response, 201);
		const second = await addPasskey(user);
		note("GET authenticate/options", await call("GET", "/api/webauthn/authenticate/options/", { token }), 200);
		note("POST webauthn/verify", await verifyPasskey(token, authenticator), 200);
		note("GET webauthn", await call("GET", "/api/webauthn/", { token }), 200);
		note(
			"PATCH webauthn/{id}",
			await call("PATCH", `/api/webauthn/${second.id}/`, { token, body: { name: "Key" } }),
			200,
		);
		note("DELETE webauthn/{id}", await call("DELETE", `/api/webauthn/${second.id}/`, { token }), 200);

		// Authenticator app and recovery codes.
		note("GET totp", await call("GET", "/api/totp/", { token }), 200);
		const setup = await totpSetup({ token });
		note("POST totp/setup", setup, 200);
		note("POST totp/activate", await totpActivate({ token }, await codeFor(setup.body.secret)), 201);
		note("POST totp/verify", await verifyTotp(await partialLogin(user), await codeFor(setup.body.secret, 1)), 200);
		note("DELETE totp", await call("DELETE", "/api/totp/", { token }), 200);
		note("GET recovery-codes", await call("GET", "/api/recovery-codes/", { token }), 200);
		const regenerated = await call<{ recovery_codes: string[] }>("POST", "/api/recovery-codes/regenerate/", { token });
		note("POST recovery-codes/regenerate", regenerated, 200);
		note(
			"POST recovery-codes/verify",
			await verifyRecoveryCode(await partialLogin(user), regenerated.body.recovery_codes[0]),
			200,
		);

		// Passwordless sign-in, and the documents.
		note("GET passkey/options", await call("GET", "/api/auth/passkey/options/"), 200);
		const passwordless = await userWithDiscoverablePasskey();
		note("POST passkey/login", await postSignIn(await signInAssertion(passwordless.authenticator)), 200);
		note("GET health", await call("GET", "/api/health/"), 200);
		note("GET openapi.json", await call("GET", "/api/openapi.json"), 200);

		// Every route of API.md but the three well-known documents (below).
		expect(answers).toHaveLength(24);
		for (const [label, response] of answers) expectAuthHeaders(label, response);
	});

	it("are on error answers: every status the API gives", async () => {
		const user = await signUp();
		const { user: withTotp } = await (async () => {
			const u = await signUp();
			await enableTotp(u);
			return { user: u };
		})();
		const partial = await partialLogin(withTotp);
		const answers: [string, ApiResponse<unknown>][] = [
			["400", await call("POST", "/api/auth/login/", { app: true, body: {} })],
			["400 invalid_credentials", await logIn(user.email, "wrong password")],
			["401", await call("GET", "/api/webauthn/")],
			["403 csrf", await call("POST", "/api/auth/signup/", { origin: "https://evil.example", body: {} })],
			["403 mfa", await call("GET", "/api/webauthn/", { token: partial })],
			["404", await call("GET", "/api/nope")],
			["404 id", await call("PATCH", "/api/webauthn/nope/", { token: user.token, body: { name: "x" } })],
			["409", await call("POST", "/api/auth/signup/", { app: true, body: { email: user.email, password: PASSWORD } })],
			[
				"413",
				await call("POST", "/api/auth/login/", {
					rawBody: "x".repeat(70_000),
					headers: { "content-type": "application/json" },
				}),
			],
			["415", await call("POST", "/api/auth/login/", { rawBody: "x", headers: { "content-type": "text/plain" } })],
		];
		// 429: five failed second factors lock the user.
		for (let i = 0; i < 5; i++) await verifyTotp(partial, "000000");
		answers.push(["429", await verifyTotp(await partialLogin(withTotp), "000000")]);
		expect(answers.map(([label, r]) => [label, r.status])).toEqual([
			["400", 400],
			["400 invalid_credentials", 400],
			["401", 401],
			["403 csrf", 403],
			["403 mfa", 403],
			["404", 404],
			["404 id", 404],
			["409", 409],
			["413", 413],
			["415", 415],
			["429", 429],
		]);
		for (const [label, response] of answers) expectAuthHeaders(label, response);
	});

	it("leave the public well-known documents cacheable, still with nosniff", async () => {
		const vars = {
			ORIGINS: "https://a.example,https://b.example",
			APPLE_APP_IDS: "ABCDE12345.com.example.app",
		};
		for (const path of ["/.well-known/webauthn", "/.well-known/apple-app-site-association"]) {
			const response = await callConfigured(vars, "GET", path);
			expect(response.status).toBe(200);
			expect(response.headers.get("cache-control")).toBe("public, max-age=3600");
			expect(response.headers.get("x-content-type-options")).toBe("nosniff");
		}
		// Not configured: the 404 envelope is an error like any other.
		expectAuthHeaders("well-known 404", await call("GET", "/.well-known/assetlinks.json"));
	});

	it("are on preflight answers too", async () => {
		for (const origin of [ORIGIN, "https://evil.example"]) {
			const response = await call("OPTIONS", "/api/auth/login/", {
				origin,
				headers: { "access-control-request-method": "POST" },
			});
			expect(response.status).toBe(204);
			expectAuthHeaders(`preflight from ${origin}`, response);
		}
	});
});

describe("CORS", () => {
	const FOREIGN = [
		"https://evil.example",
		"null",
		"http://localhost:8787/",
		"HTTP://LOCALHOST:8787",
		"http://localhost:8788",
		"https://localhost:8787",
		"http://sub.localhost:8787",
		"http://localhost:8787.evil.example",
	];

	function preflight(origin: string, method = "POST") {
		return call("OPTIONS", "/api/webauthn/register/complete/", {
			origin,
			headers: { "access-control-request-method": method, "access-control-request-headers": "content-type" },
		});
	}

	it("gives a configured origin credentialed access, on answers and preflights", async () => {
		const user = await browserSignUp();
		const answer = await call("GET", "/api/auth/session/", { cookie: user.cookie, origin: ORIGIN });
		expect(answer.status).toBe(200);
		expect(answer.headers.get("access-control-allow-origin")).toBe(ORIGIN);
		expect(answer.headers.get("access-control-allow-credentials")).toBe("true");
		expect(answer.headers.get("vary")).toMatch(/Origin/);

		const error = await call("GET", "/api/webauthn/", { origin: ORIGIN });
		expect(error.status).toBe(401);
		expect(error.headers.get("access-control-allow-origin")).toBe(ORIGIN);

		const pre = await preflight(ORIGIN, "DELETE");
		expect(pre.status).toBe(204);
		expect(pre.headers.get("access-control-allow-origin")).toBe(ORIGIN);
		expect(pre.headers.get("access-control-allow-credentials")).toBe("true");
		expect(pre.headers.get("access-control-allow-methods")).toMatch(/DELETE/);
		expect(pre.headers.get("access-control-allow-headers")).toMatch(/Authorization/);
		expect(pre.headers.get("access-control-allow-headers")).toMatch(/X-Client/);
	});

	it("gives any other origin nothing: no CORS header on its preflight or its answers", async () => {
		const user = await browserSignUp();
		for (const origin of FOREIGN) {
			const pre = await preflight(origin);
			expect({ origin, status: pre.status }).toEqual({ origin, status: 204 });
			for (const name of [
				"access-control-allow-origin",
				"access-control-allow-credentials",
				"access-control-allow-methods",
				"access-control-allow-headers",
			]) {
				expect({ origin, name, value: pre.headers.get(name) }).toEqual({ origin, name, value: null });
			}
			const answer = await call("GET", "/api/auth/session/", { cookie: user.cookie, origin });
			expect(answer.headers.get("access-control-allow-origin")).toBeNull();
			expect(answer.headers.get("access-control-allow-credentials")).toBeNull();
			// A cookie request from it is refused outright.
			const unsafe = await call("POST", "/api/auth/logout/", { cookie: user.cookie, origin });
			expect({ origin, status: unsafe.status }).toEqual({ origin, status: 403 });
			expect(unsafe.headers.get("access-control-allow-origin")).toBeNull();
		}
	});

	it("follows ORIGINS: each configured web origin, and never an Android app origin", async () => {
		const android = "android:apk-key-hash:AbC_dEf-123";
		const vars = { ORIGINS: `https://a.example, https://b.example/,${android}` };
		for (const origin of ["https://a.example", "https://b.example"]) {
			const pre = await callConfigured(vars, "OPTIONS", "/api/auth/login/", {
				origin,
				headers: { "access-control-request-method": "POST" },
			});
			expect(pre.headers.get("access-control-allow-origin")).toBe(origin);
		}
		for (const origin of [android, ORIGIN]) {
			const pre = await callConfigured(vars, "OPTIONS", "/api/auth/login/", {
				origin,
				headers: { "access-control-request-method": "POST" },
			});
			expect(pre.headers.get("access-control-allow-origin")).toBeNull();
		}
	});
});

describe("pages", () => {
	// wrangler.toml's [assets] binding: the pages as Workers static assets serve them, _headers applied.
	const assets = (env as unknown as { ASSETS: Fetcher }).ASSETS;
	const PAGES = ["/sign-in", "/sign-up", "/settings/security", "/nowhere"];

	function directives(csp: string): Map<string, string> {
		return new Map(
			csp
				.split(";")
				.map((part) => part.trim())
				.filter(Boolean)
				.map((part) => {
					const [name = "", ...values] = part.split(/\s+/);
					return [name, values.join(" ")];
				}),
		);
	}

	it("are served with a strict CSP, frame-ancestors 'none' and nosniff (Workers static assets)", async () => {
		for (const path of PAGES) {
			const response = await assets.fetch(new Request(`${ORIGIN}${path}`));
			expect(response.headers.get("content-type"), path).toMatch(/text\/html/);
			const csp = directives(response.headers.get("content-security-policy") ?? "");
			expect(csp.get("default-src"), path).toBe("'none'");
			expect(csp.get("script-src"), path).toBe("'self'");
			expect(csp.get("style-src"), path).toBe("'self'");
			expect(csp.get("frame-ancestors"), path).toBe("'none'");
			expect(csp.get("base-uri"), path).toBe("'none'");
			expect(csp.get("require-trusted-types-for"), path).toBe("'script'");
			expect(response.headers.get("x-frame-options"), path).toBe("DENY");
			expect(response.headers.get("x-content-type-options"), path).toBe("nosniff");
			await response.body?.cancel();
		}
	});

	it("includes /api/docs, which the Worker serves with its own strict CSP", async () => {
		const response = await call<string>("GET", "/api/docs");
		expect(response.status).toBe(200);
		expect(response.headers.get("content-type")).toMatch(/text\/html/);
		expect(response.headers.get("content-security-policy")).toBe(DOCS_CSP);
		const csp = directives(DOCS_CSP);
		expect(csp.get("default-src")).toBe("'none'");
		expect(csp.get("script-src")).toBe("'self'");
		expect(csp.get("style-src")).toBe("'self'");
		expect(csp.get("frame-ancestors")).toBe("'none'");
		expect(response.headers.get("x-frame-options")).toBe("DENY");
		expect(response.headers.get("x-content-type-options")).toBe("nosniff");
		// Scripts only from files of this origin: none inline.
		const html = response.body;
		const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
		expect(scripts.length).toBeGreaterThan(0);
		for (const [, attributes, content] of scripts) {
			expect(attributes).toMatch(/src="\/assets\/api-docs\//);
			expect(content?.trim()).toBe("");
		}
		expect(html).not.toMatch(/<style|\sstyle=|https?:\/\//);
	});

	it("serves what /api/docs loads as static assets", async () => {
		for (const asset of ["swagger-ui-bundle.js", "swagger-ui.css", "init.js"]) {
			const response = await assets.fetch(new Request(`${ORIGIN}/assets/api-docs/${asset}`));
			expect({ asset, status: response.status }).toEqual({ asset, status: 200 });
			await response.body?.cancel();
		}
	});
});
