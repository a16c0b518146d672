import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { app } from "../../src/app";
import { userStateFor } from "../../src/durable/stubs";
import type { Env } from "../../src/env";
import { ERRORS } from "../../src/lib/errors";
import { describeError, errorForRpc, isUnavailable } from "../../src/lib/faults";
import { issueSession } from "../../src/services/sessions";
import { userSql } from "../helpers/account";
import { type ApiResponse, call, logIn, ORIGIN, PASSWORD, signUp, type TestUser, uniqueEmail } from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import { expectError } from "../helpers/expect-error";
import {
	callWithFaults,
	D1_OUTAGES,
	DURABLE_OBJECT_OUTAGES,
	type FaultKind,
	FaultPlan,
	faultyD1,
	faultyDurableObjectD1,
} from "../helpers/faults";
import {
	addPasskey,
	countRows,
	countUserRows,
	registerPasskey,
	registrationOptions,
	userWithPasskey,
} from "../helpers/flows";
import { signInOptions, userWithDiscoverablePasskey } from "../helpers/passwordless";
import { createServerUser, fullServerSession, SERVER_KEY, uniqueExternalId } from "../helpers/server-api";
import { codeFor, totpSetup, userWithTotp } from "../helpers/totp";

// When D1 or the user's Durable Object throws or times out, the route answers
// 503 `unavailable` with Retry-After, and nothing half-written stays behind:
// a passkey or an authenticator app is stored with its first recovery codes,
// or not at all. Every route is swept: its success is run once to count the
// storage calls it makes, then once per call with that call failing.

const BASE = "http://localhost:8787";

function request(method: string, path: string, options: { token?: string; body?: unknown } = {}): Request {
	const headers = new Headers({ "x-client": "app" });
	if (options.token) headers.set("authorization", `Bearer ${options.token}`);
	if (options.body !== undefined) headers.set("content-type", "application/json");
	return new Request(`${BASE}${path}`, {
		method,
		headers,
		...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
	});
}

async function session(user: { id: string; email: string }, level: "partial" | "full"): Promise<string> {
	return (await issueSession(env.USER_STATE, { ...user, externalId: null }, level)).token;
}

async function authenticatorCounts(userId: string) {
	const row = await userSql(
		userId,
		`SELECT (SELECT COUNT(*) FROM passkeys) AS passkeys,
			(SELECT COUNT(*) FROM totp_credentials) AS totp,
			(SELECT COUNT(*) FROM recovery_codes) AS codes`,
	).first<{ passkeys: number; totp: number; codes: number }>();
	return row ?? { passkeys: 0, totp: 0, codes: 0 };
}

/** The user's credential ids in the directory. */
async function claims(userId: string): Promise<number> {
	return countRows("SELECT COUNT(*) AS n FROM credentials WHERE user_id = ?", userId);
}

/** A user with an authenticator has their ten recovery codes; one without has none. */
async function expectWholeOrAbsent(userId: string): Promise<void> {
	const counts = await authenticatorCounts(userId);
	const hasAuthenticator = counts.passkeys + counts.totp > 0;
	expect({ userId, ...counts, whole: hasAuthenticator ? counts.codes === 10 : counts.codes === 0 }).toMatchObject({
		whole: true,
	});
	// Every passkey has its claim in the directory (a claim without a passkey is allowed: it signs no one in).
	expect(await claims(userId)).toBeGreaterThanOrEqual(counts.passkeys);
}

