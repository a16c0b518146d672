import type { AuthenticationResponseJSON, RegistrationResponseJSON } from "@simplewebauthn/server";
import { isoBase64URL, isoCBOR } from "@simplewebauthn/server/helpers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MINUTE } from "../../src/lib/clock";
import { captureMetrics, type RecordedPoint, stopCapturingMetrics } from "../../src/lib/metrics";
import { signUp } from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import {
	authenticationOptions,
	completeRegistration,
	partialLogin,
	passkeyCount,
	postVerify,
	registrationOptions,
	setClock,
	userWithPasskey,
} from "../helpers/flows";

// Each challenge is single-use, bound to its session and its ceremony, and
// lives 5 minutes. The first well-formed verify that presents it consumes it,
// pass or fail; a malformed request is refused before it is touched.

type CBORValue = Parameters<typeof isoCBOR.encode>[0];

let points: RecordedPoint[];
beforeEach(() => {
	points = captureMetrics();
});
afterEach(() => {
	stopCapturingMetrics();
	vi.restoreAllMocks();
});

function verifyFailures(): string[] {
	return points.filter((p) => p.indexes[0] === "webauthn.verify.failed").map((p) => p.blobs[2] ?? "");
}

function bytes(text: string): Uint8Array<ArrayBuffer> {
	return Uint8Array.from(new TextEncoder().encode(text));
}

describe("a verify challenge", () => {
	it("is single-use: the same assertion a second time gets challenge_expired", async () => {
		const { user, authenticator } = await userWithPasskey();
		// A full session keeps its token, so the replay comes from the same session.
		const options = await authenticationOptions(user.token);
		const credential = await authenticator.getAssertion(options);
		expect((await postVerify(user.token, credential)).status).toBe(200);
		const replay = await postVerify(user.token, credential);
		expect(replay.status).toBe(400);
		expect(replay.body).toEqual({ success: false, code: "challenge_expired", message: expect.any(String) });
		expect(verifyFailures()).toEqual(["challenge_unknown"]);
	});

	it("expires after 5 minutes", async () => {
		const start = Date.UTC(2034, 1, 1, 12, 0, 0);
		setClock(start);
		const { user, authenticator } = await userWithPasskey();
		const partial = await partialLogin(user);
		const options = await authenticationOptions(partial);
		const credential = await authenticator.getAssertion(options);
		setClock(start + 5 * MINUTE + 1);
		const late = await postVerify(partial, credential);
		expect(late.status).toBe(400);
		expect(late.body).toMatchObject({ code: "challenge_expired" });
	});

	it("still works just under 5 minutes", async () => {
		const start = Date.UTC(2034, 1, 1, 13, 0, 0);
		setClock(start);
		const { user, authenticator } = await userWithPasskey();
		const partial = await partialLogin(user);
		const options = await authenticationOptions(partial);
		const credential = await authenticator.getAssertion(options);
		setClock(start + 5 * MINUTE - 1);
		expect((await postVerify(partial, credential)).status).toBe(200);
	});

	it("is bound to its session: options from session A, verify from session B gets challenge_expired", async () => {
		const { user, authenticator } = await userWithPasskey();
		const sessionA = await partialLogin(user);
		const sessionB = await partialLogin(user);
		const options = await authenticationOptions(sessionA);
		const credential = await authenticator.getAssertion(options);
		const refused = await postVerify(sessionB, credential);
		expect(refused.status).toBe(400);
		expect(refused.body).toMatchObject({ code: "challenge_expired" });
		expect(verifyFailures()).toEqual(["challenge_unknown"]);
	});

	it("is bound to its user: another user's session cannot answer it", async () => {
		const alice = await userWithPasskey();
		const bob = await userWithPasskey();
		const options = await authenticationOptions(await partialLogin(alice.user));
		const credential = await bob.authenticator.getAssertion(options, { credentialId: bob.passkey.credential_id });
		const refused = await postVerify(await partialLogin(bob.user), credential);
		expect(refused.status).toBe(400);
		expect(refused.body).toMatchObject({ code: "challenge_expired" });
	});

	it("is consumed by a failed verify: a bad signature, then the correct assertion, gets challenge_expired", async () => {
		const { user, authenticator } = await userWithPasskey();
		const partial = await partialLogin(user);
		const options = await authenticationOptions(partial);
		const forged = await authenticator.getAssertion(options, { badSignature: true });
		expect((await postVerify(partial, forged)).status).toBe(400);
		const genuine = await authenticator.getAssertion(options);
		const late = await postVerify(partial, genuine);
		expect(late.status).toBe(400);
		expect(late.body).toMatchObject({ code: "challenge_expired" });
		expect(verifyFailures()).toEqual(["signature", "challenge_unknown"]);
	});
});

