import { afterEach, describe, expect, it, vi } from "vitest";
import { PBKDF2_MAX_ITERATIONS, pbkdf2Sha256 } from "../../src/lib/crypto";
import { userSql } from "../helpers/account";
import { call, logIn, PASSWORD, signUp, uniqueEmail } from "../helpers/api";
import { expectError } from "../helpers/expect-error";

// Production Workers refuse PBKDF2 above 100,000 iterations (local workerd
// does not), so a derivation above the cap would pass every local test and
// then fail every sign-in once deployed.

afterEach(() => {
	vi.restoreAllMocks();
});

/** Records the iteration count of every PBKDF2 derivation made while it is on. */
function watchPbkdf2(): number[] {
	const iterations: number[] = [];
	const original = crypto.subtle.deriveBits.bind(crypto.subtle);
	vi.spyOn(crypto.subtle, "deriveBits").mockImplementation((algorithm, baseKey, length) => {
		if (typeof algorithm === "object" && algorithm.name.toUpperCase() === "PBKDF2") {
			iterations.push(algorithm.iterations ?? Number.NaN);
		}
		return original(algorithm, baseKey, length);
	});
	return iterations;
}

describe("PBKDF2 iteration cap", () => {
	it("derives with at most 100,000 iterations, and exactly 100,000 for passwords, in signup, login and reauthentication", async () => {
		const iterations = watchPbkdf2();
		const user = await signUp();
		expect(iterations).toEqual([PBKDF2_MAX_ITERATIONS]);

		expect((await logIn(user.email)).status).toBe(200);
		expect((await logIn(user.email, "not the password")).status).toBe(400);
		expect((await logIn(uniqueEmail("nobody"), PASSWORD)).status).toBe(400);
		const reauthenticated = await call("POST", "/api/auth/reauthenticate", {
			token: user.token,
			body: { password: PASSWORD },
		});
		expect(reauthenticated.status).toBe(200);

		// Signup, three logins (an unknown email costs a derivation too) and the reauthentication.
		expect(iterations).toHaveLength(5);
		for (const count of iterations) expect(count).toBe(PBKDF2_MAX_ITERATIONS);
	});

	it("refuses to derive with more than 100,000 iterations, or with a count that is not a positive integer", async () => {
		const salt = new Uint8Array(16);
		await expect(pbkdf2Sha256("password", salt, PBKDF2_MAX_ITERATIONS + 1)).rejects.toThrow(/iteration/);
		await expect(pbkdf2Sha256("password", salt, 0)).rejects.toThrow(/iteration/);
		await expect(pbkdf2Sha256("password", salt, 1.5)).rejects.toThrow(/iteration/);
		await expect(pbkdf2Sha256("password", salt, Number.NaN)).rejects.toThrow(/iteration/);
		expect(await pbkdf2Sha256("password", salt, PBKDF2_MAX_ITERATIONS)).toHaveLength(32);
	});

	it("never derives above the cap for a stored hash that asks for more, and answers 500 without details", async () => {
		const user = await signUp();
		await userSql(user.id, "UPDATE account SET password_iterations = 200000").run();
		const iterations = watchPbkdf2();
		const errors = vi.spyOn(console, "error").mockImplementation(() => {});

		const response = await logIn(user.email, PASSWORD);

		// The row cannot be checked within the cap, so it is an internal error,
		// never a sign-in: the cause is logged, not shown.
		expectError(response, 500, "internal_error");
		expect(JSON.stringify(response.body)).not.toMatch(/PBKDF2|200000|iteration/i);
		expect(iterations.filter((count) => count > PBKDF2_MAX_ITERATIONS)).toEqual([]);
		expect(errors).toHaveBeenCalled();
	});
});
