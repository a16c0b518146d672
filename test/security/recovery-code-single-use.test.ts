import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { hashRecoveryCode } from "../../src/services/recovery-codes";
import { expectError } from "../helpers/expect-error";
import { keySet } from "../helpers/keys";
import { freezeClock } from "../helpers/time";
import {
	midStep,
	partialToken,
	partialTokens,
	recoveryCodeRows,
	statusCounts,
	userWithTotp,
	verifyRecoveryCode,
} from "../helpers/totp";

// Each recovery code works once. The one statement that marks it used is
// `UPDATE … SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at
// IS NULL RETURNING id`: D1 runs statements one at a time, so among requests
// presenting the same code exactly one sees a row come back.

afterEach(() => {
	vi.restoreAllMocks();
});

async function rowOf(userId: string, code: string) {
	const hash = await hashRecoveryCode(keySet(env.RECOVERY_CODE_HMAC_KEY), code);
	return (await recoveryCodeRows(userId)).find((row) => row.code_hash === hash);
}

describe("a recovery code", () => {
	it("works exactly once", async () => {
		const start = midStep();
		freezeClock(start);
		const { user, recoveryCodes } = await userWithTotp();
		const code = recoveryCodes?.[0] ?? "";
		const first = await verifyRecoveryCode(await partialToken(user), code);
		expect(first.status).toBe(200);
		expect(first.body.unused).toBe(9);
		expectError(await verifyRecoveryCode(await partialToken(user), code), 400, "invalid_code");
		expect((await rowOf(user.id, code))?.used_at).toBe(start);
	});

	it("leaves the other codes usable after one is used", async () => {
		const { user, recoveryCodes } = await userWithTotp();
		const codes = recoveryCodes ?? [];
		expect((await verifyRecoveryCode(await partialToken(user), codes[0])).status).toBe(200);
		const second = await verifyRecoveryCode(await partialToken(user), codes[1]);
		expect(second.status).toBe(200);
		expect(second.body.unused).toBe(8);
	});

	it("is not spent by a failed attempt with another code", async () => {
		const { user, recoveryCodes } = await userWithTotp();
		const partial = await partialToken(user);
		expectError(await verifyRecoveryCode(partial, "zzzz-zzzz-zzzz"), 400, "invalid_code");
		expect((await verifyRecoveryCode(partial, recoveryCodes?.[0])).status).toBe(200);
		expect((await recoveryCodeRows(user.id)).filter((row) => row.used_at !== null)).toHaveLength(1);
	});
});

describe("a recovery code under a race", () => {
	// 20 partial sessions of one user present the same code at the same
	// instant. Separate sessions keep the per-session revoke out of the way;
	// the user-wide cap still applies: every request reserves a failure in the
	// Durable Object first, so beyond five outstanding the rest answer 429.
	// Either way, exactly one request may win, and the code is used once.
	for (let round = 1; round <= 3; round++) {
		it(`lets exactly one of 20 concurrent uses succeed (fresh user, round ${round})`, async () => {
			const { user, recoveryCodes } = await userWithTotp();
			const code = recoveryCodes?.[0] ?? "";
			const tokens = await partialTokens(user, 20);
			const responses = await Promise.all(tokens.map((token) => verifyRecoveryCode(token, code)));
			const counts = statusCounts(responses);
			expect(counts[200]).toBe(1);
			expect((counts[400] ?? 0) + (counts[429] ?? 0)).toBe(19);
			for (const response of responses) {
				if (response.status === 400) expectError(response, 400, "invalid_code");
				if (response.status === 429) expectError(response, 429, "too_many_attempts");
			}
			expect(responses.find((response) => response.status === 200)?.body.unused).toBe(9);

			const rows = await recoveryCodeRows(user.id);
			expect(rows).toHaveLength(10);
			expect(rows.filter((row) => row.used_at !== null)).toHaveLength(1);
			expect((await rowOf(user.id, code))?.used_at).not.toBeNull();
		});
	}

	// The winner's own reservation is still in flight while the losers fail:
	// only settled failures may revoke the partial session, or the fifth loser
	// would end it under the winner, spending the code with nobody signed in.
	it("lets exactly one of 20 concurrent uses on one session succeed", async () => {
		const { user, recoveryCodes } = await userWithTotp();
		const partial = await partialToken(user);
		const responses = await Promise.all(
			Array.from({ length: 20 }, () => verifyRecoveryCode(partial, recoveryCodes?.[0])),
		);
		const counts = statusCounts(responses);
		expect(counts[200]).toBe(1);
		// Losers: used (400), limiter full (429), or the partial token already replaced or revoked (401).
		expect((counts[400] ?? 0) + (counts[401] ?? 0) + (counts[429] ?? 0)).toBe(19);
		expect((await recoveryCodeRows(user.id)).filter((row) => row.used_at !== null)).toHaveLength(1);
	});

	it("lets two different codes used concurrently from two sessions both succeed", async () => {
		const { user, recoveryCodes } = await userWithTotp();
		const [a, b] = await partialTokens(user, 2);
		const responses = await Promise.all([
			verifyRecoveryCode(a ?? "", recoveryCodes?.[0]),
			verifyRecoveryCode(b ?? "", recoveryCodes?.[1]),
		]);
		expect(responses.map((response) => response.status)).toEqual([200, 200]);
		expect((await recoveryCodeRows(user.id)).filter((row) => row.used_at !== null)).toHaveLength(2);
	});
});
