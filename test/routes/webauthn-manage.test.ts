import { afterEach, describe, expect, it, vi } from "vitest";
import { MINUTE } from "../../src/lib/clock";
import { call, signUp } from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import {
	addPasskey,
	authenticationOptions,
	browserSignUp,
	type PasskeyJSON,
	partialLogin,
	passkeyCount,
	passkeyRow,
	postVerify,
	registerPasskey,
	setClock,
	userWithPasskey,
} from "../helpers/flows";
import { enableTotp } from "../helpers/totp";

afterEach(() => {
	vi.restoreAllMocks();
});

function list(token: string) {
	return call<{ success: boolean; passkeys: PasskeyJSON[] }>("GET", "/api/webauthn/", { token });
}

describe("GET /api/webauthn/", () => {
	it("lists the user's passkeys newest first, with their created and last-used dates", async () => {
		const start = Date.UTC(2035, 6, 1, 9, 0, 0);
		setClock(start);
		const user = await signUp();
		const oldest = new SoftAuthenticator();
		const first = await addPasskey(user, oldest, "first");
		setClock(start + MINUTE);
		const second = await addPasskey(user, new SoftAuthenticator(), "second");
		setClock(start + 2 * MINUTE);
		const third = await addPasskey(user, new SoftAuthenticator(), "third");

		setClock(start + 3 * MINUTE);
		const credential = await oldest.getAssertion(await authenticationOptions(user.token), {
			credentialId: first.credential_id,
		});
		expect((await postVerify(user.token, credential)).status).toBe(200);

		const listed = await list(user.token);
		expect(listed.status).toBe(200);
		expect(listed.body.success).toBe(true);
		expect(listed.body.passkeys.map((p) => p.id)).toEqual([third.id, second.id, first.id]);
		expect(listed.body.passkeys.map((p) => [p.name, p.created_at, p.last_used_at])).toEqual([
			["third", "2035-07-01T09:02:00.000Z", null],
			["second", "2035-07-01T09:01:00.000Z", null],
			["first", "2035-07-01T09:00:00.000Z", "2035-07-01T09:03:00.000Z"],
		]);
		expect(listed.body.passkeys[2]).toEqual({ ...first, last_used_at: "2035-07-01T09:03:00.000Z" });
	});

	it("lists only the user's own passkeys, and none for a user without any", async () => {
		const { passkey: other } = await userWithPasskey();
		const { user, passkey } = await userWithPasskey();
		expect((await list(user.token)).body.passkeys.map((p) => p.id)).toEqual([passkey.id]);
		expect((await list(user.token)).body.passkeys.map((p) => p.id)).not.toContain(other.id);
		const empty = await list((await signUp()).token);
		expect(empty.status).toBe(200);
		expect(empty.body.passkeys).toEqual([]);
	});

	it("does not need a recent authentication", async () => {
		const start = Date.now();
		setClock(start);
		const { user } = await userWithPasskey();
		setClock(start + 60 * MINUTE);
		expect((await list(user.token)).status).toBe(200);
	});
});

describe("PATCH /api/webauthn/<id>/", () => {
	it("renames a passkey, trimmed, and returns it", async () => {
		const { user, passkey } = await userWithPasskey(new SoftAuthenticator(), { name: "Old" });
		const renamed = await call<{ success: boolean; passkey: PasskeyJSON }>("PATCH", `/api/webauthn/${passkey.id}/`, {
			token: user.token,
			body: { name: "  Yubikey (blue)  " },
		});
		expect(renamed.status).toBe(200);
		expect(renamed.body).toEqual({ success: true, passkey: { ...passkey, name: "Yubikey (blue)" } });
		expect((await passkeyRow(passkey.credential_id))?.name).toBe("Yubikey (blue)");
		expect((await list(user.token)).body.passkeys[0]?.name).toBe("Yubikey (blue)");
	});

	it("answers on the path without the trailing slash too", async () => {
		const { user, passkey } = await userWithPasskey();
		const renamed = await call("PATCH", `/api/webauthn/${passkey.id}`, { token: user.token, body: { name: "x" } });
		expect(renamed.status).toBe(200);
	});

	it("keeps 64 code points and HTML as given, and refuses 65, empty and whitespace-only names", async () => {
		const { user, passkey } = await userWithPasskey(new SoftAuthenticator(), { name: "Kept" });
		for (const name of ["🔑".repeat(65), "", "  \n\t "]) {
			const refused = await call("PATCH", `/api/webauthn/${passkey.id}/`, { token: user.token, body: { name } });
			expect(refused.status, JSON.stringify(name)).toBe(400);
			expect(refused.body).toMatchObject({ code: "invalid_request", fields: { name: expect.any(String) } });
		}
		expect((await passkeyRow(passkey.credential_id))?.name).toBe("Kept");
		for (const name of ["🔑".repeat(64), "<b>bold</b>&amp;"]) {
			const renamed = await call<{ passkey: PasskeyJSON }>("PATCH", `/api/webauthn/${passkey.id}/`, {
				token: user.token,
				body: { name },
			});
			expect(renamed.status).toBe(200);
			expect(renamed.body.passkey.name).toBe(name);
		}
	});

	it("refuses a name with a lone surrogate, which could not be stored as given", async () => {
		const { user, passkey } = await userWithPasskey(new SoftAuthenticator(), { name: "Kept" });
		const refused = await call("PATCH", `/api/webauthn/${passkey.id}/`, {
			token: user.token,
			rawBody: '{"name":"key \\ud800 one"}',
			headers: { "content-type": "application/json" },
		});
		expect(refused.status).toBe(400);
		expect(refused.body).toMatchObject({ code: "invalid_request", fields: { name: expect.any(String) } });
		expect((await passkeyRow(passkey.credential_id))?.name).toBe("Kept");
		// A surrogate pair is one code point and is kept as sent.
		const renamed = await call<{ passkey: PasskeyJSON }>("PATCH", `/api/webauthn/${passkey.id}/`, {
			token: user.token,
			rawBody: '{"name":"key \\ud83d\\udd11 one"}',
			headers: { "content-type": "application/json" },
		});
		expect(renamed.status).toBe(200);
		expect(renamed.body.passkey.name).toBe("key 🔑 one");
		expect((await passkeyRow(passkey.credential_id))?.name).toBe("key 🔑 one");
	});

	it("refuses a body without a name", async () => {
		const { user, passkey } = await userWithPasskey();
		const refused = await call("PATCH", `/api/webauthn/${passkey.id}/`, { token: user.token, body: {} });
		expect(refused.status).toBe(400);
		expect(refused.body).toMatchObject({ code: "invalid_request" });
	});

	it("needs a full session, not a recent one", async () => {
		const start = Date.now();
		setClock(start);
		const { user, passkey } = await userWithPasskey();
		const partial = await partialLogin(user);
		const refused = await call("PATCH", `/api/webauthn/${passkey.id}/`, { token: partial, body: { name: "x" } });
		expect(refused.status).toBe(403);
		expect(refused.body).toMatchObject({ code: "mfa_required" });
		setClock(start + 30 * MINUTE);
		const renamed = await call("PATCH", `/api/webauthn/${passkey.id}/`, { token: user.token, body: { name: "x" } });
		expect(renamed.status).toBe(200);
	});
});

