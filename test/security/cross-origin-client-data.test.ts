import { describe, expect, it } from "vitest";
import { signUp } from "../helpers/api";
import { type CreateOverrides, type GetOverrides, SoftAuthenticator } from "../helpers/authenticator";
import { partialLogin, passkeyCount, registerPasskey, userWithPasskey, verifyPasskey } from "../helpers/flows";
import { captureMetricsPerTest } from "../helpers/metrics";
import {
	expectRefused,
	fullSessions,
	postSignIn,
	signInAssertion,
	userWithDiscoverablePasskey,
} from "../helpers/passwordless";

// Ceremonies are same-origin only. The client data is JSON the client writes,
// so only an absent `crossOrigin` or the JSON `false` passes: a string
// "true" is truthy, not `true`, and slipped past a check for `=== true`.
// `topOrigin` only means something for a cross-origin ceremony, so it is
// refused wherever it appears.

const metrics = captureMetricsPerTest();

const REFUSED: [string, ClientDataCase][] = [
	['crossOrigin: "true"', { crossOrigin: "true" }],
	["crossOrigin: 1", { crossOrigin: 1 }],
	['crossOrigin: "false"', { crossOrigin: "false" }],
	["crossOrigin: {}", { crossOrigin: {} }],
	["topOrigin without crossOrigin", { crossOrigin: null, topOrigin: "https://evil.example" }],
	["topOrigin with crossOrigin: false", { crossOrigin: false, topOrigin: "http://localhost:8787" }],
];

type ClientDataCase = Pick<CreateOverrides & GetOverrides, "crossOrigin" | "topOrigin">;

describe("registration", () => {
	it.each(REFUSED)("refuses %s with verification_failed and stores nothing", async (_, overrides) => {
		const user = await signUp();
		const { response } = await registerPasskey(user, new SoftAuthenticator(), { overrides });
		expectRefused(response, 400, "verification_failed");
		expect(await passkeyCount(user.id)).toBe(0);
		expect(metrics.failureReasons("webauthn.registration.failed")).toEqual(["cross_origin"]);
	});

	it("accepts client data without crossOrigin", async () => {
		const user = await signUp();
		const { response } = await registerPasskey(user, new SoftAuthenticator(), { overrides: { crossOrigin: null } });
		expect(response.status).toBe(201);
	});
});

describe("second-factor verify", () => {
	it.each(REFUSED)("refuses %s with verification_failed", async (_, overrides) => {
		const { user, authenticator } = await userWithPasskey();
		const response = await verifyPasskey(await partialLogin(user), authenticator, overrides);
		expectRefused(response, 400, "verification_failed");
		expect(metrics.failureReasons("webauthn.verify.failed")).toEqual(["cross_origin"]);
	});

	it("accepts client data without crossOrigin", async () => {
		const { user, authenticator } = await userWithPasskey();
		const response = await verifyPasskey(await partialLogin(user), authenticator, { crossOrigin: null });
		expect(response.status).toBe(200);
	});
});

describe("passwordless sign-in", () => {
	it.each(REFUSED)("refuses %s with verification_failed and opens no session", async (_, overrides) => {
		const { user, authenticator } = await userWithDiscoverablePasskey();
		const before = await fullSessions(user.id);
		const response = await postSignIn(await signInAssertion(authenticator, overrides));
		expectRefused(response, 400, "verification_failed");
		expect(await fullSessions(user.id)).toBe(before);
		expect(metrics.failureReasons("webauthn.login.failed")).toEqual(["cross_origin"]);
	});
});
