import { listDurableObjectIds } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { isoBase64URL } from "@simplewebauthn/server/helpers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DAY } from "../../src/lib/clock";
import { randomBytes, toBase64Url } from "../../src/lib/encoding";
import { userSql } from "../helpers/account";
import { call, signUp } from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import { expectError } from "../helpers/expect-error";
import { countRows, partialLogin, postVerify, userWithPasskey } from "../helpers/flows";
import { freezeClock } from "../helpers/time";

// The passkey ceremonies check their session inside their one call of the
// user's object (http/middleware.ts deferSession). A request refused before
// that call — a malformed response, a malformed body — must still be
// answered in API.md's order: no session 401, the wrong level 403, the 2FA
// limit 429, and only then 400; and a token that names no user writes
// nothing anywhere.

afterEach(() => {
	vi.restoreAllMocks();
});

/** A token of the right form for a user who does not exist (or, given an id, with a wrong secret). */
function forgedToken(userId = toBase64Url(randomBytes(16))): string {
	return `${userId}.${toBase64Url(randomBytes(32))}`;
}

/** A genuine registration response, for a challenge no one issued. */
async function selfMadeCredential() {
	return new SoftAuthenticator().createCredential({
		rp: { id: "localhost", name: "x" },
		user: { id: toBase64Url(randomBytes(32)), name: "x", displayName: "x" },
		challenge: toBase64Url(randomBytes(32)),
		pubKeyCredParams: [{ type: "public-key", alg: -7 }],
	} as never);
}

const MALFORMED_ASSERTION = {
	id: "AAAA",
	rawId: "AAAA",
	type: "public-key",
	response: {
		clientDataJSON: isoBase64URL.fromUTF8String("not json"),
		authenticatorData: "AAAA",
		signature: "AAAA",
	},
	clientExtensionResults: {},
};

describe("a deferred session check, on the paths refused before the object's call", () => {
	it("register/complete: a token naming no user is 401 and claims no credential id", async () => {
		const credential = await selfMadeCredential();
		const response = await call("POST", "/api/webauthn/register/complete/", {
			token: forgedToken(),
			app: true,
			body: { credential },
		});
		expect({ status: response.status, body: response.body }).toMatchObject({
			status: 401,
			body: { code: "not_authenticated" },
		});
		expect(await countRows("SELECT COUNT(*) AS n FROM credentials WHERE credential_id = ?", credential.id)).toBe(0);
	});

	it("register/complete: a real user's id with a wrong secret is 401 and leaves no claim", async () => {
		const user = await signUp();
		const credential = await selfMadeCredential();
		const response = await call("POST", "/api/webauthn/register/complete/", {
			token: forgedToken(user.id),
			app: true,
			body: { credential },
		});
		expect(response.status).toBe(401);
		expect(await countRows("SELECT COUNT(*) AS n FROM credentials WHERE user_id = ?", user.id)).toBe(0);
	});

	it("verify: a forged token with a malformed response is 401, not 400", async () => {
		const response = await call("POST", "/api/webauthn/verify/", {
			token: forgedToken(),
			app: true,
			body: { credential: MALFORMED_ASSERTION },
		});
		expect({ status: response.status, body: response.body }).toMatchObject({
			status: 401,
			body: { code: "not_authenticated" },
		});
	});

	it("verify: a forged token with a body that is not JSON is 401, as on the routes that check first", async () => {
		const response = await call("POST", "/api/webauthn/verify/", {
			token: forgedToken(),
			app: true,
			rawBody: "{",
			headers: { "content-type": "application/json" },
		});
		expect(response.status).toBe(401);
	});

	it("register/complete: a partial session with a malformed response is 403 mfa_required", async () => {
		const { user } = await userWithPasskey();
		const partial = await partialLogin(user);
		const credential = await selfMadeCredential();
		credential.response.clientDataJSON = isoBase64URL.fromUTF8String("not json");
		const response = await call("POST", "/api/webauthn/register/complete/", {
			token: partial,
			app: true,
			body: { credential },
		});
		expect({ status: response.status, body: response.body }).toMatchObject({
			status: 403,
			body: { code: "mfa_required" },
		});
	});

	it("verify: a user at the 2FA limit gets 429 for a malformed response too", async () => {
		const { user, authenticator } = await userWithPasskey();
		const partial = await partialLogin(user);
		for (let i = 0; i < 5; i++) {
			const forged = await authenticator.getAssertion(
				(await call<{ request_options: never }>("GET", "/api/webauthn/authenticate/options/", { token: partial })).body
					.request_options,
				{ badSignature: true },
			);
			expect((await postVerify(partial, forged)).status).toBe(400);
		}
		const response = await call("POST", "/api/webauthn/verify/", {
			token: partial,
			app: true,
			body: { credential: MALFORMED_ASSERTION },
		});
		expect({ status: response.status, body: response.body }).toMatchObject({
			status: 429,
			body: { code: "too_many_attempts" },
		});
	});

	it("a ceremony keeps its session alive: its use is recorded and its expiry slid when due", async () => {
		const start = Date.now();
		const move = freezeClock(start);
		const { user } = await userWithPasskey();
		const row = () =>
			userSql(user.id, "SELECT expires_at, last_used_at FROM sessions WHERE level = 'full'").first<{
				expires_at: number;
				last_used_at: number;
			}>();
		const before = await row();
		move(start + 3 * DAY);
		expect((await call("GET", "/api/webauthn/authenticate/options/", { token: user.token })).status).toBe(200);
		const after = await row();
		expect(after?.last_used_at).toBe(start + 3 * DAY);
		expect(after?.expires_at).toBeGreaterThan(before?.expires_at ?? Number.POSITIVE_INFINITY);
	});

	it("a made-up token of the right form reaches no object: its MAC is checked first", async () => {
		const before = (await listDurableObjectIds(env.USER_STATE)).length;
		const user = await signUp();
		const afterSignUp = (await listDurableObjectIds(env.USER_STATE)).length;
		const secret = user.token.split(".")[1] ?? "";
		// The real secret with its first character changed (always a change, and still canonical base64url).
		const altered = `${user.id}.${secret[0] === "A" ? "B" : "A"}${secret.slice(1)}`;
		for (const token of [forgedToken(), forgedToken(user.id), altered]) {
			expectError(await call("GET", "/api/auth/session/", { token }), 401, "not_authenticated");
		}
		// Only the sign-up made objects (its user's, its client's, none for the tokens).
		expect((await listDurableObjectIds(env.USER_STATE)).length).toBe(afterSignUp);
		expect(afterSignUp).toBeGreaterThan(before);
	});
});
