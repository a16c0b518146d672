import { afterEach, describe, expect, it, vi } from "vitest";
import { captureMetrics, EVENTS, type RecordedPoint, stopCapturingMetrics } from "../../src/lib/metrics";
import { totpCodeAt } from "../../src/lib/totp";
import { call, signUp } from "../helpers/api";
import { freezeClock } from "../helpers/time";
import {
	codeFor,
	currentStep,
	midStep,
	partialToken,
	totpActivate,
	totpSetup,
	verifyRecoveryCode,
	verifyTotp,
	wrongCodeFor,
} from "../helpers/totp";

// API.md, Metrics: one data point per event, indexes [event], blobs [event,
// outcome, reason, method, client], doubles [1, duration_ms]. Analytics
// Engine is readable by whoever runs dashboards, so no point may carry a
// code, a secret, an email or a token.

afterEach(() => {
	vi.restoreAllMocks();
	stopCapturingMetrics();
});

function expectWellFormed(point: RecordedPoint) {
	expect(point.indexes).toHaveLength(1);
	expect(point.blobs).toHaveLength(5);
	expect(point.doubles).toHaveLength(2);
	expect(point.indexes[0]).toBe(point.blobs[0]);
	expect(EVENTS).toContain(point.blobs[0]);
	expect(["success", "failure", "blocked"]).toContain(point.blobs[1]);
	expect(["app", "browser"]).toContain(point.blobs[4]);
	expect(point.doubles[0]).toBe(1);
	expect(point.doubles[1]).toBeGreaterThanOrEqual(0);
}

describe("metrics of the TOTP and recovery-code routes", () => {
	it("records every event with its outcome, and no code, secret, email or token", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const user = await signUp();
		const metrics = captureMetrics();

		const setup = await totpSetup({ token: user.token });
		const secret = setup.body.secret;
		const activationCode = await totpCodeAt(secret, currentStep());
		const activated = await totpActivate({ token: user.token }, activationCode);
		const recoveryCodes = activated.body.recovery_codes ?? [];

		move(start + 30_000);
		const first = await partialToken(user);
		const wrongTotp = await wrongCodeFor(secret);
		await verifyTotp(first, wrongTotp);
		const goodTotp = await codeFor(secret);
		const verified = await verifyTotp(first, goodTotp);
		const fullToken = verified.body.session_token ?? "";

		const second = await partialToken(user);
		await verifyRecoveryCode(second, "zzzz-zzzz-zzzz");
		await verifyRecoveryCode(second, recoveryCodes[0]);

		const regenerated = await call<{ recovery_codes: string[] }>("POST", "/api/recovery-codes/regenerate/", {
			token: user.token,
		});

		const ours = metrics.filter((point) => !point.blobs[0]?.startsWith("auth."));
		expect(ours.map((point) => point.blobs)).toEqual([
			["totp.activate.success", "success", "", "totp", "app"],
			["recovery_codes.generated", "success", "first_authenticator", "recovery_code", "app"],
			["totp.verify.failed", "failure", "wrong_or_used_code", "totp", "app"],
			["totp.verify.success", "success", "", "totp", "app"],
			["recovery_code.verify.failed", "failure", "wrong_or_used_code", "recovery_code", "app"],
			["recovery_code.verify.success", "success", "", "recovery_code", "app"],
			["recovery_codes.generated", "success", "regenerated", "recovery_code", "app"],
		]);
		for (const point of metrics) expectWellFormed(point);

		const secrets = [
			secret,
			secret.toLowerCase(),
			activationCode,
			wrongTotp,
			goodTotp,
			user.email,
			user.token,
			first,
			second,
			fullToken,
			...recoveryCodes,
			...recoveryCodes.map((code) => code.replaceAll("-", "")),
			...(regenerated.body.recovery_codes ?? []),
		];
		const everything = JSON.stringify(metrics);
		for (const value of secrets) {
			expect(value.length).toBeGreaterThan(0);
			expect(everything).not.toContain(value);
		}
	});

	it("labels a browser's verify with client browser", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const user = await signUp();
		const setup = await totpSetup({ token: user.token });
		await totpActivate({ token: user.token }, await codeFor(setup.body.secret));
		move(start + 30_000);
		const login = await call("POST", "/api/auth/login/", {
			origin: "http://localhost:8787",
			body: { email: user.email, password: "correct horse battery staple" },
		});
		const cookie =
			login.headers
				.getSetCookie()
				.find((line) => line.startsWith("__Host-pe_session="))
				?.split(";")[0] ?? "";
		const metrics = captureMetrics();
		await call("POST", "/api/totp/verify/", { cookie, body: { code: await codeFor(setup.body.secret) } });
		expect(metrics.map((point) => point.blobs)).toEqual([["totp.verify.success", "success", "", "totp", "browser"]]);
	});
});
