import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MINUTE } from "../../src/lib/clock";
import { captureMetrics, type RecordedPoint, stopCapturingMetrics } from "../../src/lib/metrics";
import { call } from "../helpers/api";
import { type GetOverrides, SoftAuthenticator } from "../helpers/authenticator";
import {
	authenticationOptions,
	partialLogin,
	passkeyRow,
	postVerify,
	registrationOptions,
	sessionCount,
	setClock,
	userWithPasskey,
	verifyPasskey,
} from "../helpers/flows";

let points: RecordedPoint[];
beforeEach(() => {
	points = captureMetrics();
});
afterEach(() => {
	stopCapturingMetrics();
	vi.restoreAllMocks();
});

function failureReasons(): string[] {
	return points.filter((p) => p.indexes[0] === "webauthn.verify.failed").map((p) => p.blobs[2] ?? "");
}

describe("POST /api/webauthn/verify/ on a partial session", () => {
	it("records the use: last_used_at, the new sign count and the backup state", async () => {
		const start = Date.UTC(2032, 0, 2, 3, 4, 5);
		setClock(start);
		const authenticator = new SoftAuthenticator({ backupEligible: true, backedUp: false, incrementCounter: true });
		const { user, passkey } = await userWithPasskey(authenticator);
		expect(passkey.last_used_at).toBeNull();
		setClock(start + 60_000);
		const partial = await partialLogin(user);
		const verified = await verifyPasskey(partial, authenticator, { flags: { bs: true } });
		expect(verified.status).toBe(200);

		const row = await passkeyRow(passkey.credential_id);
		expect(row).toMatchObject({ sign_count: 1, backed_up: 1, last_used_at: start + 60_000 });
		const listed = await call<{ passkeys: Array<{ last_used_at: string | null; backed_up: boolean }> }>(
			"GET",
			"/api/webauthn/",
			{ token: verified.body.session_token },
		);
		expect(listed.body.passkeys[0]).toMatchObject({ last_used_at: "2032-01-02T03:05:05.000Z", backed_up: true });
	});

	it("does not require user verification for a second factor", async () => {
		const authenticator = new SoftAuthenticator({ userVerification: false });
		const { user } = await userWithPasskey(authenticator);
		const verified = await verifyPasskey(await partialLogin(user), authenticator);
		expect(verified.status).toBe(200);
	});

	it("requires user presence", async () => {
		const authenticator = new SoftAuthenticator();
		const { user } = await userWithPasskey(authenticator);
		const refused = await verifyPasskey(await partialLogin(user), authenticator, { flags: { up: false } });
		expect(refused.status).toBe(400);
		expect(refused.body).toMatchObject({ success: false, code: "verification_failed" });
		expect(failureReasons()).toEqual(["user_presence"]);
	});

	it.each<[string, GetOverrides, string]>([
		["a bad signature", { badSignature: true }, "signature"],
		["crossOrigin: true", { crossOrigin: true }, "cross_origin"],
		["another origin", { origin: "https://evil.example" }, "verifier"],
		["an RP ID hash of another RP ID", { rpId: "evil.example" }, "verifier"],
		["a clientData type of webauthn.create", { type: "webauthn.create" }, "verifier"],
		["user presence missing", { flags: { up: false } }, "user_presence"],
	])("refuses %s, leaving the session partial and the passkey row unchanged", async (_label, overrides, reason) => {
		const authenticator = new SoftAuthenticator({
			backupEligible: true,
			backedUp: false,
			signCount: 3,
			incrementCounter: true,
		});
		const { user, passkey } = await userWithPasskey(authenticator);
		const before = await passkeyRow(passkey.credential_id);
		expect(before).toMatchObject({ sign_count: 3, backed_up: 0, last_used_at: null });

		const partial = await partialLogin(user);
		// Every refused assertion here would otherwise raise the count and report a backup.
		const refused = await verifyPasskey(partial, authenticator, {
			...overrides,
			signCount: 10,
			flags: { bs: true, ...overrides.flags },
		});
		expect(refused.status).toBe(400);
		expect(refused.body).toEqual({ success: false, code: "verification_failed", message: expect.any(String) });
		expect(refused.body).not.toHaveProperty("session_token");
		expect(failureReasons()).toEqual([reason]);

		expect(await passkeyRow(passkey.credential_id)).toEqual(before);
		expect((await call("GET", "/api/auth/session/", { token: partial })).body).toMatchObject({
			session: { level: "partial" },
		});
		expect(await sessionCount(user.id, "full")).toBe(1); // only the sign-up session
	});
});

