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
	"POST /api/auth/signup/": trips(2, 2, 0, 0, "email lookup, count; insert user, insert session"),
	"POST /api/auth/login/": trips(3, 1, 0, 2, "user by email, count twice; insert session; limiter begin + succeed"),
	"POST /api/auth/reauthenticate/": trips(3, 1, 0, 2, "session, user by email, count; mark authenticated; limiter"),
	"GET /api/auth/passkey/options/": trips(0, 1, 0, 0, "one batch: sweep expired challenges, insert challenge"),
	"POST /api/auth/passkey/login/": trips(
		3,
		3,
		0,
		0,
		"passkey by credential id, user, count; take challenge, record use, insert session",
	),
	"GET /api/webauthn/": trips(2, 0, 0, 0, "session, list passkeys"),
	"GET /api/webauthn/authenticate/options/": trips(2, 0, 0, 1, "session, list passkeys; store challenge"),
	"GET /api/webauthn/register/options/": trips(3, 0, 0, 1, "session, user, list passkeys; store challenge"),
	"GET /api/webauthn/register/options/?passwordless=true": trips(3, 0, 0, 1, "as without passwordless"),
	"POST /api/webauthn/register/complete/": trips(
		2,
		1,
		1,
		1,
		"session, count (in the DO); insert passkey (in the DO); take challenge; add passkey (DO call)",
	),
	"POST /api/webauthn/verify/": trips(
		3,
		3,
		0,
		3,
		"session, list passkeys, count; record use, delete partial, insert full; gate, begin, succeed",
	),
	"POST /api/totp/setup/": trips(2, 0, 0, 1, "session, TOTP lookup; store pending secret"),
	"POST /api/totp/activate/": trips(
		2,
		1,
		2,
		1,
		"session, count (in the DO); insert TOTP (in the DO); peek, activate (DO calls); delete pending",
	),
	"POST /api/totp/verify/": trips(
		3,
		3,
		0,
		3,
		"session, TOTP lookup, count; accept step, delete partial, insert full; gate, begin, succeed",
	),
};
