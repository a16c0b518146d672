import { afterEach, describe, expect, it, vi } from "vitest";
import { MINUTE } from "../../src/lib/clock";
import { totpCodeAt } from "../../src/lib/totp";
import { call, ORIGIN, signUp } from "../helpers/api";
import { expectError } from "../helpers/expect-error";
import { registerPasskey } from "../helpers/flows";
import { freezeClock } from "../helpers/time";
import {
	codeFor,
	currentStep,
	enableTotp,
	midStep,
	partialCookie,
	partialToken,
	reauthenticate,
	setSessionCookie,
	totpActivate,
	totpRow,
	totpSetup,
	userWithTotp,
	verifyTotp,
	wrongCodeFor,
} from "../helpers/totp";

afterEach(() => {
	vi.restoreAllMocks();
});

describe("POST /api/totp/setup", () => {
	it("returns a base32 secret of at least 160 bits, its otpauth URI and a QR code as SVG", async () => {
		const user = await signUp();
		const setup = await totpSetup({ token: user.token });
		expect(setup.status).toBe(200);
		expect(setup.body).toMatchObject({ success: true });
		expect(setup.body.secret).toMatch(/^[A-Z2-7]{32,}$/);

		const uri = new URL(setup.body.otpauth_uri);
		expect(setup.body.otpauth_uri.startsWith("otpauth://totp/")).toBe(true);
		expect(decodeURIComponent(uri.pathname)).toBe(`/passkey-edge:${user.email}`);
		expect(Object.fromEntries(uri.searchParams)).toEqual({
			secret: setup.body.secret,
			issuer: "passkey-edge",
			algorithm: "SHA1",
			digits: "6",
			period: "30",
		});
		expect(setup.body.qr_svg).toMatch(/^<svg[\s>]/);
		expect(setup.body.qr_svg).toMatch(/<\/svg>\s*$/);
	});

	it("gives a different secret on every set-up", async () => {
		const first = await totpSetup({ token: (await signUp()).token });
		const second = await totpSetup({ token: (await signUp()).token });
		expect(first.body.secret).not.toBe(second.body.secret);
	});

	it("answers 409 already_enabled when the user already has an authenticator app", async () => {
		const { user } = await userWithTotp();
		expectError(await totpSetup({ token: user.token }), 409, "already_enabled");
	});

	it("needs a recent authentication", async () => {
		const start = Date.now();
		const move = freezeClock(start);
		const user = await signUp();
		move(start + 5 * MINUTE + 1);
		expectError(await totpSetup({ token: user.token }), 401, "reauthentication_required");
		await reauthenticate(user.token);
		expect((await totpSetup({ token: user.token })).status).toBe(200);
	});

	it("refuses a partial session with 403 mfa_required", async () => {
		const { user } = await userWithTotp();
		const partial = await partialToken(user);
		expectError(await totpSetup({ token: partial }), 403, "mfa_required");
	});

	it("refuses a request without a session", async () => {
		expectError(await call("POST", "/api/totp/setup/"), 401, "not_authenticated");
	});
});

