import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { captureMetrics, type RecordedPoint, stopCapturingMetrics } from "../../src/lib/metrics";
import { SoftAuthenticator } from "../helpers/authenticator";
import { partialLogin, passkeyRow, userWithPasskey, verifyPasskey } from "../helpers/flows";

// A sign count that does not grow, when either count is non-zero, is a
// possible cloned authenticator: the assertion is refused and recorded. Both
// counts at zero means the authenticator does not count (most passkeys).

let points: RecordedPoint[];
beforeEach(() => {
	points = captureMetrics();
});
afterEach(() => {
	stopCapturingMetrics();
});

function signCountFailures(): RecordedPoint[] {
	return points.filter((p) => p.indexes[0] === "webauthn.verify.failed" && p.blobs[2] === "sign_count");
}

describe("sign count", () => {
	it("refuses a count equal to the stored one and records webauthn.verify.failed with reason sign_count", async () => {
		const authenticator = new SoftAuthenticator({ signCount: 5 });
		const { user, passkey } = await userWithPasskey(authenticator);
		const before = await passkeyRow(passkey.credential_id);
		expect(before?.sign_count).toBe(5);

		const refused = await verifyPasskey(await partialLogin(user), authenticator, { signCount: 5 });
		expect(refused.status).toBe(400);
		expect(refused.body).toMatchObject({ success: false, code: "verification_failed" });
		const [point] = signCountFailures();
		expect(point?.blobs).toEqual(["webauthn.verify.failed", "failure", "sign_count", "webauthn", "app"]);
		expect(point?.doubles[0]).toBe(1);
		expect(await passkeyRow(passkey.credential_id)).toEqual(before);
	});

	it("refuses a count lower than the stored one", async () => {
		const authenticator = new SoftAuthenticator({ signCount: 5 });
		const { user, passkey } = await userWithPasskey(authenticator);
		const refused = await verifyPasskey(await partialLogin(user), authenticator, { signCount: 4 });
		expect(refused.status).toBe(400);
		expect(signCountFailures()).toHaveLength(1);
		expect((await passkeyRow(passkey.credential_id))?.sign_count).toBe(5);
	});

	it("refuses a count of zero once a non-zero count was stored", async () => {
		const authenticator = new SoftAuthenticator();
		const { user, passkey } = await userWithPasskey(authenticator);
		expect((await verifyPasskey(await partialLogin(user), authenticator, { signCount: 7 })).status).toBe(200);
		expect((await passkeyRow(passkey.credential_id))?.sign_count).toBe(7);
		const refused = await verifyPasskey(await partialLogin(user), authenticator, { signCount: 0 });
		expect(refused.status).toBe(400);
		expect(signCountFailures()).toHaveLength(1);
		expect((await passkeyRow(passkey.credential_id))?.sign_count).toBe(7);
	});

	it("accepts a growing count and stores it", async () => {
		const authenticator = new SoftAuthenticator({ signCount: 5 });
		const { user, passkey } = await userWithPasskey(authenticator);
		expect((await verifyPasskey(await partialLogin(user), authenticator, { signCount: 6 })).status).toBe(200);
		expect((await passkeyRow(passkey.credential_id))?.sign_count).toBe(6);
		expect((await verifyPasskey(await partialLogin(user), authenticator, { signCount: 1000 })).status).toBe(200);
		expect((await passkeyRow(passkey.credential_id))?.sign_count).toBe(1000);
		expect(signCountFailures()).toHaveLength(0);
	});

	it("accepts zero again and again from an authenticator that does not count", async () => {
		const authenticator = new SoftAuthenticator();
		const { user, passkey } = await userWithPasskey(authenticator);
		for (let i = 0; i < 3; i++) {
			expect((await verifyPasskey(await partialLogin(user), authenticator)).status).toBe(200);
		}
		expect((await passkeyRow(passkey.credential_id))?.sign_count).toBe(0);
		expect(signCountFailures()).toHaveLength(0);
	});

	it("does not report a clone for a forged assertion: the signature is checked first", async () => {
		const authenticator = new SoftAuthenticator({ signCount: 5 });
		const { user } = await userWithPasskey(authenticator);
		const refused = await verifyPasskey(await partialLogin(user), authenticator, { signCount: 5, badSignature: true });
		expect(refused.status).toBe(400);
		expect(signCountFailures()).toHaveLength(0);
		expect(points.filter((p) => p.indexes[0] === "webauthn.verify.failed").map((p) => p.blobs[2])).toEqual([
			"signature",
		]);
	});
});
