import { afterEach, describe, expect, it, vi } from "vitest";
import { MINUTE } from "../../src/lib/clock";
import { captureMetrics, stopCapturingMetrics } from "../../src/lib/metrics";
import { call, ORIGIN, signUp } from "../helpers/api";
import { expectError } from "../helpers/expect-error";
import { registerPasskey } from "../helpers/flows";
import { freezeClock } from "../helpers/time";
import {
	codeFor,
	enableTotp,
	midStep,
	partialCookie,
	partialToken,
	reauthenticate,
	setSessionCookie,
	userWithTotp,
	verifyRecoveryCode,
} from "../helpers/totp";

afterEach(() => {
	vi.restoreAllMocks();
	stopCapturingMetrics();
});

interface Summary {
	total: number;
	unused: number;
	created_at: string | null;
}

function summary(token: string) {
	return call<Summary & { success: true }>("GET", "/api/recovery-codes/", { token });
}

function regenerate(token: string) {
	return call<{ recovery_codes: string[] }>("POST", "/api/recovery-codes/regenerate/", { token });
}

describe("GET /api/recovery-codes", () => {
	it("counts ten unused codes and says when they were made", async () => {
		const start = midStep();
		freezeClock(start);
		const { user } = await userWithTotp();
		const response = await summary(user.token);
		expect(response.status).toBe(200);
		expect(response.body).toEqual({ success: true, total: 10, unused: 10, created_at: new Date(start).toISOString() });
	});

	it("answers 404 not_found when the user has no second factor", async () => {
		const user = await signUp();
		expectError(await summary(user.token), 404, "not_found");
	});

	it("counts a used code", async () => {
		const { user, recoveryCodes } = await userWithTotp();
		await verifyRecoveryCode(await partialToken(user), recoveryCodes?.[3]);
		expect((await summary(user.token)).body).toMatchObject({ total: 10, unused: 9 });
	});

	it("refuses a partial session with 403 mfa_required", async () => {
		const { user } = await userWithTotp();
		expectError(await summary(await partialToken(user)), 403, "mfa_required");
	});
});

describe("recovery codes are returned once, with the first authenticator only", () => {
	it("returns them with a first passkey, and not with a TOTP added after it", async () => {
		const user = await signUp();
		const { response } = await registerPasskey(user);
		expect(response.body.recovery_codes).toHaveLength(10);
		const totp = await enableTotp(user);
		expect(totp.recoveryCodes).toBeUndefined();
		// The passkey's codes are still the ones that work.
		const partial = await partialToken(user);
		expect((await verifyRecoveryCode(partial, response.body.recovery_codes?.[0])).status).toBe(200);
	});

	it("returns them with a first TOTP, and not with a passkey added after it", async () => {
		const { user, recoveryCodes } = await userWithTotp();
		expect(recoveryCodes).toHaveLength(10);
		const { response } = await registerPasskey(user);
		expect(response.status).toBe(201);
		expect(response.body.recovery_codes).toBeUndefined();
		expect((await summary(user.token)).body).toMatchObject({ total: 10, unused: 10 });
	});

	it("gives one set when a first passkey and a first TOTP are added at once, and that set is the one stored", async () => {
		for (let round = 0; round < 8; round++) {
			const user = await signUp();
			const [passkey, totp] = await Promise.all([registerPasskey(user), enableTotp(user)]);
			expect(passkey.response.status).toBe(201);
			const sets = [passkey.response.body.recovery_codes, totp.recoveryCodes].filter((codes) => codes !== undefined);
			expect(sets).toHaveLength(1);
			expect(sets[0]).toHaveLength(10);
			expect((await summary(user.token)).body).toMatchObject({ total: 10, unused: 10 });
			const partial = await partialToken(user);
			expect((await verifyRecoveryCode(partial, sets[0]?.[9])).status).toBe(200);
		}
	});

	it("returns no codes from any read route", async () => {
		const { user, recoveryCodes } = await userWithTotp();
		const bodies = [
			await summary(user.token),
			await call("GET", "/api/totp/", { token: user.token }),
			await call("GET", "/api/auth/session/", { token: user.token }),
		].map((response) => JSON.stringify(response.body));
		for (const body of bodies) {
			for (const code of recoveryCodes ?? []) expect(body).not.toContain(code);
		}
	});
});

