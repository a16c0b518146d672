import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { accountStub, inspectAccount, userSql } from "../helpers/account";
import { call, logIn } from "../helpers/api";
import { countRows, countUserRows, verifyPasskey } from "../helpers/flows";
import { postSignIn, signInAssertion, userWithDiscoverablePasskey } from "../helpers/passwordless";
import { serverCall } from "../helpers/server-api";

// A user made before the per-user design (migration 0007) has their password,
// passkeys and recovery codes in D1's legacy tables and nothing in their
// object. These tests make such a user from a current one, the way the
// previous deploy stored them, then use the account: the object takes the
// rows over on first use, once, and the legacy rows are gone after it.

/** Moves a user's state back to where the D1 design kept it, and empties their object. */
async function asLegacyUser(userId: string): Promise<void> {
	const { account, passkeys, totp, recoveryCodes } = await inspectAccount(userId);
	if (!account) throw new Error("no account to move");
	const statements = [
		env.DB.prepare(
			"UPDATE users SET password_hash = ?, password_salt = ?, password_iterations = ?, trusted_device_epoch = ?, legacy = 1 WHERE id = ?",
		).bind(account.passwordHash, account.passwordSalt, account.passwordIterations, account.trustedDeviceEpoch, userId),
		...passkeys.map((p) =>
			env.DB.prepare(
				"INSERT INTO passkeys (id, user_id, credential_id, public_key, sign_count, transports, backup_eligible, backed_up, aaguid, passwordless, name, created_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			).bind(
				p.id,
				userId,
				p.credentialId,
				p.publicKey,
				p.signCount,
				p.transports,
				Number(p.backupEligible),
				Number(p.backedUp),
				p.aaguid,
				Number(p.passwordless),
				p.name,
				p.createdAt,
				p.lastUsedAt,
			),
		),
		...(totp
			? [
					env.DB.prepare(
						"INSERT INTO totp_credentials (user_id, secret_ciphertext, last_step, created_at, last_used_at) VALUES (?, ?, ?, ?, ?)",
					).bind(userId, totp.secretCiphertext, totp.lastStep, totp.createdAt, totp.lastUsedAt),
				]
			: []),
		...recoveryCodes.map((c) =>
			env.DB.prepare(
				"INSERT INTO recovery_codes (id, user_id, code_hash, created_at, used_at) VALUES (?, ?, ?, ?, ?)",
			).bind(c.id, userId, c.codeHash, c.createdAt, c.usedAt),
		),
	];
	await env.DB.batch(statements);
	await runInDurableObject(accountStub(userId), (_, state) => {
		state.storage.sql.exec(
			"DELETE FROM account; DELETE FROM sessions; DELETE FROM passkeys; DELETE FROM totp_credentials; DELETE FROM recovery_codes;",
		);
	});
}

async function legacyRows(userId: string): Promise<number> {
	return countRows(
		"SELECT (SELECT COUNT(*) FROM passkeys WHERE user_id = ?1) + (SELECT COUNT(*) FROM recovery_codes WHERE user_id = ?1) + (SELECT COUNT(*) FROM totp_credentials WHERE user_id = ?1) + (SELECT COUNT(*) FROM users WHERE id = ?1 AND (legacy = 1 OR password_hash != '')) AS n",
		userId,
	);
}

describe("a user made before the per-user design", () => {
	it("signs in with their password: the object takes over password, passkey and codes, and the legacy rows go", async () => {
		const { user, authenticator } = await userWithDiscoverablePasskey();
		await asLegacyUser(user.id);
		expect(await legacyRows(user.id)).toBe(12);
		expect((await inspectAccount(user.id)).account).toBeNull();

		const login = await logIn(user.email);
		expect(login.status).toBe(200);
		expect(login.body.session.level).toBe("partial");
		expect((await verifyPasskey(login.body.session_token, authenticator)).status).toBe(200);

		const moved = await inspectAccount(user.id);
		expect(moved.account?.email).toBe(user.email);
		expect(moved.passkeys).toHaveLength(1);
		expect(moved.recoveryCodes).toHaveLength(10);
		expect(await legacyRows(user.id)).toBe(0);
		// The passkey's directory claim was made by the migration and stays.
		expect(await countRows("SELECT COUNT(*) AS n FROM credentials WHERE user_id = ?", user.id)).toBe(1);
	});

	it("signs in with a passkey alone: the object takes the rows over first", async () => {
		const { user, authenticator } = await userWithDiscoverablePasskey();
		await asLegacyUser(user.id);
		const signedIn = await postSignIn(await signInAssertion(authenticator));
		expect(signedIn.status).toBe(200);
		expect(signedIn.body.session.user.id).toBe(user.id);
		expect(await legacyRows(user.id)).toBe(0);
		expect((await logIn(user.email)).status).toBe(200);
	});

	it("is taken over once when the first uses come together, 5 times", async () => {
		for (let round = 0; round < 5; round++) {
			const { user } = await userWithDiscoverablePasskey();
			await asLegacyUser(user.id);
			const logins = await Promise.all([logIn(user.email), logIn(user.email), logIn(user.email)]);
			expect(logins.map((r) => r.status)).toEqual([200, 200, 200]);
			expect(await countUserRows(user.id, "SELECT COUNT(*) AS n FROM passkeys")).toBe(1);
			expect(await countUserRows(user.id, "SELECT COUNT(*) AS n FROM recovery_codes")).toBe(10);
			expect(await countUserRows(user.id, "SELECT COUNT(*) AS n FROM account")).toBe(1);
			expect(await legacyRows(user.id)).toBe(0);
		}
	});

	it("keeps their passkeys when the app's backend edits them first (server API)", async () => {
		const { user } = await userWithDiscoverablePasskey();
		const externalId = `legacy-${user.id}`;
		await env.DB.prepare("UPDATE users SET external_id = ? WHERE id = ?").bind(externalId, user.id).run();
		await userSql(user.id, "UPDATE account SET external_id = ?", externalId).run();
		await asLegacyUser(user.id);
		const put = await serverCall("PUT", `/users/${externalId}`, { body: { display_name: "Ada" } });
		expect(put.status).toBe(200);
		const moved = await inspectAccount(user.id);
		expect(moved.passkeys).toHaveLength(1);
		expect(moved.account?.displayName).toBe("Ada");
		expect(await legacyRows(user.id)).toBe(0);
	});

	it("is signed out: a session token of the D1 design names no user and is refused", async () => {
		const response = await call("GET", "/api/auth/session/", { token: "A".repeat(43) });
		expect(response.status).toBe(401);
	});
});
