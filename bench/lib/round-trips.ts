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
