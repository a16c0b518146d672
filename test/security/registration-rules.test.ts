import type { RegistrationResponseJSON } from "@simplewebauthn/server";
import { isoBase64URL, isoCBOR } from "@simplewebauthn/server/helpers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { captureMetrics, type RecordedPoint, stopCapturingMetrics } from "../../src/lib/metrics";
import { signUp, type TestUser } from "../helpers/api";
import { type CreateOverrides, SoftAuthenticator } from "../helpers/authenticator";
import {
	completeRegistration,
	partialLogin,
	passkeyCount,
	passkeyRow,
	registrationOptions,
	verifyPasskey,
	withCoseAlgorithm,
} from "../helpers/flows";

// The rules @simplewebauthn/server leaves to the application, and the ones it
// enforces that we rely on. Every refusal must store nothing and record a
// `webauthn.registration.failed` point.

type CBORValue = Parameters<typeof isoCBOR.encode>[0];

let points: RecordedPoint[];
beforeEach(() => {
	points = captureMetrics();
});
afterEach(() => {
	stopCapturingMetrics();
});

async function attempt(
	authenticator: SoftAuthenticator,
	overrides: CreateOverrides = {},
	tamper: (credential: RegistrationResponseJSON) => RegistrationResponseJSON = (c) => c,
	user?: TestUser,
) {
	const owner = user ?? (await signUp());
	const options = await registrationOptions({ token: owner.token });
	const credential = tamper(await authenticator.createCredential(options, overrides));
	const response = await completeRegistration({ token: owner.token }, credential);
	return { user: owner, options, credential, response };
}

async function expectRefused(result: Awaited<ReturnType<typeof attempt>>, reason: string) {
	expect(result.response.status).toBe(400);
	expect(result.response.body).toEqual({
		success: false,
		code: "verification_failed",
		message: expect.any(String),
	});
	expect(await passkeyCount(result.user.id)).toBe(0);
	const failed = points.filter((p) => p.indexes[0] === "webauthn.registration.failed");
	expect(failed.map((p) => p.blobs[2])).toEqual([reason]);
	expect(points.some((p) => p.indexes[0] === "webauthn.registration.success")).toBe(false);
}

function setAttestationFormat(credential: RegistrationResponseJSON, fmt: string): RegistrationResponseJSON {
	const attestation = isoCBOR.decodeFirst<Map<string, CBORValue>>(
		isoBase64URL.toBuffer(credential.response.attestationObject),
	);
	attestation.set("fmt", fmt);
	return {
		...credential,
		response: { ...credential.response, attestationObject: isoBase64URL.fromBuffer(isoCBOR.encode(attestation)) },
	};
}

describe("credential id length", () => {
	it("refuses a credential id of 1024 bytes with verification_failed", async () => {
		const result = await attempt(new SoftAuthenticator({ credentialIdLength: 1024 }));
		await expectRefused(result, "credential_id_too_long");
	});

	it("accepts a credential id of 1023 bytes, and it verifies afterwards", async () => {
		const authenticator = new SoftAuthenticator({ credentialIdLength: 1023 });
		const result = await attempt(authenticator);
		expect(result.response.status).toBe(201);
		expect(isoBase64URL.toBuffer(result.response.body.passkey.credential_id)).toHaveLength(1023);
		const verified = await verifyPasskey(await partialLogin(result.user), authenticator);
		expect(verified.status).toBe(200);
	});
});

describe("client data", () => {
	it("refuses crossOrigin: true", async () => {
		await expectRefused(await attempt(new SoftAuthenticator(), { crossOrigin: true }), "cross_origin");
	});

	it("refuses an origin that is not configured, even one that only differs by scheme or port", async () => {
		for (const origin of ["https://evil.example", "https://localhost:8787", "http://localhost:8788"]) {
			points.length = 0;
			await expectRefused(await attempt(new SoftAuthenticator(), { origin }), "verifier");
		}
	});

	it("refuses a clientData type of webauthn.get", async () => {
		await expectRefused(await attempt(new SoftAuthenticator(), { type: "webauthn.get" }), "verifier");
	});

	it("refuses a clientData challenge the server did not issue for this registration", async () => {
		const other = await signUp();
		const foreign = await registrationOptions({ token: other.token });
		// Verified against the challenge it signed, then held against this session's pending one.
		await expectRefused(await attempt(new SoftAuthenticator(), { challenge: foreign.challenge }), "challenge_mismatch");
	});
});

