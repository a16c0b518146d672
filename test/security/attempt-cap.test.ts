import { afterEach, describe, expect, it, vi } from "vitest";
import { MINUTE } from "../../src/lib/clock";
import { captureMetrics, stopCapturingMetrics } from "../../src/lib/metrics";
import { type ApiResponse, call, signUp, type TestUser } from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import { expectError } from "../helpers/expect-error";
import { registerPasskey, verifyPasskey } from "../helpers/flows";
import { freezeClock } from "../helpers/time";
import {
	codeFor,
	enableTotp,
	midStep,
	partialToken,
	partialTokens,
	statusCounts,
	userWithTotp,
	verifyRecoveryCode,
	verifyTotp,
	wrongCodeFor,
} from "../helpers/totp";

// API.md, Limits: 5 failed second-factor attempts for a user within 15
// minutes, all methods together, close every 2FA verify with 429 until the
// window has passed. The Durable Object counts each attempt as a failure
// before it is checked, so the count is never behind the answers.

afterEach(() => {
	vi.restoreAllMocks();
	stopCapturingMetrics();
});

const WINDOW = 15 * MINUTE;
const WRONG_RECOVERY_CODE = "0000-0000-0000";

/** A user with a passkey (first, so it brought the recovery codes) and an authenticator app. */
async function userWithEveryMethod() {
	const user = await signUp();
	const authenticator = new SoftAuthenticator();
	const { response } = await registerPasskey(user, authenticator);
	const recoveryCodes = response.body.recovery_codes ?? [];
	expect(recoveryCodes).toHaveLength(10);
	const { secret } = await enableTotp(user);
	return { user, authenticator, secret, recoveryCodes };
}

function expectLocked(response: ApiResponse<unknown>, retryAfterSeconds?: number) {
	expectError(response, 429, "too_many_attempts");
	const retryAfter = Number(response.headers.get("retry-after"));
	expect(Number.isInteger(retryAfter)).toBe(true);
	expect(retryAfter).toBeGreaterThan(0);
	expect(retryAfter).toBeLessThanOrEqual(WINDOW / 1000);
	if (retryAfterSeconds !== undefined) expect(retryAfter).toBe(retryAfterSeconds);
}

/** Fails `count` times with a wrong TOTP code, on a fresh partial session each time so none is revoked. */
async function failTotp(user: TestUser, secret: string, count: number) {
	for (let i = 0; i < count; i++) {
		expectError(await verifyTotp(await partialToken(user), await wrongCodeFor(secret)), 400, "invalid_code");
	}
}

