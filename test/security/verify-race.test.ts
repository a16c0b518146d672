import { describe, expect, it } from "vitest";
import { call } from "../helpers/api";
import { authenticationOptions, partialLogin, postVerify, sessionCount, userWithPasskey } from "../helpers/flows";

// The same assertion posted several times at once. The user's Durable Object
// hands the challenge to exactly one request (a synchronous DELETE …
// RETURNING, no await between check and consume); every other request finds
// no challenge (400 challenge_expired) or, if it reaches the object after the
// winner upgraded the session, no partial session (401 not_authenticated: its
// token was replaced, as API.md says). Only one full session may come out of it.

/** What a loser of the race may be answered: the challenge gone, or the partial session gone. */
function expectLost(response: { status: number; body: unknown }, context: string): void {
	const code = response.status === 400 ? "challenge_expired" : "not_authenticated";
	expect([400, 401], context).toContain(response.status);
	expect(response.body, context).toMatchObject({ code });
}

async function race(copies: number) {
	const { user, authenticator } = await userWithPasskey();
	const partial = await partialLogin(user);
	const credential = await authenticator.getAssertion(await authenticationOptions(partial));
	const responses = await Promise.all(Array.from({ length: copies }, () => postVerify(partial, credential)));
	return { user, responses };
}

/** Of two copies, exactly one verified and the other lost as expectLost allows. */
function expectOneWinnerOfTwo(responses: { status: number; body: unknown }[], context: string): void {
	expect(
		responses.filter((r) => r.status === 200),
		context,
	).toHaveLength(1);
	const refused = responses.find((r) => r.status !== 200);
	if (!refused) throw new Error("no loser");
	expectLost(refused, context);
}

describe("concurrent verifies of one assertion", () => {
	it("with 2 copies: exactly one 200 and one refused, and one full session, 20 times", async () => {
		for (let round = 0; round < 20; round++) {
			const { user, responses } = await race(2);
			expectOneWinnerOfTwo(responses, `round ${round}`);
			// The sign-up session and the one that came out of the verify.
			expect(await sessionCount(user.id, "full"), `round ${round}`).toBe(2);
			expect(await sessionCount(user.id, "partial"), `round ${round}`).toBe(0);
			const winner = responses.find((r) => r.status === 200);
			expect((await call("GET", "/api/webauthn/", { token: winner?.body.session_token })).status).toBe(200);
		}
	});

	it("with 10 copies: exactly one 200, the others refused, and one full session, 20 times", async () => {
		for (let round = 0; round < 20; round++) {
			const { user, responses } = await race(10);
			const statuses = responses.map((r) => r.status);
			expect(
				statuses.filter((s) => s === 200),
				`round ${round}: ${statuses}`,
			).toHaveLength(1);
			// The losers presented a used challenge (400) or a replaced token (401);
			// once five attempts are in flight or failed, the limiter answers the rest with 429 first.
			for (const response of responses.filter((r) => r.status !== 200)) {
				if (response.status === 429) expect(response.body).toMatchObject({ code: "too_many_attempts" });
				else expectLost(response, `round ${round}: ${statuses}`);
			}
			expect(await sessionCount(user.id, "full"), `round ${round}`).toBe(2);
			expect(await sessionCount(user.id, "partial"), `round ${round}`).toBe(0);
		}
	});

	it("lets the genuine one through even when the replay is the session's fifth attempt, 10 times", async () => {
		// Regression: the winner's own in-flight attempt was counted among the
		// session's failures, so a replay that lost the challenge revoked the
		// partial session before the winner could upgrade it: zero successes.
		for (let round = 0; round < 10; round++) {
			const { user, authenticator } = await userWithPasskey();
			const partial = await partialLogin(user);
			for (let i = 0; i < 3; i++) {
				const forged = await authenticator.getAssertion(await authenticationOptions(partial), { badSignature: true });
				expect((await postVerify(partial, forged)).status).toBe(400);
			}
			const credential = await authenticator.getAssertion(await authenticationOptions(partial));
			const responses = await Promise.all([postVerify(partial, credential), postVerify(partial, credential)]);
			expectOneWinnerOfTwo(responses, `round ${round}`);
			expect(await sessionCount(user.id, "full"), `round ${round}`).toBe(2);
		}
	});
});
