/**
 * Storage round trips per route, as a checked contract (issue 15, item 4).
 *
 * `BUDGETS` holds, per route, the storage calls it makes on its success path
 * as an app client (bearer token), counted by test/security/round-trips.test.ts:
 * the test runs each ceremony with the software authenticator and fails when
 * a route makes more calls than its budget (a ratchet), and also when it
 * makes fewer (then lower the budget here, so the table never goes stale).
 * The bench prices the local storage share of a route's CPU with the
 * calibration figures from `ROUND_TRIPS`, which is derived from the budgets.
 *
 * `CEREMONIES` groups the routes and states issue 15's targets; the test
 * asserts that each ceremony's budgets stay within its target (each user's
 * state in their own Durable Object, D1 a directory: src/account/, src/directory/).
 */

/** The storage calls of one request, as the round-trip test counts them. */
export interface StorageCalls {
	/** D1 round trips that only read: a statement, or a batch of SELECTs only. */
	d1Reads: number;
	/** D1 round trips that write: a statement, or a batch with one write or more (a batch is one round trip). */
	d1Writes: number;
	/** Statements sent to D1, alone or inside a batch. */
	d1Statements: number;
	/** Of the D1 round trips, those a Durable Object made from inside (an authenticator change). */
	d1FromObject: number;
	/** Calls of the user's Durable Object (`user:<id>`). */
	userObject: number;
	/** Calls of the limiter objects: the login email's (`login:<hash>`) and the client address's (`client:<hash>`). */
	limiterObjects: number;
	/** Of the object calls, those that ran a statement other than SELECT on the object's own SQLite. */
	doWrites: number;
}

export interface Budget extends StorageCalls {
	/** What the calls are, for the reader (the test checks the numbers). */
	detail: string;
}

// Per route, in the order the test runs them. The password routes carry a
// CF-Connecting-IP, as through Cloudflare and wrangler dev, so the client
// address's limiter runs as in production. `budget(d1, objects, detail)`:
// d1 = [reads, writes, statements, of which from an object],
// objects = [user's object calls, limiter calls, of which write].
const budget = (
	[d1Reads, d1Writes, d1Statements, d1FromObject]: [number, number, number, number],
	[userObject, limiterObjects, doWrites]: [number, number, number],
	detail: string,
): Budget => ({ d1Reads, d1Writes, d1Statements, d1FromObject, userObject, limiterObjects, doWrites, detail });

export const BUDGETS: Record<string, Budget> = {
	"GET /api/auth/session/": budget(
		[0, 0, 0, 0],
		[1, 0, 0],
		"one call of the user's object (the token names the user): the session, the account and the second-factor counts",
	),
	"GET /api/auth/passkey/options/": budget(
		[0, 0, 0, 0],
		[0, 0, 0],
		"none: the challenge is signed (HMAC) and carries its expiry",
	),
	"POST /api/auth/passkey/login/": budget(
		[1, 0, 1, 0],
		[1, 0, 1],
		"the directory: credential id \u2192 user (one read); one call of the user's object: the challenge's use, the passkey and user handle, the assertion verified, the sign count, the session and the activity entry",
	),
	"POST /api/auth/login/": budget(
		[1, 0, 1, 0],
		[3, 5, 7],
		"client limiter gate; email and client limiters begin (in parallel); the directory: user by email; the user's object: account and counts; both limiters succeed; the user's object: the session, only while the password checked is still the user's; the activity entry (waitUntil, after the response)",
	),
	"GET /api/webauthn/authenticate/options/": budget(
		[0, 0, 0, 0],
		[1, 0, 1],
		"one call of the user's object: the session checked, the challenge stored with the passkeys that may answer it",
	),
	"POST /api/webauthn/verify/": budget(
		[0, 0, 0, 0],
		[1, 0, 1],
		"one call of the user's object: the session and the limit checked, the attempt counted, the challenge taken, the assertion verified, the sign count, the upgrade and the activity entry",
	),
	"GET /api/webauthn/register/options/": budget(
		[0, 0, 0, 0],
		[1, 0, 1],
		"one call of the user's object: the session checked, the challenge stored, the passkeys read for excludeCredentials",
	),
	"GET /api/webauthn/register/options/?passwordless=true": budget([0, 0, 0, 0], [1, 0, 1], "as without passwordless"),
	"POST /api/webauthn/register/complete/": budget(
		[0, 1, 1, 0],
		[1, 0, 1],
		"the directory: the credential id claimed (one write); one call of the user's object: the session checked, the challenge taken, the claim held, the passkey with its first codes, the trusted devices ended, the activity entries",
	),
	"GET /api/webauthn/": budget([0, 0, 0, 0], [1, 0, 0], "one call of the user's object: the session and the passkeys"),
	"POST /api/auth/signup/": budget(
		[1, 1, 2, 0],
		[2, 2, 4],
		"client limiter gate and begin; the directory: email lookup, then the user claimed (one batch); the user's object: the account and its first session; the activity entry (waitUntil, after the response)",
	),
	"POST /api/auth/reauthenticate/": budget(
		[0, 0, 0, 0],
		[3, 3, 4],
		"session; email limiter gate, begin; the user's object (the session names it): the account; limiter succeeds; mark authenticated",
	),
	"POST /api/totp/setup/": budget([0, 0, 0, 0], [3, 0, 1], "session; TOTP lookup; store the pending secret"),
	"POST /api/totp/activate/": budget(
		[0, 0, 0, 0],
		[5, 0, 3],
		"session; peek the pending secret; activate: insert TOTP with its first-authenticator codes and end the trusted devices (one transaction); delete the pending secret; the activity entry (waitUntil, after the response)",
	),
	"POST /api/totp/verify/": budget(
		[0, 0, 0, 0],
		[4, 0, 3],
		"session (with the TOTP row); gate; decide: count, accept the step, upgrade the session (one transaction); the activity entry (waitUntil, after the response)",
	),
};

