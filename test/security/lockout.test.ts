import { afterEach, describe, expect, it } from "vitest";
import { captureMetrics, stopCapturingMetrics } from "../../src/lib/metrics";
import { userSql } from "../helpers/account";
import { call, signUp, type TestUser } from "../helpers/api";
import { expectError } from "../helpers/expect-error";
import { registerPasskey } from "../helpers/flows";
import { enableTotp, statusCounts, totpRow, userWithTotp } from "../helpers/totp";

// Once a user has a passkey or TOTP they keep at least one: the user's
// Durable Object runs one removal at a time, and the DELETE statement itself
// carries the condition "another authenticator exists", so two concurrent
// removals of the last two can never both succeed.

afterEach(() => {
	stopCapturingMetrics();
});

const LAST_AUTHENTICATOR_MESSAGE = "Cannot delete - you must have at least one authentication method";

async function userWithPasskeyAndTotp() {
	const user = await signUp();
	const { response } = await registerPasskey(user);
	if (response.status !== 201) throw new Error(`registration failed: ${response.status}`);
	await enableTotp(user);
	return { user, passkeyId: response.body.passkey.id };
}

async function authenticatorCount(userId: string): Promise<number> {
	const row = await userSql(
		userId,
		"SELECT (SELECT COUNT(*) FROM passkeys) + (SELECT COUNT(*) FROM totp_credentials) AS n",
	).first<{ n: number }>();
	return row?.n ?? -1;
}

function deleteTotp(user: TestUser) {
	return call("DELETE", "/api/totp/", { token: user.token });
}

function deletePasskey(user: TestUser, id: string) {
	return call("DELETE", `/api/webauthn/${id}/`, { token: user.token });
}

describe("lockout prevention across passkeys and TOTP", () => {
	it("removes the TOTP beside a passkey, then refuses the last passkey with API.md's message", async () => {
		const { user, passkeyId } = await userWithPasskeyAndTotp();
		const removed = await deleteTotp(user);
		expect(removed.status).toBe(200);
		expect(removed.body).toEqual({ success: true });
		const refused = await deletePasskey(user, passkeyId);
		expectError(refused, 400, "last_authenticator");
		expect(refused.body).toEqual({ success: false, code: "last_authenticator", message: LAST_AUTHENTICATOR_MESSAGE });
		expect(await authenticatorCount(user.id)).toBe(1);
	});

	it("removes the passkey beside a TOTP, then refuses the last TOTP with API.md's message", async () => {
		const { user, passkeyId } = await userWithPasskeyAndTotp();
		expect((await deletePasskey(user, passkeyId)).status).toBe(200);
		const refused = await deleteTotp(user);
		expect(refused.status).toBe(400);
		expect(refused.body).toEqual({ success: false, code: "last_authenticator", message: LAST_AUTHENTICATOR_MESSAGE });
		expect(await totpRow(user.id)).not.toBeNull();
	});

	it("refuses to remove a TOTP that is the only authenticator", async () => {
		const { user } = await userWithTotp();
		expectError(await deleteTotp(user), 400, "last_authenticator");
		expect(await totpRow(user.id)).not.toBeNull();
	});

	it("answers 404 not_found for DELETE /api/totp without TOTP, even beside a passkey", async () => {
		const user = await signUp();
		await registerPasskey(user);
		expectError(await deleteTotp(user), 404, "not_found");
		const bare = await signUp();
		expectError(await deleteTotp(bare), 404, "not_found");
	});

	it("records authenticator.delete.success and authenticator.delete.blocked", async () => {
		const { user, passkeyId } = await userWithPasskeyAndTotp();
		const metrics = captureMetrics();
		await deleteTotp(user);
		await deletePasskey(user, passkeyId);
		expect(metrics.map((point) => point.blobs)).toEqual([
			["authenticator.delete.success", "success", "", "totp", "app"],
			["authenticator.delete.blocked", "blocked", "last_authenticator", "webauthn", "app"],
		]);
	});
});

describe("lockout prevention under a race", () => {
	it("never leaves zero authenticators when the passkey and the TOTP are deleted at once (20 users)", async () => {
		const users = [];
		for (let i = 0; i < 20; i++) users.push(await userWithPasskeyAndTotp());
		for (const [index, { user, passkeyId }] of users.entries()) {
			// Alternate which request is sent first, so neither kind always wins.
			const requests =
				index % 2 === 0
					? [deletePasskey(user, passkeyId), deleteTotp(user)]
					: [deleteTotp(user), deletePasskey(user, passkeyId)];
			const responses = await Promise.all(requests);
			expect(statusCounts(responses)).toEqual({ 200: 1, 400: 1 });
			const refused = responses.find((response) => response.status === 400);
			expect(refused?.body).toEqual({
				success: false,
				code: "last_authenticator",
				message: LAST_AUTHENTICATOR_MESSAGE,
			});
			expect(await authenticatorCount(user.id)).toBe(1);
		}
	});

	it("never leaves zero when 10 deletes of both kinds race for one user", async () => {
		const { user, passkeyId } = await userWithPasskeyAndTotp();
		const responses = await Promise.all(
			Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? deleteTotp(user) : deletePasskey(user, passkeyId))),
		);
		expect(statusCounts(responses)[200]).toBe(1);
		for (const response of responses) {
			if (response.status !== 200) expect([400, 404]).toContain(response.status);
		}
		expect(await authenticatorCount(user.id)).toBe(1);
	});
});