describe("a challenge is bound to its ceremony", () => {
	it("a registration challenge cannot be answered at verify (no verify pending: challenge_expired)", async () => {
		const { user, authenticator } = await userWithPasskey();
		const creation = await registrationOptions({ token: user.token });
		const credential = await authenticator.getAssertion({ challenge: creation.challenge, rpId: "localhost" });
		const refused = await postVerify(user.token, credential);
		expect(refused.status).toBe(400);
		expect(refused.body).toMatchObject({ code: "challenge_expired" });
	});

	it("a registration challenge cannot be answered at verify (verify pending: verification_failed)", async () => {
		const { user, authenticator } = await userWithPasskey();
		const request = await authenticationOptions(user.token);
		const creation = await registrationOptions({ token: user.token });
		const credential = await authenticator.getAssertion({ ...request, challenge: creation.challenge });
		const refused = await postVerify(user.token, credential);
		expect(refused.status).toBe(400);
		expect(refused.body).toMatchObject({ code: "verification_failed" });
		// The registration challenge is still the registration's to use.
		const registered = await completeRegistration(
			{ token: user.token },
			await new SoftAuthenticator().createCredential(creation),
		);
		expect(registered.status).toBe(201);
	});

	it("a verify challenge cannot be answered at registration", async () => {
		const user = await signUp();
		const { user: withKey } = await userWithPasskey();
		const request = await authenticationOptions(withKey.token);
		const creation = await registrationOptions({ token: user.token });
		// Answer user's creation options, but with the challenge of a verify ceremony.
		const credential = await new SoftAuthenticator().createCredential(creation, { challenge: request.challenge });
		const refused = await completeRegistration({ token: user.token }, credential);
		expect(refused.status).toBe(400);
		expect(refused.body).toMatchObject({ code: "verification_failed" });
		expect(await passkeyCount(user.id)).toBe(0);
	});

	it("registration without options gets challenge_expired", async () => {
		const user = await signUp();
		const other = await signUp();
		const creation = await registrationOptions({ token: other.token });
		const credential = await new SoftAuthenticator().createCredential(creation);
		const refused = await completeRegistration({ token: user.token }, credential);
		expect(refused.status).toBe(400);
		expect(refused.body).toMatchObject({ code: "challenge_expired" });
	});

	it("registration challenges are single-use", async () => {
		const user = await signUp();
		const creation = await registrationOptions({ token: user.token });
		const authenticator = new SoftAuthenticator();
		expect(
			(await completeRegistration({ token: user.token }, await authenticator.createCredential(creation))).status,
		).toBe(201);
		const again = await completeRegistration({ token: user.token }, await authenticator.createCredential(creation));
		expect(again.status).toBe(400);
		expect(again.body).toMatchObject({ code: "challenge_expired" });
		expect(await passkeyCount(user.id)).toBe(1);
	});

	it("registration challenges expire after 5 minutes", async () => {
		const start = Date.UTC(2034, 2, 1);
		setClock(start);
		const user = await signUp();
		const creation = await registrationOptions({ token: user.token });
		const credential = await new SoftAuthenticator().createCredential(creation);
		// Keep the session recent, so only the challenge's age is in play.
		setClock(start + 5 * MINUTE);
		const late = await completeRegistration({ token: user.token }, credential);
		expect(late.status).toBe(400);
		expect(late.body).toMatchObject({ code: "challenge_expired" });
	});
});

