import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { captureMetrics, type RecordedPoint, stopCapturingMetrics } from "../../src/lib/metrics";
import { call, signUp } from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import {
	authenticationOptions,
	browserLogin,
	browserSignUp,
	partialLogin,
	registerPasskey,
	sessionCookie,
	verifyPasskey,
} from "../helpers/flows";

// API.md: one data point per event, indexes [event], blobs [event, outcome,
// reason, method, client], doubles [1, duration_ms]. Blobs carry fixed labels
// only: never an email, a code, a credential id or a token.

let points: RecordedPoint[];
beforeEach(() => {
	points = captureMetrics();
});
afterEach(() => {
	stopCapturingMetrics();
});

function expectShape(point: RecordedPoint | undefined): void {
	expect(point?.indexes).toHaveLength(1);
	expect(point?.blobs).toHaveLength(5);
	expect(point?.blobs[0]).toBe(point?.indexes[0]);
	expect(point?.doubles).toHaveLength(2);
	expect(point?.doubles[0]).toBe(1);
	expect(point?.doubles[1]).toBeGreaterThanOrEqual(0);
}

function only(event: string): RecordedPoint[] {
	return points.filter((p) => p.indexes[0] === event);
}

describe("passkey metrics", () => {
	it("writes webauthn.registration.success and recovery_codes.generated for the first passkey", async () => {
		const user = await signUp();
		points.length = 0;
		await registerPasskey(user);
		expect(points.map((p) => p.blobs)).toEqual([
			["webauthn.registration.success", "success", "", "webauthn", "app"],
			["recovery_codes.generated", "success", "first_authenticator", "recovery_code", "app"],
		]);
		for (const point of points) expectShape(point);
	});

	it("writes only webauthn.registration.success for a second passkey", async () => {
		const user = await signUp();
		await registerPasskey(user);
		points.length = 0;
		await registerPasskey(user);
		expect(points.map((p) => p.indexes[0])).toEqual(["webauthn.registration.success"]);
	});

	it("writes webauthn.registration.failed with the reason for a refused registration", async () => {
		const user = await signUp();
		points.length = 0;
		const { response } = await registerPasskey(user, new SoftAuthenticator(), { overrides: { crossOrigin: true } });
		expect(response.status).toBe(400);
		expect(points.map((p) => p.blobs)).toEqual([
			["webauthn.registration.failed", "failure", "cross_origin", "webauthn", "app"],
		]);
		expectShape(points[0]);
	});

	it("writes webauthn.verify.failed and webauthn.verify.success, labelled with the client", async () => {
		const authenticator = new SoftAuthenticator();
		const user = await signUp();
		await registerPasskey(user, authenticator);
		const partial = await partialLogin(user);
		points.length = 0;
		expect((await verifyPasskey(partial, authenticator, { badSignature: true })).status).toBe(400);
		expect((await verifyPasskey(partial, authenticator)).status).toBe(200);
		expect(points.map((p) => p.blobs)).toEqual([
			["webauthn.verify.failed", "failure", "signature", "webauthn", "app"],
			["webauthn.verify.success", "success", "", "webauthn", "app"],
		]);
		for (const point of points) expectShape(point);
	});

	it("labels a browser's points as browser", async () => {
		const user = await browserSignUp();
		const authenticator = new SoftAuthenticator();
		points.length = 0;
		await registerPasskey({ id: user.id, email: user.email, token: "" }, authenticator, {
			auth: { cookie: user.cookie },
		});
		const partial = await browserLogin(user.email);
		const options = await call<{ request_options: Parameters<SoftAuthenticator["getAssertion"]>[0] }>(
			"GET",
			"/api/webauthn/authenticate/options/",
			{ cookie: partial },
		);
		const credential = await authenticator.getAssertion(options.body.request_options);
		const verified = await call("POST", "/api/webauthn/verify/", { cookie: partial, body: { credential } });
		expect(sessionCookie(verified.headers)).not.toBeNull();
		const labelled = points.filter(
			(p) => p.indexes[0]?.startsWith("webauthn.") || p.indexes[0]?.startsWith("recovery"),
		);
		expect(labelled.map((p) => p.indexes[0])).toEqual([
			"webauthn.registration.success",
			"recovery_codes.generated",
			"webauthn.verify.success",
		]);
		expect(labelled.every((p) => p.blobs[4] === "browser")).toBe(true);
	});

	it("puts no email, recovery code, credential id, passkey id, token or challenge in any blob", async () => {
		const authenticator = new SoftAuthenticator({ credentialIdLength: 16 });
		const user = await signUp();
		const first = await registerPasskey(user, authenticator);
		const second = await registerPasskey(user, new SoftAuthenticator(), { overrides: { crossOrigin: true } });
		const partial = await partialLogin(user);
		const options = await authenticationOptions(partial);
		const forged = await authenticator.getAssertion(options, { badSignature: true });
		await call("POST", "/api/webauthn/verify/", { token: partial, body: { credential: forged } });
		const verified = await verifyPasskey(partial, authenticator);
		const token = verified.body.session_token ?? "";
		await call("DELETE", `/api/webauthn/${first.response.body.passkey.id}/`, { token });

		const secrets = [
			user.email,
			user.email.split("@")[0] ?? user.email,
			user.id,
			user.token,
			partial,
			token,
			options.challenge,
			first.options.challenge,
			first.response.body.passkey.id,
			first.response.body.passkey.credential_id,
			second.credential.id,
			...(first.response.body.recovery_codes ?? []),
			...(first.response.body.recovery_codes ?? []).map((code) => code.replace(/-/g, "")),
		];
		expect(points.length).toBeGreaterThanOrEqual(6);
		for (const point of points) {
			expectShape(point);
			for (const blob of point.blobs) {
				for (const secret of secrets) {
					expect(secret.length).toBeGreaterThan(0);
					expect(blob.toLowerCase().includes(secret.toLowerCase()), `${blob} holds ${secret}`).toBe(false);
				}
			}
		}
		expect(only("recovery_codes.generated")).toHaveLength(1);
		expect(only("webauthn.registration.failed")).toHaveLength(1);
		expect(only("webauthn.verify.failed")).toHaveLength(1);
		expect(only("webauthn.verify.success")).toHaveLength(1);
	});
});
