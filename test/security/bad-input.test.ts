import { describe, expect, it } from "vitest";
import { type ApiResponse, browserSignUp, call, PASSWORD, signUp, uniqueEmail } from "../helpers/api";
import { expectError } from "../helpers/expect-error";

// Every answer is JSON in one envelope, and the checks run in API.md's order:
// route exists (404) → body is JSON and small enough (415/413) → session
// (401) → … → body fields (400). A client can rely on the first failing check
// answering, and nothing from a library (stack, parser message) leaks.

const LIMIT = 64 * 1024;

/** A signup body of exactly `bytes` bytes of ASCII JSON. */
function signupBodyOfSize(bytes: number, email = uniqueEmail()): string {
	const base = JSON.stringify({ email, password: PASSWORD, pad: "" });
	const padding = bytes - base.length;
	if (padding < 0) throw new Error("body too small for the fields");
	return JSON.stringify({ email, password: PASSWORD, pad: "x".repeat(padding) });
}

function streamOf(text: string, chunkSize = 4096): ReadableStream<Uint8Array> {
	const bytes = new TextEncoder().encode(text);
	let offset = 0;
	return new ReadableStream({
		pull(controller) {
			if (offset >= bytes.length) {
				controller.close();
				return;
			}
			controller.enqueue(bytes.slice(offset, offset + chunkSize));
			offset += chunkSize;
		},
	});
}

const json = { "content-type": "application/json" };

describe("unknown routes", () => {
	it("answers an unknown path with the 404 JSON envelope, never HTML", async () => {
		for (const path of [
			"/",
			"/api",
			"/api/nope",
			"/api/auth/nope/",
			"/api/auth/signupx",
			"/api/webauthn/a/b/c",
			"/index.html",
		]) {
			const response = await call("GET", path);
			expectError(response, 404, "not_found");
			expect(JSON.stringify(response.body)).not.toMatch(/<html|<!doctype/i);
		}
	});

	it("answers a method a path does not have with 404 not_found", async () => {
		const attempts: [string, string][] = [
			["PUT", "/api/auth/login/"],
			["GET", "/api/auth/logout/"],
			["DELETE", "/api/auth/session/"],
			["PATCH", "/api/health/"],
			["POST", "/api/webauthn/"],
			["PUT", "/api/webauthn/some-id/"],
			["OPTIONS", "/api/auth/signup/"],
			["PROPFIND", "/api/auth/session/"],
		];
		for (const [method, path] of attempts) expectError(await call(method, path), 404, "not_found");
	});

	it("answers 404 for an unknown route before looking at its body", async () => {
		const response = await call("POST", "/api/nope", {
			rawBody: "x".repeat(LIMIT + 1),
			headers: { "content-type": "text/plain" },
		});
		expectError(response, 404, "not_found");
	});
});

describe("trailing slashes", () => {
	// One request per route that reaches the route: public routes answer for
	// themselves, the others ask for a session.
	const routes: [string, string, unknown?][] = [
		["POST", "/api/auth/signup/", {}],
		["POST", "/api/auth/login/", {}],
		["POST", "/api/auth/logout/"],
		["GET", "/api/auth/session/"],
		["POST", "/api/auth/reauthenticate/", { password: PASSWORD }],
		["GET", "/api/auth/passkey/options/"],
		["POST", "/api/auth/passkey/login/", {}],
		["GET", "/api/webauthn/register/options/"],
		["POST", "/api/webauthn/register/complete/", {}],
		["GET", "/api/webauthn/authenticate/options/"],
		["POST", "/api/webauthn/verify/", {}],
		["GET", "/api/webauthn/"],
		["PATCH", "/api/webauthn/some-id/", { name: "x" }],
		["DELETE", "/api/webauthn/some-id/"],
		["GET", "/api/totp/"],
		["POST", "/api/totp/setup/"],
		["POST", "/api/totp/activate/", { code: "123456" }],
		["POST", "/api/totp/verify/", { code: "123456" }],
		["DELETE", "/api/totp/"],
		["GET", "/api/recovery-codes/"],
		["POST", "/api/recovery-codes/regenerate/"],
		["POST", "/api/recovery-codes/verify/", { code: "abcd-efgh" }],
		["GET", "/api/health/"],
	];

	it.each(routes)("treats %s %s with and without the trailing slash as the same route", async (method, path, body) => {
		const options = body === undefined ? {} : { body };
		const withSlash = await call(method, path, options);
		const withoutSlash = await call(method, path.slice(0, -1), options);
		expect(withSlash.status).not.toBe(404);
		const summary = (response: ApiResponse) => ({ status: response.status, code: response.body.code });
		expect(summary(withoutSlash)).toEqual(summary(withSlash));
	});

	it("serves an authenticated route the same with and without the slash", async () => {
		const user = await signUp();
		for (const path of ["/api/auth/session", "/api/auth/session/", "/api/webauthn", "/api/webauthn/"]) {
			expect((await call("GET", path, { token: user.token })).status).toBe(200);
		}
	});
});

