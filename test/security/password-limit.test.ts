import { afterEach, describe, expect, it, vi } from "vitest";
import { MINUTE, SECOND } from "../../src/lib/clock";
import { type ApiResponse, call, logIn, PASSWORD, signUp, uniqueEmail } from "../helpers/api";
import { expectError } from "../helpers/expect-error";
import { freezeClock } from "../helpers/time";

// API.md: after 10 failed logins for one email within 15 minutes, every
// login for that email answers 429 with Retry-After until the window has
// passed, whether or not the account exists.

const WRONG = "not the password";
const WINDOW = 15 * MINUTE;

afterEach(() => {
	vi.restoreAllMocks();
});

async function failLogins(email: string, count: number): Promise<void> {
	for (let i = 0; i < count; i++) expectError(await logIn(email, WRONG), 400, "invalid_credentials");
}

function expectLocked(response: ApiResponse<unknown>): number {
	expectError(response, 429, "too_many_attempts");
	const retryAfter = response.headers.get("retry-after");
	expect(retryAfter).toMatch(/^\d+$/);
	const seconds = Number(retryAfter);
	expect(seconds).toBeGreaterThan(0);
	expect(seconds).toBeLessThanOrEqual(WINDOW / SECOND);
	return seconds;
}

describe("password limiter", () => {
	it("answers the 11th login within 15 minutes with 429 and Retry-After, even with the right password", async () => {
		const user = await signUp();
		await failLogins(user.email, 10);
		expectLocked(await logIn(user.email, PASSWORD));
		expectLocked(await logIn(user.email, WRONG));
	});

	it("limits an email that has no account the same way", async () => {
		const email = uniqueEmail("nobody");
		await failLogins(email, 10);
		expectLocked(await logIn(email, WRONG));
	});

	it("counts an email's failures whatever its case and surrounding spaces", async () => {
		const user = await signUp();
		await failLogins(user.email.toUpperCase(), 5);
		await failLogins(`  ${user.email} `, 5);
		expectLocked(await logIn(user.email, PASSWORD));
	});

	it("keeps other emails open while one is locked", async () => {
		const locked = await signUp();
		const other = await signUp();
		await failLogins(locked.email, 10);
		expectLocked(await logIn(locked.email, PASSWORD));
		expect((await logIn(other.email)).status).toBe(200);
	});

	it("says how long to wait, and opens again once 15 minutes have passed", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const user = await signUp();
		await failLogins(user.email, 10);

		setNow(start + MINUTE);
		expect(expectLocked(await logIn(user.email, PASSWORD))).toBe(14 * 60);

		setNow(start + WINDOW - SECOND);
		expect(expectLocked(await logIn(user.email, PASSWORD))).toBe(1);

		setNow(start + WINDOW + SECOND);
		const opened = await logIn(user.email, PASSWORD);
		expect(opened.status).toBe(200);
	});

	it("slides the window: failures older than 15 minutes stop counting", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const user = await signUp();
		await failLogins(user.email, 5);
		setNow(start + 10 * MINUTE);
		await failLogins(user.email, 5);
		expectLocked(await logIn(user.email, PASSWORD));

		// The first five have left the window; the last five still count.
		setNow(start + WINDOW + SECOND);
		await failLogins(user.email, 5);
		setNow(start + WINDOW + 2 * SECOND);
		const locked = expectLocked(await logIn(user.email, PASSWORD));
		expect(locked).toBe((10 * MINUTE + WINDOW - (WINDOW + 2 * SECOND)) / SECOND);
	});

	it("does not count successful logins, and a success does not wipe earlier failures", async () => {
		const user = await signUp();
		await failLogins(user.email, 9);
		for (let i = 0; i < 5; i++) expect((await logIn(user.email)).status).toBe(200);
		await failLogins(user.email, 1);
		expectLocked(await logIn(user.email, PASSWORD));
	});

	it("does not count malformed login requests", async () => {
		const user = await signUp();
		for (let i = 0; i < 12; i++) {
			const response = await call("POST", "/api/auth/login", { app: true, body: { email: user.email } });
			expectError(response, 400, "invalid_request");
		}
		expect((await logIn(user.email)).status).toBe(200);
	});

	it("limits password guesses made through reauthentication too", async () => {
		const user = await signUp();
		const reauthenticate = (password: string) =>
			call("POST", "/api/auth/reauthenticate", { token: user.token, body: { password } });
		for (let i = 0; i < 10; i++) expectError(await reauthenticate(WRONG), 400, "invalid_credentials");
		expectLocked(await reauthenticate(PASSWORD));
		expectLocked(await logIn(user.email, PASSWORD));
	});

	it("answers a locked reauthentication with 429 before looking at its body", async () => {
		const user = await signUp();
		await failLogins(user.email, 10);
		const reauthenticate = (body: unknown) => call("POST", "/api/auth/reauthenticate", { token: user.token, body });
		expectLocked(await reauthenticate({}));
		expectLocked(await reauthenticate({ password: 42 }));
		expectLocked(await reauthenticate({ password: PASSWORD }));
	});

	it("never answers more than 10 of 30 simultaneous wrong guesses with 400: each is counted before it is answered", async () => {
		// The limiter's Durable Object counts an attempt in the same
		// synchronous step that checks the count, so guesses that arrive
		// together cannot all slip under the limit before any is recorded.
		for (let round = 0; round < 4; round++) {
			const user = await signUp();
			const responses = await Promise.all(Array.from({ length: 30 }, () => logIn(user.email, WRONG)));
			const statuses = responses.map((response) => response.status);
			const failed = statuses.filter((status) => status === 400).length;
			const limited = statuses.filter((status) => status === 429).length;
			expect(failed).toBeLessThanOrEqual(10);
			expect(failed + limited).toBe(30);
			for (const response of responses) {
				if (response.status === 429) expectLocked(response);
				else expectError(response, 400, "invalid_credentials");
			}
			expectLocked(await logIn(user.email, PASSWORD));
		}
	});

	it("lets at most 10 simultaneous guesses through for an email without an account", async () => {
		const email = uniqueEmail("nobody");
		const responses = await Promise.all(Array.from({ length: 30 }, () => logIn(email, WRONG)));
		const failed = responses.filter((response) => response.status === 400).length;
		expect(failed).toBeLessThanOrEqual(10);
		expect(responses.filter((response) => response.status === 429)).toHaveLength(30 - failed);
	});
});
