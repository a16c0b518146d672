import { env } from "cloudflare:workers";
import type { PublicKeyCredentialCreationOptionsJSON, RegistrationResponseJSON } from "@simplewebauthn/server";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type AmrRecord, amrClaims } from "../../src/lib/amr";
import { MINUTE } from "../../src/lib/clock";
import { hmacSha256 } from "../../src/lib/crypto";
import { fromBase64Url, toBase64Url } from "../../src/lib/encoding";
import { parseKeySet } from "../../src/lib/key-set";
import { issueSignUpChallenge, openSignUpChallenge } from "../../src/services/sign-up-challenge";
import { userSql } from "../helpers/account";
import {
	type ApiResponse,
	buildRequest,
	type CallOptions,
	call,
	logIn,
	PASSWORD,
	signUp,
	uniqueEmail,
	withVars,
} from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import { callWithFaults, D1_OUTAGES, FaultPlan } from "../helpers/faults";
import { countRows, countUserRows } from "../helpers/flows";
import { captureMetricsPerTest } from "../helpers/metrics";
import { cookieFrom, expectRefused, postSignIn, signInAssertion, signInOptions } from "../helpers/passwordless";
import { freezeClock } from "../helpers/time";
import { deliveriesAt, eventOf, receiverEndpoint } from "../helpers/webhooks";

// Passkey-first sign-up (issue 16, item 1): an account whose only credential
// is a discoverable, user-verified passkey, signed in at once. Nothing is
// stored before `complete/`, and `complete/` creates everything or nothing.

const OPTIONS = "/api/auth/signup/passkey/options/";
const COMPLETE = "/api/auth/signup/passkey/complete/";

const metrics = captureMetricsPerTest();

afterEach(() => {
	vi.restoreAllMocks();
});

interface SignedUp {
	success: true;
	user: { id: string; email: string };
	session: { level: string; user: { id: string; email: string }; methods: string[] };
	session_token?: string;
	recovery_codes: string[];
}

function postOptions(email: unknown, options: CallOptions = { app: true }) {
	return call<{ success: true; creation_options: PublicKeyCredentialCreationOptionsJSON }>("POST", OPTIONS, {
		...options,
		body: { email },
	});
}

function postComplete(credential: unknown, options: CallOptions = { app: true }, name?: string) {
	return call<SignedUp>("POST", COMPLETE, { ...options, body: { credential, ...(name ? { name } : {}) } });
}

async function creationOptions(email: string, options: CallOptions = { app: true }) {
	const response = await postOptions(email, options);
	if (response.status !== 200) throw new Error(`options failed: ${response.status} ${JSON.stringify(response.body)}`);
	return response.body.creation_options;
}

/** Options for `email`, answered by `authenticator`: the credential to complete with. */
async function ceremony(email: string, authenticator = new SoftAuthenticator(), options: CallOptions = { app: true }) {
	const creation = await creationOptions(email, options);
	const credential = await authenticator.createCredential(creation);
	return { creation, credential, authenticator };
}

/** A whole passkey-first sign-up as an app. */
async function passkeySignUp(email = uniqueEmail("pk"), authenticator = new SoftAuthenticator()) {
	const { creation, credential } = await ceremony(email, authenticator);
	const response = await postComplete(credential);
	if (response.status !== 201) throw new Error(`complete failed: ${response.status} ${JSON.stringify(response.body)}`);
	return { email, authenticator, creation, credential, body: response.body, token: response.body.session_token ?? "" };
}

function usersWithEmail(email: string) {
	return countRows("SELECT COUNT(*) AS n FROM users WHERE email = ?", email);
}

function passkeysWithCredential(credentialId: string) {
	return countRows("SELECT COUNT(*) AS n FROM credentials WHERE credential_id = ?", credentialId);
}

/** Nothing of a sign-up exists: no user, no passkey (and so no codes or sessions, which need a user). */
async function expectNothingCreated(email: string, credential: RegistrationResponseJSON) {
	expect(await usersWithEmail(email)).toBe(0);
	expect(await passkeysWithCredential(credential.id)).toBe(0);
}