describe("malformed input", () => {
	const malformedAssertions: Array<[string, (c: AuthenticationResponseJSON) => AuthenticationResponseJSON]> = [
		["clientDataJSON that is not base64url", (c) => ({ ...c, response: { ...c.response, clientDataJSON: "e30=" } })],
		[
			"clientDataJSON of an impossible base64url length",
			(c) => ({ ...c, response: { ...c.response, clientDataJSON: `${c.response.clientDataJSON}A`.slice(0, 5) } }),
		],
		[
			"clientDataJSON that is not JSON",
			(c) => ({ ...c, response: { ...c.response, clientDataJSON: isoBase64URL.fromBuffer(bytes("not json")) } }),
		],
		[
			"clientDataJSON without a challenge",
			(c) => ({
				...c,
				response: {
					...c.response,
					clientDataJSON: isoBase64URL.fromBuffer(bytes('{"type":"webauthn.get","origin":"http://localhost:8787"}')),
				},
			}),
		],
		[
			"truncated authenticatorData",
			(c) => ({
				...c,
				response: {
					...c.response,
					authenticatorData: isoBase64URL.fromBuffer(isoBase64URL.toBuffer(c.response.authenticatorData).slice(0, 20)),
				},
			}),
		],
		[
			"authenticatorData with leftover bytes",
			(c) => ({
				...c,
				response: {
					...c.response,
					authenticatorData: isoBase64URL.fromBuffer(
						Uint8Array.from([...isoBase64URL.toBuffer(c.response.authenticatorData), 1, 2, 3]),
					),
				},
			}),
		],
		["a signature that is not base64url", (c) => ({ ...c, response: { ...c.response, signature: "A" } })],
		["an id that differs from rawId", (c) => ({ ...c, id: `${c.id}A` })],
	];

	it("at verify answers 400 invalid_request, uses no challenge and counts no attempt", async () => {
		const { user, authenticator } = await userWithPasskey();
		const partial = await partialLogin(user);
		const options = await authenticationOptions(partial);
		const genuine = await authenticator.getAssertion(options);
		// More malformed requests than the 5-attempt limit: none of them may count.
		for (const [label, mutate] of malformedAssertions) {
			const response = await postVerify(partial, mutate(genuine));
			expect(response.status, label).toBe(400);
			expect(response.body, label).toMatchObject({ success: false, code: "invalid_request" });
		}
		expect(verifyFailures()).toEqual([]);
		const verified = await postVerify(partial, genuine);
		expect(verified.status).toBe(200);
		expect(verified.body.session.level).toBe("full");
	});

	function withAttestation(
		c: RegistrationResponseJSON,
		edit: (attestation: Map<string, CBORValue>) => void,
	): RegistrationResponseJSON {
		const attestation = isoCBOR.decodeFirst<Map<string, CBORValue>>(
			isoBase64URL.toBuffer(c.response.attestationObject),
		);
		edit(attestation);
		return {
			...c,
			response: { ...c.response, attestationObject: isoBase64URL.fromBuffer(isoCBOR.encode(attestation)) },
		};
	}

	const malformedRegistrations: Array<[string, (c: RegistrationResponseJSON) => RegistrationResponseJSON]> = [
		[
			"a garbage CBOR attestationObject",
			(c) => ({
				...c,
				response: { ...c.response, attestationObject: isoBase64URL.fromBuffer(Uint8Array.of(0xff, 0x1c, 0x00)) },
			}),
		],
		[
			"an attestationObject that is a CBOR string, not a map",
			(c) => ({
				...c,
				response: { ...c.response, attestationObject: isoBase64URL.fromBuffer(bytes("not cbor at all")) },
			}),
		],
		[
			"an attestationObject that is not base64url",
			(c) => ({ ...c, response: { ...c.response, attestationObject: "o2Nm+A" } }),
		],
		[
			"truncated authenticator data inside the attestation",
			(c) =>
				withAttestation(c, (a) => {
					a.set("authData", (a.get("authData") as Uint8Array).slice(0, 40));
				}),
		],
		[
			"authenticator data without attested credential data",
			(c) =>
				withAttestation(c, (a) => {
					const authData = (a.get("authData") as Uint8Array).slice(0, 37);
					authData[32] = (authData[32] ?? 0) & ~0x40;
					a.set("authData", authData);
				}),
		],
		[
			"clientDataJSON that is not JSON",
			(c) => ({ ...c, response: { ...c.response, clientDataJSON: isoBase64URL.fromBuffer(bytes("<html>")) } }),
		],
	];

	it("at registration answers 400 invalid_request and uses no challenge", async () => {
		const user = await signUp();
		const options = await registrationOptions({ token: user.token });
		const genuine = await new SoftAuthenticator().createCredential(options);
		for (const [label, mutate] of malformedRegistrations) {
			const response = await completeRegistration({ token: user.token }, mutate(genuine));
			expect(response.status, label).toBe(400);
			expect(response.body, label).toMatchObject({ success: false, code: "invalid_request" });
		}
		expect(points.filter((p) => p.indexes[0] === "webauthn.registration.failed")).toEqual([]);
		expect((await completeRegistration({ token: user.token }, genuine)).status).toBe(201);
	});
});