describe("POST /api/recovery-codes/verify", () => {
	it("signs an app in with a code: full session, new token, unused count", async () => {
		const { user, recoveryCodes } = await userWithTotp();
		const partial = await partialToken(user);
		const verified = await verifyRecoveryCode(partial, recoveryCodes?.[0]);
		expect(verified.status).toBe(200);
		expect(verified.body).toMatchObject({ success: true, unused: 9, session: { level: "full" } });
		expect(verified.body.session.methods).toEqual(["totp", "recovery_codes"]);
		expect(verified.body.session_token).toBeTruthy();
		expectError(await call("GET", "/api/auth/session/", { token: partial }), 401, "not_authenticated");
		expect((await call("GET", "/api/totp/", { token: verified.body.session_token })).status).toBe(200);
	});

	it("signs a browser in with a code under a new cookie", async () => {
		const { user, recoveryCodes } = await userWithTotp();
		const partial = await partialCookie(user);
		const verified = await call<{ session: { level: string }; session_token?: string; unused: number }>(
			"POST",
			"/api/recovery-codes/verify/",
			{ cookie: partial, origin: ORIGIN, body: { code: recoveryCodes?.[0] } },
		);
		expect(verified.status).toBe(200);
		expect(verified.body.session_token).toBeUndefined();
		expect(verified.body.unused).toBe(9);
		const cookie = setSessionCookie(verified.headers);
		expect(cookie).toBeTruthy();
		expect(cookie).not.toBe(partial);
		expectError(await call("GET", "/api/auth/session/", { cookie: partial }), 401, "not_authenticated");
	});

	it.each([
		["upper case", (code: string) => code.toUpperCase()],
		["no dashes", (code: string) => code.replaceAll("-", "")],
		["spaces instead of dashes", (code: string) => code.replaceAll("-", " ")],
		["surrounding and inner spaces", (code: string) => `  ${code.slice(0, 2)} ${code.slice(2).toUpperCase()}  `],
		["dashes every two characters", (code: string) => code.replaceAll("-", "").replace(/(..)(?!$)/g, "$1-")],
	])("accepts a code typed with %s", async (_, typed) => {
		const { user, recoveryCodes } = await userWithTotp();
		const code = recoveryCodes?.[0] ?? "";
		expect((await verifyRecoveryCode(await partialToken(user), typed(code))).status).toBe(200);
		// What was used is the code itself: its plain form is now refused.
		expectError(await verifyRecoveryCode(await partialToken(user), code), 400, "invalid_code");
	});

	it("refuses a well-formed code that is not the user's with 400 invalid_code", async () => {
		const { user } = await userWithTotp();
		const other = await userWithTotp();
		const partial = await partialToken(user);
		expectError(await verifyRecoveryCode(partial, other.recoveryCodes?.[0]), 400, "invalid_code");
	});

	it("keeps a full session's token when used to reauthenticate", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, recoveryCodes } = await userWithTotp();
		move(start + 10 * MINUTE);
		const verified = await verifyRecoveryCode(user.token, recoveryCodes?.[0]);
		expect(verified.status).toBe(200);
		expect(verified.body.session_token).toBeUndefined();
		expect(verified.body.session.authenticated_at).toBe(new Date(start + 10 * MINUTE).toISOString());
	});

	it("drops recovery_codes from the session's methods once every code is used", async () => {
		const { user, recoveryCodes } = await userWithTotp();
		for (const code of recoveryCodes ?? []) {
			expect((await verifyRecoveryCode(await partialToken(user), code)).status).toBe(200);
		}
		const partial = await partialToken(user);
		const view = await call<{ session: { methods: string[] } }>("GET", "/api/auth/session/", { token: partial });
		expect(view.body.session.methods).toEqual(["totp"]);
		expect((await summary(user.token)).body).toMatchObject({ total: 10, unused: 0 });
	});
});

describe("POST /api/recovery-codes/regenerate", () => {
	it("returns ten new codes, and the old ones stop working at once", async () => {
		const { user, recoveryCodes: old } = await userWithTotp();
		const metrics = captureMetrics();
		const response = await regenerate(user.token);
		expect(response.status).toBe(200);
		expect(response.body).toMatchObject({ success: true });
		const fresh = response.body.recovery_codes;
		expect(fresh).toHaveLength(10);
		expect(new Set(fresh).size).toBe(10);
		for (const code of fresh) expect(old).not.toContain(code);
		expect(metrics.map((point) => point.blobs)).toEqual([
			["recovery_codes.generated", "success", "regenerated", "recovery_code", "app"],
		]);

		// Four, not ten: a fifth failure would close the attempt cap.
		for (const code of (old ?? []).slice(0, 4)) {
			expectError(await verifyRecoveryCode(await partialToken(user), code), 400, "invalid_code");
		}
		expect((await verifyRecoveryCode(await partialToken(user), fresh[0])).status).toBe(200);
	});

	it("restores a full set after codes were used", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, recoveryCodes } = await userWithTotp();
		await verifyRecoveryCode(await partialToken(user), recoveryCodes?.[0]);
		move(start + MINUTE);
		expect((await regenerate(user.token)).status).toBe(200);
		expect((await summary(user.token)).body).toEqual({
			success: true,
			total: 10,
			unused: 10,
			created_at: new Date(start + MINUTE).toISOString(),
		});
	});

	it("needs a recent authentication", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret } = await userWithTotp();
		move(start + 5 * MINUTE + 1);
		expectError(await regenerate(user.token), 401, "reauthentication_required");
		await reauthenticate(user.token);
		expect((await regenerate(user.token)).status).toBe(200);
		// A TOTP verify on the full session refreshes it as well.
		move(start + 11 * MINUTE);
		expect(
			(await call("POST", "/api/totp/verify/", { token: user.token, body: { code: await codeFor(secret) } })).status,
		).toBe(200);
		expect((await regenerate(user.token)).status).toBe(200);
	});

	it("refuses a partial session with 403 mfa_required", async () => {
		const { user } = await userWithTotp();
		expectError(await regenerate(await partialToken(user)), 403, "mfa_required");
	});

	it("answers 404 not_found when the user has no second factor", async () => {
		const user = await signUp();
		expectError(await regenerate(user.token), 404, "not_found");
	});
});
