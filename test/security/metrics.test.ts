import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { captureMetrics, type RecordedPoint, stopCapturingMetrics } from "../../src/lib/metrics";
import { call, logIn, ORIGIN, PASSWORD, signUp, uniqueEmail } from "../helpers/api";

// API.md: each event writes one Analytics Engine data point with
// indexes [event], blobs [event, outcome, reason, method, client] and
// doubles [1, duration_ms]. Points are kept for long and read by many, so no
// email, password or token may ever be in one.

let points: RecordedPoint[];

beforeEach(() => {
	points = captureMetrics();
});

afterEach(() => {
	stopCapturingMetrics();
});

function pointsFor(event: string): RecordedPoint[] {
	return points.filter((point) => point.indexes[0] === event);
}

function expectShape(point: RecordedPoint | undefined, blobs: string[]): void {
	expect(point).toBeDefined();
	if (!point) return;
	expect(point.indexes).toEqual([blobs[0]]);
	expect(point.blobs).toEqual(blobs);
	expect(point.doubles).toHaveLength(2);
	expect(point.doubles[0]).toBe(1);
	expect(point.doubles[1]).toBeGreaterThanOrEqual(0);
	expect(Number.isFinite(point.doubles[1])).toBe(true);
}

function expectNoSecrets(secrets: string[]): void {
	const everything = JSON.stringify(points);
	for (const secret of secrets) {
		expect(everything).not.toContain(secret);
		expect(everything.toLowerCase()).not.toContain(secret.toLowerCase());
	}
}

describe("metrics for password sign-in", () => {
	it("writes one auth.login.success point for a login, labelled with the client", async () => {
		const user = await signUp();
		points.length = 0;
		expect((await logIn(user.email)).status).toBe(200);

		expect(points).toHaveLength(1);
		expectShape(points[0], ["auth.login.success", "success", "", "password", "app"]);
		expectNoSecrets([user.email, PASSWORD, user.token]);
	});

	it("labels a browser login as browser", async () => {
		const user = await signUp();
		points.length = 0;
		const response = await call("POST", "/api/auth/login", {
			origin: ORIGIN,
			body: { email: user.email, password: PASSWORD },
		});
		expect(response.status).toBe(200);
		expectShape(pointsFor("auth.login.success")[0], ["auth.login.success", "success", "", "password", "browser"]);
	});

	it("writes one auth.login.failed point for a wrong password and for an unknown email", async () => {
		const user = await signUp();
		const secretGuess = "my very secret guess";
		const unknown = uniqueEmail("nobody");
		points.length = 0;

		expect((await logIn(user.email, secretGuess)).status).toBe(400);
		expect((await logIn(unknown, secretGuess)).status).toBe(400);

		const failed = pointsFor("auth.login.failed");
		expect(failed).toHaveLength(2);
		for (const point of failed) {
			expectShape(point, ["auth.login.failed", "failure", "invalid_credentials", "password", "app"]);
		}
		expect(pointsFor("auth.login.success")).toHaveLength(0);
		expectNoSecrets([user.email, unknown, secretGuess, PASSWORD]);
	});

	it("writes one rate_limit.blocked point, and no failed login, for a login refused by the limiter", async () => {
		const email = uniqueEmail("limited");
		for (let i = 0; i < 10; i++) expect((await logIn(email, "wrong password")).status).toBe(400);
		points.length = 0;

		const blocked = await call("POST", "/api/auth/login", { origin: ORIGIN, body: { email, password: PASSWORD } });
		expect(blocked.status).toBe(429);

		expect(points).toHaveLength(1);
		expectShape(points[0], ["rate_limit.blocked", "blocked", "password", "password", "browser"]);
		expectNoSecrets([email, PASSWORD]);
	});

	it("writes a failed login for a wrong password given to reauthenticate, labelled with the session's client", async () => {
		const user = await signUp();
		points.length = 0;
		const response = await call("POST", "/api/auth/reauthenticate", {
			token: user.token,
			body: { password: "wrong password" },
		});
		expect(response.status).toBe(400);
		expect(points).toHaveLength(1);
		expectShape(points[0], ["auth.login.failed", "failure", "invalid_credentials", "password", "app"]);
		expectNoSecrets([user.email, user.token]);
	});

	it("writes one rate_limit.blocked point for a reauthentication refused by the limiter", async () => {
		const user = await signUp();
		for (let i = 0; i < 10; i++) expect((await logIn(user.email, "wrong password")).status).toBe(400);
		points.length = 0;
		const response = await call("POST", "/api/auth/reauthenticate", {
			token: user.token,
			body: { password: PASSWORD },
		});
		expect(response.status).toBe(429);
		expect(points).toHaveLength(1);
		expectShape(points[0], ["rate_limit.blocked", "blocked", "password", "password", "app"]);
	});

	it("writes no point for a request refused before any password is checked", async () => {
		const user = await signUp();
		points.length = 0;
		expect((await call("POST", "/api/auth/login", { app: true, body: { email: user.email } })).status).toBe(400);
		expect(
			(
				await call("POST", "/api/auth/login", {
					origin: "https://evil.example",
					body: { email: user.email, password: PASSWORD },
				})
			).status,
		).toBe(403);
		expect(points).toEqual([]);
	});
});