describe("request bodies", () => {
	it("refuses a body that is not JSON with 415 unsupported_media_type", async () => {
		const email = uniqueEmail();
		const attempts = [
			{ rawBody: JSON.stringify({ email, password: PASSWORD }), headers: { "content-type": "text/plain" } },
			{ rawBody: `email=${email}&password=x`, headers: { "content-type": "application/x-www-form-urlencoded" } },
			{ rawBody: JSON.stringify({ email, password: PASSWORD }) },
			{ rawBody: JSON.stringify({ email, password: PASSWORD }), headers: { "content-type": "application/jsonp" } },
			{},
		];
		for (const attempt of attempts) {
			expectError(await call("POST", "/api/auth/signup", { app: true, ...attempt }), 415, "unsupported_media_type");
		}
		// None of them created the account.
		expect((await call("POST", "/api/auth/signup", { app: true, body: { email, password: PASSWORD } })).status).toBe(
			201,
		);
	});

	it("accepts JSON with a charset parameter or in another case", async () => {
		for (const contentType of ["application/json; charset=utf-8", "Application/JSON"]) {
			const response = await call("POST", "/api/auth/signup", {
				app: true,
				rawBody: JSON.stringify({ email: uniqueEmail(), password: PASSWORD }),
				headers: { "content-type": contentType },
			});
			expect(response.status).toBe(201);
		}
	});

	it("answers 415 before 401 on a route that needs a session", async () => {
		const response = await call("POST", "/api/auth/reauthenticate", {
			rawBody: "password=x",
			headers: { "content-type": "text/plain" },
		});
		expectError(response, 415, "unsupported_media_type");
	});

	it("accepts a body of exactly 64 KiB", async () => {
		const body = signupBodyOfSize(LIMIT);
		expect(new TextEncoder().encode(body).length).toBe(LIMIT);
		const response = await call("POST", "/api/auth/signup", { app: true, rawBody: body, headers: json });
		expect(response.status).toBe(201);
	});

	it("refuses a body of 64 KiB and one byte with 413 payload_too_large, with a Content-Length", async () => {
		const email = uniqueEmail();
		const response = await call("POST", "/api/auth/signup", {
			app: true,
			rawBody: signupBodyOfSize(LIMIT + 1, email),
			headers: json,
		});
		expectError(response, 413, "payload_too_large");
		expect((await call("POST", "/api/auth/login", { app: true, body: { email, password: PASSWORD } })).status).toBe(
			400,
		);
	});

	it("refuses an oversized streamed body that declares no length", async () => {
		const email = uniqueEmail();
		const response = await call("POST", "/api/auth/signup", {
			app: true,
			rawBody: streamOf(signupBodyOfSize(LIMIT + 1, email)),
			headers: json,
		});
		expectError(response, 413, "payload_too_large");
		expect((await call("POST", "/api/auth/login", { app: true, body: { email, password: PASSWORD } })).status).toBe(
			400,
		);
	});

	it("never lets a body run past the Content-Length it declares", async () => {
		// A declared length is not proof of the body's: a request handed over
		// in-process (a service binding, SELF.fetch) is not held to it, so the
		// size check reads every body rather than trusting the header.
		const email = uniqueEmail();
		const body = signupBodyOfSize(LIMIT + 1, email);
		const outcome = await call("POST", "/api/auth/signup", {
			app: true,
			rawBody: streamOf(body),
			headers: { ...json, "content-length": "100" },
		}).then(
			(response) => response.status,
			() => "refused by the runtime",
		);
		expect(outcome).not.toBe(201);
		expect((await call("POST", "/api/auth/login", { app: true, body: { email, password: PASSWORD } })).status).toBe(
			400,
		);
	});

	it("reads a streamed body within the limit", async () => {
		const response = await call("POST", "/api/auth/signup", {
			app: true,
			rawBody: streamOf(signupBodyOfSize(LIMIT - 100)),
			headers: json,
		});
		expect(response.status).toBe(201);
	});

	it("answers 413 before 401 on a route that needs a session", async () => {
		const response = await call("POST", "/api/auth/reauthenticate", {
			rawBody: JSON.stringify({ password: "x".repeat(LIMIT) }),
			headers: json,
		});
		expectError(response, 413, "payload_too_large");
	});

	it("refuses malformed JSON with 400 invalid_request", async () => {
		for (const rawBody of ['{"email": "a@b.com", "password":', "{'email': 1}", "", "\u0000"]) {
			expectError(await call("POST", "/api/auth/login", { app: true, rawBody, headers: json }), 400, "invalid_request");
		}
	});

	it("refuses JSON that is not an object with 400 invalid_request", async () => {
		for (const rawBody of ["null", "[]", '"a@b.com"', "42"]) {
			expectError(
				await call("POST", "/api/auth/signup", { app: true, rawBody, headers: json }),
				400,
				"invalid_request",
			);
		}
	});

	it("names each missing or mistyped field", async () => {
		const missing = await call("POST", "/api/auth/signup", { app: true, body: {} });
		expectError(missing, 400, "invalid_request");
		expect(missing.body).toMatchObject({ fields: { email: expect.any(String), password: expect.any(String) } });

		const mistyped = await call("POST", "/api/auth/signup", { app: true, body: { email: 42, password: true } });
		expectError(mistyped, 400, "invalid_request");
		expect(mistyped.body).toMatchObject({ fields: { email: expect.any(String), password: expect.any(String) } });

		const onlyPassword = await call("POST", "/api/auth/login", {
			app: true,
			body: { email: uniqueEmail(), password: 8 },
		});
		expectError(onlyPassword, 400, "invalid_request");
		expect(Object.keys((onlyPassword.body as { fields: object }).fields)).toEqual(["password"]);
	});

	it("answers 401 before validating the body when there is no session", async () => {
		expectError(await call("POST", "/api/auth/reauthenticate", { body: {} }), 401, "not_authenticated");
		expectError(await call("POST", "/api/auth/reauthenticate", { body: { password: 7 } }), 401, "not_authenticated");
		expectError(
			await call("POST", "/api/auth/reauthenticate", { rawBody: "{", headers: json }),
			401,
			"not_authenticated",
		);
	});

	it("validates the body of a signed-in request after its session", async () => {
		const user = await signUp();
		const response = await call("POST", "/api/auth/reauthenticate", { token: user.token, body: { password: 7 } });
		expectError(response, 400, "invalid_request");
		expect(response.body).toMatchObject({ fields: { password: expect.any(String) } });
		expectError(
			await call("POST", "/api/auth/reauthenticate", { token: user.token, rawBody: "{", headers: json }),
			400,
			"invalid_request",
		);
	});
});