/** A ceremony's storage calls in the per-user-object design, as issue 15 states them (at most). */
export interface Target {
	/** Durable Object calls, of any object. */
	objectCalls: number;
	d1Reads: number;
	d1Writes: number;
	/** The one route of the ceremony the issue's figure is for, when not the whole ceremony. */
	route?: string;
}

export interface Ceremony {
	name: string;
	/** Its requests, in order: keys of BUDGETS. */
	routes: string[];
	/** Issue 15's target; null where the issue sets none. */
	target: Target | null;
}

// Where the issue names only object calls (passkey 2FA verify, list), the
// ceremony makes no D1 call at all: D1 is a directory, not on those paths.
export const CEREMONIES: Ceremony[] = [
	{
		name: "session check",
		routes: ["GET /api/auth/session/"],
		target: { objectCalls: 1, d1Reads: 0, d1Writes: 0 },
	},
	{
		name: "passwordless sign-in",
		routes: ["GET /api/auth/passkey/options/", "POST /api/auth/passkey/login/"],
		target: { objectCalls: 1, d1Reads: 1, d1Writes: 0 },
	},
	{
		name: "passkey 2FA verify",
		routes: ["GET /api/webauthn/authenticate/options/", "POST /api/webauthn/verify/"],
		target: { objectCalls: 1, d1Reads: 0, d1Writes: 0, route: "POST /api/webauthn/verify/" },
	},
	{
		name: "registration",
		routes: ["GET /api/webauthn/register/options/", "POST /api/webauthn/register/complete/"],
		target: { objectCalls: 2, d1Reads: 0, d1Writes: 1 },
	},
	{ name: "list", routes: ["GET /api/webauthn/"], target: { objectCalls: 1, d1Reads: 0, d1Writes: 0 } },
	{ name: "sign-up", routes: ["POST /api/auth/signup/"], target: null },
	{ name: "password login", routes: ["POST /api/auth/login/"], target: null },
	{ name: "reauthentication", routes: ["POST /api/auth/reauthenticate/"], target: null },
	{ name: "authenticator app set-up", routes: ["POST /api/totp/setup/", "POST /api/totp/activate/"], target: null },
	{ name: "authenticator app verify", routes: ["POST /api/totp/verify/"], target: null },
];

/** The budgets summed over some routes. */
export function total(routes: string[]): StorageCalls {
	const sum: StorageCalls = {
		d1Reads: 0,
		d1Writes: 0,
		d1Statements: 0,
		d1FromObject: 0,
		userObject: 0,
		limiterObjects: 0,
		doWrites: 0,
	};
	for (const route of routes) {
		const calls = BUDGETS[route];
		if (!calls) throw new Error(`no budget for ${route}`);
		for (const key of Object.keys(sum) as (keyof StorageCalls)[]) sum[key] += calls[key];
	}
	return sum;
}

