import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ACTIVITY_LIMIT, ACTIVITY_MAX_AGE } from "../../src/account/activity";
import { userStateFor } from "../../src/durable/stubs";
import { DAY, SECOND } from "../../src/lib/clock";
import { ActivityList } from "../../src/routes/schemas";
import type { ActivityView } from "../../src/services/activity";
import {
	buildRequest,
	type CallOptions,
	call,
	logIn,
	PASSWORD,
	sessionCookie,
	signUp,
	uniqueEmail,
} from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import { expectError } from "../helpers/expect-error";
import { callWithFaults, DURABLE_OBJECT_OUTAGES, FaultPlan } from "../helpers/faults";
import { addPasskey, partialLogin, registerPasskey, userWithPasskey, verifyPasskey } from "../helpers/flows";
import { captureMetricsPerTest } from "../helpers/metrics";
import { postSignIn, signInAssertion } from "../helpers/passwordless";
import { createServerUser, serverCall, serverSession } from "../helpers/server-api";
import { freezeClock } from "../helpers/time";
import { codeFor, enableTotp, partialToken, verifyRecoveryCode, verifyTotp, wrongCodeFor } from "../helpers/totp";
import { waitFor } from "../helpers/webhooks";

// The user's security activity log (API.md, Account security): each entry is
// written by the real flow that causes it. The write goes to the user's
// object through the request's waitUntil (services/security-events.ts), so a
// test waits for the entry to be there, never for a time.

const metrics = captureMetricsPerTest();

afterEach(() => {
	vi.restoreAllMocks();
});

const CHROME_ON_MAC =
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

type Entry = ActivityView;

/** The status, with the body in the failure message when it differs. */
function expectStatus(response: { status: number; body: unknown }, status: number): void {
	expect(response.status, JSON.stringify(response.body)).toBe(status);
}

async function activity(auth: CallOptions): Promise<Entry[]> {
	const response = await call<{ success: true; events: Entry[] }>("GET", "/api/auth/activity/", auth);
	if (response.status !== 200) throw new Error(`activity failed: ${response.status} ${JSON.stringify(response.body)}`);
	return response.body.events;
}

/** Waits until the log holds `count` entries and returns them (newest first). */
function activityOf(auth: CallOptions, count: number): Promise<Entry[]> {
	return waitFor(`${count} activity entries`, async () => {
		const events = await activity(auth);
		if (events.length > count) throw new Error(`more entries than expected: ${JSON.stringify(events)}`);
		return events.length === count ? events : undefined;
	});
}

/** Each entry as `type` or `type:method`, newest first. */
function summary(events: Entry[]): string[] {
	return events.map((event) => (event.method ? `${event.type}:${event.method}` : event.type));
}

/** The rows in the user's object, read directly: what is stored, not only what is shown. */
function storedRows(userId: string): Promise<Record<string, unknown>[]> {
	return runInDurableObject(userStateFor(env.USER_STATE, userId), (_, state) =>
		state.storage.sql.exec("SELECT * FROM activity ORDER BY id").toArray(),
	);
}