describe("DELETE /api/webauthn/<id>/", () => {
	it("deletes one of two passkeys", async () => {
		const { user, passkey } = await userWithPasskey();
		const kept = await addPasskey(user);
		const deleted = await call("DELETE", `/api/webauthn/${passkey.id}/`, { token: user.token });
		expect(deleted.status).toBe(200);
		expect(deleted.body).toEqual({ success: true });
		expect(await passkeyRow(passkey.credential_id)).toBeNull();
		expect((await list(user.token)).body.passkeys.map((p) => p.id)).toEqual([kept.id]);
	});

	it("refuses to delete the last authenticator with the exact message of API.md", async () => {
		const { user, passkey } = await userWithPasskey();
		const before = await passkeyRow(passkey.credential_id);
		const refused = await call("DELETE", `/api/webauthn/${passkey.id}/`, { token: user.token });
		expect(refused.status).toBe(400);
		expect(refused.body).toEqual({
			success: false,
			code: "last_authenticator",
			message: "Cannot delete - you must have at least one authentication method",
		});
		expect(await passkeyRow(passkey.credential_id)).toEqual(before);
	});

	it("deletes the only passkey when an authenticator app remains", async () => {
		const { user, passkey } = await userWithPasskey();
		await enableTotp(user);
		const deleted = await call("DELETE", `/api/webauthn/${passkey.id}/`, { token: user.token });
		expect(deleted.status).toBe(200);
		expect(await passkeyCount(user.id)).toBe(0);
	});

	it("a deleted passkey no longer passes the second factor", async () => {
		const { user, authenticator, passkey } = await userWithPasskey();
		const other = new SoftAuthenticator();
		await addPasskey(user, other);
		expect((await call("DELETE", `/api/webauthn/${passkey.id}/`, { token: user.token })).status).toBe(200);
		const partial = await partialLogin(user);
		const options = await authenticationOptions(partial);
		expect(options.allowCredentials?.map((c) => c.id)).not.toContain(passkey.credential_id);
		const credential = await authenticator.getAssertion(options, { credentialId: passkey.credential_id });
		const refused = await postVerify(partial, credential);
		expect(refused.status).toBe(400);
		expect(refused.body).toMatchObject({ code: "verification_failed" });
	});

	it("needs a recent authentication: 401 reauthentication_required after 5 minutes, and the row stays", async () => {
		const start = Date.UTC(2035, 8, 1);
		setClock(start);
		const { user, authenticator, passkey } = await userWithPasskey();
		await addPasskey(user);
		setClock(start + 5 * MINUTE + 1);
		const refused = await call("DELETE", `/api/webauthn/${passkey.id}/`, { token: user.token });
		expect(refused.status).toBe(401);
		expect(refused.body).toMatchObject({ code: "reauthentication_required" });
		expect(await passkeyRow(passkey.credential_id)).not.toBeNull();

		// A passkey verify on the full session makes it recent again.
		const credential = await authenticator.getAssertion(await authenticationOptions(user.token), {
			credentialId: passkey.credential_id,
		});
		expect((await postVerify(user.token, credential)).status).toBe(200);
		expect((await call("DELETE", `/api/webauthn/${passkey.id}/`, { token: user.token })).status).toBe(200);
	});

	it("refuses a cookie DELETE without an allowed Origin", async () => {
		const user = await browserSignUp();
		const first = await registerPasskey({ id: user.id, email: user.email, token: "" }, new SoftAuthenticator(), {
			auth: { cookie: user.cookie },
		});
		await registerPasskey({ id: user.id, email: user.email, token: "" }, new SoftAuthenticator(), {
			auth: { cookie: user.cookie },
		});
		const id = first.response.body.passkey.id;
		const refused = await call("DELETE", `/api/webauthn/${id}/`, {
			cookie: user.cookie,
			origin: "https://evil.example",
		});
		expect(refused.status).toBe(403);
		expect(refused.body).toMatchObject({ code: "csrf_failed" });
		expect(await passkeyCount(user.id)).toBe(2);
		const deleted = await call("DELETE", `/api/webauthn/${id}/`, { cookie: user.cookie });
		expect(deleted.status).toBe(200);
	});
});