/** Today's budget of each ceremony beside issue 15's target, as a Markdown table. */
export function ceremonyTable(): string {
	const objects = (c: StorageCalls) => `${c.userObject + c.limiterObjects}`;
	const d1 = (c: StorageCalls) => `${c.d1Reads}r ${c.d1Writes}w`;
	const lines = [
		"| ceremony | today: object calls (user's + limiters') | today: D1 round trips (statements) | target (issue 15): object calls, D1 | today, counted as the target is |",
		"|---|---:|---:|---|---|",
	];
	for (const ceremony of CEREMONIES) {
		const today = total(ceremony.routes);
		const t = ceremony.target;
		const target = t
			? `${t.objectCalls}, ≤ ${t.d1Reads}r ${t.d1Writes}w${t.route ? ` (\`${t.route}\` alone)` : ""}`
			: "–";
		const scoped = t ? total(t.route ? [t.route] : ceremony.routes) : null;
		lines.push(
			`| ${ceremony.name} | ${objects(today)} (${today.userObject} + ${today.limiterObjects}) | ${d1(today)} (${today.d1Statements}) | ${target} | ${scoped ? `${objects(scoped)}, ${d1(scoped)}` : "–"} |`,
		);
	}
	return lines.join("\n");
}

/** What the bench's CPU phase prices: D1 round trips and Durable Object calls, each split into reads and writes. */
export interface RoundTrips {
	d1Reads: number;
	d1Writes: number;
	doReads: number;
	doWrites: number;
	/** What they are, for the reader. */
	detail: string;
}

/** Derived from the budgets: a D1 call made by an object counts as a D1 round trip too. */
export const ROUND_TRIPS: Record<string, RoundTrips> = Object.fromEntries(
	Object.entries(BUDGETS).map(([route, b]) => [
		route,
		{
			d1Reads: b.d1Reads,
			d1Writes: b.d1Writes,
			doReads: b.userObject + b.limiterObjects - b.doWrites,
			doWrites: b.doWrites,
			detail: b.detail,
		},
	]),
);

/** The HTTP requests of each ceremony of the passkey comparison, on each system. */
export const CEREMONY_ROUTES = {
	ours: {
		passkey_registration: ["GET /api/webauthn/register/options/", "POST /api/webauthn/register/complete/"],
		passwordless_sign_in: ["GET /api/auth/passkey/options/", "POST /api/auth/passkey/login/"],
		list_passkeys: ["GET /api/webauthn/"],
	},
	betterAuth: {
		passkey_registration: [
			"GET /api/auth/passkey/generate-register-options",
			"POST /api/auth/passkey/verify-registration",
		],
		passwordless_sign_in: [
			"GET /api/auth/passkey/generate-authenticate-options",
			"POST /api/auth/passkey/verify-authentication",
		],
		list_passkeys: ["GET /api/auth/passkey/list-user-passkeys"],
	},
} as const;

export type PasskeyCeremony = keyof typeof CEREMONY_ROUTES.ours;
export const PASSKEY_CEREMONIES = Object.keys(CEREMONY_ROUTES.ours) as PasskeyCeremony[];

/** Storage round trips of one ceremony: D1 (statements run alone, or batches) and Durable Object calls. */
export interface CeremonyTrips {
	httpRequests: number;
	d1: number;
	durableObject: number;
	/** Where the figures come from. */
	source: string;
}

/** Ours, from the budgets above (what test/security/round-trips.test.ts measures). */
export function oursCeremonyTrips(ceremony: PasskeyCeremony): CeremonyTrips {
	const routes = CEREMONY_ROUTES.ours[ceremony];
	let d1 = 0;
	let durableObject = 0;
	for (const route of routes) {
		const trips = ROUND_TRIPS[route];
		if (!trips) throw new Error(`round-trips.ts: no entry for ${route}`);
		d1 += trips.d1Reads + trips.d1Writes;
		durableObject += trips.doReads + trips.doWrites;
	}
	return {
		httpRequests: routes.length,
		d1,
		durableObject,
		source: "bench/lib/round-trips.ts (measured by test/security/round-trips.test.ts)",
	};
}

/**
 * Better Auth on D1, counted by hand on 2026-12-02 (shared/PEERS.md), none
 * batched: what the report states when the run did not count them itself
 * (the CPU phase skipped). A run with the CPU phase counts them on the binding.
 */
export const BETTER_AUTH_D1_STATEMENTS_BY_HAND: Record<string, number> = {
	"GET /api/auth/passkey/generate-register-options": 4,
	"POST /api/auth/passkey/verify-registration": 6,
	"GET /api/auth/passkey/generate-authenticate-options": 1,
	"POST /api/auth/passkey/verify-authentication": 7,
	"GET /api/auth/passkey/list-user-passkeys": 3,
};

/**
 * Better Auth as a Worker: D1 round trips per route as this run counted them
 * (p50 over the CPU phase's requests), or else the hand count above.
 */
export function betterAuthCeremonyTrips(
	ceremony: PasskeyCeremony,
	counted: Record<string, number> | null,
): CeremonyTrips {
	const routes = CEREMONY_ROUTES.betterAuth[ceremony];
	const measured = counted !== null && routes.every((route) => counted[route] !== undefined);
	const table = measured ? counted : BETTER_AUTH_D1_STATEMENTS_BY_HAND;
	return {
		httpRequests: routes.length,
		d1: routes.reduce((sum, route) => sum + (table[route] ?? Number.NaN), 0),
		durableObject: 0,
		source: measured
			? "counted on its D1 binding in this run (p50 per request)"
			: "counted by hand on 2026-12-02 (not counted in this run)",
	};
}
