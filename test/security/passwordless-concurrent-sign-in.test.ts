import { describe, expect, it } from "vitest";
import { fullSessions, postSignIn, signInAssertion, userWithDiscoverablePasskey } from "../helpers/passwordless";

// One assertion, presented several times at the same instant, must give one
// session. The sign-in challenge is a D1 row consumed with DELETE …
// RETURNING: SQLite runs that statement alone, so exactly one request gets
// the row back, and every other one finds nothing (challenge_expired)
// before any signature is checked. No isolate's memory is involved, so the
// same holds across isolates and locations.

async function raceOneAssertion(parallel: number, rounds: number): Promise<void> {
	const { user, authenticator } = await userWithDiscoverablePasskey();
	for (let round = 0; round < rounds; round++) {
		const credential = await signInAssertion(authenticator);
		const before = await fullSessions(user.id);
		const responses = await Promise.all(Array.from({ length: parallel }, () => postSignIn(credential)));
		const statuses = responses.map((response) => response.status).sort();
		expect(statuses, `round ${round}`).toEqual([200, ...Array<number>(parallel - 1).fill(400)]);
		for (const response of responses.filter((r) => r.status === 400)) {
			expect(response.body).toMatchObject({ code: "challenge_expired" });
		}
		expect(await fullSessions(user.id), `round ${round}`).toBe(before + 1);
	}
}

describe("concurrent sign-ins with one assertion", () => {
	it("gives exactly one session to two concurrent sign-ins, 20 times over", async () => {
		await raceOneAssertion(2, 20);
	});

	it("gives exactly one session to ten concurrent sign-ins, 20 times over", async () => {
		await raceOneAssertion(10, 20);
	});
});