describe("GET /api/auth/activity/", () => {
	it("lists a password sign-up, then a passkey with its first recovery codes, newest first, in the contract's shape", async () => {
		const user = await signUp();
		const auth = { token: user.token };
		expect(await activityOf(auth, 1)).toEqual([
			{ type: "sign_in", at: expect.any(String), method: "sign_up", client: "app", device: "Unknown device" },
		]);
		await addPasskey(user);
		const events = await activityOf(auth, 3);
		expect(summary(events)).toEqual(["recovery_codes.generated", "passkey.added", "sign_in:sign_up"]);

		const response = await call("GET", "/api/auth/activity/", auth);
		expect(ActivityList.strict().safeParse(response.body).success).toBe(true);
		for (const event of events) {
			expect(Object.keys(event).every((key) => ["type", "at", "method", "client", "device"].includes(key))).toBe(true);
			expect(new Date(event.at).toISOString()).toBe(event.at);
		}
		const times = events.map((event) => Date.parse(event.at));
		expect([...times].sort((a, b) => b - a)).toEqual(times);
	});

	it("says which browser and OS, from the User-Agent, and that it was a browser", async () => {
		const email = uniqueEmail();
		const signedUp = await call("POST", "/api/auth/signup/", {
			origin: "http://localhost:8787",
			headers: { "user-agent": CHROME_ON_MAC },
			body: { email, password: PASSWORD },
		});
		const cookie = sessionCookie(signedUp.headers) ?? "";
		expect(await activityOf({ cookie }, 1)).toEqual([
			{ type: "sign_in", at: expect.any(String), method: "sign_up", client: "browser", device: "Chrome on macOS" },
		]);
	});

	it("records each sign-in with its method: password, passkey, TOTP, recovery code, passwordless", async () => {
		const user = await signUp();
		const auth = { token: user.token };
		await activityOf(auth, 1);
		expect((await logIn(user.email)).body.session.level).toBe("full");
		await activityOf(auth, 2);

		const authenticator = new SoftAuthenticator();
		const registered = await registerPasskey(user, authenticator, { passwordless: true });
		const totp = await enableTotp(user);
		expect(summary(await activityOf(auth, 5)).slice(0, 4)).toEqual([
			"totp.enabled",
			"recovery_codes.generated",
			"passkey.added",
			"sign_in:password",
		]);

		expectStatus(await verifyPasskey(await partialLogin(user), authenticator), 200);
		await activityOf(auth, 7);
		expectStatus(await verifyTotp(await partialToken(user), await codeFor(totp.secret, 1)), 200);
		await activityOf(auth, 9);
		const code = registered.response.body.recovery_codes?.[0] ?? "";
		expectStatus(await verifyRecoveryCode(await partialToken(user), code), 200);
		await activityOf(auth, 12);
		expectStatus(await postSignIn(await signInAssertion(authenticator)), 200);

		expect(summary((await activityOf(auth, 13)).slice(0, 10))).toEqual([
			"sign_in:passkey",
			"recovery_code.used",
			"sign_in:recovery_code",
			"sign_in.partial:password",
			"sign_in:totp",
			"sign_in.partial:password",
			"sign_in:passkey",
			"sign_in.partial:password",
			"totp.enabled",
			"recovery_codes.generated",
		]);
	});

	it("records the password limit and the second-factor limit being reached, once each", async () => {
		const { user } = await userWithPasskey();
		const auth = { token: user.token };
		await activityOf(auth, 3);
		for (let i = 0; i < 10; i++) expectStatus(await logIn(user.email, "not the password"), 400);
		expect(summary(await activityOf(auth, 4))[0]).toBe("sign_in.failed_limit:password");
		// Refused while locked: no further entry.
		expectStatus(await logIn(user.email, "not the password"), 429);

		const second = await signUp();
		const secondAuth = { token: second.token };
		const { secret } = await enableTotp(second);
		await activityOf(secondAuth, 3);
		const partial = await partialToken(second);
		await activityOf(secondAuth, 4);
		for (let i = 0; i < 5; i++) await verifyTotp(partial, await wrongCodeFor(secret));
		expect(summary(await activityOf(secondAuth, 5))[0]).toBe("sign_in.failed_limit:second_factor");
		expectStatus(await verifyTotp(partial, await wrongCodeFor(secret)), 429);
		expect(await activityOf(secondAuth, 5)).toHaveLength(5);
	});

	it("records passkeys renamed and removed, TOTP disabled and recovery codes regenerated", async () => {
		const { user, passkey } = await userWithPasskey();
		const auth = { token: user.token };
		const other = await addPasskey(user);
		await enableTotp(user);
		await activityOf(auth, 5);

		expectStatus(await call("PATCH", `/api/webauthn/${passkey.id}/`, { ...auth, body: { name: "Laptop" } }), 200);
		await activityOf(auth, 6);
		expectStatus(await call("DELETE", `/api/webauthn/${other.id}/`, auth), 200);
		await activityOf(auth, 7);
		expectStatus(await call("DELETE", "/api/totp/", auth), 200);
		await activityOf(auth, 8);
		expectStatus(await call("POST", "/api/recovery-codes/regenerate/", auth), 200);

		expect(summary(await activityOf(auth, 9)).slice(0, 4)).toEqual([
			"recovery_codes.regenerated",
			"totp.disabled",
			"passkey.removed",
			"passkey.renamed",
		]);
	});

	it("records sessions revoked: by the user, by a password change (with it), and by the app", async () => {
		const user = await signUp();
		const auth = { token: user.token };
		await activityOf(auth, 1);
		expectStatus(await call("POST", "/api/auth/sessions/revoke-others/", auth), 200);
		expect(summary(await activityOf(auth, 2))[0]).toBe("sessions.revoked:others");

		await logIn(user.email);
		await activityOf(auth, 3);
		expect(
			(await call("POST", "/api/auth/password/", { ...auth, body: { password: "a new passphrase" } })).body,
		).toEqual({
			success: true,
			revoked: 1,
		});
		expect(summary(await activityOf(auth, 5)).slice(0, 2)).toEqual([
			"sessions.revoked:password_change",
			"password.changed",
		]);

		// Nothing else to end: the password change alone.
		expect(
			(await call("POST", "/api/auth/password/", { ...auth, body: { password: "another passphrase" } })).status,
		).toBe(200);
		expect(summary(await activityOf(auth, 6))[0]).toBe("password.changed");
	});

	it("records what the app did through the server API, without a client or device of its own", async () => {
		const created = await createServerUser();
		const path = `/users/${encodeURIComponent(created.external_id)}`;
		const partial = await serverSession(created.external_id, "partial");
		expect(partial.body.session.level).toBe("full");
		const token = partial.body.session_token;
		const auth = { token };
		expect(await activityOf(auth, 1)).toEqual([{ type: "sign_in", at: expect.any(String), method: "server" }]);

		await registerPasskey({ id: created.id, email: created.email, token }, new SoftAuthenticator());
		await activityOf(auth, 3);
		const second = await serverSession(created.external_id, "partial");
		expect(second.body.session.level).toBe("partial");
		await activityOf(auth, 4);
		expectStatus(await serverCall("DELETE", `${path}/sessions`), 200);
		// Every session ended: a new one to look.
		const look = { token: (await serverSession(created.external_id, "full")).body.session_token };
		await activityOf(look, 6);
		expectStatus(await serverCall("POST", `${path}/second-factors/reset`), 200);
		const again = { token: (await serverSession(created.external_id, "full")).body.session_token };
		const events = await activityOf(again, 8);
		expect(summary(events)).toEqual([
			"sign_in:server",
			"second_factors.reset:server",
			"sign_in:server",
			"sessions.revoked:server",
			"sign_in.partial:server",
			"recovery_codes.generated",
			"passkey.added",
			"sign_in:server",
		]);
		// The passkey was added by the user's own device (an app here); the app's backend did the rest.
		for (const event of events) {
			if (event.type === "passkey.added") expect(event.client).toBe("app");
			else if (event.type !== "recovery_codes.generated") expect(event).not.toHaveProperty("device");
		}
	});

	it("needs a full session", async () => {
		const { user } = await userWithPasskey();
		expectError(await call("GET", "/api/auth/activity/"), 401, "not_authenticated");
		expectError(await call("GET", "/api/auth/activity/", { token: await partialLogin(user) }), 403, "mfa_required");
	});

	it("shows each user only their own activity", async () => {
		const ada = await userWithPasskey();
		const bob = await signUp();
		await activityOf({ token: ada.user.token }, 3);
		expect(summary(await activityOf({ token: bob.token }, 1))).toEqual(["sign_in:sign_up"]);
		expect(await storedRows(bob.id)).toHaveLength(1);
	});

	it("keeps the last 100 entries: the 120th insert leaves 100, the oldest 20 gone", async () => {
		const start = Date.now();
		const move = freezeClock(start);
		const { user, passkey } = await userWithPasskey();
		const auth = { token: user.token };
		await activityOf(auth, 3);
		for (let i = 1; i <= 117; i++) {
			move(start + i * SECOND);
			const renamed = await call("PATCH", `/api/webauthn/${passkey.id}/`, { ...auth, body: { name: `Key ${i}` } });
			expect(renamed.status).toBe(200);
			// Each write lands before the next request (ordered entries, whatever the timing).
			await waitFor(`rename ${i}`, async () =>
				(await activity(auth))[0]?.at === new Date(start + i * SECOND).toISOString() ? true : undefined,
			);
		}
		const events = await activity(auth);
		expect(events).toHaveLength(ACTIVITY_LIMIT);
		expect(events.every((event) => event.type === "passkey.renamed")).toBe(true);
		// 120 written: the sign-up, the passkey, its codes and renames 1 to 17 are gone.
		expect(events.at(-1)?.at).toBe(new Date(start + 18 * SECOND).toISOString());
		expect(events[0]?.at).toBe(new Date(start + 117 * SECOND).toISOString());
		expect(await storedRows(user.id)).toHaveLength(ACTIVITY_LIMIT);
	});

	it("keeps 90 days: older entries are neither shown nor kept past the next insert", async () => {
		const start = Date.now();
		const move = freezeClock(start);
		const user = await signUp();
		await activityOf({ token: user.token }, 1);

		move(start + 89 * DAY);
		const later = { token: (await logIn(user.email)).body.session_token };
		await activityOf(later, 2);

		move(start + ACTIVITY_MAX_AGE + SECOND);
		// Not shown once it is 90 days old, even before anything new is written.
		expect(summary(await activityOf(later, 1))).toEqual(["sign_in:password"]);
		expect(await storedRows(user.id)).toHaveLength(2);

		await logIn(user.email);
		await activityOf(later, 2);
		// The insert deleted it.
		const rows = await storedRows(user.id);
		expect(rows.map((row) => row.at)).toEqual([start + 89 * DAY, start + ACTIVITY_MAX_AGE + SECOND]);
	});

	it("goes with the user when the app deletes them", async () => {
		const created = await createServerUser();
		await activityOf({ token: (await serverSession(created.external_id, "full")).body.session_token }, 1);
		expectStatus(await serverCall("DELETE", `/users/${encodeURIComponent(created.external_id)}`), 200);
		expect(await storedRows(created.id)).toEqual([]);
	});

	it("never fails the user's action when the entry cannot be written: logged and counted", async () => {
		const { user, passkey } = await userWithPasskey();
		const auth = { token: user.token };
		await activityOf(auth, 3);
		const rename = () => buildRequest("PATCH", `/api/webauthn/${passkey.id}/`, { ...auth, body: { name: "Phone" } });
		// Find the write among the request's storage calls, then fail that one.
		const plan = new FaultPlan();
		plan.reset(null);
		await callWithFaults(plan, rename());
		const write = plan.calls.indexOf("DO recordActivity") + 1;
		expect(write).toBeGreaterThan(0);
		await activityOf(auth, 4);

		const errors = vi.spyOn(console, "error").mockImplementation(() => undefined);
		plan.reset(write, DURABLE_OBJECT_OUTAGES.overloaded);
		const response = await callWithFaults(plan, rename());
		expect(response.status).toBe(200);
		expect(response.body).toMatchObject({ passkey: { name: "Phone" } });
		expect(metrics.failureReasons("activity.failed")).toEqual(["passkey.renamed"]);
		expect(errors).toHaveBeenCalledWith(
			expect.stringContaining("activity: passkey.renamed was not recorded"),
			expect.any(String),
		);
		expect(await activity(auth)).toHaveLength(4);
	});

	it("holds no secret, code, token, credential id, email or IP address", async () => {
		const email = uniqueEmail("secret-search");
		const user = await signUp(email);
		const auth = { token: user.token, headers: { "cf-connecting-ip": "203.0.113.77" } };
		const authenticator = new SoftAuthenticator();
		const registered = await registerPasskey(user, authenticator, { passwordless: true });
		const totp = await enableTotp(user);
		const partial = await partialToken(user);
		await verifyTotp(partial, await codeFor(totp.secret, 1));
		const rescue = await partialToken(user);
		const recovery = registered.response.body.recovery_codes?.[0] ?? "";
		await verifyRecoveryCode(rescue, recovery);
		const regenerated = await call<{ recovery_codes: string[] }>("POST", "/api/recovery-codes/regenerate/", auth);
		const signedIn = await postSignIn(await signInAssertion(authenticator));
		expect(signedIn.status).toBe(200);
		await call("POST", "/api/auth/password/", { ...auth, body: { password: "a brand new passphrase" } });
		for (let i = 0; i < 10; i++) await logIn(email, "a wrong password guess");
		const events = await activityOf(auth, 14);

		const passkeyId = registered.response.body.passkey.id;
		const credentialId = registered.response.body.passkey.credential_id;
		const secrets = [
			PASSWORD,
			"a brand new passphrase",
			"a wrong password guess",
			email,
			user.token,
			partial,
			rescue,
			totp.secret,
			recovery,
			...(totp.recoveryCodes ?? []),
			...(registered.response.body.recovery_codes ?? []),
			...(regenerated.body.recovery_codes ?? []),
			String(signedIn.body.session_token),
			credentialId,
			passkeyId,
			"203.0.113.77",
		];
		const shown = JSON.stringify(events);
		const stored = JSON.stringify(await storedRows(user.id));
		for (const secret of secrets) {
			expect(secret.length).toBeGreaterThan(5);
			expect(shown).not.toContain(secret);
			expect(stored).not.toContain(secret);
		}
	});
});
