import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { captureMetrics, type RecordedPoint, stopCapturingMetrics } from "../../src/lib/metrics";
import { call } from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import {
	addPasskey,
	authenticationOptions,
	partialLogin,
	passkeyRow,
	postVerify,
	registerPasskey,
	userWithPasskey,
	verifyPasskey,
} from "../helpers/flows";

// A passkey answers only for its own user, and only when it was offered in
// allowCredentials. Ids of other users' passkeys answer 404, never 403.

let points: RecordedPoint[];
beforeEach(() => {
	points = captureMetrics();
});
afterEach(() => {
	stopCapturingMetrics();
});

function verifyFailures(): string[] {
	return points.filter((p) => p.indexes[0] === "webauthn.verify.failed").map((p) => p.blobs[2] ?? "");
}

describe("second-factor verify with someone else's passkey", () => {
	it("refuses another user's genuine assertion with verification_failed and leaves that passkey untouched", async () => {
		const alice = await userWithPasskey();
		const mallory = await userWithPasskey();
		const before = await passkeyRow(mallory.passkey.credential_id);

		const partial = await partialLogin(alice.user);
		const options = await authenticationOptions(partial);
		// Mallory's authenticator signs Alice's challenge with Mallory's real key.
		const credential = await mallory.authenticator.getAssertion(options, {
			credentialId: mallory.passkey.credential_id,
		});
		const refused = await postVerify(partial, credential);
		expect(refused.status).toBe(400);
		expect(refused.body).toEqual({ success: false, code: "verification_failed", message: expect.any(String) });
		expect(verifyFailures()).toEqual(["credential_not_allowed"]);
		expect(await passkeyRow(mallory.passkey.credential_id)).toEqual(before);
		expect((await call("GET", "/api/auth/session/", { token: partial })).body).toMatchObject({
			session: { level: "partial" },
		});
	});

	it("counts it as a failed attempt: five of them lock the user's second factor", async () => {
		const alice = await userWithPasskey();
		const mallory = await userWithPasskey();
		const partial = await partialLogin(alice.user);
		for (let i = 0; i < 5; i++) {
			const options = await authenticationOptions(partial);
			const credential = await mallory.authenticator.getAssertion(options, {
				credentialId: mallory.passkey.credential_id,
			});
			expect((await postVerify(partial, credential)).status).toBe(400);
		}
		expect(verifyFailures()).toEqual(Array(5).fill("credential_not_allowed"));

		// Alice's own, correct assertion is now refused until the window passes.
		const fresh = await partialLogin(alice.user);
		const locked = await verifyPasskey(fresh, alice.authenticator);
		expect(locked.status).toBe(429);
		expect(locked.body).toMatchObject({ code: "too_many_attempts" });
		expect(Number(locked.headers.get("retry-after"))).toBeGreaterThan(0);
	});

	it("refuses the user's own passkey when it was not in allowCredentials", async () => {
		const alice = await userWithPasskey();
		const options = await authenticationOptions(alice.user.token);
		// A passkey added after the options were issued was not offered.
		const late = new SoftAuthenticator();
		const { response } = await registerPasskey(alice.user, late);
		expect(response.status).toBe(201);
		expect(options.allowCredentials?.map((c) => c.id)).not.toContain(response.body.passkey.credential_id);

		const credential = await late.getAssertion(options, { credentialId: response.body.passkey.credential_id });
		const refused = await postVerify(alice.user.token, credential);
		expect(refused.status).toBe(400);
		expect(refused.body).toMatchObject({ code: "verification_failed" });
		expect(verifyFailures()).toEqual(["credential_not_allowed"]);
	});

	it("refuses an unknown credential id with verification_failed", async () => {
		const alice = await userWithPasskey();
		const partial = await partialLogin(alice.user);
		const refused = await verifyPasskey(partial, alice.authenticator, {
			responseId: "dW5rbm93bi1jcmVkZW50aWFsLWlkLTAxMjM0NTY3",
		});
		expect(refused.status).toBe(400);
		expect(refused.body).toMatchObject({ code: "verification_failed" });
		expect(verifyFailures()).toEqual(["credential_not_allowed"]);
	});
});

describe("managing someone else's passkey", () => {
	it("answers 404 not_found to a DELETE of another user's passkey id, and the row stays", async () => {
		const victim = await userWithPasskey();
		await addPasskey(victim.user);
		const attacker = await userWithPasskey();
		await addPasskey(attacker.user);
		const before = await passkeyRow(victim.passkey.credential_id);

		const response = await call("DELETE", `/api/webauthn/${victim.passkey.id}/`, { token: attacker.user.token });
		expect(response.status).toBe(404);
		expect(response.body).toEqual({ success: false, code: "not_found", message: expect.any(String) });
		expect(await passkeyRow(victim.passkey.credential_id)).toEqual(before);
		expect(points.some((p) => p.indexes[0]?.startsWith("authenticator.delete"))).toBe(false);
	});

	it("answers 404 not_found to a PATCH of another user's passkey id, and the name stays", async () => {
		const victim = await userWithPasskey(new SoftAuthenticator(), { name: "Victim's key" });
		const attacker = await userWithPasskey();
		const response = await call("PATCH", `/api/webauthn/${victim.passkey.id}/`, {
			token: attacker.user.token,
			body: { name: "pwned" },
		});
		expect(response.status).toBe(404);
		expect(response.body).toMatchObject({ code: "not_found" });
		expect((await passkeyRow(victim.passkey.credential_id))?.name).toBe("Victim's key");
	});

	it("answers the same 404 for an id that does not exist at all", async () => {
		const user = await userWithPasskey();
		for (const method of ["DELETE", "PATCH"]) {
			const response = await call(method, "/api/webauthn/no-such-passkey/", {
				token: user.user.token,
				...(method === "PATCH" ? { body: { name: "x" } } : {}),
			});
			expect(response.status, method).toBe(404);
			expect(response.body).toMatchObject({ code: "not_found" });
		}
	});
});
