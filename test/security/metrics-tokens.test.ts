import { afterEach, describe, expect, it } from "vitest";
import { captureMetrics, stopCapturingMetrics } from "../../src/lib/metrics";
import { signUp } from "../helpers/api";
import { browserSignUp, partialLogin, userWithPasskey, verifyPasskey } from "../helpers/flows";
import { requestToken, tokenFor } from "../helpers/tokens";

// token.issued: one point per access token, blobs [event, outcome, reason,
// method, client] with the token's assurance level as the reason and its
// amr as the method. The token itself, the session token and the email
// never appear in a point.

afterEach(() => {
	stopCapturingMetrics();
});

describe("metrics of POST /api/auth/token/", () => {
	it("records token.issued with the level and the methods, and no token or email", async () => {
		const user = await signUp();
		const points = captureMetrics();
		const jwt = await tokenFor({ token: user.token });

		expect(points).toHaveLength(1);
		expect(points[0]).toEqual({
			indexes: ["token.issued"],
			blobs: ["token.issued", "success", "aal1", "pwd", "app"],
			doubles: [1, expect.any(Number)],
		});
		const everything = JSON.stringify(points);
		for (const secret of [jwt, user.token, user.email, user.id]) expect(everything).not.toContain(secret);
	});

	it("labels a two-factor session aal2 with all its methods, and a browser as browser", async () => {
		const { user, authenticator } = await userWithPasskey();
		const verified = await verifyPasskey(await partialLogin(user), authenticator);
		const points = captureMetrics();
		await tokenFor({ token: verified.body.session_token as string });
		expect(points.map((point) => point.blobs)).toEqual([
			["token.issued", "success", "aal2", "pwd hwk user mfa", "app"],
		]);

		const browser = await browserSignUp();
		points.length = 0;
		await tokenFor({ cookie: browser.cookie });
		expect(points.map((point) => point.blobs)).toEqual([["token.issued", "success", "aal1", "pwd", "browser"]]);
	});

	it("records nothing when no token is issued", async () => {
		const { user } = await userWithPasskey();
		const partial = await partialLogin(user);
		const points = captureMetrics();
		expect((await requestToken({ token: partial })).status).toBe(403);
		expect((await requestToken({ token: "nope" })).status).toBe(401);
		expect(points).toEqual([]);
	});
});