describe("authenticator data", () => {
	it("refuses an RP ID hash of another RP ID", async () => {
		await expectRefused(await attempt(new SoftAuthenticator(), { rpId: "evil.example" }), "verifier");
	});

	it("refuses a response whose id is not the credential id inside the authenticator data", async () => {
		const other = new Uint8Array(32).fill(7);
		const result = await attempt(new SoftAuthenticator(), { responseId: isoBase64URL.fromBuffer(other) });
		await expectRefused(result, "id_mismatch");
		expect(await passkeyRow(isoBase64URL.fromBuffer(other))).toBeNull();
	});
});

describe("algorithms", () => {
	it("refuses a public key whose COSE algorithm was not offered (ES384)", async () => {
		const result = await attempt(new SoftAuthenticator(), {}, (c) => withCoseAlgorithm(c, -35));
		expect(result.options.pubKeyCredParams.map((p) => p.alg)).not.toContain(-35);
		await expectRefused(result, "algorithm");
	});

	it("refuses RS1 (-65535), which some old authenticators still offer", async () => {
		const result = await attempt(new SoftAuthenticator({ algorithm: "RS256" }), {}, (c) =>
			withCoseAlgorithm(c, -65535),
		);
		await expectRefused(result, "algorithm");
	});

	it("accepts the same rewrite when it keeps an offered algorithm, so the refusal above is about the algorithm", async () => {
		const result = await attempt(new SoftAuthenticator(), {}, (c) => withCoseAlgorithm(c, -7));
		expect(result.response.status).toBe(201);
	});
});

describe("attestation formats", () => {
	it("accepts none", async () => {
		expect((await attempt(new SoftAuthenticator({ attestation: "none" }))).response.status).toBe(201);
	});

	it("accepts packed self-attestation, whose signature is checked with the new key", async () => {
		expect((await attempt(new SoftAuthenticator({ attestation: "packed-self" }))).response.status).toBe(201);
	});

	it("refuses packed self-attestation whose signature does not cover the client data sent", async () => {
		// The statement signs authData || SHA-256(clientDataJSON); one more byte of
		// client data after signing must break it.
		const result = await attempt(new SoftAuthenticator({ attestation: "packed-self" }), {}, (c) => {
			const clientData = new TextDecoder().decode(isoBase64URL.toBuffer(c.response.clientDataJSON));
			const changed = new TextEncoder().encode(`${clientData} `) as Uint8Array<ArrayBuffer>;
			return { ...c, response: { ...c.response, clientDataJSON: isoBase64URL.fromBuffer(changed) } };
		});
		await expectRefused(result, "not_verified");
	});

	it("refuses packed attestation with a certificate chain (x5c)", async () => {
		await expectRefused(await attempt(new SoftAuthenticator({ attestation: "packed-x5c" })), "attestation_format");
	});

	it("refuses format none that carries an attestation statement", async () => {
		const result = await attempt(new SoftAuthenticator({ attestation: "packed-self" }), {}, (c) =>
			setAttestationFormat(c, "none"),
		);
		await expectRefused(result, "attestation_format");
	});

	it("refuses other formats (fido-u2f, tpm, apple, android-key)", async () => {
		for (const fmt of ["fido-u2f", "tpm", "apple", "android-key", "android-safetynet"]) {
			points.length = 0;
			const result = await attempt(new SoftAuthenticator({ attestation: "packed-self" }), {}, (c) =>
				setAttestationFormat(c, fmt),
			);
			await expectRefused(result, "attestation_format");
		}
	});
});

describe("a refused registration", () => {
	it("uses up its challenge: a correct response to the same options then gets challenge_expired", async () => {
		const user = await signUp();
		const options = await registrationOptions({ token: user.token });
		const authenticator = new SoftAuthenticator();
		const bad = await authenticator.createCredential(options, { crossOrigin: true });
		expect((await completeRegistration({ token: user.token }, bad)).status).toBe(400);
		const good = await authenticator.createCredential(options);
		const late = await completeRegistration({ token: user.token }, good);
		expect(late.status).toBe(400);
		expect(late.body).toMatchObject({ code: "challenge_expired" });
		expect(await passkeyCount(user.id)).toBe(0);
	});

	// Our rule (presenceProblem), not the library's: the verifier lets a conditional create through.
	it("is refused without user presence", async () => {
		await expectRefused(await attempt(new SoftAuthenticator({ userPresence: false })), "user_presence");
	});
});