describe("the second-factor attempt cap", () => {
	it("locks every method after 5 failures that mix TOTP, recovery code and passkey", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, authenticator, secret, recoveryCodes } = await userWithEveryMethod();
		move(start + 30_000);
		const [a, b] = await partialTokens(user, 2);

		expectError(await verifyTotp(a ?? "", await wrongCodeFor(secret)), 400, "invalid_code");
		expectError(await verifyRecoveryCode(a ?? "", WRONG_RECOVERY_CODE), 400, "invalid_code");
		expectError(await verifyPasskey(a ?? "", authenticator, { badSignature: true }), 400, "verification_failed");
		expectError(await verifyTotp(b ?? "", await wrongCodeFor(secret)), 400, "invalid_code");
		expectError(await verifyPasskey(b ?? "", authenticator, { badSignature: true }), 400, "verification_failed");

		const metrics = captureMetrics();
		const fresh = await partialToken(user);
		// Every failure happened at the same frozen instant: the lock lasts the whole window.
		expectLocked(await verifyTotp(fresh, await codeFor(secret)), 900);
		expectLocked(await verifyRecoveryCode(fresh, recoveryCodes[0]), 900);
		expectLocked(await verifyPasskey(fresh, authenticator), 900);
		// Locked answers are not failures, and the correct answers were not consumed.
		const blocked = metrics.filter((point) => point.blobs[0] === "rate_limit.blocked");
		expect(blocked.map((point) => point.blobs)).toEqual([
			["rate_limit.blocked", "blocked", "second_factor", "totp", "app"],
			["rate_limit.blocked", "blocked", "second_factor", "recovery_code", "app"],
			["rate_limit.blocked", "blocked", "second_factor", "webauthn", "app"],
		]);
		expect(metrics.filter((point) => point.blobs[1] === "success" && point.blobs[0] !== "auth.login.success")).toEqual(
			[],
		);

		move(start + 30_000 + WINDOW);
		const later = await partialToken(user);
		expect((await verifyRecoveryCode(later, recoveryCodes[0])).status).toBe(200);
	});

	it("refuses the correct code while locked, also on a full session", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret } = await userWithTotp();
		move(start + 30_000);
		await failTotp(user, secret, 5);
		expectLocked(await verifyTotp(await partialToken(user), await codeFor(secret)));
		// Reauthentication through a verify route is a 2FA verify too.
		expectLocked(await verifyTotp(user.token, await codeFor(secret)));
	});

	it("does not reset the count when a verification succeeds in between", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret, recoveryCodes } = await userWithTotp();
		move(start + 30_000);
		await failTotp(user, secret, 4);
		const success = await verifyRecoveryCode(await partialToken(user), recoveryCodes?.[0]);
		expect(success.status).toBe(200);
		await failTotp(user, secret, 1);
		expectLocked(await verifyTotp(await partialToken(user), await codeFor(secret)));
	});

	it("allows 4 failures and then the correct code", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret } = await userWithTotp();
		move(start + 30_000);
		await failTotp(user, secret, 4);
		expect((await verifyTotp(await partialToken(user), await codeFor(secret))).status).toBe(200);
	});

	it("lifts the lock exactly when the window has passed", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret } = await userWithTotp();
		const failedAt = start + 30_000;
		move(failedAt);
		await failTotp(user, secret, 5);

		// Partial sessions live 10 minutes: sign in with the password again each time.
		move(failedAt + WINDOW - 1000);
		expectLocked(await verifyTotp(await partialToken(user), await codeFor(secret)), 1);
		move(failedAt + WINDOW);
		const verified = await verifyTotp(await partialToken(user), await codeFor(secret));
		expect(verified.status).toBe(200);
		expect(verified.body.session.level).toBe("full");
	});

	it("counts failures in a sliding window: the oldest leaving reopens one attempt", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret } = await userWithTotp();
		move(start + 30_000);
		await failTotp(user, secret, 1);
		move(start + 30_000 + 5 * MINUTE);
		await failTotp(user, secret, 4);
		expectLocked(await verifyTotp(await partialToken(user), await codeFor(secret)), 10 * 60);
		// The first failure leaves the window; four remain, so one more attempt is allowed.
		move(start + 30_000 + WINDOW);
		expect((await verifyTotp(await partialToken(user), await codeFor(secret))).status).toBe(200);
	});

	it("records a rate_limit.blocked metric for a locked verify", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret } = await userWithTotp();
		move(start + 30_000);
		await failTotp(user, secret, 5);
		const metrics = captureMetrics();
		expectLocked(await verifyTotp(await partialToken(user), await codeFor(secret)));
		expect(metrics.map((point) => point.blobs)).toContainEqual([
			"rate_limit.blocked",
			"blocked",
			"second_factor",
			"totp",
			"app",
		]);
		expect(metrics.some((point) => point.blobs[0] === "totp.verify.failed")).toBe(false);
	});

	it("keeps users apart: one user's lock does not lock another", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const first = await userWithTotp();
		const second = await userWithTotp();
		move(start + 30_000);
		await failTotp(first.user, first.secret, 5);
		expect((await verifyTotp(await partialToken(second.user), await codeFor(second.secret))).status).toBe(200);
	});
});

