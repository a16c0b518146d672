import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { captureMetrics, type RecordedPoint, stopCapturingMetrics } from "../../src/lib/metrics";
import { SoftAuthenticator } from "../helpers/authenticator";
import { partialLogin, passkeyRow, userWithPasskey, verifyPasskey } from "../helpers/flows";

// The backup-eligible flag is fixed for a credential's life: a change means
// another authenticator (or a tampered one) answers for it. The backed-up
// flag may change, and is recorded.

let points: RecordedPoint[];
beforeEach(() => {
	points = captureMetrics();
});
afterEach(() => {
	stopCapturingMetrics();
});

function reasons(): string[] {
	return points.filter((p) => p.indexes[0] === "webauthn.verify.failed").map((p) => p.blobs[2] ?? "");
}

describe("backup eligibility", () => {
	it("refuses an assertion claiming backup eligibility for a single-device credential", async () => {
		const authenticator = new SoftAuthenticator({ backupEligible: false });
		const { user, passkey } = await userWithPasskey(authenticator);
		const before = await passkeyRow(passkey.credential_id);
		const refused = await verifyPasskey(await partialLogin(user), authenticator, { flags: { be: true } });
		expect(refused.status).toBe(400);
		expect(refused.body).toMatchObject({ code: "verification_failed" });
		expect(reasons()).toEqual(["backup_eligibility_changed"]);
		expect(await passkeyRow(passkey.credential_id)).toEqual(before);
	});

	it("refuses an assertion without backup eligibility for a multi-device credential", async () => {
		const authenticator = new SoftAuthenticator({ backupEligible: true, backedUp: true });
		const { user, passkey } = await userWithPasskey(authenticator);
		const before = await passkeyRow(passkey.credential_id);
		const refused = await verifyPasskey(await partialLogin(user), authenticator, { flags: { be: false, bs: false } });
		expect(refused.status).toBe(400);
		expect(reasons()).toEqual(["backup_eligibility_changed"]);
		expect(await passkeyRow(passkey.credential_id)).toEqual(before);
	});

	it("accepts the same eligibility and records a change of the backed-up state", async () => {
		const authenticator = new SoftAuthenticator({ backupEligible: true, backedUp: false });
		const { user, passkey } = await userWithPasskey(authenticator);
		expect(passkey.backed_up).toBe(false);
		const verified = await verifyPasskey(await partialLogin(user), authenticator, { flags: { bs: true } });
		expect(verified.status).toBe(200);
		expect(await passkeyRow(passkey.credential_id)).toMatchObject({ backup_eligible: 1, backed_up: 1 });
		const again = await verifyPasskey(await partialLogin(user), authenticator, { flags: { bs: false } });
		expect(again.status).toBe(200);
		expect(await passkeyRow(passkey.credential_id)).toMatchObject({ backup_eligible: 1, backed_up: 0 });
	});
});