describe("the error envelope", () => {
	it("never carries a stack trace, a library message or anything but success, code, message and fields", async () => {
		const user = await signUp();
		const responses = [
			await call("GET", "/api/nope"),
			await call("POST", "/api/auth/login", { app: true, rawBody: "{", headers: json }),
			await call("POST", "/api/auth/login", { app: true, rawBody: "x", headers: { "content-type": "text/plain" } }),
			await call("POST", "/api/auth/signup", { app: true, body: { email: [], password: { $gt: "" } } }),
			await call("POST", "/api/auth/login", { app: true, body: { email: user.email, password: "wrong password" } }),
			await call("GET", "/api/auth/session", { headers: { authorization: "Bearer !!!" } }),
			await call("GET", "/api/auth/session", { cookie: "__Host-pe_session=%E0%A4%A" }),
			await call("GET", "/api/auth/session", { token: "A".repeat(500) }),
		];
		for (const response of responses) {
			expect(response.status).toBeGreaterThanOrEqual(400);
			expectError(response, response.status, (response.body as { code: "not_found" }).code);
			const text = JSON.stringify(response.body);
			expect(text).not.toMatch(/\bat \S+:\d+|[A-Z]\w*Error\b|zod|hono|Malformed|Unexpected token|[Ee]xpected/);
		}
	});

	it("marks every answer, success or error, Cache-Control: no-store", async () => {
		const user = await browserSignUp();
		const responses = [
			await call("POST", "/api/auth/signup", { app: true, body: { email: uniqueEmail(), password: PASSWORD } }),
			await call("POST", "/api/auth/login", { body: { email: user.email, password: PASSWORD } }),
			await call("GET", "/api/auth/session", { cookie: user.cookie }),
			await call("GET", "/api/auth/session"),
			await call("GET", "/api/nope"),
			await call("POST", "/api/auth/login", { app: true, body: {} }),
			await call("POST", "/api/auth/login", { app: true, rawBody: "x", headers: { "content-type": "text/plain" } }),
			await call("POST", "/api/auth/logout", { cookie: user.cookie, origin: null }),
		];
		for (const response of responses) expect(response.headers.get("cache-control")).toBe("no-store");
	});
});
