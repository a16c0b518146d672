import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { app } from "../../src/app";
import { DAY, MINUTE, SECOND } from "../../src/lib/clock";

const HOUR = 60 * MINUTE;

import { ConfigError, readConfig } from "../../src/lib/config";
import { userSql } from "../helpers/account";
import {
	browserSignUp,
	buildRequest,
	type CallOptions,
	call,
	readResponse,
	sessionSetCookie,
	signUp,
} from "../helpers/api";
import { expectError } from "../helpers/expect-error";
import { freezeClock } from "../helpers/time";

// A full session slides 30 days on every use, but never past its absolute
// end, 90 days after it was created by default (SESSION_MAX_AGE_DAYS): a
// stolen session that is used every day still ends. The end is held in the
// session query itself, so a row whose expiry was written before the cap
// existed (or before the operator lowered it) ends on time too.

afterEach(() => {
	vi.restoreAllMocks();
});

interface SessionBody {
	session: { expires_at: string };
}

function getSession(auth: CallOptions) {
	return call<SessionBody>("GET", "/api/auth/session/", auth);
}

/** The Worker with other vars: the same app and bindings, SESSION_MAX_AGE_DAYS as given. */
async function callWith(vars: Record<string, string>, method: string, path: string, options: CallOptions = {}) {
	const ctx = createExecutionContext();
	const response = await app.fetch(buildRequest(method, path, options), { ...env, ...vars }, ctx);
	await waitOnExecutionContext(ctx);
	return readResponse<SessionBody & { session_token: string; code?: string }>(response);
}

describe("the absolute lifetime of a session", () => {
	it("ends a full session 90 days after it was created, however often it is used", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const user = await signUp();
		for (let day = 20; day <= 80; day += 20) {
			setNow(start + day * DAY);
			const used = await getSession({ token: user.token });
			expect(used.status, `day ${day}`).toBe(200);
			// 30 days from now, but never past the absolute end.
			expect(Date.parse(used.body.session.expires_at), `day ${day}`).toBe(start + Math.min(day + 30, 90) * DAY);
		}
		setNow(start + 90 * DAY - SECOND);
		expect((await getSession({ token: user.token })).status).toBe(200);
		setNow(start + 90 * DAY);
		expectError(await getSession({ token: user.token }), 401, "not_authenticated");
	});

	it("slides the last step up to the absolute end, not a day short of it", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const user = await signUp();
		const expiresAt = async () => Date.parse((await getSession({ token: user.token })).body.session.expires_at);
		setNow(start + 29 * DAY);
		expect(await expiresAt()).toBe(start + 59 * DAY);
		setNow(start + 58 * DAY);
		expect(await expiresAt()).toBe(start + 88 * DAY);
		setNow(start + 59 * DAY + 12 * HOUR);
		expect(await expiresAt()).toBe(start + 89 * DAY + 12 * HOUR);
		// Less than a day later: the expiry is written at most once a day, but this step reaches the end.
		setNow(start + 60 * DAY + 2 * HOUR);
		expect(await expiresAt()).toBe(start + 90 * DAY);
		setNow(start + 90 * DAY - MINUTE);
		expect((await getSession({ token: user.token })).status).toBe(200);
	});

	it("gives a browser's renewed cookie the absolute end as its expiry", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const user = await browserSignUp();
		for (const day of [29, 58]) {
			setNow(start + day * DAY);
			expect((await getSession({ cookie: user.cookie })).status).toBe(200);
		}
		setNow(start + 75 * DAY);
		const used = await getSession({ cookie: user.cookie });
		expect(used.status).toBe(200);
		const line = sessionSetCookie(used.headers) ?? "";
		const expires = Date.parse(/;\s*expires=([^;]+)/i.exec(line)?.[1] ?? "");
		// Cookie dates have one-second resolution.
		expect(Math.abs(expires - (start + 90 * DAY))).toBeLessThan(SECOND);
	});

	it("ends a session whose stored expiry was written past the absolute end", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const user = await signUp();
		const row = await userSql(user.id, "SELECT id FROM sessions").first<{ id: string }>();
		// As a version without the cap would have written it: slid to day 120.
		await userSql(user.id, "UPDATE sessions SET expires_at = ? WHERE id = ?", start + 120 * DAY, row?.id).run();
		setNow(start + 89 * DAY);
		const live = await getSession({ token: user.token });
		expect(live.status).toBe(200);
		expect(Date.parse(live.body.session.expires_at)).toBe(start + 90 * DAY);
		setNow(start + 90 * DAY + 1);
		expectError(await getSession({ token: user.token }), 401, "not_authenticated");
		expectError(await call("GET", "/api/webauthn/", { token: user.token }), 401, "not_authenticated");
	});

	it("follows SESSION_MAX_AGE_DAYS, also below the 30-day sliding window", async () => {
		const start = Date.now();
		const setNow = freezeClock(start);
		const signedUp = await callWith({ SESSION_MAX_AGE_DAYS: "7" }, "POST", "/api/auth/signup/", {
			app: true,
			body: { email: `max-age-${crypto.randomUUID()}@example.com`, password: "correct horse battery staple" },
		});
		expect(signedUp.status).toBe(201);
		expect(Date.parse(signedUp.body.session.expires_at)).toBe(start + 7 * DAY);
		const token = signedUp.body.session_token;
		setNow(start + 7 * DAY - SECOND);
		expect((await callWith({ SESSION_MAX_AGE_DAYS: "7" }, "GET", "/api/auth/session/", { token })).status).toBe(200);
		setNow(start + 7 * DAY);
		const ended = await callWith({ SESSION_MAX_AGE_DAYS: "7" }, "GET", "/api/auth/session/", { token });
		expectError(ended, 401, "not_authenticated");
	});

	it("refuses a SESSION_MAX_AGE_DAYS that is not a whole number from 1 to 365, loudly", async () => {
		expect(readConfig({ ...env, SESSION_MAX_AGE_DAYS: "" }).sessionMaxAge).toBe(90 * DAY);
		expect(readConfig({ ...env, SESSION_MAX_AGE_DAYS: undefined }).sessionMaxAge).toBe(90 * DAY);
		expect(readConfig({ ...env, SESSION_MAX_AGE_DAYS: " 365 " }).sessionMaxAge).toBe(365 * DAY);
		expect(readConfig({ ...env, SESSION_MAX_AGE_DAYS: "1" }).sessionMaxAge).toBe(DAY);
		const logged = vi.spyOn(console, "error").mockImplementation(() => {});
		for (const value of ["0", "366", "90d", "-5", "1.5", "1e2", "99999"]) {
			expect(() => readConfig({ ...env, SESSION_MAX_AGE_DAYS: value }), value).toThrow(ConfigError);
			const answer = await callWith({ SESSION_MAX_AGE_DAYS: value }, "GET", "/api/health/");
			expectError(answer, 500, "internal_error");
		}
		expect(logged.mock.calls.every(([line]) => /SESSION_MAX_AGE_DAYS must be a whole number/.test(String(line)))).toBe(
			true,
		);
		expect(logged).toHaveBeenCalledTimes(7);
	});
});