describe("POST /api/totp/activate", () => {
	it("refuses a wrong code with 400 invalid_code and stores nothing", async () => {
		const user = await signUp();
		const setup = await totpSetup({ token: user.token });
		expectError(await totpActivate({ token: user.token }, await wrongCodeFor(setup.body.secret)), 400, "invalid_code");
		expect(await totpRow(user.id)).toBeNull();
		const status = await call("GET", "/api/totp/", { token: user.token });
		expect(status.body).toEqual({ success: true, enabled: false });
		// The pending secret survives a wrong code: the right one still activates it.
		expect((await totpActivate({ token: user.token }, await codeFor(setup.body.secret))).status).toBe(201);
	});

	it("refuses a code that is not six digits with 400 invalid_request", async () => {
		const user = await signUp();
		await totpSetup({ token: user.token });
		const response = await totpActivate({ token: user.token }, "12ab");
		expectError(response, 400, "invalid_request");
		expect(await totpRow(user.id)).toBeNull();
	});

	it("accepts a code with the space that apps show in the middle", async () => {
		const user = await signUp();
		const setup = await totpSetup({ token: user.token });
		const code = await codeFor(setup.body.secret);
		expect((await totpActivate({ token: user.token }, `${code.slice(0, 3)} ${code.slice(3)}`)).status).toBe(201);
	});

	it("forgets the pending secret after 10 minutes (400 challenge_expired)", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const user = await signUp();
		const setup = await totpSetup({ token: user.token });
		move(start + 10 * MINUTE);
		await reauthenticate(user.token);
		const expired = await totpActivate({ token: user.token }, await codeFor(setup.body.secret));
		expect(expired.status).toBe(400);
		expect(expired.body).toMatchObject({ success: false, code: "challenge_expired" });
		expect(await totpRow(user.id)).toBeNull();
	});

	it("still activates one second before the 10 minutes are over", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const user = await signUp();
		const setup = await totpSetup({ token: user.token });
		move(start + 10 * MINUTE - 1000);
		await reauthenticate(user.token);
		expect((await totpActivate({ token: user.token }, await codeFor(setup.body.secret))).status).toBe(201);
	});

	it("answers challenge_expired when no set-up was started", async () => {
		const user = await signUp();
		const response = await totpActivate({ token: user.token }, "123456");
		expect(response.status).toBe(400);
		expect(response.body).toMatchObject({ code: "challenge_expired" });
	});

	it("only accepts a code of the newest set-up's secret", async () => {
		const user = await signUp();
		const first = await totpSetup({ token: user.token });
		const second = await totpSetup({ token: user.token });
		expectError(await totpActivate({ token: user.token }, await codeFor(first.body.secret)), 400, "invalid_code");
		expect((await totpActivate({ token: user.token }, await codeFor(second.body.secret))).status).toBe(201);
	});

	it("returns ten recovery codes when TOTP is the first authenticator", async () => {
		const user = await signUp();
		const setup = await totpSetup({ token: user.token });
		const activated = await totpActivate({ token: user.token }, await codeFor(setup.body.secret));
		expect(activated.status).toBe(201);
		expect(activated.body).toMatchObject({ success: true });
		expect(activated.body.recovery_codes).toHaveLength(10);
		expect(new Set(activated.body.recovery_codes).size).toBe(10);
	});

	it("returns no recovery codes when TOTP is added after a passkey", async () => {
		const user = await signUp();
		const passkey = await registerPasskey(user);
		expect(passkey.response.body.recovery_codes).toHaveLength(10);
		const setup = await totpSetup({ token: user.token });
		const activated = await totpActivate({ token: user.token }, await codeFor(setup.body.secret));
		expect(activated.status).toBe(201);
		expect(activated.body).toEqual({ success: true });
	});

	it("counts the activation code as used: it cannot then pass the second factor", async () => {
		freezeClock(midStep());
		const { user, secret } = await userWithTotp();
		const partial = await partialToken(user);
		expectError(await verifyTotp(partial, await codeFor(secret)), 400, "invalid_code");
	});

	it("refuses to activate twice (409 already_enabled)", async () => {
		const { user } = await userWithTotp();
		expectError(await totpActivate({ token: user.token }, "123456"), 409, "already_enabled");
	});
});

describe("signing in with an authenticator app", () => {
	it("turns a partial app session into a full one under a new token", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret } = await userWithTotp();
		const partial = await partialToken(user);
		const partialView = await call<{ session: { level: string; methods: string[] } }>("GET", "/api/auth/session/", {
			token: partial,
		});
		expect(partialView.body.session).toMatchObject({ level: "partial", methods: ["totp", "recovery_codes"] });

		move(start + 30_000);
		const verified = await verifyTotp(partial, await codeFor(secret));
		expect(verified.status).toBe(200);
		expect(verified.body.session).toMatchObject({
			level: "full",
			user: { id: user.id, email: user.email },
			methods: ["totp", "recovery_codes"],
			authenticated_at: new Date(start + 30_000).toISOString(),
		});
		const fresh = verified.body.session_token;
		expect(fresh).toBeTruthy();
		expect(fresh).not.toBe(partial);
		expect(setSessionCookie(verified.headers)).toBeNull();

		expectError(await call("GET", "/api/auth/session/", { token: partial }), 401, "not_authenticated");
		const full = await call<{ session: { level: string } }>("GET", "/api/auth/session/", { token: fresh });
		expect(full.body.session.level).toBe("full");
	});

	it("turns a partial browser session into a full one under a new cookie", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret } = await userWithTotp();
		const partial = await partialCookie(user);

		move(start + 30_000);
		const verified = await call<{ session: { level: string }; session_token?: string }>("POST", "/api/totp/verify/", {
			cookie: partial,
			origin: ORIGIN,
			body: { code: await codeFor(secret) },
		});
		expect(verified.status).toBe(200);
		expect(verified.body.session.level).toBe("full");
		expect(verified.body.session_token).toBeUndefined();
		const cookie = setSessionCookie(verified.headers);
		expect(cookie).toBeTruthy();
		expect(cookie).not.toBe(partial);
		const line = verified.headers.getSetCookie().find((l) => l.startsWith("__Host-pe_session="));
		expect(line).toMatch(/HttpOnly/i);
		expect(line).toMatch(/Secure/i);
		expect(line).toMatch(/SameSite=Lax/i);

		expectError(await call("GET", "/api/auth/session/", { cookie: partial }), 401, "not_authenticated");
		const full = await call<{ session: { level: string } }>("GET", "/api/auth/session/", { cookie: cookie ?? "" });
		expect(full.body.session.level).toBe("full");
	});

	it("refuses a browser verify without an allowed Origin (403 csrf_failed)", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret } = await userWithTotp();
		const partial = await partialCookie(user);
		move(start + 30_000);
		const response = await call("POST", "/api/totp/verify/", {
			cookie: partial,
			origin: "https://evil.example",
			body: { code: await codeFor(secret) },
		});
		expectError(response, 403, "csrf_failed");
	});

	it("refreshes recent authentication on a full session and keeps its token", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret } = await userWithTotp();
		move(start + 10 * MINUTE);
		expectError(
			await call("POST", "/api/recovery-codes/regenerate/", { token: user.token }),
			401,
			"reauthentication_required",
		);
		const verified = await verifyTotp(user.token, await codeFor(secret));
		expect(verified.status).toBe(200);
		expect(verified.body.session_token).toBeUndefined();
		expect(verified.body.session.authenticated_at).toBe(new Date(start + 10 * MINUTE).toISOString());
		expect((await call("POST", "/api/recovery-codes/regenerate/", { token: user.token })).status).toBe(200);
	});

	it("refuses a user who has no authenticator app with 400 invalid_code", async () => {
		const user = await signUp();
		await registerPasskey(user);
		const partial = await partialToken(user);
		expectError(await verifyTotp(partial, "123456"), 400, "invalid_code");
	});
});

