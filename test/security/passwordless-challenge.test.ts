import { afterEach, describe, expect, it, vi } from "vitest";
import { clock, MINUTE, SECOND } from "../../src/lib/clock";
import { fromBase64Url, toBase64Url } from "../../src/lib/encoding";
import { issueSignInChallenge, openSignInChallenge } from "../../src/services/sign-in-challenge";
import { SoftAuthenticator } from "../helpers/authenticator";
import { authenticationOptions, partialLogin } from "../helpers/flows";
import { keySet } from "../helpers/keys";
import {
	expectRefused,
	fullSessions,
	postSignIn,
	signInAssertion,
	signInOptions,
	userWithDiscoverablePasskey,
} from "../helpers/passwordless";

// A sign-in challenge has no session to be bound to, so it is bound to
// itself: single-use (the first presentation consumes it, whatever the
// outcome), five minutes, and only challenges this route issued.

afterEach(() => {
	vi.restoreAllMocks();
});

describe("the challenge of a passwordless sign-in", () => {
	it("refuses a replay of a successful assertion with challenge_expired", async () => {
		const { user, authenticator } = await userWithDiscoverablePasskey();
		const credential = await signInAssertion(authenticator);
		expect((await postSignIn(credential)).status).toBe(200);
		const sessions = await fullSessions(user.id);
		expectRefused(await postSignIn(credential), 400, "challenge_expired");
		expect(await fullSessions(user.id)).toBe(sessions);
	});

	it("is consumed by a failed attempt too: a corrected assertion for it is refused", async () => {
		const { authenticator } = await userWithDiscoverablePasskey();
		const options = await signInOptions();
		const failed = await postSignIn(await authenticator.getAssertion(options, { badSignature: true }));
		expectRefused(failed, 400, "verification_failed");
		expectRefused(await postSignIn(await authenticator.getAssertion(options)), 400, "challenge_expired");
	});

	it("refuses a challenge presented after 5 minutes", async () => {
		const { authenticator } = await userWithDiscoverablePasskey();
		const start = Date.now();
		const now = vi.spyOn(clock, "now").mockReturnValue(start);
		const credential = await signInAssertion(authenticator);
		now.mockReturnValue(start + 5 * MINUTE + SECOND);
		expectRefused(await postSignIn(credential), 400, "challenge_expired");
	});

	it("accepts a challenge presented just before its 5 minutes are up", async () => {
		const { authenticator } = await userWithDiscoverablePasskey();
		const start = Date.now();
		const now = vi.spyOn(clock, "now").mockReturnValue(start);
		const credential = await signInAssertion(authenticator);
		now.mockReturnValue(start + 5 * MINUTE - SECOND);
		expect((await postSignIn(credential)).status).toBe(200);
	});

	it("refuses a challenge the server never issued", async () => {
		const { authenticator } = await userWithDiscoverablePasskey();
		const forged = await signInAssertion(authenticator, { challenge: "bm90LWEtY2hhbGxlbmdlLWZyb20tdGhlLXNlcnZlcg" });
		expectRefused(await postSignIn(forged), 400, "challenge_expired");
	});

	it("refuses a challenge issued for the second-factor ceremony", async () => {
		const { user, authenticator } = await userWithDiscoverablePasskey(new SoftAuthenticator());
		const partial = await partialLogin(user);
		const secondFactorOptions = await authenticationOptions(partial);
		const credential = await authenticator.getAssertion(secondFactorOptions);
		expectRefused(await postSignIn(credential), 400, "challenge_expired");
	});
});

describe("the signature of a sign-in challenge", () => {
	it("refuses a challenge signed under another secret", async () => {
		const { authenticator } = await userWithDiscoverablePasskey();
		const forged = toBase64Url(
			await issueSignInChallenge(keySet("another-secret-of-at-least-16-chars"), Date.now() + 5 * MINUTE),
		);
		expectRefused(
			await postSignIn(await signInAssertion(authenticator, { challenge: forged })),
			400,
			"challenge_expired",
		);
	});

	it("refuses an issued challenge whose expiry was moved (the MAC covers it)", async () => {
		const { authenticator } = await userWithDiscoverablePasskey();
		const options = await signInOptions();
		const bytes = fromBase64Url(options.challenge) as Uint8Array;
		// The expiry's lowest byte (bytes 16..21 are the expiry, big-endian).
		bytes[21] = ((bytes[21] ?? 0) + 1) % 256;
		const moved = toBase64Url(bytes);
		expectRefused(
			await postSignIn(await signInAssertion(authenticator, { challenge: moved })),
			400,
			"challenge_expired",
		);
	});

	it("round-trips in the service: open gives the expiry back until it has passed", async () => {
		const secret = keySet("a-test-secret-of-at-least-16-chars");
		const expiresAt = Date.now() + 5 * MINUTE;
		const challenge = toBase64Url(await issueSignInChallenge(secret, expiresAt));
		expect(await openSignInChallenge(secret, challenge, expiresAt - 1)).toBe(expiresAt);
		expect(await openSignInChallenge(secret, challenge, expiresAt)).toBeNull();
		expect(
			await openSignInChallenge(keySet("a-test-secret-of-at-least-16-charsx"), challenge, expiresAt - 1),
		).toBeNull();
		expect(await openSignInChallenge(secret, challenge.slice(0, -2), expiresAt - 1)).toBeNull();
	});
});
