import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { hashRecoveryCode } from "../../src/services/recovery-codes";
import { call } from "../helpers/api";
import { keySet } from "../helpers/keys";
import { durableState } from "../helpers/property";
import { freezeClock } from "../helpers/time";
import {
	codeFor,
	currentStep,
	midStep,
	partialToken,
	recoveryCodeRows,
	totpRow,
	userWithTotp,
	verifyRecoveryCode,
	verifyTotp,
} from "../helpers/totp";

// Different valid codes sent at once on one session: only one request can
// upgrade (or refresh) it, and a code is spent in the same D1 transaction as
// that session change, conditional on it. A request that loses the race
// spends nothing and counts no failure: its code was right.

afterEach(() => {
	vi.restoreAllMocks();
});

const ROUNDS = 10;
const STEP = 30_000;

async function usedHashes(userId: string): Promise<string[]> {
	return (await recoveryCodeRows(userId)).filter((row) => row.used_at !== null).map((row) => row.code_hash);
}

function hashOf(code: string): Promise<string> {
	return hashRecoveryCode(keySet(env.RECOVERY_CODE_HMAC_KEY), code);
}

describe("different valid recovery codes at once", () => {
	it(`on one partial session upgrade it once and spend only the winner's code (${ROUNDS} rounds of 5)`, async () => {
		for (let round = 0; round < ROUNDS; round++) {
			const { user, recoveryCodes } = await userWithTotp();
			const codes = (recoveryCodes ?? []).slice(0, 5);
			const partial = await partialToken(user);
			const responses = await Promise.all(codes.map((code) => verifyRecoveryCode(partial, code)));
			const statuses = responses.map((response) => response.status);
			expect(
				statuses.filter((status) => status === 200),
				`round ${round}: ${statuses}`,
			).toHaveLength(1);
			// A loser found the token replaced (401, as any later request with it) or its code's chance gone (400).
			for (const response of responses.filter((r) => r.status !== 200)) {
				expect(response.body, `round ${round}: ${statuses}`).toMatchObject({
					code: response.status === 401 ? "not_authenticated" : "invalid_code",
				});
				expect([400, 401]).toContain(response.status);
			}
			const winner = statuses.indexOf(200);
			expect(responses[winner]?.body.unused, `round ${round}`).toBe(9);
			expect(await usedHashes(user.id), `round ${round}`).toEqual([await hashOf(codes[winner] ?? "")]);
			// Right codes that lost are not guesses.
			expect((await durableState(user.id)).attempts, `round ${round}`).toBe(0);
			const full = await call("GET", "/api/auth/session/", { token: responses[winner]?.body.session_token });
			expect(full.body).toMatchObject({ session: { level: "full" } });
		}
	});

	it(`on one full session (reauthentication) refresh it once and spend one code (${ROUNDS} rounds of 5)`, async () => {
		for (let round = 0; round < ROUNDS; round++) {
			const { user, recoveryCodes } = await userWithTotp();
			const codes = (recoveryCodes ?? []).slice(0, 5);
			const responses = await Promise.all(codes.map((code) => verifyRecoveryCode(user.token, code)));
			const statuses = responses.map((response) => response.status);
			expect(
				statuses.filter((status) => status === 200),
				`round ${round}: ${statuses}`,
			).toHaveLength(1);
			for (const response of responses.filter((r) => r.status !== 200)) {
				expect({ status: response.status, body: response.body }, `round ${round}`).toMatchObject({
					status: 400,
					body: { code: "invalid_code" },
				});
			}
			const winner = statuses.indexOf(200);
			expect(await usedHashes(user.id), `round ${round}`).toEqual([await hashOf(codes[winner] ?? "")]);
			expect((await durableState(user.id)).attempts, `round ${round}`).toBe(0);
			// The session keeps its token and is recent; the unspent codes still work, one after another.
			expect((await verifyRecoveryCode(user.token, codes[(winner + 1) % 5])).status).toBe(200);
		}
	});
});

describe("different valid TOTP codes at once", () => {
	it(`on one partial session accept only the winner's step: a loser burns none (${ROUNDS} rounds)`, async () => {
		for (let round = 0; round < ROUNDS; round++) {
			const start = midStep();
			const move = freezeClock(start);
			const { user, secret } = await userWithTotp();
			// Activation used step s; at s + 3 the codes of s + 2, s + 3 and s + 4 are all valid and unused.
			move(start + 3 * STEP);
			const now = currentStep();
			const offsets = [-1, 0, 1];
			const codes = await Promise.all(offsets.map((offset) => codeFor(secret, offset)));
			const partial = await partialToken(user);
			const responses = await Promise.all(codes.map((code) => verifyTotp(partial, code)));
			const statuses = responses.map((response) => response.status);
			expect(
				statuses.filter((status) => status === 200),
				`round ${round}: ${statuses}`,
			).toHaveLength(1);
			for (const response of responses.filter((r) => r.status !== 200)) {
				expect([400, 401], `round ${round}: ${statuses}`).toContain(response.status);
			}
			const winnerStep = now + (offsets[statuses.indexOf(200)] ?? 0);
			expect((await totpRow(user.id))?.last_step, `round ${round}: ${statuses}`).toBe(winnerStep);
			expect((await durableState(user.id)).attempts, `round ${round}`).toBe(0);
			vi.restoreAllMocks();
		}
	});
});
