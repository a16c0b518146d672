import { env } from "cloudflare:workers";
import type { PublicKeyCredentialRequestOptionsJSON } from "@simplewebauthn/server";
import { afterEach, describe, expect, it, vi } from "vitest";
import { openSealed } from "../../src/lib/key-set";
import { call, signUp } from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import { callConfigured, type Vars } from "../helpers/configured";
import { expectError } from "../helpers/expect-error";
import { registrationOptions } from "../helpers/flows";
import { keySet } from "../helpers/keys";
import { signInOptions, userWithDiscoverablePasskey } from "../helpers/passwordless";
import { freezeClock } from "../helpers/time";
import {
	codeFor,
	midStep,
	partialToken,
	recoveryCodeRows,
	type SessionBody,
	totpRow,
	userWithTotp,
} from "../helpers/totp";

// The keys rotate under live data. Everything is first written by the Worker
// as deployed for the tests (wrangler.toml plus vitest.config.ts: one plain
// key each, the format before key sets, which is the key "v1"). The same
// Worker is then called with a new key prepended (ROTATED), and with the old
// key dropped (DROPPED), as a deployment after `wrangler secret put` would be.

afterEach(() => {
	vi.restoreAllMocks();
});

const OLD_TOTP = env.TOTP_ENCRYPTION_KEY ?? "";
const OLD_RECOVERY = env.RECOVERY_CODE_HMAC_KEY ?? "";
const NEW_TOTP = "rotated-totp-encryption-key-of-the-tests";
const NEW_RECOVERY = "rotated-recovery-code-hmac-key-of-the-tests";

const ROTATED: Vars = {
	TOTP_ENCRYPTION_KEY: `v2:${NEW_TOTP},v1:${OLD_TOTP}`,
	RECOVERY_CODE_HMAC_KEY: `v2:${NEW_RECOVERY},v1:${OLD_RECOVERY}`,
};
const DROPPED: Vars = { TOTP_ENCRYPTION_KEY: `v2:${NEW_TOTP}`, RECOVERY_CODE_HMAC_KEY: `v2:${NEW_RECOVERY}` };

const NEW_HASH = /^v2:[0-9a-f]{64}$/;
const OLD_HASH = /^[0-9a-f]{64}$/;

function verifyTotpWith(vars: Vars, token: string, code: string) {
	return callConfigured<SessionBody>(vars, "POST", "/api/totp/verify/", { token, app: true, body: { code } });
}

function verifyRecoveryCodeWith(vars: Vars, token: string, code: string | undefined) {
	return callConfigured<SessionBody & { unused: number }>(vars, "POST", "/api/recovery-codes/verify/", {
		token,
		app: true,
		body: { code },
	});
}

async function storedSecret(userId: string): Promise<string> {
	const sealed = (await totpRow(userId))?.secret_ciphertext;
	if (!sealed) throw new Error(`no TOTP row for ${userId}`);
	return sealed;
}

describe("prepending a new key", () => {
	it("keeps TOTP secrets and recovery codes made under the old key working", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret, recoveryCodes } = await userWithTotp();
		expect(await storedSecret(user.id)).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
		for (const row of await recoveryCodeRows(user.id)) expect(row.code_hash).toMatch(OLD_HASH);

		move(start + 30_000);
		const totp = await verifyTotpWith(ROTATED, await partialToken(user), await codeFor(secret));
		expect(totp.status).toBe(200);
		expect(totp.body.session.level).toBe("full");

		const recovery = await verifyRecoveryCodeWith(ROTATED, await partialToken(user), recoveryCodes?.[0]);
		expect(recovery.status).toBe(200);
		expect(recovery.body.unused).toBe(9);
	});

	it("re-seals a TOTP secret under the new key when it is next used, so the old key empties out", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret } = await userWithTotp();
		const before = await storedSecret(user.id);

		move(start + 30_000);
		expect((await verifyTotpWith(ROTATED, await partialToken(user), await codeFor(secret))).status).toBe(200);
		const after = await storedSecret(user.id);
		expect(after).toMatch(/^v2\./);
		expect(after).not.toBe(before);
		expect(await openSealed(keySet(`v2:${NEW_TOTP}`), after, `totp:${user.id}`)).toEqual({
			plaintext: secret,
			keyId: "v2",
		});

		// Now it needs only the new key.
		move(start + 60_000);
		expect((await verifyTotpWith(DROPPED, await partialToken(user), await codeFor(secret))).status).toBe(200);
	});

	it("writes every new TOTP secret and recovery code under the new key", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const user = await signUp();
		const setup = await callConfigured<{ secret: string }>(ROTATED, "POST", "/api/totp/setup/", { token: user.token });
		expect(setup.status).toBe(200);
		const activated = await callConfigured<{ recovery_codes?: string[] }>(ROTATED, "POST", "/api/totp/activate/", {
			token: user.token,
			body: { code: await codeFor(setup.body.secret) },
		});
		expect(activated.status).toBe(201);
		expect(await storedSecret(user.id)).toMatch(/^v2\./);
		const first = await recoveryCodeRows(user.id);
		expect(first).toHaveLength(10);
		for (const row of first) expect(row.code_hash).toMatch(NEW_HASH);

		// Regenerated codes too.
		const regenerated = await callConfigured<{ recovery_codes: string[] }>(
			ROTATED,
			"POST",
			"/api/recovery-codes/regenerate/",
			{ token: user.token },
		);
		expect(regenerated.status).toBe(200);
		for (const row of await recoveryCodeRows(user.id)) expect(row.code_hash).toMatch(NEW_HASH);

		// What was written after the rotation needs only the new key.
		move(start + 30_000);
		expect((await verifyTotpWith(DROPPED, await partialToken(user), await codeFor(setup.body.secret))).status).toBe(
			200,
		);
		const code = regenerated.body.recovery_codes[0];
		expect((await verifyRecoveryCodeWith(DROPPED, await partialToken(user), code)).status).toBe(200);
	});

	it("gives a first passkey's recovery codes under the new key (made by the Worker, not the Durable Object)", async () => {
		const user = await signUp();
		const authenticator = new SoftAuthenticator();
		const options = await registrationOptions({ token: user.token });
		const credential = await authenticator.createCredential(options);
		const registered = await callConfigured<{ recovery_codes?: string[] }>(
			ROTATED,
			"POST",
			"/api/webauthn/register/complete/",
			{ token: user.token, body: { credential } },
		);
		expect(registered.status).toBe(201);
		expect(registered.body.recovery_codes).toHaveLength(10);
		const rows = await recoveryCodeRows(user.id);
		expect(rows).toHaveLength(10);
		for (const row of rows) expect(row.code_hash).toMatch(NEW_HASH);
		const code = registered.body.recovery_codes?.[0];
		expect((await verifyRecoveryCodeWith(DROPPED, await partialToken(user), code)).status).toBe(200);
	});

	it("accepts a passwordless sign-in challenge issued before the rotation, and signs new ones with the new key", async () => {
		const { authenticator } = await userWithDiscoverablePasskey();
		const signIn = (vars: Vars, credential: unknown) =>
			callConfigured(vars, "POST", "/api/auth/passkey/login/", { app: true, body: { credential } });

		const before = await authenticator.getAssertion(await signInOptions());
		expect((await signIn(ROTATED, before)).status).toBe(200);

		const issued = await callConfigured<{ request_options: PublicKeyCredentialRequestOptionsJSON }>(
			ROTATED,
			"GET",
			"/api/auth/passkey/options/",
		);
		const after = await authenticator.getAssertion(issued.body.request_options);
		expect((await signIn(DROPPED, after)).status).toBe(200);
	});
});

