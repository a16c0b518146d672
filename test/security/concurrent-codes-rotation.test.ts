import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { openSealed } from "../../src/lib/key-set";
import { hashRecoveryCode } from "../../src/services/recovery-codes";
import { callConfigured, type Vars } from "../helpers/configured";
import { keySet } from "../helpers/keys";
import { durableState } from "../helpers/property";
import { freezeClock } from "../helpers/time";
import {
	codeFor,
	currentStep,
	midStep,
	partialToken,
	recoveryCodeRows,
	type SessionBody,
	totpRow,
	userWithTotp,
} from "../helpers/totp";

// The two halves of a code's single use, together: after a key rotation a
// TOTP secret is re-sealed under the newest key and a recovery code is found
// under whichever listed key hashed it, and still the code is spent in the
// same D1 transaction as the session change, only by the request that won
// it. A request that loses the race spends nothing and re-seals nothing.

afterEach(() => {
	vi.restoreAllMocks();
});

const ROUNDS = 5;
const STEP = 30_000;
const OLD_TOTP = env.TOTP_ENCRYPTION_KEY ?? "";
const OLD_RECOVERY = env.RECOVERY_CODE_HMAC_KEY ?? "";
const NEW_TOTP = "rotated-totp-encryption-key-of-the-tests";
const NEW_RECOVERY = "rotated-recovery-code-hmac-key-of-the-tests";
const ROTATED: Vars = {
	TOTP_ENCRYPTION_KEY: `v2:${NEW_TOTP},v1:${OLD_TOTP}`,
	RECOVERY_CODE_HMAC_KEY: `v2:${NEW_RECOVERY},v1:${OLD_RECOVERY}`,
};

function verifyTotpWith(token: string, code: string) {
	return callConfigured<SessionBody>(ROTATED, "POST", "/api/totp/verify/", { token, app: true, body: { code } });
}

function verifyRecoveryCodeWith(token: string, code: string | undefined) {
	return callConfigured<SessionBody & { unused: number }>(ROTATED, "POST", "/api/recovery-codes/verify/", {
		token,
		app: true,
		body: { code },
	});
}

describe("different valid codes at once, after a key rotation", () => {
	it(`TOTP: one upgrade, only the winner's step spent, the secret re-sealed under the new key (${ROUNDS} rounds)`, async () => {
		for (let round = 0; round < ROUNDS; round++) {
			const start = midStep();
			const move = freezeClock(start);
			const { user, secret } = await userWithTotp();
			const before = (await totpRow(user.id))?.secret_ciphertext;
			// Sealed under the old key (the tests' plain value is the key v1, stored without an id).
			expect(before, `round ${round}`).not.toMatch(/^v2\./);
			move(start + 3 * STEP);
			const now = currentStep();
			const offsets = [-1, 0, 1];
			const codes = await Promise.all(offsets.map((offset) => codeFor(secret, offset)));
			const partial = await partialToken(user);
			const responses = await Promise.all(codes.map((code) => verifyTotpWith(partial, code)));
			const statuses = responses.map((response) => response.status);
			expect(
				statuses.filter((status) => status === 200),
				`round ${round}: ${statuses}`,
			).toHaveLength(1);
			for (const response of responses.filter((r) => r.status !== 200)) {
				expect([400, 401], `round ${round}: ${statuses}`).toContain(response.status);
			}
			const row = await totpRow(user.id);
			expect(row?.last_step, `round ${round}: ${statuses}`).toBe(now + (offsets[statuses.indexOf(200)] ?? 0));
			const after = row?.secret_ciphertext ?? "";
			expect(after, `round ${round}`).toMatch(/^v2\./);
			expect(await openSealed(keySet(`v2:${NEW_TOTP}`), after, `totp:${user.id}`)).toEqual({
				plaintext: secret,
				keyId: "v2",
			});
			expect((await durableState(user.id)).attempts, `round ${round}`).toBe(0);
			vi.restoreAllMocks();
		}
	});

	it(`recovery codes hashed under the old key: one upgrade, only the winner's code spent (${ROUNDS} rounds of 5)`, async () => {
		for (let round = 0; round < ROUNDS; round++) {
			const { user, recoveryCodes } = await userWithTotp();
			const codes = (recoveryCodes ?? []).slice(0, 5);
			const partial = await partialToken(user);
			const responses = await Promise.all(codes.map((code) => verifyRecoveryCodeWith(partial, code)));
			const statuses = responses.map((response) => response.status);
			expect(
				statuses.filter((status) => status === 200),
				`round ${round}: ${statuses}`,
			).toHaveLength(1);
			for (const response of responses.filter((r) => r.status !== 200)) {
				expect([400, 401], `round ${round}: ${statuses}`).toContain(response.status);
			}
			const winner = statuses.indexOf(200);
			expect(responses[winner]?.body.unused, `round ${round}`).toBe(9);
			const used = (await recoveryCodeRows(user.id)).filter((row) => row.used_at !== null);
			// The row spent is the one found under the old key, not a hash under the new one.
			expect(
				used.map((row) => row.code_hash),
				`round ${round}`,
			).toEqual([await hashRecoveryCode(keySet(OLD_RECOVERY), codes[winner] ?? "")]);
			expect((await durableState(user.id)).attempts, `round ${round}`).toBe(0);
			// A loser's code, still unused, works next.
			const next = await verifyRecoveryCodeWith(await partialToken(user), codes[(winner + 1) % 5]);
			expect(next.status, `round ${round}`).toBe(200);
			expect(next.body.unused, `round ${round}`).toBe(8);
		}
	});
});