describe("POST /api/auth/signup/passkey/options/", () => {
	it("asks for a discoverable credential with user verification, with a fresh user handle, and stores nothing", async () => {
		const email = uniqueEmail("Options");
		const usedBefore = await countRows("SELECT COUNT(*) AS n FROM sign_in_challenges");
		const response = await postOptions(`  ${email.toUpperCase()} `);
		expect(response.status).toBe(200);
		expect(response.headers.get("cache-control")).toBe("no-store");
		const options = response.body.creation_options;
		expect(options).toMatchObject({
			rp: { id: "localhost" },
			user: { name: email.toLowerCase(), displayName: email.toLowerCase() },
			timeout: 300_000,
			attestation: "none",
			excludeCredentials: [],
			authenticatorSelection: { residentKey: "required", requireResidentKey: true, userVerification: "required" },
			extensions: { credProps: true },
		});
		expect(options.pubKeyCredParams.map((p) => p.alg)).toEqual([-8, -7, -257]);
		expect(fromBase64Url(options.user.id)?.length).toBe(32);
		const again = await creationOptions(email);
		expect(again.user.id).not.toBe(options.user.id);
		expect(again.challenge).not.toBe(options.challenge);
		expect(await usersWithEmail(email.toLowerCase())).toBe(0);
		expect(await countRows("SELECT COUNT(*) AS n FROM sign_in_challenges")).toBe(usedBefore);
	});

	it("refuses an email that has an account with 409 email_taken, whatever its case", async () => {
		const taken = await signUp();
		expectRefused(await postOptions(taken.email), 409, "email_taken");
		expectRefused(await postOptions(` ${taken.email.toUpperCase()}`), 409, "email_taken");
		const passkeyUser = await passkeySignUp();
		expectRefused(await postOptions(passkeyUser.email), 409, "email_taken");
	});

	it("refuses bad bodies with the 400 envelope, and what is not JSON with 415", async () => {
		for (const body of [{}, { email: "not-an-email" }, { email: 7 }, { email: `${"a".repeat(250)}@example.com` }, []]) {
			const response = await call("POST", OPTIONS, { app: true, body });
			expect({ body, status: response.status }).toMatchObject({ status: 400 });
			expect(response.body).toMatchObject({ success: false, code: "invalid_request" });
		}
		const wrongEmail = await call("POST", OPTIONS, { app: true, body: { email: "not-an-email" } });
		expect(wrongEmail.body).toMatchObject({ fields: { email: expect.any(String) } });
		const malformed = await call("POST", OPTIONS, {
			app: true,
			rawBody: "{",
			headers: { "content-type": "application/json" },
		});
		expectRefused(malformed, 400, "invalid_request");
		const text = await call("POST", OPTIONS, {
			app: true,
			rawBody: "email",
			headers: { "content-type": "text/plain" },
		});
		expectRefused(text, 415, "unsupported_media_type");
	});

	it("refuses a browser request from a foreign Origin with 403 csrf_failed, as sign-up does", async () => {
		expectRefused(await postOptions(uniqueEmail(), { origin: "https://evil.example" }), 403, "csrf_failed");
		expectRefused(
			await call("POST", "/api/auth/signup/", {
				origin: "https://evil.example",
				body: { email: uniqueEmail(), password: PASSWORD },
			}),
			403,
			"csrf_failed",
		);
	});
});