describe("dropping the old key", () => {
	it("answers a TOTP secret still under it with 500 internal_error, logged by key id, not counted against the user", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret } = await userWithTotp();
		const errors = vi.spyOn(console, "error").mockImplementation(() => {});

		move(start + 30_000);
		const partial = await partialToken(user);
		// More than the five failures that would lock the user out or end the partial session.
		for (let i = 0; i < 7; i++) {
			expectError(await verifyTotpWith(DROPPED, partial, await codeFor(secret)), 500, "internal_error");
		}
		const logged = errors.mock.calls.map((args) => args.join(" ")).join("\n");
		expect(logged).toContain('TOTP_ENCRYPTION_KEY no longer lists the key "v1"');
		for (const secretValue of [OLD_TOTP, NEW_TOTP, secret]) expect(logged).not.toContain(secretValue);

		// Listed again, the same partial session passes: nothing was counted.
		const passed = await verifyTotpWith(ROTATED, partial, await codeFor(secret));
		expect(passed.status).toBe(200);
		expect(passed.body.session.level).toBe("full");
	});

	it("leaves recovery codes made under it unusable: they are refused like a wrong code", async () => {
		const { user, recoveryCodes } = await userWithTotp();
		expectError(
			await verifyRecoveryCodeWith(DROPPED, await partialToken(user), recoveryCodes?.[0]),
			400,
			"invalid_code",
		);
		expect((await recoveryCodeRows(user.id)).filter((row) => row.used_at !== null)).toHaveLength(0);
	});

	it("answers a pending TOTP set-up sealed under it as expired: starting again works", async () => {
		const start = midStep();
		freezeClock(start);
		const user = await signUp();
		vi.spyOn(console, "error").mockImplementation(() => {});
		const setup = await call<{ secret: string }>("POST", "/api/totp/setup/", { token: user.token });
		const activate = (vars: Vars, secret: string) =>
			codeFor(secret).then((code) =>
				callConfigured(vars, "POST", "/api/totp/activate/", { token: user.token, body: { code } }),
			);
		// The same answer as a set-up that is no longer pending (its own sentence: start again).
		const refused = await activate(DROPPED, setup.body.secret);
		expect({ status: refused.status, code: (refused.body as { code?: string }).code }).toEqual({
			status: 400,
			code: "challenge_expired",
		});

		const again = await callConfigured<{ secret: string }>(DROPPED, "POST", "/api/totp/setup/", { token: user.token });
		expect((await activate(DROPPED, again.body.secret)).status).toBe(201);
	});

	it("refuses a passwordless sign-in challenge signed only under it", async () => {
		const { authenticator } = await userWithDiscoverablePasskey();
		const credential = await authenticator.getAssertion(await signInOptions());
		expectError(
			await callConfigured(DROPPED, "POST", "/api/auth/passkey/login/", { app: true, body: { credential } }),
			400,
			"challenge_expired",
		);
	});
});

describe("a malformed key set", () => {
	it("answers 500 internal_error and logs one line naming the variable, never its value", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret } = await userWithTotp();
		const errors = vi.spyOn(console, "error").mockImplementation(() => {});
		move(start + 30_000);
		const malformed = `v2:${NEW_TOTP},v2:${OLD_TOTP}`;
		const answer = await verifyTotpWith(
			{ TOTP_ENCRYPTION_KEY: malformed },
			await partialToken(user),
			await codeFor(secret),
		);
		expectError(answer, 500, "internal_error");
		const logged = errors.mock.calls.map((args) => args.join(" ")).join("\n");
		expect(logged).toContain('Malformed secret TOTP_ENCRYPTION_KEY: key id "v2" is listed twice');
		expect(logged).not.toContain(NEW_TOTP);
		expect(logged).not.toContain(OLD_TOTP);
	});
});
