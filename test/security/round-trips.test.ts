import { afterEach, describe, expect, it, vi } from "vitest";
import { BUDGETS, CEREMONIES, ceremonyTable, ROUND_TRIPS, type StorageCalls, total } from "../../bench/lib/round-trips";
import { PASSWORD, uniqueEmail } from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import { partialLogin, userWithPasskey } from "../helpers/flows";
import { signInOptions, userWithDiscoverablePasskey } from "../helpers/passwordless";
import { type Counted, countRoundTrips } from "../helpers/round-trips";
import { freezeClock } from "../helpers/time";
import { codeFor, midStep } from "../helpers/totp";

// Storage round trips as a checked contract (issue 15, item 4): each
// ceremony runs once as an app client, its storage calls counted by the
// fault wrappers with no fault planned (test/helpers/round-trips.ts), and
// each route's counts must equal its budget in bench/lib/round-trips.ts.
// More than the budget fails (the ratchet); fewer fails too, asking for the
// budget to be lowered, so the table the bench prices never goes stale. The
// counts depend on the code path only, not on timing: one run is enough.

afterEach(() => {
	vi.restoreAllMocks();
});

const measured = new Set<string>();

/** Each field of the route's counts against its budget: over is a regression, under a budget to lower. */
function expectWithinBudget<T>(route: string, counted: Counted<T>, status: number): Counted<T> {
	expect({ route, status: counted.response.status, body: counted.response.body }).toMatchObject({ route, status });
	const budget = BUDGETS[route];
	expect(budget, `${route} has no budget in bench/lib/round-trips.ts`).toBeDefined();
	const problems: string[] = [];
	for (const [key, allowed] of Object.entries(budget ?? {})) {
		if (typeof allowed !== "number") continue;
		const made = counted.calls[key as keyof StorageCalls];
		if (made > allowed) {
			problems.push(`${key}: ${made}, over its budget of ${allowed}: the route makes more storage calls than before`);
		} else if (made < allowed) {
			problems.push(`${key}: ${made}, under its budget of ${allowed}: lower the budget in bench/lib/round-trips.ts`);
		}
	}
	measured.add(route);
	expect(problems, `${route}, calls made:\n  ${counted.trace.join("\n  ")}\n`).toEqual([]);
	// What the bench prices (derived from the budget) agrees with what was counted.
	const { d1Reads, d1Writes, userObject, limiterObjects, doWrites } = counted.calls;
	expect({ route, ...ROUND_TRIPS[route], detail: undefined }).toEqual({
		route,
		d1Reads,
		d1Writes,
		doReads: userObject + limiterObjects - doWrites,
		doWrites,
		detail: undefined,
	});
	return counted;
}

