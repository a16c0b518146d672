import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { decryptString } from "../../src/lib/crypto";
import { captureMetrics, stopCapturingMetrics } from "../../src/lib/metrics";
import { userSql } from "../helpers/account";
import { signUp } from "../helpers/api";
import { expectError } from "../helpers/expect-error";
import { freezeClock } from "../helpers/time";
import {
	codeFor,
	midStep,
	partialToken,
	recoveryCodeRows,
	totpRow,
	totpSetup,
	userWithTotp,
	verifyRecoveryCode,
	verifyTotp,
} from "../helpers/totp";

// TOTP secrets are stored as AES-GCM ciphertext under a Worker secret with
// the user id as additional data; recovery codes only as an HMAC. A copy of
// the database alone gives an attacker neither.

afterEach(() => {
	vi.restoreAllMocks();
	stopCapturingMetrics();
});

const KEY = env.TOTP_ENCRYPTION_KEY ?? "";

describe("TOTP secrets at rest", () => {
	it("keeps no form of the secret in the D1 row", async () => {
		const { user, secret } = await userWithTotp();
		const row = await totpRow(user.id);
		expect(row).not.toBeNull();
		const stored = JSON.stringify(row);
		expect(stored).not.toContain(secret);
		expect(stored).not.toContain(secret.toLowerCase());
		expect(stored).not.toContain(secret.replace(/=+$/, ""));
		// It is the sealed secret: it opens with the key and the user's own id.
		expect(await decryptString(KEY, row?.secret_ciphertext ?? "", `totp:${user.id}`)).toBe(secret);
	});

	it("keeps no form of the pending secret in the Durable Object", async () => {
		const user = await signUp();
		const setup = await totpSetup({ token: user.token });
		const stub = env.USER_STATE.get(env.USER_STATE.idFromName(`user:${user.id}`));
		const rows = await runInDurableObject(stub, (_, state) =>
			state.storage.sql.exec("SELECT * FROM pending").toArray(),
		);
		expect(rows.length).toBeGreaterThan(0);
		const stored = JSON.stringify(rows);
		expect(stored).not.toContain(setup.body.secret);
		expect(stored).not.toContain(setup.body.secret.toLowerCase());
	});

	it("does not decrypt with another user's id as additional data", async () => {
		const { user, secret } = await userWithTotp();
		const other = await signUp();
		const sealed = (await totpRow(user.id))?.secret_ciphertext ?? "";
		await expect(decryptString(KEY, sealed, `totp:${other.id}`)).rejects.toThrow();
		await expect(decryptString(`${KEY}-other`, sealed, `totp:${user.id}`)).rejects.toThrow();
		expect(await decryptString(KEY, sealed, `totp:${user.id}`)).toBe(secret);
	});

	it("refuses codes of a secret whose ciphertext was copied into another user's row", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const victim = await userWithTotp();
		const attacker = await userWithTotp();
		const sealed = (await totpRow(victim.user.id))?.secret_ciphertext;
		await userSql(attacker.user.id, "UPDATE totp_credentials SET secret_ciphertext = ?", sealed).run();

		move(start + 60_000);
		const metrics = captureMetrics();
		const partial = await partialToken(attacker.user);
		// The copied secret's code must not pass, and the failure is an ordinary
		// refused code (counted, recorded), not a 500.
		const copied = await verifyTotp(partial, await codeFor(victim.secret));
		expectError(copied, 400, "invalid_code");
		expect(metrics.map((point) => point.blobs.slice(0, 4))).toContainEqual([
			"totp.verify.failed",
			"failure",
			"secret_unreadable",
			"totp",
		]);
		// Nor does the attacker's own secret: the row no longer holds it.
		expectError(await verifyTotp(partial, await codeFor(attacker.secret)), 400, "invalid_code");
		expect(await totpRow(attacker.user.id)).toMatchObject({ last_used_at: null });
	});
});

describe("recovery codes at rest", () => {
	it("stores only HMACs: no row contains a code in any form", async () => {
		const { user, recoveryCodes } = await userWithTotp();
		const rows = await recoveryCodeRows(user.id);
		expect(rows).toHaveLength(10);
		const stored = JSON.stringify(rows);
		for (const code of recoveryCodes ?? []) {
			for (const form of [code, code.toUpperCase(), code.replaceAll("-", ""), code.replaceAll("-", "").toUpperCase()]) {
				expect(stored).not.toContain(form);
			}
		}
		for (const row of rows) expect(row.code_hash).toMatch(/^[0-9a-f]{64}$/);
		expect(new Set(rows.map((row) => row.code_hash)).size).toBe(10);
	});

	it("keys the hash per deployment: the same code hashed without the key does not match", async () => {
		const { user, recoveryCodes } = await userWithTotp();
		const code = (recoveryCodes?.[0] ?? "").replaceAll("-", "");
		const plain = [...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(code)))]
			.map((byte) => byte.toString(16).padStart(2, "0"))
			.join("");
		const hashes = (await recoveryCodeRows(user.id)).map((row) => row.code_hash);
		expect(hashes).not.toContain(plain);
		expect((await verifyRecoveryCode(await partialToken(user), recoveryCodes?.[0])).status).toBe(200);
	});
});