describe("POST /api/webauthn/verify/ on a full session (reauthentication)", () => {
	it("keeps the token, returns no session_token and refreshes recent authentication", async () => {
		const start = Date.UTC(2033, 5, 6, 7, 0, 0);
		setClock(start);
		const authenticator = new SoftAuthenticator();
		const { user } = await userWithPasskey(authenticator);

		setClock(start + 6 * MINUTE);
		const stale = await call("GET", "/api/webauthn/register/options/", { token: user.token });
		expect(stale.status).toBe(401);
		expect(stale.body).toMatchObject({ code: "reauthentication_required" });

		const options = await authenticationOptions(user.token);
		const credential = await authenticator.getAssertion(options);
		const verified = await postVerify(user.token, credential);
		expect(verified.status).toBe(200);
		expect(verified.body).not.toHaveProperty("session_token");
		expect(verified.headers.getSetCookie()).toEqual([]);
		expect(verified.body.session).toMatchObject({ level: "full", authenticated_at: "2033-06-06T07:06:00.000Z" });

		const session = await call("GET", "/api/auth/session/", { token: user.token });
		expect(session.status).toBe(200);
		expect(session.body).toMatchObject({ session: { authenticated_at: "2033-06-06T07:06:00.000Z" } });
		expect((await registrationOptions({ token: user.token })).challenge).toBeTruthy();
		expect(await sessionCount(user.id, "full")).toBe(1);
	});

	it("does not refresh recent authentication when the assertion is refused", async () => {
		const start = Date.UTC(2033, 5, 6, 8, 0, 0);
		setClock(start);
		const authenticator = new SoftAuthenticator();
		const { user } = await userWithPasskey(authenticator);
		setClock(start + 6 * MINUTE);
		const refused = await verifyPasskey(user.token, authenticator, { badSignature: true });
		expect(refused.status).toBe(400);
		const stale = await call("GET", "/api/webauthn/register/options/", { token: user.token });
		expect(stale.status).toBe(401);
		expect(stale.body).toMatchObject({ code: "reauthentication_required" });
	});
});

describe("malformed verify bodies", () => {
	it.each<[string, (credential: Record<string, unknown>) => unknown]>([
		["a missing credential", () => undefined],
		["a credential of the wrong type", (c) => ({ ...c, type: "password" })],
		["an id that is not base64url", (c) => ({ ...c, id: "not base64url!", rawId: "not base64url!" })],
		["an id that differs from rawId", (c) => ({ ...c, id: "AAAA" })],
	])("answers 400 invalid_request for %s", async (_label, mutate) => {
		const authenticator = new SoftAuthenticator();
		const { user } = await userWithPasskey(authenticator);
		const partial = await partialLogin(user);
		const options = await authenticationOptions(partial);
		const credential = (await authenticator.getAssertion(options)) as unknown as Record<string, unknown>;
		const response = await call("POST", "/api/webauthn/verify/", {
			token: partial,
			body: { credential: mutate(credential) },
		});
		expect(response.status).toBe(400);
		expect(response.body).toMatchObject({ success: false, code: "invalid_request" });
		expect(failureReasons()).toEqual([]);
	});

	it("answers 415 for a body that is not JSON and 400 for malformed JSON", async () => {
		const authenticator = new SoftAuthenticator();
		const { user } = await userWithPasskey(authenticator);
		const partial = await partialLogin(user);
		const notJson = await call("POST", "/api/webauthn/verify/", {
			token: partial,
			rawBody: "credential=x",
			headers: { "content-type": "application/x-www-form-urlencoded" },
		});
		expect(notJson.status).toBe(415);
		expect(notJson.body).toMatchObject({ code: "unsupported_media_type" });
		const malformed = await call("POST", "/api/webauthn/verify/", {
			token: partial,
			rawBody: '{"credential": ',
			headers: { "content-type": "application/json" },
		});
		expect(malformed.status).toBe(400);
		expect(malformed.body).toMatchObject({ code: "invalid_request" });
	});
});
