import { isoBase64URL } from "@simplewebauthn/server/helpers";
import { afterEach, describe, expect, it } from "vitest";
import { captureMetrics, stopCapturingMetrics } from "../../src/lib/metrics";
import { signUp } from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import {
	completeRegistration,
	countRows,
	countUserRows,
	passkeyCount,
	passkeyRow,
	registrationOptions,
	userWithPasskey,
} from "../helpers/flows";

// A credential id belongs to one account. The check is the UNIQUE index on
// passkeys.credential_id, not a read before the insert: two registrations of
// the same id run in two different users' Durable Objects, so nothing else
// serializes them.

afterEach(() => {
	stopCapturingMetrics();
});

function sameIdBytes(): Uint8Array {
	return crypto.getRandomValues(new Uint8Array(32));
}

describe("a credential id already held", () => {
	it("by another account is refused with 409 credential_exists, and that account's row is untouched", async () => {
		const id = sameIdBytes();
		const owner = await userWithPasskey(new SoftAuthenticator(), { overrides: { credentialId: id } });
		const before = await passkeyRow(owner.passkey.credential_id);

		const points = captureMetrics();
		const intruder = await signUp();
		const options = await registrationOptions({ token: intruder.token });
		const credential = await new SoftAuthenticator().createCredential(options, { credentialId: id });
		expect(credential.id).toBe(owner.passkey.credential_id);
		const refused = await completeRegistration({ token: intruder.token }, credential);
		expect(refused.status).toBe(409);
		expect(refused.body).toEqual({ success: false, code: "credential_exists", message: expect.any(String) });
		expect(refused.body).not.toHaveProperty("recovery_codes");

		expect(await passkeyRow(owner.passkey.credential_id)).toEqual(before);
		expect(before?.user_id).toBe(owner.user.id);
		expect(await passkeyCount(intruder.id)).toBe(0);
		expect(await countUserRows(intruder.id, "SELECT COUNT(*) AS n FROM recovery_codes")).toBe(0);
		expect(points.filter((p) => p.indexes[0] === "webauthn.registration.failed").map((p) => p.blobs[2])).toEqual([
			"credential_exists",
		]);
	});

	it("by the same account is refused with 409 credential_exists too", async () => {
		const id = sameIdBytes();
		const { user, passkey } = await userWithPasskey(new SoftAuthenticator(), { overrides: { credentialId: id } });
		const options = await registrationOptions({ token: user.token });
		const credential = await new SoftAuthenticator().createCredential(options, { credentialId: id });
		const refused = await completeRegistration({ token: user.token }, credential);
		expect(refused.status).toBe(409);
		expect(refused.body).toMatchObject({ code: "credential_exists" });
		expect(await passkeyCount(user.id)).toBe(1);
		expect((await passkeyRow(passkey.credential_id))?.id).toBe(passkey.id);
	});
});

describe("two accounts registering the same credential id at the same instant", () => {
	it("ends with exactly one 201, one 409 and one row, every time", async () => {
		for (let round = 0; round < 12; round++) {
			const id = sameIdBytes();
			const [alice, bob] = await Promise.all([signUp(), signUp()]);
			const [aliceOptions, bobOptions] = await Promise.all([
				registrationOptions({ token: alice.token }),
				registrationOptions({ token: bob.token }),
			]);
			// Two different authenticators (two key pairs) forced to the same id bytes.
			const aliceKey = new SoftAuthenticator();
			const bobKey = new SoftAuthenticator();
			const [aliceCredential, bobCredential] = await Promise.all([
				aliceKey.createCredential(aliceOptions, { credentialId: id }),
				bobKey.createCredential(bobOptions, { credentialId: id }),
			]);
			const responses = await Promise.all([
				completeRegistration({ token: alice.token }, aliceCredential),
				completeRegistration({ token: bob.token }, bobCredential),
			]);
			const statuses = responses.map((r) => r.status).sort();
			expect(statuses, `round ${round}`).toEqual([201, 409]);
			const winner = responses[0]?.status === 201 ? alice : bob;
			const winnerKey = winner === alice ? aliceKey : bobKey;

			const rows = await countRows("SELECT COUNT(*) AS n FROM credentials WHERE credential_id = ?", aliceCredential.id);
			expect(rows, `round ${round}`).toBe(1);
			const row = await passkeyRow(aliceCredential.id);
			expect(row?.user_id).toBe(winner.id);
			// The stored key is the winner's: the loser cannot have overwritten it.
			const winnerCose = Uint8Array.from(winnerKey.credentials[0]?.publicKeyCose ?? []);
			expect(row?.public_key).toBe(isoBase64URL.fromBuffer(winnerCose));
			// The loser got no recovery codes and no row.
			const loser = winner === alice ? bob : alice;
			expect(await passkeyCount(loser.id)).toBe(0);
			expect(await countRows("SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = ?", loser.id)).toBe(0);
			const loserResponse = responses.find((r) => r.status === 409);
			expect(loserResponse?.body).toMatchObject({ code: "credential_exists" });
		}
	});
});
