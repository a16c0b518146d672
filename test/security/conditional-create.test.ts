import type { PublicKeyCredentialCreationOptionsJSON } from "@simplewebauthn/server";
import { afterEach, describe, expect, it, vi } from "vitest";
import { MINUTE } from "../../src/lib/clock";
import { call, signUp, type TestUser } from "../helpers/api";
import { type CreateOverrides, SoftAuthenticator } from "../helpers/authenticator";
import { expectError } from "../helpers/expect-error";
import { registerPasskey, verifyPasskey } from "../helpers/flows";
import { captureMetricsPerTest } from "../helpers/metrics";
import { postSignIn, signInAssertion } from "../helpers/passwordless";
import { freezeClock } from "../helpers/time";

// Automatic passkey upgrade (issue 16, item 2): right after a password
// sign-in the browser may create a passkey by itself (`mediation:
// "conditional"`), without a gesture, so the response may lack user
// presence. The server accepts that only for a registration asked as
// conditional, by a session that checked a password in the last 5 minutes;
// every other registration still needs user presence.

const metrics = captureMetricsPerTest();
const GOOGLE_PASSWORD_MANAGER = "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4";

afterEach(() => vi.restoreAllMocks());

function conditionalOptions(user: TestUser) {
	return call<{ creation_options: PublicKeyCredentialCreationOptionsJSON }>(
		"GET",
		"/api/webauthn/register/options/?conditional=true",
		{ token: user.token },
	);
}

async function createConditionally(user: TestUser, authenticator: SoftAuthenticator, overrides: CreateOverrides = {}) {
	const options = await conditionalOptions(user);
	expect(options.status).toBe(200);
	const credential = await authenticator.createCredential(options.body.creation_options, {
		flags: { up: false },
		...overrides,
	});
	return call<{ passkey: { name: string; passwordless: boolean }; recovery_codes?: string[] }>(
		"POST",
		"/api/webauthn/register/complete/",
		{ token: user.token, body: { credential } },
	);
}

describe("conditional create after a password sign-in", () => {
	it("accepts a passkey made without user presence, named after its authenticator, that then signs in alone", async () => {
		const user = await signUp();
		const options = await conditionalOptions(user);
		expect(options.body.creation_options.authenticatorSelection).toMatchObject({
			residentKey: "required",
			requireResidentKey: true,
			userVerification: "preferred",
		});
		const authenticator = new SoftAuthenticator({ aaguid: GOOGLE_PASSWORD_MANAGER });
		const created = await createConditionally(user, authenticator);
		expect(created.status).toBe(201);
		expect(created.body.passkey).toMatchObject({ name: "Google Password Manager", passwordless: true });
		// The user's first authenticator: the codes come with it, as always.
		expect(created.body.recovery_codes).toHaveLength(10);
		const signedIn = await postSignIn(await signInAssertion(authenticator));
		expect(signedIn.status).toBe(200);
	});

	it("keeps a passkey made without user verification as a second factor", async () => {
		const user = await signUp();
		const created = await createConditionally(user, new SoftAuthenticator({ userVerification: false }));
		expect(created.status).toBe(201);
		expect(created.body.passkey.passwordless).toBe(false);
	});

	it("still refuses a response without user presence to an ordinary registration", async () => {
		for (const passwordless of [false, true]) {
			const user = await signUp();
			const { response } = await registerPasskey(user, new SoftAuthenticator(), {
				passwordless,
				overrides: { flags: { up: false } },
			});
			expectError(response, 400, "verification_failed");
		}
		expect(metrics.failureReasons("webauthn.registration.failed")).toEqual(["user_presence", "user_presence"]);
	});

	it("is not offered to a session whose password check is more than 5 minutes old", async () => {
		const start = Date.now();
		const move = freezeClock(start);
		const user = await signUp();
		const authenticator = new SoftAuthenticator();
		expect((await registerPasskey(user, authenticator)).response.status).toBe(201);

		// A passkey check at minute 4 keeps the session recent; the password stays at minute 0.
		move(start + 4 * MINUTE);
		expect((await verifyPasskey(user.token, authenticator)).status).toBe(200);
		const options = await conditionalOptions(user);
		expect(options.status).toBe(200);

		// Answered at 5.5 minutes: the password is too old by then.
		move(start + 5.5 * MINUTE);
		const late = await new SoftAuthenticator().createCredential(options.body.creation_options, {
			flags: { up: false },
		});
		const refused = await call("POST", "/api/webauthn/register/complete/", {
			token: user.token,
			body: { credential: late },
		});
		expectError(refused, 400, "verification_failed");
		expect(metrics.failureReasons("webauthn.registration.failed")).toEqual(["password_not_recent"]);
		expectError(await conditionalOptions(user), 401, "reauthentication_required");
		// An ordinary registration is still open to the recent session.
		expect((await call("GET", "/api/webauthn/register/options/", { token: user.token })).status).toBe(200);
	});

	it("is not offered to a session that never checked a password", async () => {
		const owner = await signUp();
		const authenticator = new SoftAuthenticator();
		await registerPasskey(owner, authenticator, { passwordless: true });
		const signedIn = await postSignIn(await signInAssertion(authenticator));
		const token = signedIn.body.session_token ?? "";
		expectError(await conditionalOptions({ ...owner, token }), 401, "reauthentication_required");
	});

	it("refuses a credential the authenticator keeps on the server side, and `conditional` with `passwordless`", async () => {
		const user = await signUp();
		const options = await conditionalOptions(user);
		const credential = await new SoftAuthenticator().createCredential(options.body.creation_options, {
			flags: { up: false },
		});
		const notDiscoverable = { ...credential, clientExtensionResults: { credProps: { rk: false } } };
		expectError(
			await call("POST", "/api/webauthn/register/complete/", {
				token: user.token,
				body: { credential: notDiscoverable },
			}),
			400,
			"verification_failed",
		);
		expect(metrics.failureReasons("webauthn.registration.failed")).toEqual(["not_discoverable"]);
		expectError(
			await call("GET", "/api/webauthn/register/options/?conditional=true&passwordless=true", { token: user.token }),
			400,
			"invalid_request",
		);
	});
});
