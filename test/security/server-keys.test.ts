import { afterEach, describe, expect, it, vi } from "vitest";
import { SERVER_KEY_LIMIT } from "../../src/services/limits";
import { type CallOptions, call, ORIGIN, signUp, withVars } from "../helpers/api";
import { expectError } from "../helpers/expect-error";
import { captureMetricsPerTest } from "../helpers/metrics";
import { createServerUser, OLD_SERVER_KEY, SERVER_KEY, uniqueExternalId } from "../helpers/server-api";

// The server API takes a server key and nothing else (API.md, "Server API"):
// not a user's session, not a cookie, not a key in the URL; a server key is
// no session on the user routes; wrong keys are counted and limited per
// client address; no browser is let in by CORS.

const metrics = captureMetricsPerTest();

afterEach(() => {
	vi.restoreAllMocks();
});

/** One request to each server route, for a user that exists. */
function everyServerRoute(externalId: string): [string, string, unknown?][] {
	const user = `/api/server/users/${encodeURIComponent(externalId)}`;
	return [
		["PUT", user, { display_name: "X" }],
		["GET", user],
		["DELETE", user],
		["POST", `${user}/sessions`, { level: "full", amr: ["pwd"] }],
		["DELETE", `${user}/sessions`],
		["POST", `${user}/second-factors/reset`],
	];
}

async function stillThere(externalId: string) {
	const read = await call("GET", `/api/server/users/${encodeURIComponent(externalId)}`, { token: SERVER_KEY });
	expect(read.status).toBe(200);
}