describe("a partial session and the limit", () => {
	// API.md: "A partial session is not ended by the 2FA limit: while the user
	// is limited, its verify routes answer 429 with Retry-After, so the client
	// can tell the user to wait." (It used to be revoked: 401.)
	it("keeps the partial session after its fifth failure, answering its verifies with 429 and Retry-After", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret, recoveryCodes } = await userWithTotp();
		move(start + 30_000);
		const partial = await partialToken(user);
		for (let i = 0; i < 5; i++) {
			expectError(await verifyTotp(partial, await wrongCodeFor(secret)), 400, "invalid_code");
		}
		const session = await call("GET", "/api/auth/session/", { token: partial });
		expect(session.status).toBe(200);
		expect(session.body).toMatchObject({ session: { level: "partial" } });
		expectLocked(await verifyTotp(partial, await codeFor(secret)), 900);
		expectLocked(await verifyRecoveryCode(partial, recoveryCodes?.[0]), 900);
		// Later in the session's 10 minutes, the same session says how much longer to wait.
		move(start + 30_000 + 5 * 60_000);
		expectLocked(await verifyTotp(partial, await codeFor(secret)), 600);
	});

	it("lets the same partial session through once the window has passed", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret } = await userWithTotp();
		const partial = await partialToken(user);
		// Failures from earlier sessions lock the user; this session outlives their window.
		move(start - 10 * 60_000);
		await failTotp(user, secret, 5);
		move(start);
		expectLocked(await verifyTotp(partial, await codeFor(secret)), 300);
		move(start + 5 * 60_000);
		const verified = await verifyTotp(partial, await codeFor(secret));
		expect(verified.status).toBe(200);
		expect(verified.body.session.level).toBe("full");
	});
});

describe("malformed codes", () => {
	it("answer 400 invalid_request and do not count toward the limit", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret } = await userWithTotp();
		move(start + 30_000);
		const partial = await partialToken(user);
		for (const code of ["12ab", "12345", "1234567", "", 123456, null]) {
			expectError(await verifyTotp(partial, code), 400, "invalid_request");
		}
		for (const code of ["not a code!", "abc", "0000-0000-0000-0000-0000", 42]) {
			expectError(await verifyRecoveryCode(partial, code), 400, "invalid_request");
		}
		expect((await verifyTotp(partial, await codeFor(secret))).status).toBe(200);
	});

	it("still answer 429 while the user is locked (the limit comes before the body)", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret } = await userWithTotp();
		move(start + 30_000);
		await failTotp(user, secret, 5);
		expectLocked(await verifyTotp(await partialToken(user), "12ab"));
	});
});

describe("the attempt cap under a race", () => {
	it("answers at most 5 of 20 concurrent wrong codes with invalid_code and the rest with 429", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret } = await userWithTotp();
		move(start + 30_000);
		// Separate partial sessions, so that no session is revoked mid-race.
		const tokens = await partialTokens(user, 20);
		const wrong = await wrongCodeFor(secret);
		const responses = await Promise.all(tokens.map((token) => verifyTotp(token, wrong)));
		const counts = statusCounts(responses);
		// Each verify reserves its failure in the Durable Object before the code
		// is checked, and no reservation is ever released (all codes are wrong),
		// so exactly five get as far as the check.
		expect(counts).toEqual({ 400: 5, 429: 15 });
		for (const response of responses) {
			if (response.status === 429) expectLocked(response);
		}
		expectLocked(await verifyTotp(await partialToken(user), await codeFor(secret)));
	});

	it("answers exactly 5 of 20 concurrent wrong codes on one session with invalid_code, the rest 429, and keeps it", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret } = await userWithTotp();
		move(start + 30_000);
		const partial = await partialToken(user);
		const wrong = await wrongCodeFor(secret);
		const responses = await Promise.all(Array.from({ length: 20 }, () => verifyTotp(partial, wrong)));
		expect(statusCounts(responses)).toEqual({ 400: 5, 429: 15 });
		for (const response of responses) {
			if (response.status === 429) expectLocked(response);
		}
		expect((await call("GET", "/api/auth/session/", { token: partial })).status).toBe(200);
		expectLocked(await verifyTotp(partial, await codeFor(secret)));
	});

	it("never lets a correct code through among 20 concurrent guesses once 5 failures are in", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret } = await userWithTotp();
		move(start + 30_000);
		await failTotp(user, secret, 5);
		const tokens = await partialTokens(user, 20);
		const code = await codeFor(secret);
		const responses = await Promise.all(tokens.map((token) => verifyTotp(token, code)));
		expect(statusCounts(responses)).toEqual({ 429: 20 });
	});
});
