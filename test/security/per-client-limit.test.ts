import { afterEach, describe, expect, it, vi } from "vitest";
import { MINUTE } from "../../src/lib/clock";
import { captureMetrics, stopCapturingMetrics } from "../../src/lib/metrics";
import { type ApiResponse, call, PASSWORD, signUp, uniqueEmail } from "../helpers/api";
import { expectError } from "../helpers/expect-error";
import { freezeClock } from "../helpers/time";

// API.md, Limits: sign-up and password sign-in are limited per client too,
// keyed on CF-Connecting-IP (the address Cloudflare's edge saw), never on
// X-Forwarded-For (which the client writes). README: 30 failed sign-ins per
// address within 15 minutes, whatever the emails; 10 sign-ups per address
// within an hour. Without CF-Connecting-IP (off Cloudflare) there is no
// per-client limit.

afterEach(() => {
	vi.restoreAllMocks();
	stopCapturingMetrics();
});

const SIGN_IN_FAILURES = 30;
const SIGN_UPS = 10;

/** A documentation address (RFC 5737) of its own for each test, so tests share no limiter. */
function freshAddress(): string {
	const n = crypto.getRandomValues(new Uint32Array(1))[0] ?? 0;
	return `198.51.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

function logInFrom(address: string, email: string, password: string, headers: Record<string, string> = {}) {
	return call("POST", "/api/auth/login/", {
		app: true,
		headers: { "cf-connecting-ip": address, ...headers },
		body: { email, password },
	});
}

function signUpFrom(address: string | null, body: unknown, headers: Record<string, string> = {}) {
	return call("POST", "/api/auth/signup/", {
		app: true,
		headers: { ...(address ? { "cf-connecting-ip": address } : {}), ...headers },
		body,
	});
}

function expectLimited(response: ApiResponse<unknown>, retryAfterSeconds: number) {
	expectError(response, 429, "too_many_attempts");
	expect(response.headers.get("retry-after")).toBe(String(retryAfterSeconds));
}

/** Failed sign-ins from one address, each with another unknown email. */
async function failSignIns(
	address: string,
	count: number,
	headers: (i: number) => Record<string, string> = () => ({}),
) {
	for (let i = 0; i < count; i++) {
		const failed = await logInFrom(address, uniqueEmail("spray"), "wrong password 1", headers(i));
		expectError(failed, 400, "invalid_credentials");
	}
}

describe("the per-client limit on password sign-in", () => {
	it("answers 429 with Retry-After after 30 failures from one address, whatever the emails", async () => {
		const start = Date.now();
		freezeClock(start);
		const user = await signUp();
		const address = freshAddress();
		await failSignIns(address, SIGN_IN_FAILURES);
		const metrics = captureMetrics();
		expectLimited(await logInFrom(address, uniqueEmail("spray"), "wrong password 1"), 900);
		// The right password is refused too, from this address only.
		expectLimited(await logInFrom(address, user.email, PASSWORD), 900);
		expect((await logInFrom(freshAddress(), user.email, PASSWORD)).status).toBe(200);
		expect(metrics.filter((point) => point.blobs[0] === "rate_limit.blocked").map((point) => point.blobs)).toEqual([
			["rate_limit.blocked", "blocked", "client_password", "password", "app"],
			["rate_limit.blocked", "blocked", "client_password", "password", "app"],
		]);
	});

	it("ignores X-Forwarded-For: a new one on every request does not escape the limit", async () => {
		freezeClock(Date.now());
		const address = freshAddress();
		await failSignIns(address, SIGN_IN_FAILURES, (i) => ({ "x-forwarded-for": `203.0.113.${i}` }));
		expectLimited(
			await logInFrom(address, uniqueEmail("spray"), "wrong password 1", { "x-forwarded-for": "192.0.2.77" }),
			900,
		);
	});

	it("is not applied by X-Forwarded-For alone: a client without CF-Connecting-IP is not limited by it", async () => {
		freezeClock(Date.now());
		const address = freshAddress();
		await failSignIns(address, SIGN_IN_FAILURES);
		// The limited address, claimed in X-Forwarded-For by a request from another address, does not lock it out.
		const other = await logInFrom(freshAddress(), uniqueEmail("spray"), "wrong password 1", {
			"x-forwarded-for": address,
		});
		expectError(other, 400, "invalid_credentials");
	});

	it("counts failures only: many sign-ins that succeed from one address are never limited", async () => {
		const user = await signUp();
		const address = freshAddress();
		for (let i = 0; i < SIGN_IN_FAILURES + 5; i++) {
			expect((await logInFrom(address, user.email, PASSWORD)).status).toBe(200);
		}
		await failSignIns(address, SIGN_IN_FAILURES - 1);
		expect((await logInFrom(address, user.email, PASSWORD)).status).toBe(200);
	});

	it("answers 429 before the body is read, and malformed bodies do not count", async () => {
		freezeClock(Date.now());
		const address = freshAddress();
		for (let i = 0; i < SIGN_IN_FAILURES + 5; i++) {
			expectError(await logInFrom(address, "not an email", ""), 400, "invalid_request");
		}
		await failSignIns(address, SIGN_IN_FAILURES);
		expectLimited(await logInFrom(address, "not an email", ""), 900);
	});

	it("lifts when the window has passed", async () => {
		const start = Date.now();
		const move = freezeClock(start);
		const user = await signUp();
		const address = freshAddress();
		await failSignIns(address, SIGN_IN_FAILURES);
		move(start + 15 * MINUTE - 1000);
		expectLimited(await logInFrom(address, user.email, PASSWORD), 1);
		move(start + 15 * MINUTE);
		expect((await logInFrom(address, user.email, PASSWORD)).status).toBe(200);
	});

	it("keys an IPv6 client on its /64: stepping through its addresses does not escape the limit", async () => {
		freezeClock(Date.now());
		const n = crypto.getRandomValues(new Uint16Array(1))[0] ?? 0;
		const prefix = `2001:db8:${n.toString(16)}:7`;
		await failSignIns(`${prefix}::1`, SIGN_IN_FAILURES, (i) => ({
			"cf-connecting-ip": `${prefix}::${(i + 1).toString(16)}`,
		}));
		expectLimited(await logInFrom(`${prefix}:0:0:0:ffff`, uniqueEmail(), "wrong password 1"), 900);
		const neighbour = await logInFrom(`2001:db8:${n.toString(16)}:8::1`, uniqueEmail(), "wrong password 1");
		expectError(neighbour, 400, "invalid_credentials");
	});
});

describe("the per-client limit on sign-up", () => {
	it("answers the 11th sign-up from one address within an hour with 429 and Retry-After, counting email_taken", async () => {
		const start = Date.now();
		const move = freezeClock(start);
		const address = freshAddress();
		const taken = await signUp();
		for (let i = 0; i < SIGN_UPS; i++) {
			if (i % 2 === 0) {
				expect((await signUpFrom(address, { email: uniqueEmail("farm"), password: PASSWORD })).status).toBe(201);
			} else {
				expectError(await signUpFrom(address, { email: taken.email, password: PASSWORD }), 409, "email_taken");
			}
		}
		const metrics = captureMetrics();
		expectLimited(await signUpFrom(address, { email: uniqueEmail("farm"), password: PASSWORD }), 3600);
		expectLimited(await signUpFrom(address, { email: taken.email, password: PASSWORD }), 3600);
		// Before the body (API.md's order): a malformed one is answered 429 too.
		expectLimited(await signUpFrom(address, { email: "nope" }), 3600);
		expect(metrics.map((point) => point.blobs)).toContainEqual([
			"rate_limit.blocked",
			"blocked",
			"client_signup",
			"password",
			"app",
		]);
		expect((await signUpFrom(freshAddress(), { email: uniqueEmail(), password: PASSWORD })).status).toBe(201);
		move(start + 60 * MINUTE);
		expect((await signUpFrom(address, { email: uniqueEmail(), password: PASSWORD })).status).toBe(201);
	});

	it("ignores X-Forwarded-For", async () => {
		freezeClock(Date.now());
		const address = freshAddress();
		for (let i = 0; i < SIGN_UPS; i++) {
			const created = await signUpFrom(
				address,
				{ email: uniqueEmail("farm"), password: PASSWORD },
				{ "x-forwarded-for": `203.0.113.${i}` },
			);
			expect(created.status).toBe(201);
		}
		expectLimited(
			await signUpFrom(address, { email: uniqueEmail(), password: PASSWORD }, { "x-forwarded-for": "192.0.2.1" }),
			3600,
		);
	});

	it("does not count malformed sign-ups", async () => {
		freezeClock(Date.now());
		const address = freshAddress();
		for (let i = 0; i < SIGN_UPS + 5; i++) {
			expectError(await signUpFrom(address, { email: uniqueEmail(), password: "short" }), 400, "invalid_request");
		}
		expect((await signUpFrom(address, { email: uniqueEmail(), password: PASSWORD })).status).toBe(201);
	});

	it("lets exactly 10 of 20 concurrent sign-ups from one address through", async () => {
		freezeClock(Date.now());
		const address = freshAddress();
		const responses = await Promise.all(
			Array.from({ length: 20 }, () => signUpFrom(address, { email: uniqueEmail("burst"), password: PASSWORD })),
		);
		const statuses = responses.map((response) => response.status);
		expect(statuses.filter((status) => status === 201)).toHaveLength(SIGN_UPS);
		for (const response of responses.filter((r) => r.status !== 201)) expectLimited(response, 3600);
	});

	it("does not apply without CF-Connecting-IP (a request that did not come through Cloudflare)", async () => {
		freezeClock(Date.now());
		for (let i = 0; i < SIGN_UPS + 2; i++) {
			const created = await signUpFrom(
				null,
				{ email: uniqueEmail("local"), password: PASSWORD },
				{ "x-forwarded-for": "198.51.100.1" },
			);
			expect(created.status).toBe(201);
		}
	});
});