describe("the server key", () => {
	it("is required on every server route: missing, wrong, a user's token or cookie all answer 401 and change nothing", async () => {
		const created = await createServerUser();
		const someone = await signUp();
		const browser = await call("POST", "/api/auth/signup/", {
			origin: ORIGIN,
			body: { email: `${uniqueExternalId("b")}@example.com`, password: "correct horse battery staple" },
		});
		const cookie = (browser.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
		const attempts: CallOptions[] = [
			{},
			{ token: `${SERVER_KEY}x` },
			{ token: SERVER_KEY.slice(0, -1) },
			{ token: someone.token },
			{ cookie },
			{ headers: { authorization: `Basic ${btoa(`django:${SERVER_KEY}`)}` } },
			{ headers: { authorization: SERVER_KEY } },
			{ headers: { "x-server-key": SERVER_KEY } },
		];
		for (const [method, path, body] of everyServerRoute(created.external_id)) {
			for (const options of attempts) {
				const response = await call(method, path, { ...options, ...(body ? { body } : {}) });
				expectError(response, 401, "invalid_server_key");
			}
			// Nor in the URL, where it would end up in logs.
			const inQuery = await call(method, `${path}?key=${SERVER_KEY}`, body ? { body } : {});
			expectError(inQuery, 401, "invalid_server_key");
		}
		await stillThere(created.external_id);
		expect(metrics.failureReasons("server_key.failed")).toContain("wrong_key");
		expect(metrics.failureReasons("server_key.failed")).toContain("missing_key");
		// No point carries the key, nor any part of it.
		expect(JSON.stringify(metrics.points())).not.toContain(SERVER_KEY.slice(-20));
	});

	it("takes every key listed while one is rotated out", async () => {
		for (const key of [SERVER_KEY, OLD_SERVER_KEY]) {
			const externalId = uniqueExternalId("rotate");
			const response = await call("PUT", `/api/server/users/${externalId}`, {
				token: key,
				body: { email: `${externalId}@example.com` },
			});
			expect(response.status).toBe(201);
		}
		// Once removed from SERVER_API_KEYS, the old key is refused.
		await withVars({ SERVER_API_KEYS: `django:${SERVER_KEY}` }, async () => {
			expectError(await call("GET", `/api/server/users/x`, { token: OLD_SERVER_KEY }), 401, "invalid_server_key");
			expectError(await call("GET", `/api/server/users/x`, { token: SERVER_KEY }), 404, "not_found");
		});
	});

	it("is no session on the user routes", async () => {
		for (const [method, path] of [
			["GET", "/api/auth/session/"],
			["POST", "/api/auth/token/"],
			["GET", "/api/webauthn/"],
			["POST", "/api/auth/logout/"],
		] as const) {
			expectError(await call(method, path, { token: SERVER_KEY }), 401, "not_authenticated");
		}
	});

	it("answers 500 and logs the secret's name, never its value, when SERVER_API_KEYS is missing or malformed", async () => {
		const errors = vi.spyOn(console, "error").mockImplementation(() => {});
		for (const value of [
			"",
			"no-colon-here-0123456789abcdefghijklmnop",
			"short:abc",
			"a:0123456789abcdefghijklmnopqrstuvwxyz,a:0123456789abcdefghijklmnopqrstuvwxyZ",
			`bad name:${SERVER_KEY}`,
		]) {
			await withVars({ SERVER_API_KEYS: value }, async () => {
				expectError(await call("GET", "/api/server/users/x", { token: SERVER_KEY }), 500, "internal_error");
			});
		}
		const logged = errors.mock.calls.map((args) => args.join(" ")).join("\n");
		expect(logged).toContain("SERVER_API_KEYS");
		expect(logged).not.toContain("0123456789abcdefghijklmnop");
		expect(logged).not.toContain(SERVER_KEY);
		// The user routes do not need it.
		await withVars({ SERVER_API_KEYS: "" }, async () => {
			expect((await call("GET", "/api/health/")).status).toBe(200);
			expect((await signUp()).token).toBeTruthy();
		});
	});
});

describe("wrong keys are limited per client address", () => {
	it("answers 429 to an address after the limit, even with the right key, and not to another address", async () => {
		const address = `198.51.100.${Math.floor(Math.random() * 200) + 1}`;
		const from = (ip: string, token: string) =>
			call("GET", "/api/server/users/nobody", { token, headers: { "cf-connecting-ip": ip } });
		// The right key never counts.
		for (let i = 0; i < 3; i++) expectError(await from(address, SERVER_KEY), 404, "not_found");
		for (let i = 0; i < SERVER_KEY_LIMIT.limit; i++) {
			expectError(await from(address, `wrong-${i}-${SERVER_KEY}`), 401, "invalid_server_key");
		}
		const blocked = await from(address, `wrong-again-${SERVER_KEY}`);
		expectError(blocked, 429, "too_many_attempts");
		expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
		expectError(await from(address, SERVER_KEY), 429, "too_many_attempts");
		expectError(await from("203.0.113.9", SERVER_KEY), 404, "not_found");
		expect(metrics.failureReasons("rate_limit.blocked")).toEqual(["server_key", "server_key"]);
		expect(metrics.failureReasons("server_key.failed")).toHaveLength(SERVER_KEY_LIMIT.limit);
	});

	it("counts wrong keys sent in parallel", async () => {
		const address = `2001:db8:${Math.floor(Math.random() * 0xffff).toString(16)}::1`;
		const answers = await Promise.all(
			Array.from({ length: SERVER_KEY_LIMIT.limit }, (_, i) =>
				call("GET", "/api/server/users/nobody", {
					token: `wrong-${i}-${SERVER_KEY}`,
					headers: { "cf-connecting-ip": address },
				}),
			),
		);
		for (const answer of answers) expectError(answer, 401, "invalid_server_key");
		const next = await call("GET", "/api/server/users/nobody", {
			token: SERVER_KEY,
			headers: { "cf-connecting-ip": address },
		});
		expectError(next, 429, "too_many_attempts");
	});
});

describe("no browser is let in", () => {
	it("gives no CORS headers to a preflight or a request from a configured origin", async () => {
		const preflight = await call("OPTIONS", "/api/server/users/x", {
			origin: ORIGIN,
			headers: { "access-control-request-method": "GET", "access-control-request-headers": "authorization" },
		});
		expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
		expect(preflight.headers.get("access-control-allow-credentials")).toBeNull();
		const request = await call("GET", "/api/server/users/x", { token: SERVER_KEY, origin: ORIGIN });
		expect(request.headers.get("access-control-allow-origin")).toBeNull();
		// The user routes keep theirs.
		const user = await call("GET", "/api/health/", { origin: ORIGIN });
		expect(user.headers.get("access-control-allow-origin")).toBe(ORIGIN);
	});
});
