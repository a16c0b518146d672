import { afterEach, describe, expect, it, vi } from "vitest";
import { totpCodeAt } from "../../src/lib/totp";
import { call } from "../helpers/api";
import { expectError } from "../helpers/expect-error";
import { freezeClock } from "../helpers/time";
import {
	codeFor,
	midStep,
	partialToken,
	partialTokens,
	statusCounts,
	totpRow,
	userWithTotp,
	verifyTotp,
} from "../helpers/totp";

// A TOTP code is accepted once: the last accepted time step is kept and any
// step that is not newer is refused. Every test freezes the clock in the
// middle of a step, activates at step s (which uses s), and moves to later
// steps from there.

afterEach(() => {
	vi.restoreAllMocks();
});

const STEP = 30_000;

describe("TOTP replay", () => {
	it("refuses the same code the second time, also from another session", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret } = await userWithTotp();
		move(start + STEP);
		const code = await codeFor(secret);
		const [first, second] = await partialTokens(user, 2);
		expect((await verifyTotp(first ?? "", code)).status).toBe(200);
		expectError(await verifyTotp(second ?? "", code), 400, "invalid_code");
	});

	it("refuses the same code on a full session (reauthentication) once it has signed in", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret } = await userWithTotp();
		move(start + STEP);
		const code = await codeFor(secret);
		const verified = await verifyTotp(await partialToken(user), code);
		expect(verified.status).toBe(200);
		expectError(await verifyTotp(verified.body.session_token ?? "", code), 400, "invalid_code");
	});

	it("refuses an older step after a newer one, though both are within the drift window", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret, activationStep } = await userWithTotp();
		// At s+2 the window is s+1..s+3: use s+3 first, then s+1 and s+2 are too old.
		move(start + 2 * STEP);
		const [a, b, c] = await partialTokens(user, 3);
		expect((await verifyTotp(a ?? "", await totpCodeAt(secret, activationStep + 3))).status).toBe(200);
		expectError(await verifyTotp(b ?? "", await totpCodeAt(secret, activationStep + 1)), 400, "invalid_code");
		expectError(await verifyTotp(c ?? "", await totpCodeAt(secret, activationStep + 2)), 400, "invalid_code");
		expect((await totpRow(user.id))?.last_step).toBe(activationStep + 3);
	});

	it("accepts the next step's code after the current one", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret } = await userWithTotp();
		move(start + 2 * STEP);
		const [a, b] = await partialTokens(user, 2);
		expect((await verifyTotp(a ?? "", await codeFor(secret, 0))).status).toBe(200);
		expect((await verifyTotp(b ?? "", await codeFor(secret, 1))).status).toBe(200);
	});
});

describe("TOTP clock drift", () => {
	it("accepts the code of one step behind", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret } = await userWithTotp();
		move(start + 2 * STEP);
		expect((await verifyTotp(await partialToken(user), await codeFor(secret, -1))).status).toBe(200);
	});

	it("accepts the code of one step ahead", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret } = await userWithTotp();
		move(start + 2 * STEP);
		expect((await verifyTotp(await partialToken(user), await codeFor(secret, 1))).status).toBe(200);
	});

	it("refuses the code of two steps behind, then accepts the current one", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret } = await userWithTotp();
		// Two steps behind is s+1: newer than the activation step, so only drift refuses it.
		move(start + 3 * STEP);
		const partial = await partialToken(user);
		expectError(await verifyTotp(partial, await codeFor(secret, -2)), 400, "invalid_code");
		expect((await verifyTotp(partial, await codeFor(secret, 0))).status).toBe(200);
	});

	it("refuses the code of two steps ahead, then accepts the current one", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret } = await userWithTotp();
		move(start + 2 * STEP);
		const partial = await partialToken(user);
		expectError(await verifyTotp(partial, await codeFor(secret, 2)), 400, "invalid_code");
		expect((await verifyTotp(partial, await codeFor(secret, 0))).status).toBe(200);
	});
});

describe("TOTP replay under a race", () => {
	// Every verify first takes a failure reservation in the user's Durable
	// Object (at most 5 can be outstanding), then the D1 statement
	// `UPDATE … SET last_step = s WHERE last_step < s` lets exactly one of the
	// requests that present step s move last_step; the others see no row.
	it("lets exactly one of 10 concurrent verifies of one code from 10 sessions pass", async () => {
		for (let round = 0; round < 3; round++) {
			const start = midStep();
			const move = freezeClock(start);
			const { user, secret } = await userWithTotp();
			move(start + STEP);
			const tokens = await partialTokens(user, 10);
			const code = await codeFor(secret);
			const responses = await Promise.all(tokens.map((token) => verifyTotp(token, code)));
			const counts = statusCounts(responses);
			expect(counts[200]).toBe(1);
			expect((counts[400] ?? 0) + (counts[429] ?? 0)).toBe(9);
			for (const response of responses) {
				if (response.status === 400) expectError(response, 400, "invalid_code");
				if (response.status === 429) expectError(response, 429, "too_many_attempts");
			}
			const full = await call("GET", "/api/auth/session/", {
				token: responses.find((r) => r.status === 200)?.body.session_token,
			});
			expect(full.status).toBe(200);
			vi.restoreAllMocks();
		}
	});

	it("lets exactly one of 10 concurrent verifies of one code on the same session pass", async () => {
		const start = midStep();
		const move = freezeClock(start);
		const { user, secret } = await userWithTotp();
		move(start + STEP);
		const partial = await partialToken(user);
		const code = await codeFor(secret);
		const responses = await Promise.all(Array.from({ length: 10 }, () => verifyTotp(partial, code)));
		const counts = statusCounts(responses);
		expect(counts[200]).toBe(1);
		// The losers: the code was used (400), the limiter was full (429), or
		// the winner had already replaced the partial token (401).
		expect((counts[400] ?? 0) + (counts[401] ?? 0) + (counts[429] ?? 0)).toBe(9);
		expect(responses.filter((r) => r.body.session_token)).toHaveLength(1);
	});
});