describe("GET /api/totp", () => {
	it("reports enabled: false before set-up", async () => {
		const user = await signUp();
		const response = await call("GET", "/api/totp/", { token: user.token });
		expect(response.status).toBe(200);
		expect(response.body).toEqual({ success: true, enabled: false });
	});

	it("reports when it was set up and when it was last used", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret } = await userWithTotp();
		const afterSetup = await call("GET", "/api/totp/", { token: user.token });
		expect(afterSetup.body).toEqual({ success: true, enabled: true, created_at: new Date(start).toISOString() });

		move(start + 60_000);
		const partial = await partialToken(user);
		const verified = await verifyTotp(partial, await codeFor(secret));
		const full = verified.body.session_token ?? "";
		const afterUse = await call("GET", "/api/totp/", { token: full });
		expect(afterUse.body).toEqual({
			success: true,
			enabled: true,
			created_at: new Date(start).toISOString(),
			last_used_at: new Date(start + 60_000).toISOString(),
		});
	});

	it("refuses a partial session with 403 mfa_required", async () => {
		const { user } = await userWithTotp();
		expectError(await call("GET", "/api/totp/", { token: await partialToken(user) }), 403, "mfa_required");
	});
});

describe("DELETE /api/totp", () => {
	it("answers 404 not_found when no authenticator app is set up", async () => {
		const user = await signUp();
		await registerPasskey(user);
		expectError(await call("DELETE", "/api/totp/", { token: user.token }), 404, "not_found");
	});

	it("removes the authenticator app beside a passkey, after which its codes are refused", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const user = await signUp();
		await registerPasskey(user);
		const { secret } = await enableTotp(user);
		expect((await call("DELETE", "/api/totp/", { token: user.token })).status).toBe(200);
		expect(await totpRow(user.id)).toBeNull();
		move(start + 30_000);
		const partial = await partialToken(user);
		expectError(await verifyTotp(partial, await codeFor(secret)), 400, "invalid_code");
	});

	it("needs a recent authentication", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const user = await signUp();
		await registerPasskey(user);
		await enableTotp(user);
		move(start + 5 * MINUTE + 1);
		expectError(await call("DELETE", "/api/totp/", { token: user.token }), 401, "reauthentication_required");
		expect(await totpRow(user.id)).not.toBeNull();
	});

	it("can be set up again after removal, with a new secret", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const user = await signUp();
		await registerPasskey(user);
		const first = await enableTotp(user);
		await call("DELETE", "/api/totp/", { token: user.token });
		move(start + 30_000);
		const second = await enableTotp(user);
		expect(second.secret).not.toBe(first.secret);
		expect(second.activationStep).toBe(currentStep());
		expect(await totpCodeAt(second.secret, currentStep())).toMatch(/^\d{6}$/);
	});
});
