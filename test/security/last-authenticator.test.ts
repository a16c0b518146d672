import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { captureMetrics, type RecordedPoint, stopCapturingMetrics } from "../../src/lib/metrics";
import { call } from "../helpers/api";
import { addPasskey, passkeyCount, userWithPasskey } from "../helpers/flows";

// A user who has a passkey or TOTP keeps at least one. Deletes of one user's
// authenticators run one at a time in that user's Durable Object, and the
// DELETE statement itself only removes a row while another authenticator
// exists, so two deletes of the last two cannot both succeed.

let points: RecordedPoint[];
beforeEach(() => {
	points = captureMetrics();
});
afterEach(() => {
	stopCapturingMetrics();
});

describe("deleting passkeys", () => {
	it("records authenticator.delete.success for a delete and authenticator.delete.blocked for the last one", async () => {
		const { user, passkey } = await userWithPasskey();
		const second = await addPasskey(user);
		points.length = 0;
		expect((await call("DELETE", `/api/webauthn/${passkey.id}/`, { token: user.token })).status).toBe(200);
		expect((await call("DELETE", `/api/webauthn/${second.id}/`, { token: user.token })).status).toBe(400);
		expect(points.map((p) => p.blobs)).toEqual([
			["authenticator.delete.success", "success", "", "webauthn", "app"],
			["authenticator.delete.blocked", "blocked", "last_authenticator", "webauthn", "app"],
		]);
		expect(await passkeyCount(user.id)).toBe(1);
	});

	it("never leaves zero passkeys when both of a user's two are deleted at once, 20 times", async () => {
		for (let round = 0; round < 20; round++) {
			const { user, passkey } = await userWithPasskey();
			const second = await addPasskey(user);
			points.length = 0;
			const responses = await Promise.all([
				call("DELETE", `/api/webauthn/${passkey.id}/`, { token: user.token }),
				call("DELETE", `/api/webauthn/${second.id}/`, { token: user.token }),
			]);
			expect(responses.map((r) => r.status).sort(), `round ${round}`).toEqual([200, 400]);
			expect(responses.find((r) => r.status === 400)?.body).toMatchObject({
				code: "last_authenticator",
				message: "Cannot delete - you must have at least one authentication method",
			});
			expect(await passkeyCount(user.id), `round ${round}`).toBe(1);
			expect(points.map((p) => p.indexes[0]).sort()).toEqual([
				"authenticator.delete.blocked",
				"authenticator.delete.success",
			]);
		}
	});

	it("deletes a passkey once when the same DELETE arrives twice at once: one 200, one 404", async () => {
		for (let round = 0; round < 10; round++) {
			const { user, passkey } = await userWithPasskey();
			await addPasskey(user);
			await addPasskey(user);
			const responses = await Promise.all([
				call("DELETE", `/api/webauthn/${passkey.id}/`, { token: user.token }),
				call("DELETE", `/api/webauthn/${passkey.id}/`, { token: user.token }),
			]);
			expect(responses.map((r) => r.status).sort(), `round ${round}`).toEqual([200, 404]);
			expect(await passkeyCount(user.id)).toBe(2);
		}
	});
});