function expectUnavailable(response: ApiResponse<unknown>, context: string): void {
	expect({ context, status: response.status, body: response.body }).toEqual({
		context,
		status: 503,
		body: { success: false, code: "unavailable", message: ERRORS.unavailable[1] },
	});
	expect(Number(response.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
	expect(response.headers.get("cache-control")).toBe("no-store");
	expect(response.headers.get("x-content-type-options")).toBe("nosniff");
}

interface Scenario<C> {
	/** A user (or nothing) for the dry run and another for the sweep. */
	setup: () => Promise<C>;
	/** Builds the request; may call the API (without faults) to get options first. */
	request: (context: C, run: number) => Promise<Request>;
	status: number;
	userId?: (context: C) => string;
	/** Each faulted run gets a new context (the previous run used up what it needed). */
	freshPerRun?: boolean;
	/** What must hold after each 503. */
	check?: (context: C) => Promise<void>;
	/** Told the context whose runs all failed (the last one, when each run had its own). */
	swept?: (context: C) => void;
	/**
	 * Calls made after the action, whose failure is logged and leaves the
	 * action standing (the activity entry always; a directory claim released
	 * after a passkey is gone): the answer is the action's, not 503.
	 */
	afterAction?: (label: string, n: number, total: number) => boolean;
}

const D1_KINDS = Object.entries(D1_OUTAGES);
const DO_KINDS = Object.entries(DURABLE_OBJECT_OUTAGES);

/** The write of the user's activity log entry (services/security-events.ts), made after the action succeeded. */
const ACTIVITY_WRITE = "DO recordActivity";

/** Dry run, then one run per storage call with that call failing; returns the calls seen. */
async function sweep<C>(route: string, scenario: Scenario<C>): Promise<string[]> {
	const plan = new FaultPlan();
	const dry = await scenario.setup();
	plan.reset(null);
	const dryResponse = await callWithFaults(plan, await scenario.request(dry, 0), {
		...(scenario.userId ? { userId: scenario.userId(dry) } : {}),
	});
	expect({ route, status: dryResponse.status, body: dryResponse.body }).toMatchObject({
		route,
		status: scenario.status,
	});
	const calls = [...plan.calls];
	let context = await scenario.setup();
	for (let n = 1; n <= calls.length; n++) {
		if (scenario.freshPerRun && n > 1) context = await scenario.setup();
		const label = calls[n - 1] as string;
		// A run whose action succeeds gets a context of its own, so the runs
		// after it still find what they need and the checks after the sweep
		// still see only failed runs in the swept context.
		const after = label === ACTIVITY_WRITE || (scenario.afterAction?.(label, n, calls.length) ?? false);
		const run = after ? await scenario.setup() : context;
		const kinds = label.startsWith("DO ") && !label.startsWith("DO D1") ? DO_KINDS : D1_KINDS;
		const [kindName, kind] = kinds[n % kinds.length] as [string, FaultKind];
		const built = await scenario.request(run, n);
		plan.reset(n, kind);
		// Every third fault hangs first, as a timeout does.
		plan.delayMs = n % 3 === 0 ? 20 : 0;
		const response = await callWithFaults(plan, built, {
			...(scenario.userId ? { userId: scenario.userId(run) } : {}),
		});
		const described = `${route}: call ${n} of ${calls.length} (${label}) failing with ${kindName}`;
		if (after) {
			// The activity log (and a claim's release) is written after the action,
			// never as part of it: its failure is logged, and the action stands.
			expect({ context: described, status: response.status }).toEqual({ context: described, status: scenario.status });
		} else {
			expectUnavailable(response, described);
		}
		await scenario.check?.(run);
	}
	scenario.swept?.(context);
	return calls;
}

type Plain = { user: TestUser };
const plainUser = async (): Promise<Plain> => ({ user: await signUp() });
type WithPasskey = Awaited<ReturnType<typeof userWithPasskey>>;
type WithTotp = Awaited<ReturnType<typeof userWithTotp>>;

afterEach(() => {
	vi.restoreAllMocks();
});

describe("every route under storage faults", () => {
	// Quiet the expected "storage unavailable" log lines of the sweep.
	const quiet = () => vi.spyOn(console, "error").mockImplementation(() => {});

	it("POST /api/auth/signup: 503, and an account that exists is whole (it can sign in)", async () => {
		quiet();
		let email = "";
		const calls = await sweep("signup", {
			setup: async () => null,
			request: async () => {
				email = uniqueEmail("fault");
				return request("POST", "/api/auth/signup/", { body: { email, password: PASSWORD } });
			},
			status: 201,
			check: async () => {
				if (await countRows("SELECT COUNT(*) AS n FROM users WHERE email = ?", email)) {
					expect((await logIn(email)).status).toBe(200);
				}
			},
		});
		expect(calls.length).toBeGreaterThan(0);
	});

	it("POST /api/auth/login, GET session, POST reauthenticate, POST logout: 503", async () => {
		quiet();
		await sweep<Plain>("login", {
			setup: plainUser,
			request: async ({ user }) =>
				request("POST", "/api/auth/login/", { body: { email: user.email, password: PASSWORD } }),
			status: 200,
		});
		await sweep<Plain>("session", {
			setup: plainUser,
			request: async ({ user }) => request("GET", "/api/auth/session/", { token: user.token }),
			status: 200,
		});
		await sweep<Plain>("reauthenticate", {
			setup: plainUser,
			request: async ({ user }) =>
				request("POST", "/api/auth/reauthenticate/", { token: user.token, body: { password: PASSWORD } }),
			status: 200,
		});
		await sweep<Plain>("logout", {
			setup: plainUser,
			request: async ({ user }) => request("POST", "/api/auth/logout/", { token: await session(user, "full") }),
			status: 200,
		});
	});

	it("passwordless sign-in: GET options, POST login: 503", async () => {
		quiet();
		// The options touch no storage (the challenge is signed), so no fault can reach them.
		const optionsCalls = await sweep("passkey options", {
			setup: async () => null,
			request: async () => request("GET", "/api/auth/passkey/options/"),
			status: 200,
		});
		expect(optionsCalls).toEqual([]);
		await sweep("passkey login", {
			setup: () => userWithDiscoverablePasskey(),
			request: async ({ authenticator }) =>
				request("POST", "/api/auth/passkey/login/", {
					body: { credential: await authenticator.getAssertion(await signInOptions()) },
				}),
			userId: ({ user }) => user.id,
			status: 200,
		});
	});

	it("POST /api/webauthn/register/complete: 503, and the first passkey is stored with its codes or not at all", async () => {
		quiet();
		await sweep<Plain>("register options", {
			setup: plainUser,
			request: async ({ user }) => request("GET", "/api/webauthn/register/options/", { token: user.token }),
			userId: ({ user }) => user.id,
			status: 200,
		});
		let last: Plain | undefined;
		const calls = await sweep<Plain>("register complete", {
			setup: plainUser,
			swept: (context) => {
				last = context;
			},
			request: async ({ user }) => {
				const options = await registrationOptions({ token: user.token });
				const credential = await new SoftAuthenticator().createCredential(options);
				return request("POST", "/api/webauthn/register/complete/", { token: user.token, body: { credential } });
			},
			userId: ({ user }) => user.id,
			status: 201,
			check: async ({ user }) => expectWholeOrAbsent(user.id),
		});
		expect(calls).toContain("DO registerPasskey");
		// After all those faults the same user registers, and gets the first passkey's codes.
		const user = (last as Plain).user;
		expect(await authenticatorCounts(user.id)).toEqual({ passkeys: 0, totp: 0, codes: 0 });
		const { response } = await (async () => {
			const options = await registrationOptions({ token: user.token });
			const credential = await new SoftAuthenticator().createCredential(options);
			const plan = new FaultPlan();
			return {
				response: await callWithFaults<{ recovery_codes?: string[] }>(
					plan,
					request("POST", "/api/webauthn/register/complete/", { token: user.token, body: { credential } }),
				),
			};
		})();
		expect(response.status).toBe(201);
		expect(response.body.recovery_codes).toHaveLength(10);
		expect(await authenticatorCounts(user.id)).toEqual({ passkeys: 1, totp: 0, codes: 10 });
	});

	it("the passkey second factor and passkey management: 503", async () => {
		quiet();
		await sweep<WithPasskey>("authenticate options", {
			setup: () => userWithPasskey(),
			request: async ({ user }) =>
				request("GET", "/api/webauthn/authenticate/options/", { token: await session(user, "partial") }),
			userId: ({ user }) => user.id,
			status: 200,
		});
		await sweep<WithPasskey>("webauthn verify", {
			setup: () => userWithPasskey(),
			request: async ({ user, authenticator }) => {
				const token = await session(user, "partial");
				const options = await callWithFaults<{ request_options: never }>(
					new FaultPlan(),
					request("GET", "/api/webauthn/authenticate/options/", { token }),
				);
				const credential = await authenticator.getAssertion(options.body.request_options);
				return request("POST", "/api/webauthn/verify/", { token, body: { credential } });
			},
			userId: ({ user }) => user.id,
			status: 200,
			// An attempt cut by an outage stays counted (fail-closed): a new user keeps the limit out of the way.
			freshPerRun: true,
		});
		await sweep<WithPasskey>("webauthn list", {
			setup: () => userWithPasskey(),
			request: async ({ user }) => request("GET", "/api/webauthn/", { token: user.token }),
			status: 200,
		});
		await sweep<WithPasskey>("webauthn rename", {
			setup: () => userWithPasskey(),
			request: async ({ user, passkey }) =>
				request("PATCH", `/api/webauthn/${passkey.id}/`, { token: user.token, body: { name: "Renamed" } }),
			status: 200,
		});
		await sweep<WithPasskey>("webauthn delete", {
			setup: () => userWithPasskey(),
			request: async ({ user }) => {
				const extra = await addPasskey(user);
				return request("DELETE", `/api/webauthn/${extra.id}/`, { token: user.token });
			},
			userId: ({ user }) => user.id,
			status: 200,
			// The directory claim is released after the passkey is gone: a stale claim signs no one in.
			afterAction: (label, n, total) => label.startsWith("Worker D1") && n === total,
			check: async ({ user }) => {
				expect((await authenticatorCounts(user.id)).passkeys).toBeGreaterThanOrEqual(1);
				await expectWholeOrAbsent(user.id);
			},
		});
	});

	it("the authenticator app: 503, and an activation is stored with its codes or not at all", async () => {
		quiet();
		await sweep<Plain>("totp status", {
			setup: plainUser,
			request: async ({ user }) => request("GET", "/api/totp/", { token: user.token }),
			status: 200,
		});
		await sweep<Plain>("totp setup", {
			setup: plainUser,
			request: async ({ user }) => request("POST", "/api/totp/setup/", { token: user.token }),
			userId: ({ user }) => user.id,
			status: 200,
		});
		const calls = await sweep<Plain>("totp activate", {
			setup: plainUser,
			request: async ({ user }) => {
				const setup = await totpSetup({ token: user.token });
				return request("POST", "/api/totp/activate/", {
					token: user.token,
					body: { code: await codeFor(setup.body.secret) },
				});
			},
			userId: ({ user }) => user.id,
			status: 201,
			check: async ({ user }) => expectWholeOrAbsent(user.id),
		});
		expect(calls).toContain("DO activateTotp");
		await sweep<WithTotp>("totp verify", {
			setup: () => userWithTotp(),
			// The activation used this step: the next one is a fresh code.
			request: async ({ user, secret }) =>
				request("POST", "/api/totp/verify/", {
					token: await session(user, "partial"),
					body: { code: await codeFor(secret, 1) },
				}),
			userId: ({ user }) => user.id,
			status: 200,
			freshPerRun: true,
		});
		await sweep<WithPasskey & { secret: string }>("totp delete", {
			setup: async () => {
				const withPasskey = await userWithPasskey();
				const setup = await totpSetup({ token: withPasskey.user.token });
				const activated = await callWithFaults(
					new FaultPlan(),
					request("POST", "/api/totp/activate/", {
						token: withPasskey.user.token,
						body: { code: await codeFor(setup.body.secret) },
					}),
				);
				expect(activated.status).toBe(201);
				return { ...withPasskey, secret: setup.body.secret };
			},
			request: async ({ user }) => request("DELETE", "/api/totp/", { token: user.token }),
			userId: ({ user }) => user.id,
			status: 200,
			check: async ({ user }) => expectWholeOrAbsent(user.id),
		});
	});

	it("recovery codes: 503, and a regeneration replaces all ten codes or none", async () => {
		quiet();
		await sweep<WithPasskey>("recovery status", {
			setup: () => userWithPasskey(),
			request: async ({ user }) => request("GET", "/api/recovery-codes/", { token: user.token }),
			status: 200,
		});
		await sweep<WithPasskey>("recovery regenerate", {
			setup: () => userWithPasskey(),
			request: async ({ user }) => request("POST", "/api/recovery-codes/regenerate/", { token: user.token }),
			userId: ({ user }) => user.id,
			status: 200,
			check: async ({ user }) => {
				expect(await countUserRows(user.id, "SELECT COUNT(*) AS n FROM recovery_codes WHERE used_at IS NULL")).toBe(10);
			},
		});
		await sweep<WithTotp>("recovery verify", {
			setup: () => userWithTotp(),
			request: async ({ user, recoveryCodes }) =>
				request("POST", "/api/recovery-codes/verify/", {
					token: await session(user, "partial"),
					body: { code: recoveryCodes?.[0] },
				}),
			userId: ({ user }) => user.id,
			status: 200,
			freshPerRun: true,
		});
	});

	it("routes that touch no storage make no storage call", async () => {
		for (const path of [
			"/api/health/",
			"/api/openapi.json",
			"/api/docs",
			"/.well-known/webauthn",
			"/.well-known/assetlinks.json",
			"/.well-known/apple-app-site-association",
		]) {
			const plan = new FaultPlan();
			const response = await callWithFaults(plan, request("GET", path));
			expect({ path, status: response.status < 500, calls: plan.calls }).toEqual({ path, status: true, calls: [] });
		}
	});
});

describe("changes of the directory and a user's object together, under a fault at each step", () => {
	type ServerAccount = { externalId: string; userId: string };
	// Quiet the expected "storage unavailable" log lines.
	const quiet = () => vi.spyOn(console, "error").mockImplementation(() => {});

	/** A user of the app's with a passkey: a directory row, a credential claim and an account in their object. */
	async function serverAccount(): Promise<ServerAccount> {
		const created = await createServerUser(uniqueExternalId("fault-delete"));
		const token = await fullServerSession(created.external_id);
		const { response } = await registerPasskey({ id: created.id, email: created.email, token });
		expect(response.status).toBe(201);
		return { externalId: created.external_id, userId: created.id };
	}

	async function leftOf(userId: string) {
		const directory = await countRows(
			"SELECT (SELECT COUNT(*) FROM users WHERE id = ?1) + (SELECT COUNT(*) FROM credentials WHERE user_id = ?1) AS n",
			userId,
		);
		const object = await countUserRows(
			userId,
			"SELECT (SELECT COUNT(*) FROM account) + (SELECT COUNT(*) FROM passkeys) + (SELECT COUNT(*) FROM sessions) AS n",
		);
		return { directory, object };
	}

	it("DELETE /api/server/users/{id}: 503, the user is whole or their object empty, and a retry finishes it", async () => {
		quiet();
		const calls = await sweep<ServerAccount>("server delete user", {
			setup: serverAccount,
			freshPerRun: true,
			request: async ({ externalId }) => request("DELETE", `/api/server/users/${externalId}`, { token: SERVER_KEY }),
			status: 200,
			check: async ({ externalId, userId }) => {
				// The object goes first: a failure after it leaves a directory row
				// with no account behind it, which signs no one in…
				const left = await leftOf(userId);
				if (left.object === 0) {
					expectError(
						await call("POST", "/api/auth/login/", {
							app: true,
							body: { email: `${externalId}@example.com`, password: PASSWORD },
						}),
						400,
						"invalid_credentials",
					);
				}
				// …and deleting again finishes it.
				const retry = await callWithFaults(
					new FaultPlan(),
					request("DELETE", `/api/server/users/${externalId}`, { token: SERVER_KEY }),
				);
				expect(retry.status).toBe(200);
				expect(await leftOf(userId)).toEqual({ directory: 0, object: 0 });
			},
		});
		expect(calls).toEqual(expect.arrayContaining(["DO deleteAccount"]));
	});

	it("POST /api/auth/signup: the email is claimed first, and a failed object write gives it back", async () => {
		quiet();
		const plan = new FaultPlan();
		const email = uniqueEmail("fault-signup");
		plan.reset(null);
		const dry = await callWithFaults(
			plan,
			request("POST", "/api/auth/signup/", { body: { email: uniqueEmail("dry"), password: PASSWORD } }),
		);
		expect(dry.status).toBe(201);
		const position = plan.calls.indexOf("DO createAccount") + 1;
		expect(position).toBeGreaterThan(0);
		const failing = new FaultPlan();
		failing.reset(position, DURABLE_OBJECT_OUTAGES["network connection lost"]);
		expectUnavailable(
			await callWithFaults(failing, request("POST", "/api/auth/signup/", { body: { email, password: PASSWORD } })),
			"the object's write failing",
		);
		expect(await countRows("SELECT COUNT(*) AS n FROM users WHERE email = ?", email)).toBe(0);
		const again = await callWithFaults(
			new FaultPlan(),
			request("POST", "/api/auth/signup/", { body: { email, password: PASSWORD } }),
		);
		expect(again.status).toBe(201);
	});
});

describe("the user's Durable Object under a D1 outage", () => {
	it("keeps running: a failed profile change (its directory write) does not reset it or fail the user's other requests", async () => {
		const user = await signUp();
		const plan = new FaultPlan();
		plan.reset(1, D1_OUTAGES["network connection lost"]);
		const restore = await faultyDurableObjectD1(user.id, plan);
		const stub = userStateFor(env.USER_STATE, user.id);
		await stub.putPending("probe", "still here", Date.now() + 60_000);
		// Awaited in a function of its own: an RPC promise handed to expect() spawns property promises.
		const failed = await (async () => {
			try {
				await stub.updateProfile(user.id, { displayName: "Probe" });
				return null;
			} catch (error) {
				return error as Error;
			}
		})();
		expect(failed?.message).toMatch(/Network connection lost/);
		// The same stub still reaches the same object (a reset one would be broken), state intact.
		expect(await stub.peekPending("probe", Date.now())).toBe("still here");
		await restore();
	});
});

describe("the object call that stores a passkey with its first recovery codes (after the directory's claim)", () => {
	async function registerWithFault(user: TestUser, plan: FaultPlan) {
		const options = await registrationOptions({ token: user.token });
		const credential = await new SoftAuthenticator().createCredential(options);
		return callWithFaults<{ recovery_codes?: string[] }>(
			plan,
			request("POST", "/api/webauthn/register/complete/", { token: user.token, body: { credential } }),
			{ userId: user.id },
		);
	}

	/** The position of the object's call among the calls of a registration. */
	async function batchPosition(): Promise<number> {
		const user = await signUp();
		const plan = new FaultPlan();
		expect((await registerWithFault(user, plan)).status).toBe(201);
		const position = plan.calls.indexOf("DO registerPasskey") + 1;
		expect(position).toBeGreaterThan(0);
		return position;
	}

	it("leaves neither the passkey nor the codes when it fails, and the user can register again", async () => {
		vi.spyOn(console, "error").mockImplementation(() => {});
		const position = await batchPosition();
		const user = await signUp();
		for (const [name, kind] of DO_KINDS) {
			const plan = new FaultPlan();
			plan.reset(position, kind);
			expectUnavailable(await registerWithFault(user, plan), `the object's call failing with ${name}`);
			expect(await authenticatorCounts(user.id)).toEqual({ passkeys: 0, totp: 0, codes: 0 });
			// The directory's claim was released: the credential id is free again.
			expect(await claims(user.id)).toBe(0);
		}
		const again = await registerWithFault(user, new FaultPlan());
		expect(again.status).toBe(201);
		expect(again.body.recovery_codes).toHaveLength(10);
		expect(await authenticatorCounts(user.id)).toEqual({ passkeys: 1, totp: 0, codes: 10 });
	});

	it("leaves both when the batch ran but its answer was lost, and the user sees the passkey", async () => {
		vi.spyOn(console, "error").mockImplementation(() => {});
		const position = await batchPosition();
		const user = await signUp();
		const plan = new FaultPlan();
		plan.reset(position, DURABLE_OBJECT_OUTAGES["network connection lost"]);
		plan.afterRunning = true;
		expectUnavailable(await registerWithFault(user, plan), "the object's call ran, then the connection was lost");
		expect(await authenticatorCounts(user.id)).toEqual({ passkeys: 1, totp: 0, codes: 10 });
		// The claim stays with the passkey it belongs to.
		expect(await claims(user.id)).toBe(1);
		// The codes were never shown: the user replaces them (a recent session may).
		const list = await callWithFaults<{ passkeys: unknown[] }>(
			new FaultPlan(),
			request("GET", "/api/webauthn/", { token: user.token }),
		);
		expect(list.body.passkeys).toHaveLength(1);
		const regenerated = await callWithFaults<{ recovery_codes: string[] }>(
			new FaultPlan(),
			request("POST", "/api/recovery-codes/regenerate/", { token: user.token }),
		);
		expect(regenerated.body.recovery_codes).toHaveLength(10);
	});
});

describe("real bugs stay 500 internal_error", () => {
	const BUGS: Record<string, () => Error> = {
		"a SQL syntax error": () => new Error('D1_ERROR: near "SELEC": syntax error at offset 0: SQLITE_ERROR'),
		"a missing table": () => new Error("D1_ERROR: no such table: passkeys: SQLITE_ERROR"),
		"a NOT NULL constraint": () => new Error("D1_ERROR: NOT NULL constraint failed: passkeys.name: SQLITE_CONSTRAINT"),
		"a TypeError": () => new TypeError("Cannot read properties of undefined (reading 'id')"),
		"a CPU limit": () => new Error("D1_ERROR: D1 DB exceeded its CPU time limit and was reset."),
	};

	it.each(Object.entries(BUGS))(
		"answers 500 for %s, on the Worker's D1 and inside the Durable Object",
		async (_, bug) => {
			const errors = vi.spyOn(console, "error").mockImplementation(() => {});
			const user = await signUp();
			const worker = new FaultPlan();
			worker.reset(1, bug);
			expectError(
				await callWithFaults(worker, request("GET", "/api/webauthn/", { token: user.token })),
				500,
				"internal_error",
			);

			const options = await registrationOptions({ token: user.token });
			const credential = await new SoftAuthenticator().createCredential(options);
			const dry = new FaultPlan();
			const probe = await signUp();
			const probeOptions = await registrationOptions({ token: probe.token });
			await callWithFaults(
				dry,
				request("POST", "/api/webauthn/register/complete/", {
					token: probe.token,
					body: { credential: await new SoftAuthenticator().createCredential(probeOptions) },
				}),
				{ userId: probe.id },
			);
			const inside = new FaultPlan();
			inside.reset(dry.calls.indexOf("DO registerPasskey") + 1, bug);
			const response = await callWithFaults(
				inside,
				request("POST", "/api/webauthn/register/complete/", { token: user.token, body: { credential } }),
				{ userId: user.id },
			);
			expectError(response, 500, "internal_error");
			expect(await authenticatorCounts(user.id)).toEqual({ passkeys: 0, totp: 0, codes: 0 });
			expect(await claims(user.id)).toBe(0);
			expect(errors).toHaveBeenCalled();
		},
	);

	it("answers 500 when a failed statement's values merely mention a timeout", async () => {
		vi.spyOn(console, "error").mockImplementation(() => {});
		const email = uniqueEmail("timeout-overloaded");
		const plan = new FaultPlan();
		// drizzle wraps a failed statement with its SQL and values: only the cause decides.
		plan.reset(1, () => {
			const error = new Error(`Failed query: select * from users where email = ?\nparams: ${email}`);
			return Object.assign(error, { cause: new Error("D1_ERROR: no such column: emial: SQLITE_ERROR") });
		});
		const response = await callWithFaults(
			plan,
			request("POST", "/api/auth/signup/", { body: { email, password: PASSWORD } }),
		);
		expectError(response, 500, "internal_error");
	});
});

describe("isUnavailable and errorForRpc", () => {
	it("recognize every outage, through drizzle's wrapper", () => {
		for (const kind of [...Object.values(D1_OUTAGES), ...Object.values(DURABLE_OBJECT_OUTAGES)]) {
			const outage = kind();
			expect({ message: outage.message, unavailable: isUnavailable(outage) }).toEqual({
				message: outage.message,
				unavailable: true,
			});
			const wrapped = Object.assign(new Error("Failed query: delete from passkeys\nparams: x"), { cause: outage });
			expect(isUnavailable(wrapped)).toBe(true);
		}
	});

	it("keep an outage recognizable when only the message crosses a Durable Object's RPC", () => {
		const wrapped = Object.assign(new Error("Failed query: insert into passkeys values (?)\nparams: secret-value"), {
			cause: new Error("D1_ERROR: Network connection lost."),
		});
		const crossing = errorForRpc(wrapped);
		expect(isUnavailable(new Error(crossing.message))).toBe(true);
		expect(crossing.message).not.toContain("secret-value");
		const bug = errorForRpc(
			Object.assign(new Error("Failed query: insert into passkeys values (?)\nparams: timeout-overloaded"), {
				cause: new Error("D1_ERROR: NOT NULL constraint failed: passkeys.name: SQLITE_CONSTRAINT"),
			}),
		);
		expect(isUnavailable(new Error(bug.message))).toBe(false);
		expect(bug.message).toContain("NOT NULL constraint failed");
		expect(bug.message).not.toContain("timeout-overloaded");
	});

	it("describe an error for the log without the values of its statement", () => {
		const wrapped = Object.assign(new Error("Failed query: insert into users values (?, ?)\nparams: ada,pbkdf2-hash"), {
			cause: new Error("D1_ERROR: Network connection lost."),
		});
		const line = describeError(wrapped);
		expect(line).toContain("insert into users");
		expect(line).toContain("Network connection lost");
		expect(line).not.toContain("pbkdf2-hash");
	});
});

describe("the Worker's own D1 through the faulty wrapper", () => {
	it("passes every call through when no fault is planned (the wrapper changes nothing)", async () => {
		const plan = new FaultPlan();
		const ctx = createExecutionContext();
		const db = faultyD1(env.DB, plan, "Worker");
		const response = await app.fetch(
			new Request(`${BASE}/api/auth/signup/`, {
				method: "POST",
				headers: { "content-type": "application/json", origin: ORIGIN },
				body: JSON.stringify({ email: uniqueEmail(), password: PASSWORD }),
			}),
			{ ...env, DB: db } satisfies Env,
			ctx,
		);
		await waitOnExecutionContext(ctx);
		expect(response.status).toBe(201);
		expect(plan.calls.length).toBeGreaterThan(0);
	});
});