describe("POST /api/auth/signup/passkey/complete/", () => {
	it("creates the account with its passkey, ten recovery codes and a full session for an app", async () => {
		const email = uniqueEmail("happy");
		const { creation, credential } = await ceremony(email);
		const response = await postComplete(credential, { app: true }, "  My laptop ");
		expect(response.status).toBe(201);
		const body = response.body;
		expect(body).toMatchObject({
			success: true,
			user: { email },
			session: { level: "full", user: { id: body.user.id, email }, methods: ["webauthn", "recovery_codes"] },
		});
		expect(body.session_token).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
		expect(cookieFrom(response.headers)).toBeNull();
		expect(body.recovery_codes).toHaveLength(10);
		expect(new Set(body.recovery_codes).size).toBe(10);

		const session = await call<{ session: { level: string } }>("GET", "/api/auth/session/", {
			token: body.session_token ?? "",
		});
		expect(session.status).toBe(200);
		expect(session.body.session.level).toBe("full");

		const user = await env.DB.prepare("SELECT * FROM users WHERE id = ?")
			.bind(body.user.id)
			.first<Record<string, unknown>>();
		expect(user).toMatchObject({ email, password_hash: "", webauthn_user_id: creation.user.id });
		const passkeys = await userSql(body.user.id, "SELECT * FROM passkeys").all<Record<string, unknown>>();
		expect(passkeys.results).toHaveLength(1);
		expect(passkeys.results[0]).toMatchObject({ credential_id: credential.id, passwordless: 1, name: "My laptop" });
		expect(await countUserRows(body.user.id, "SELECT COUNT(*) AS n FROM recovery_codes")).toBe(10);
		const row = await userSql(body.user.id, "SELECT level, amr FROM sessions").first<{
			level: string;
			amr: string;
		}>();
		expect(row?.level).toBe("full");
		// A device-bound passkey with user verification: hwk + user, aal2.
		expect(amrClaims(JSON.parse(row?.amr ?? "[]") as AmrRecord)).toEqual({ amr: ["hwk", "user"], acr: "aal2" });

		const list = await call<{ passkeys: { passwordless: boolean }[] }>("GET", "/api/webauthn/", {
			token: body.session_token ?? "",
		});
		expect(list.body.passkeys).toMatchObject([{ passwordless: true }]);
	});

	it("gives a browser the session cookie and no token, and a synced passkey's session says swk", async () => {
		const email = uniqueEmail("browser");
		const authenticator = new SoftAuthenticator({ backupEligible: true, backedUp: true });
		const { credential } = await ceremony(email, authenticator, { origin: "http://localhost:8787" });
		const response = await postComplete(credential, { origin: "http://localhost:8787" });
		expect(response.status).toBe(201);
		expect(response.body).not.toHaveProperty("session_token");
		expect(response.body.recovery_codes).toHaveLength(10);
		const cookie = cookieFrom(response.headers);
		expect(cookie).toMatch(/^__Host-pe_session=[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
		const line = response.headers.getSetCookie().find((l) => l.startsWith("__Host-pe_session=")) ?? "";
		expect(line.toLowerCase()).toEqual(expect.stringContaining("httponly"));
		expect(line.toLowerCase()).toEqual(expect.stringContaining("samesite=lax"));
		const session = await call<{ session: { user: { email: string } } }>("GET", "/api/auth/session/", {
			cookie: cookie ?? "",
		});
		expect(session.status).toBe(200);
		expect(session.body.session.user.email).toBe(email);
		const row = await userSql(response.body.user.id, "SELECT amr FROM sessions").first<{ amr: string }>();
		expect(amrClaims(JSON.parse(row?.amr ?? "[]") as AmrRecord)).toEqual({ amr: ["swk", "user"], acr: "aal2" });
	});

	it("names the passkey after its authenticator without a name, and records the registration and codes metrics", async () => {
		const { body } = await passkeySignUp();
		const passkeys = await call<{ passkeys: { name: string }[] }>("GET", "/api/webauthn/", {
			token: body.session_token ?? "",
		});
		expect(passkeys.body.passkeys[0]?.name).toBe("Passkey");
		const blobs = metrics.points().map((point) => point.blobs);
		expect(blobs).toContainEqual(["webauthn.registration.success", "success", "", "webauthn", "app"]);
		expect(blobs).toContainEqual([
			"recovery_codes.generated",
			"success",
			"first_authenticator",
			"recovery_code",
			"app",
		]);
	});

	it("sends passkey.added and session.created (method passkey_sign_up), carrying no secret", async () => {
		const endpoint = receiverEndpoint();
		const email = uniqueEmail("hooks");
		const { credential } = await ceremony(email);
		const response = await withVars({ WEBHOOK_URLS: endpoint.url }, () => postComplete(credential));
		expect(response.status).toBe(201);
		const events = (await deliveriesAt(endpoint.name, 2)).map(eventOf);
		const byType = Object.fromEntries(events.map((event) => [event.type, event]));
		expect(byType["passkey.added"]).toMatchObject({
			user: { id: response.body.user.id, external_id: null },
			data: { passkey_id: expect.any(String), name: "Passkey" },
		});
		expect(byType["session.created"]).toMatchObject({
			user: { id: response.body.user.id },
			data: { method: "passkey_sign_up", level: "full", client: "app" },
		});
		const text = JSON.stringify(events);
		expect(text).not.toContain(credential.id);
		for (const code of response.body.recovery_codes) expect(text).not.toContain(code);
		expect(text).not.toContain(response.body.session_token ?? "no token");
	});

	it("sets no password: password sign-in answers invalid_credentials until POST /api/auth/password/ sets one", async () => {
		const { email, token } = await passkeySignUp();
		const noPassword = await logIn(email, PASSWORD);
		expectRefused(noPassword, 400, "invalid_credentials");

		const set = await call("POST", "/api/auth/password/", { token, body: { password: PASSWORD } });
		expect(set.status).toBe(200);
		expect(set.body).toEqual({ success: true, revoked: 0 });
		const login = await logIn(email, PASSWORD);
		expect(login.status).toBe(200);
		// The user has a passkey, so the password is the first of two factors.
		expect(login.body.session.level).toBe("partial");
		expectRefused(await logIn(email, "not the password at all"), 400, "invalid_credentials");
	});

	it("lets the new passkey sign in without a password afterwards", async () => {
		const { authenticator, body } = await passkeySignUp();
		const signedIn = await postSignIn(await signInAssertion(authenticator));
		expect(signedIn.status).toBe(200);
		expect(signedIn.body.session).toMatchObject({ level: "full", user: { id: body.user.id } });
	});

	it("gives recovery codes that work once, as a second factor", async () => {
		const { email, token, body } = await passkeySignUp();
		const summary = await call("GET", "/api/recovery-codes/", { token });
		expect(summary.body).toMatchObject({ total: 10, unused: 10 });
		expect((await call("POST", "/api/auth/password/", { token, body: { password: PASSWORD } })).status).toBe(200);
		const partial = await logIn(email, PASSWORD);
		const partialToken = partial.body.session_token ?? "";
		const code = body.recovery_codes[0] ?? "";
		const used = await call<{ session: { level: string }; unused: number }>("POST", "/api/recovery-codes/verify/", {
			token: partialToken,
			body: { code },
		});
		expect(used.status).toBe(200);
		expect(used.body).toMatchObject({ session: { level: "full" }, unused: 9 });
		const again = await logIn(email, PASSWORD);
		const reused = await call("POST", "/api/recovery-codes/verify/", {
			token: again.body.session_token ?? "",
			body: { code },
		});
		expectRefused(reused, 400, "invalid_code");
	});

	it("refuses an email taken between options and complete with 409 email_taken, creating nothing", async () => {
		const email = uniqueEmail("between");
		const { credential } = await ceremony(email);
		expect((await call("POST", "/api/auth/signup/", { app: true, body: { email, password: PASSWORD } })).status).toBe(
			201,
		);
		expectRefused(await postComplete(credential), 409, "email_taken");
		expect(await usersWithEmail(email)).toBe(1);
		expect(await passkeysWithCredential(credential.id)).toBe(0);
		expect(metrics.failureReasons("webauthn.registration.failed")).toEqual(["email_taken"]);
	});

	it("lets one of two racing completes for one email through: one 201 and one 409 email_taken", async () => {
		const email = uniqueEmail("race");
		const first = await ceremony(email);
		const second = await ceremony(email);
		const responses = await Promise.all([postComplete(first.credential), postComplete(second.credential)]);
		expect(responses.map((r) => r.status).sort()).toEqual([201, 409]);
		const loser = responses.find((r) => r.status === 409);
		if (!loser) throw new Error("no loser");
		expectRefused(loser, 409, "email_taken");
		expect(await usersWithEmail(email)).toBe(1);
		const winner = responses.find((r) => r.status === 201)?.body.user.id;
		expect(await countUserRows(winner ?? "", "SELECT COUNT(*) AS n FROM passkeys")).toBe(1);
		expect(
			(await passkeysWithCredential(first.credential.id)) + (await passkeysWithCredential(second.credential.id)),
		).toBe(1);
	});

	it("refuses a credential without user verification with 400 verification_failed", async () => {
		const email = uniqueEmail("nouv");
		const { credential } = await ceremony(email, new SoftAuthenticator({ userVerification: false }));
		expectRefused(await postComplete(credential), 400, "verification_failed");
		await expectNothingCreated(email, credential);
		expect(metrics.failureReasons("webauthn.registration.failed")).toEqual(["user_verification"]);
	});

	it("refuses a credential without user presence", async () => {
		const email = uniqueEmail("noup");
		const { credential } = await ceremony(email, new SoftAuthenticator({ userPresence: false }));
		expectRefused(await postComplete(credential), 400, "verification_failed");
		await expectNothingCreated(email, credential);
	});

	it("refuses a credential the browser reports non-discoverable (credProps.rk false)", async () => {
		const email = uniqueEmail("nonrk");
		const { credential } = await ceremony(email);
		const response = await postComplete({ ...credential, clientExtensionResults: { credProps: { rk: false } } });
		expectRefused(response, 400, "verification_failed");
		await expectNothingCreated(email, credential);
		expect(metrics.failureReasons("webauthn.registration.failed")).toEqual(["not_discoverable"]);
	});

	it("holds every registration rule: crossOrigin, a foreign origin, an x5c attestation", async () => {
		for (const [overrides, authenticator] of [
			[{ crossOrigin: true }, new SoftAuthenticator()],
			[{ origin: "https://evil.example" }, new SoftAuthenticator()],
			[{ attestation: "packed-x5c" as const }, new SoftAuthenticator()],
		] as const) {
			const email = uniqueEmail("rules");
			const creation = await creationOptions(email);
			const credential = await authenticator.createCredential(creation, overrides);
			expectRefused(await postComplete(credential), 400, "verification_failed");
			await expectNothingCreated(email, credential);
		}
	});

	it("consumes the challenge once: a replay answers 400 challenge_expired, even after a refusal", async () => {
		const { credential, email } = await passkeySignUp();
		expectRefused(await postComplete(credential), 400, "challenge_expired");
		expect(await usersWithEmail(email)).toBe(1);

		const other = uniqueEmail("refused-then-replayed");
		const refused = await ceremony(other, new SoftAuthenticator({ userVerification: false }));
		expectRefused(await postComplete(refused.credential), 400, "verification_failed");
		expectRefused(await postComplete(refused.credential), 400, "challenge_expired");
		// A fresh ceremony for the same email then works.
		expect((await postComplete((await ceremony(other)).credential)).status).toBe(201);
	});

	it("refuses a challenge after its five minutes with 400 challenge_expired", async () => {
		const start = Date.now();
		const move = freezeClock(start);
		const email = uniqueEmail("late");
		const { credential } = await ceremony(email);
		move(start + 5 * MINUTE);
		expectRefused(await postComplete(credential), 400, "challenge_expired");
		await expectNothingCreated(email, credential);
		move(start + 5 * MINUTE - 1);
		// Not consumed by the refusal of an expired challenge; in time, it still works.
		expect((await postComplete(credential)).status).toBe(201);
	});

	it("refuses a forged challenge, and one changed by a byte, with 400 challenge_expired", async () => {
		const email = uniqueEmail("forged");
		const creation = await creationOptions(email);
		const bytes = fromBase64Url(creation.challenge) ?? new Uint8Array();
		bytes[bytes.length - 20] = (bytes[bytes.length - 20] ?? 0) ^ 1; // a byte of the email (the MAC is the last 16)
		const tampered = await new SoftAuthenticator().createCredential({ ...creation, challenge: toBase64Url(bytes) });
		expectRefused(await postComplete(tampered), 400, "challenge_expired");
		const random = await new SoftAuthenticator().createCredential({
			...creation,
			challenge: toBase64Url(crypto.getRandomValues(new Uint8Array(bytes.length))),
		});
		expectRefused(await postComplete(random), 400, "challenge_expired");
	});

	it("never takes a sign-in challenge as a sign-up challenge", async () => {
		const email = uniqueEmail("crossed");
		const creation = await creationOptions(email);
		const signIn = await signInOptions();
		const credential = await new SoftAuthenticator().createCredential({ ...creation, challenge: signIn.challenge });
		expectRefused(await postComplete(credential), 400, "challenge_expired");
		await expectNothingCreated(email, credential);
	});

	it("never takes a sign-up challenge as a sign-in challenge", async () => {
		const { authenticator } = await passkeySignUp();
		const creation = await creationOptions(uniqueEmail("crossed-back"));
		const assertion = await authenticator.getAssertion({
			challenge: creation.challenge,
			rpId: "localhost",
			allowCredentials: [],
			userVerification: "required",
		});
		expectRefused(await postSignIn(assertion), 400, "challenge_expired");
	});

	it("refuses bad bodies with the 400 envelope and consumes nothing", async () => {
		const email = uniqueEmail("bad");
		const { credential } = await ceremony(email);
		for (const body of [
			{},
			{ credential: "x" },
			{ credential: { ...credential, type: "password" } },
			{ credential: { ...credential, response: { ...credential.response, clientDataJSON: "!!" } } },
			{ credential: { ...credential, response: { ...credential.response, attestationObject: "AAAA" } } },
			{ credential, name: "" },
			{ credential, name: "x".repeat(65) },
		]) {
			const response = await call("POST", COMPLETE, { app: true, body });
			expect({ body, status: response.status }).toMatchObject({ status: 400 });
			expect(response.body).toMatchObject({ success: false, code: "invalid_request" });
		}
		expectRefused(
			await call("POST", COMPLETE, { app: true, rawBody: "credential", headers: { "content-type": "text/plain" } }),
			415,
			"unsupported_media_type",
		);
		await expectNothingCreated(email, credential);
		// Malformed requests consumed nothing: the ceremony still completes.
		expect((await postComplete(credential)).status).toBe(201);
	});

	it("refuses a browser request from a foreign Origin with 403 csrf_failed before the ceremony", async () => {
		const email = uniqueEmail("csrf");
		const { credential } = await ceremony(email);
		expectRefused(await postComplete(credential, { origin: "https://evil.example" }), 403, "csrf_failed");
		await expectNothingCreated(email, credential);
		expect((await postComplete(credential, { origin: "http://localhost:8787" })).status).toBe(201);
	});

	it("refuses a credential id another account holds with 409 credential_exists", async () => {
		const { credential: first } = await passkeySignUp();
		const email = uniqueEmail("dup");
		const creation = await creationOptions(email);
		const duplicate = await new SoftAuthenticator().createCredential(creation, {
			credentialId: fromBase64Url(first.id) ?? new Uint8Array(),
		});
		expectRefused(await postComplete(duplicate), 409, "credential_exists");
		expect(await usersWithEmail(email)).toBe(0);
	});
});

describe("passkey sign-up and the per-client sign-up limit", () => {
	function freshAddress(): string {
		const n = crypto.getRandomValues(new Uint32Array(1))[0] ?? 0;
		return `198.18.${(n >>> 8) & 0xff}.${n & 0xff}`;
	}

	it("counts each options request against the limit password sign-ups share, and completing does not count", async () => {
		const start = Date.now();
		const move = freezeClock(start);
		const address = freshAddress();
		const from = { app: true, headers: { "cf-connecting-ip": address } };
		const taken = await signUp();
		// 10 well-formed attempts: passkey options (new and taken emails) and password sign-ups together.
		const pending: RegistrationResponseJSON[] = [];
		for (let i = 0; i < 4; i++) {
			const creation = await creationOptions(uniqueEmail("limit"), from);
			pending.push(await new SoftAuthenticator().createCredential(creation));
		}
		for (let i = 0; i < 3; i++) expectRefused(await postOptions(taken.email, from), 409, "email_taken");
		for (let i = 0; i < 3; i++) {
			const created = await call("POST", "/api/auth/signup/", {
				...from,
				body: { email: uniqueEmail("limit"), password: PASSWORD },
			});
			expect(created.status).toBe(201);
		}
		const limited = await postOptions(uniqueEmail("limit"), from);
		expectRefused(limited, 429, "too_many_attempts");
		expect(limited.headers.get("retry-after")).toBe("3600");
		expect(metrics.points().map((p) => p.blobs)).toContainEqual([
			"rate_limit.blocked",
			"blocked",
			"client_signup",
			"webauthn",
			"app",
		]);
		// Before the body (API.md's order).
		expectRefused(await call("POST", OPTIONS, { ...from, body: {} }), 429, "too_many_attempts");
		const password = await call("POST", "/api/auth/signup/", {
			...from,
			body: { email: uniqueEmail(), password: PASSWORD },
		});
		expectRefused(password, 429, "too_many_attempts");
		// The ceremonies already counted still complete from the limited address.
		for (const credential of pending) {
			expect((await call("POST", COMPLETE, { ...from, body: { credential } })).status).toBe(201);
		}
		move(start + 60 * MINUTE);
		expect((await postOptions(uniqueEmail("limit"), from)).status).toBe(200);
	});

	it("does not count malformed options requests", async () => {
		freezeClock(Date.now());
		const from = { app: true, headers: { "cf-connecting-ip": freshAddress() } };
		for (let i = 0; i < 12; i++) expect((await postOptions("nope", from)).status).toBe(400);
		expect((await postOptions(uniqueEmail(), from)).status).toBe(200);
	});
});

describe("passkey sign-up under storage faults", () => {
	function completeRequest(credential: RegistrationResponseJSON): Request {
		return buildRequest("POST", COMPLETE, { app: true, body: { credential } });
	}

	it("leaves no account when any storage call of complete fails, and a retry with fresh options works", async () => {
		// Count the storage calls of a successful complete.
		const counting = new FaultPlan();
		const probe = await ceremony(uniqueEmail("probe"));
		const ok = await callWithFaults<SignedUp>(counting, completeRequest(probe.credential));
		expect(ok.status).toBe(201);
		// The activity entries (passkey added, codes given, signed in) are written
		// after the account exists, through waitUntil: not part of the sign-up.
		const ACTIVITY_WRITE = "DO recordActivity";
		const calls = counting.calls.filter((label) => label !== ACTIVITY_WRITE).length;
		expect(counting.calls.slice(calls).every((label) => label === ACTIVITY_WRITE)).toBe(true);
		expect(calls).toBeGreaterThanOrEqual(2);

		for (const [name, kind] of Object.entries(D1_OUTAGES)) {
			for (let failAt = 1; failAt <= calls; failAt++) {
				const email = uniqueEmail("fault");
				const { credential } = await ceremony(email);
				const plan = new FaultPlan();
				plan.reset(failAt, kind);
				const failed: ApiResponse = await callWithFaults(plan, completeRequest(credential));
				expect({ name, failAt, status: failed.status }).toEqual({ name, failAt, status: 503 });
				expect(failed.headers.get("retry-after")).toBe("2");
				await expectNothingCreated(email, credential);
				// The email is still free: a new ceremony signs up.
				const retried = await postComplete((await ceremony(email)).credential);
				expect({ name, failAt, status: retried.status }).toEqual({ name, failAt, status: 201 });
			}
		}
	});
});

describe("sign-up challenges (services/sign-up-challenge.ts)", () => {
	const keys = parseKeySet(
		"RECOVERY_CODE_HMAC_KEY",
		"v2:a-newer-secret-of-enough-length,v1:an-older-secret-of-enough-length",
	);
	if (!keys) throw new Error("key set");
	const encoder = new TextEncoder();

	/** A MAC as sign-in-challenge.ts makes it (its labels), over any payload. */
	async function signInStyleMac(secret: string, payload: Uint8Array): Promise<Uint8Array> {
		const key = await hmacSha256(encoder.encode(secret), encoder.encode("passkey-edge:sign-in-challenge-key"));
		const label = encoder.encode("sign-in-challenge:v1");
		const message = new Uint8Array(label.length + payload.length);
		message.set(label);
		message.set(payload, label.length);
		return (await hmacSha256(key, message)).subarray(0, 16);
	}

	it("opens what it issued, under any listed key, until it expires", async () => {
		const now = Date.now();
		const { challenge, userHandle } = await issueSignUpChallenge(keys, "ada@example.com", now + 1000);
		const text = toBase64Url(challenge);
		expect(await openSignUpChallenge(keys, text, now)).toEqual({
			email: "ada@example.com",
			userHandle: toBase64Url(userHandle),
			expiresAt: now + 1000,
		});
		const older = parseKeySet("K", "v1:an-older-secret-of-enough-length");
		const oldIssued = older && (await issueSignUpChallenge(older, "ada@example.com", now + 1000));
		expect(oldIssued && (await openSignUpChallenge(keys, toBase64Url(oldIssued.challenge), now))).not.toBeNull();
		expect(await openSignUpChallenge(keys, text, now + 1000)).toBeNull();
		const unlisted = parseKeySet("K", "v3:a-secret-nobody-listed-here");
		if (!unlisted) throw new Error("key set");
		expect(await openSignUpChallenge(unlisted, text, now)).toBeNull();
	});

	it("is domain-separated: a payload MACed as a sign-in challenge is refused whatever its length", async () => {
		const now = Date.now();
		const { challenge } = await issueSignUpChallenge(keys, "ada@example.com", now + 1000);
		const payload = challenge.subarray(0, challenge.length - 16);
		const relabelled = new Uint8Array(challenge.length);
		relabelled.set(payload);
		relabelled.set(await signInStyleMac(keys.newest.secret, payload), payload.length);
		expect(await openSignUpChallenge(keys, toBase64Url(relabelled), now)).toBeNull();
		// And the untouched one opens, so the refusal is the label's doing.
		expect(await openSignUpChallenge(keys, toBase64Url(challenge), now)).not.toBeNull();
	});
});