describe("storage round trips per route, against bench/lib/round-trips.ts", () => {
	it("session check: GET /api/auth/session/", async () => {
		const { user } = await userWithPasskey();
		expectWithinBudget(
			"GET /api/auth/session/",
			await countRoundTrips("GET", "/api/auth/session/", { token: user.token }),
			200,
		);
	});

	it("passwordless sign-in: options, then login", async () => {
		const { authenticator } = await userWithDiscoverablePasskey();
		expectWithinBudget(
			"GET /api/auth/passkey/options/",
			await countRoundTrips("GET", "/api/auth/passkey/options/"),
			200,
		);
		const credential = await authenticator.getAssertion(await signInOptions());
		const login = expectWithinBudget(
			"POST /api/auth/passkey/login/",
			await countRoundTrips<{ session: { level: string } }>("POST", "/api/auth/passkey/login/", {
				body: { credential },
			}),
			200,
		);
		expect(login.response.body.session.level).toBe("full");
	});

	it("passkey second factor: password login, then options and verify on the partial session", async () => {
		const { user, authenticator } = await userWithPasskey();
		const login = expectWithinBudget(
			"POST /api/auth/login/",
			await countRoundTrips<{ session: { level: string } }>("POST", "/api/auth/login/", {
				body: { email: user.email, password: PASSWORD },
			}),
			200,
		);
		expect(login.response.body.session.level).toBe("partial");
		const partial = await partialLogin(user);
		const options = expectWithinBudget(
			"GET /api/webauthn/authenticate/options/",
			await countRoundTrips<{ request_options: Parameters<SoftAuthenticator["getAssertion"]>[0] }>(
				"GET",
				"/api/webauthn/authenticate/options/",
				{ token: partial },
			),
			200,
		);
		const credential = await authenticator.getAssertion(options.response.body.request_options);
		const verified = expectWithinBudget(
			"POST /api/webauthn/verify/",
			await countRoundTrips<{ session: { level: string } }>("POST", "/api/webauthn/verify/", {
				token: partial,
				body: { credential },
			}),
			200,
		);
		expect(verified.response.body.session.level).toBe("full");
	});

	it("registration: options, then complete, with and without passwordless", async () => {
		const { user } = await userWithPasskey();
		for (const path of ["/api/webauthn/register/options/", "/api/webauthn/register/options/?passwordless=true"]) {
			const options = expectWithinBudget(
				`GET ${path}`,
				await countRoundTrips<{ creation_options: Parameters<SoftAuthenticator["createCredential"]>[0] }>("GET", path, {
					token: user.token,
				}),
				200,
			);
			const credential = await new SoftAuthenticator().createCredential(options.response.body.creation_options);
			expectWithinBudget(
				"POST /api/webauthn/register/complete/",
				await countRoundTrips("POST", "/api/webauthn/register/complete/", {
					token: user.token,
					body: { credential },
				}),
				201,
			);
		}
	});

	it("list: GET /api/webauthn/", async () => {
		const { user } = await userWithPasskey();
		const list = expectWithinBudget(
			"GET /api/webauthn/",
			await countRoundTrips<{ passkeys: unknown[] }>("GET", "/api/webauthn/", { token: user.token }),
			200,
		);
		expect(list.response.body.passkeys).toHaveLength(1);
	});

	it("sign-up and reauthentication", async () => {
		const email = uniqueEmail("round-trips");
		const signedUp = expectWithinBudget(
			"POST /api/auth/signup/",
			await countRoundTrips<{ session_token: string }>("POST", "/api/auth/signup/", {
				body: { email, password: PASSWORD },
			}),
			201,
		);
		expectWithinBudget(
			"POST /api/auth/reauthenticate/",
			await countRoundTrips("POST", "/api/auth/reauthenticate/", {
				token: signedUp.response.body.session_token,
				body: { password: PASSWORD },
			}),
			200,
		);
	});

	it("authenticator app: setup, activate, then verify on a partial session a step later", async () => {
		const start = midStep();
		const moveClock = freezeClock(start);
		const { user } = await userWithPasskey();
		const setup = expectWithinBudget(
			"POST /api/totp/setup/",
			await countRoundTrips<{ secret: string }>("POST", "/api/totp/setup/", { token: user.token }),
			200,
		);
		const secret = setup.response.body.secret;
		expectWithinBudget(
			"POST /api/totp/activate/",
			await countRoundTrips("POST", "/api/totp/activate/", {
				token: user.token,
				body: { code: await codeFor(secret) },
			}),
			201,
		);
		moveClock(start + 30_000);
		const partial = await partialLogin(user);
		const verified = expectWithinBudget(
			"POST /api/totp/verify/",
			await countRoundTrips<{ session: { level: string } }>("POST", "/api/totp/verify/", {
				token: partial,
				body: { code: await codeFor(secret) },
			}),
			200,
		);
		expect(verified.response.body.session.level).toBe("full");
	});

	it("every budget was measured above, and every ceremony's routes have one", () => {
		expect(Object.keys(BUDGETS).filter((route) => !measured.has(route))).toEqual([]);
		expect(CEREMONIES.flatMap((c) => c.routes).filter((route) => !(route in BUDGETS))).toEqual([]);
		console.log(`Storage round trips per ceremony, the budgets and issue 15's targets:\n${ceremonyTable()}`);
	});

	it("every ceremony with a target stays within it: object calls, D1 reads and D1 writes", () => {
		for (const ceremony of CEREMONIES) {
			const target = ceremony.target;
			if (!target) continue;
			const calls = total(target.route ? [target.route] : ceremony.routes);
			expect({
				ceremony: ceremony.name,
				objectCalls: calls.userObject + calls.limiterObjects <= target.objectCalls,
				d1Reads: calls.d1Reads <= target.d1Reads,
				d1Writes: calls.d1Writes <= target.d1Writes,
				// No D1 call is made from inside an object on these paths: D1 is a directory.
				d1FromObject: calls.d1FromObject,
			}).toEqual({ ceremony: ceremony.name, objectCalls: true, d1Reads: true, d1Writes: true, d1FromObject: 0 });
		}
	});
});
