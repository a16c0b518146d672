import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { captureMetrics, type RecordedPoint, stopCapturingMetrics } from "../../src/lib/metrics";
import { expectError } from "../helpers/expect-error";
import { authenticationOptions, partialLogin, postVerify, userWithPasskey } from "../helpers/flows";
import { partialToken, partialTokens, statusCounts, userWithTotp, verifyRecoveryCode } from "../helpers/totp";

// A 2FA verify is one call of the user's Durable Object: the Worker verifies
// the assertion against the challenge it signed, and the object consumes the
// session's pending challenge and holds the signed one against it.

let points: RecordedPoint[];
beforeEach(() => {
	points = captureMetrics();
});
afterEach(() => {
	stopCapturingMetrics();
	vi.restoreAllMocks();
});

const failedReasons = (event: string) => points.filter((p) => p.indexes[0] === event).map((p) => p.blobs[2]);

describe("the pending challenge held against the signed one", () => {
	it("refuses an assertion signed over another session's challenge, and consumes this session's", async () => {
		const { user, authenticator } = await userWithPasskey();
		const mine = await partialLogin(user);
		const other = await partialLogin(user);
		const myOptions = await authenticationOptions(mine);
		const otherOptions = await authenticationOptions(other);

		// A genuine signature, over the other session's challenge.
		const crossed = await authenticator.getAssertion(myOptions, { challenge: otherOptions.challenge });
		expectError(await postVerify(mine, crossed), 400, "verification_failed");
		expect(failedReasons("webauthn.verify.failed")).toEqual(["challenge_mismatch"]);

		// The attempt consumed this session's challenge: its own assertion now comes too late.
		const own = await authenticator.getAssertion(myOptions);
		expectError(await postVerify(mine, own), 400, "challenge_expired");
		// The other session's challenge is untouched and still works there.
		const theirs = await authenticator.getAssertion(otherOptions);
		expect((await postVerify(other, theirs)).status).toBe(200);
	});
});

describe("concurrent uses of one valid factor", () => {
	it("answer one 200, refuse the rest without counting them: the user is not locked out, 5 times", async () => {
		for (let round = 0; round < 5; round++) {
			const { user, recoveryCodes } = await userWithTotp();
			const partial = await partialToken(user);
			const responses = await Promise.all(
				Array.from({ length: 20 }, () => verifyRecoveryCode(partial, recoveryCodes?.[0])),
			);
			expect(statusCounts(responses)[200]).toBe(1);
			expect(responses.filter((r) => r.status === 429)).toHaveLength(0);

			// 19 lost races later, another code still signs in: nothing was counted as a guess.
			const [next] = await partialTokens(user, 1);
			expect((await verifyRecoveryCode(next ?? "", recoveryCodes?.[1])).status).toBe(200);
		}
	});
});
