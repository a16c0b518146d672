import { describe, expect, it } from "vitest";
import { readChallenge } from "../../src/webauthn/canonical-challenge";
import { signUp } from "../helpers/api";
import { base64UrlSpellings, SoftAuthenticator } from "../helpers/authenticator";
import {
	authenticationOptions,
	completeRegistration,
	partialLogin,
	passkeyCount,
	postVerify,
	registrationOptions,
	userWithPasskey,
} from "../helpers/flows";
import { captureMetricsPerTest } from "../helpers/metrics";
import {
	expectRefused,
	fullSessions,
	postSignIn,
	signInOptions,
	userWithDiscoverablePasskey,
} from "../helpers/passwordless";

// A challenge has one spelling. base64url leaves spare bits in the last
// character of a challenge whose length is not a multiple of 3 bytes, and a
// decoder ignores them: a 38-byte sign-in challenge has four spellings of the
// same bytes. The authenticator signs whatever spelling the client writes, so
// each was a fresh challenge to a check that went by the string. A challenge
// is its bytes: a use is recorded under them, and only our spelling passes.

const metrics = captureMetricsPerTest();

describe("base64UrlSpellings (the test's own helper)", () => {
	it("gives four spellings of a 38-byte challenge that all decode to its bytes, ours first", async () => {
		const { challenge } = await signInOptions();
		const spellings = base64UrlSpellings(challenge);
		expect(spellings).toHaveLength(4);
		expect(spellings[0]).toBe(challenge);
		expect(new Set(spellings).size).toBe(4);
		const bytes = readChallenge(challenge)?.bytes;
		for (const spelling of spellings) expect(readChallenge(spelling)?.bytes).toEqual(bytes);
	});
});

describe("the spellings of a passwordless sign-in challenge", () => {
	it("give one session at most: after ours, each other spelling is a replay", async () => {
		const { user, authenticator } = await userWithDiscoverablePasskey();
		const before = await fullSessions(user.id);
		const options = await signInOptions();
		const [canonical, ...others] = base64UrlSpellings(options.challenge);
		expect(others).toHaveLength(3);
		const first = await postSignIn(await authenticator.getAssertion(options, { challenge: canonical }));
		expect(first.status).toBe(200);
		for (const spelling of others) {
			const replay = await postSignIn(await authenticator.getAssertion(options, { challenge: spelling }));
			expectRefused(replay, 400, "challenge_expired");
		}
		expect(await fullSessions(user.id)).toBe(before + 1);
	});

	it("refuse another spelling presented first with verification_failed, and it consumes the challenge", async () => {
		const { user, authenticator } = await userWithDiscoverablePasskey();
		const before = await fullSessions(user.id);
		const options = await signInOptions();
		const [canonical, other] = base64UrlSpellings(options.challenge);
		const refused = await postSignIn(await authenticator.getAssertion(options, { challenge: other }));
		expectRefused(refused, 400, "verification_failed");
		expect(metrics.failureReasons("webauthn.login.failed")).toEqual(["challenge_not_canonical"]);
		const late = await postSignIn(await authenticator.getAssertion(options, { challenge: canonical }));
		expectRefused(late, 400, "challenge_expired");
		expect(await fullSessions(user.id)).toBe(before);
	});

	it("give one session at most when all four arrive at once", async () => {
		for (let round = 0; round < 5; round++) {
			const { user, authenticator } = await userWithDiscoverablePasskey();
			const before = await fullSessions(user.id);
			const options = await signInOptions();
			const assertions = await Promise.all(
				base64UrlSpellings(options.challenge).map((challenge) => authenticator.getAssertion(options, { challenge })),
			);
			const responses = await Promise.all(assertions.map((credential) => postSignIn(credential)));
			expect(responses.filter((r) => r.status === 200).length).toBeLessThanOrEqual(1);
			expect(await fullSessions(user.id)).toBeLessThanOrEqual(before + 1);
		}
	});
});

describe("the spellings of a second-factor challenge", () => {
	it("refuse another spelling with verification_failed (challenge_not_canonical), and it consumes the challenge", async () => {
		const { user, authenticator } = await userWithPasskey();
		const token = await partialLogin(user);
		const options = await authenticationOptions(token);
		const [canonical, other] = base64UrlSpellings(options.challenge);
		expect(other).toBeDefined();
		const refused = await postVerify(token, await authenticator.getAssertion(options, { challenge: other }));
		expectRefused(refused, 400, "verification_failed");
		expect(metrics.failureReasons("webauthn.verify.failed")).toEqual(["challenge_not_canonical"]);
		const late = await postVerify(token, await authenticator.getAssertion(options, { challenge: canonical }));
		expectRefused(late, 400, "challenge_expired");
	});
});

describe("the spellings of a registration challenge", () => {
	it("refuse another spelling with verification_failed (challenge_not_canonical), store nothing, and consume the challenge", async () => {
		const user = await signUp();
		const options = await registrationOptions({ token: user.token });
		const [canonical, other] = base64UrlSpellings(options.challenge);
		expect(other).toBeDefined();
		const authenticator = new SoftAuthenticator();
		const refused = await completeRegistration(
			{ token: user.token },
			await authenticator.createCredential(options, { challenge: other }),
		);
		expectRefused(refused, 400, "verification_failed");
		expect(metrics.failureReasons("webauthn.registration.failed")).toEqual(["challenge_not_canonical"]);
		const late = await completeRegistration(
			{ token: user.token },
			await authenticator.createCredential(options, { challenge: canonical }),
		);
		expectRefused(late, 400, "challenge_expired");
		expect(await passkeyCount(user.id)).toBe(0);
	});
});
