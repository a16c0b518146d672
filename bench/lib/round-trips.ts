/**
 * Storage round trips each route makes on its success path, as an app client
 * (bearer token), read from src/ at the time of writing: D1 statements or
 * batches (including those the Durable Object makes), and calls of a Durable
 * Object (the user's, or the login email's limiter), each split into reads
 * and writes (a write commits). Used only to price the local storage share of
 * a route's CPU with the calibration figures; update it when a service
 * changes how it talks to storage.
 */
export interface RoundTrips {
	d1Reads: number;
	d1Writes: number;
	doReads: number;
	doWrites: number;
	/** What they are, for the reader. */
	detail: string;
}

const trips = (d1Reads: number, d1Writes: number, doReads: number, doWrites: number, detail: string): RoundTrips => ({
	d1Reads,
	d1Writes,
	doReads,
	doWrites,
	detail,
});

export const ROUND_TRIPS: Record<string, RoundTrips> = {
	"POST /api/auth/signup/": trips(1, 2, 0, 0, "email lookup; insert user, insert session"),
	"POST /api/auth/login/": trips(2, 1, 0, 2, "user by email, count; insert session; limiter begin + succeed"),
	"POST /api/auth/reauthenticate/": trips(3, 1, 0, 2, "session, user by email, count; mark authenticated; limiter"),
	"GET /api/auth/passkey/options/": trips(0, 0, 0, 0, "none: the challenge is signed (HMAC) and carries its expiry"),
	"POST /api/auth/passkey/login/": trips(
		0,
		2,
		0,
		0,
		"one batch: record the challenge's use, read passkey, user and counts; one batch: record the use, insert the session",
	),
	"GET /api/webauthn/": trips(1, 0, 0, 0, "one batch: session, user and passkeys"),
	"GET /api/webauthn/authenticate/options/": trips(1, 0, 0, 1, "one batch: session and passkeys; store challenge"),
	"GET /api/webauthn/register/options/": trips(1, 0, 0, 1, "one batch: session, user and passkeys; store challenge"),
	"GET /api/webauthn/register/options/?passwordless=true": trips(1, 0, 0, 1, "as without passwordless"),
	"POST /api/webauthn/register/complete/": trips(
		1,
		1,
		0,
		1,
		"session; insert passkey with its first-authenticator codes decided in the batch (in the DO); one DO call: take challenge, hold the claim, add passkey",
	),
	"POST /api/webauthn/verify/": trips(
		2,
		2,
		0,
		2,
		"one batch: session and passkeys; count; record use, upgrade session (one batch); gate, decide (take challenge, count)",
	),
	"POST /api/totp/setup/": trips(2, 0, 0, 1, "session, TOTP lookup; store pending secret"),
	"POST /api/totp/activate/": trips(
		1,
		1,
		2,
		1,
		"session; insert TOTP with its first-authenticator codes decided in the batch (in the DO); peek, activate (DO calls); delete pending",
	),
	"POST /api/totp/verify/": trips(
		3,
		2,
		0,
		2,
		"session, TOTP lookup, count; accept step, upgrade session (one batch); gate, decide",
	),
};

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

/** Ours, from the table above (hand-kept from src/). */
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
	return { httpRequests: routes.length, d1, durableObject, source: "bench/lib/round-trips.ts (read from src/)" };
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
