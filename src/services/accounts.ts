import { loginLimiterFor, type UserStateNamespace } from "../durable/stubs";
import type { AmrUse } from "../lib/amr";
import { clock } from "../lib/clock";
import type { Config } from "../lib/config";
import { hashPassword, PASSWORD_ITERATIONS, verifyPassword } from "../lib/crypto";
import { randomBytes, randomId, toBase64Url } from "../lib/encoding";
import { ApiError } from "../lib/errors";
import type { ClientKind, Metrics } from "../lib/metrics";
import { countAuthenticators } from "../storage/authenticators";
import { type Db, isUniqueViolation } from "../storage/db";
import { deleteOtherSessions } from "../storage/sessions";
import { findUserByEmail, insertUser, setPassword, type UserRow } from "../storage/users";
import { PASSWORD_LIMIT } from "./limits";
import { emitSecurityEvent, type SecurityEventSink } from "./security-events";
import {
	type AuthenticatedSession,
	type IssuedSession,
	issuePasswordSession,
	issueSession,
	methodsOf,
	refreshAuthentication,
	type SecondFactorMethod,
} from "./sessions";

const PASSWORD_USE: AmrUse = { m: "pwd" };

export interface AccountDeps {
	db: Db;
	/** The absolute lifetime of the sessions a sign-in writes. */
	config: Pick<Config, "sessionMaxAge">;
	userState: UserStateNamespace;
	metrics: Metrics;
	client: ClientKind;
	startedAt: number;
	events: SecurityEventSink;
}

/** Emails are trimmed and compared without regard to case. */
export function normalizeEmail(email: string): string {
	return email.trim().toLowerCase();
}

export async function signUp(
	deps: AccountDeps,
	input: { email: string; password: string },
): Promise<{ user: { id: string; email: string }; issued: IssuedSession }> {
	const email = normalizeEmail(input.email);
	if (await findUserByEmail(deps.db, email)) throw new ApiError("email_taken");
	const password = await hashPassword(input.password);
	const user: UserRow = {
		id: randomId(),
		email,
		passwordHash: password.hash,
		passwordSalt: password.salt,
		passwordIterations: password.iterations,
		webauthnUserId: toBase64Url(randomBytes(32)),
		createdAt: clock.now(),
	};
	try {
		await insertUser(deps.db, user);
	} catch (error) {
		// Two sign-ups with one email: the UNIQUE index decides.
		if (isUniqueViolation(error)) throw new ApiError("email_taken");
		throw error;
	}
	const issued = await issueSession(deps.db, user, "full", deps.config.sessionMaxAge, PASSWORD_USE);
	emitSecurityEvent(deps, {
		type: "session.created",
		userId: user.id,
		data: { method: "sign_up", level: "full", client: deps.client },
	});
	return { user: { id: user.id, email }, issued };
}

// Compared against when the email is unknown, so that a wrong email costs
// the same PBKDF2 time as a wrong password and timing reveals no accounts.
const DUMMY_HASH = {
	hash: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	salt: "AAAAAAAAAAAAAAAAAAAAAA",
	iterations: PASSWORD_ITERATIONS,
};

function storedHash(user: UserRow) {
	return { hash: user.passwordHash, salt: user.passwordSalt, iterations: user.passwordIterations };
}

function record(deps: AccountDeps, event: "auth.login.success" | "auth.login.failed", reason?: string): void {
	deps.metrics.record({
		event,
		outcome: event === "auth.login.success" ? "success" : "failure",
		...(reason ? { reason } : {}),
		method: "password",
		client: deps.client,
		durationMs: performance.now() - deps.startedAt,
	});
}

function passwordLocked(deps: AccountDeps, retryAfterSeconds: number): ApiError {
	deps.metrics.record({
		event: "rate_limit.blocked",
		outcome: "blocked",
		reason: "password",
		method: "password",
		client: deps.client,
		durationMs: performance.now() - deps.startedAt,
	});
	return new ApiError("too_many_attempts", { retryAfterSeconds });
}

/**
 * API.md answers 429 before it looks at the body. A login's email is in the
 * body, but a reauthentication's comes from the session, so its route asks
 * first. This only reads the counter; `checkPassword` counts the attempt.
 */
export async function assertPasswordNotLocked(deps: AccountDeps, email: string): Promise<void> {
	const limiter = await loginLimiterFor(deps.userState, email);
	const status = await limiter.attemptStatus({ ...PASSWORD_LIMIT, now: clock.now() });
	if (status.locked) throw passwordLocked(deps, status.retryAfterSeconds);
}

/**
 * Checks a password under the email's limiter: the attempt is counted before
 * the hash is computed, so parallel guesses cannot outrun the limit.
 */
async function checkPassword(deps: AccountDeps, email: string, password: string): Promise<UserRow> {
	const limiter = await loginLimiterFor(deps.userState, email);
	const start = await limiter.beginAttempt({ ...PASSWORD_LIMIT, now: clock.now() });
	if (start.locked) throw passwordLocked(deps, start.retryAfterSeconds);
	const user = await findUserByEmail(deps.db, email);
	const valid = await verifyPassword(password, user ? storedHash(user) : DUMMY_HASH);
	if (!user || !valid) {
		record(deps, "auth.login.failed", "invalid_credentials");
		if (user && start.fillsLimit)
			emitSecurityEvent(deps, { type: "sign_in.failed_limit", userId: user.id, data: { limit: "password" } });
		throw new ApiError("invalid_credentials");
	}
	await limiter.succeedAttempt(start.attemptId);
	return user;
}

/**
 * A login is partial when the user has a live passkey or TOTP right now. The
 * same count gives the second-factor methods the response lists, so they
 * are not counted twice.
 */
export async function logIn(
	deps: AccountDeps,
	input: { email: string; password: string },
): Promise<{ issued: IssuedSession; methods: SecondFactorMethod[] }> {
	const user = await checkPassword(deps, normalizeEmail(input.email), input.password);
	const counts = await countAuthenticators(deps.db, user.id);
	const level = counts.passkeys + counts.totp > 0 ? "partial" : "full";
	const issued = await issuePasswordSession(deps.db, user, level, deps.config.sessionMaxAge, PASSWORD_USE);
	// The password was changed while this one was being checked: it is no longer the password.
	if (!issued) {
		record(deps, "auth.login.failed", "password_changed");
		throw new ApiError("invalid_credentials");
	}
	record(deps, "auth.login.success");
	emitSecurityEvent(deps, {
		type: "session.created",
		userId: user.id,
		data: { method: "password", level, client: deps.client },
	});
	return { issued, methods: methodsOf(counts) };
}

export async function reauthenticate(
	deps: AccountDeps,
	session: AuthenticatedSession,
	password: string,
): Promise<AuthenticatedSession> {
	await checkPassword(deps, session.email, password);
	return refreshAuthentication(deps.db, session, PASSWORD_USE);
}

/**
 * Sets a new password (the session is full and recent, so no old password is
 * asked) and, in the same batch, ends every other session of the user, as
 * OWASP ASVS V3.3 asks: whoever knew the old password and signed in with it
 * is out. The current session stays. Returns how many sessions ended.
 */
export async function changePassword(
	deps: Pick<AccountDeps, "db">,
	session: AuthenticatedSession,
	password: string,
): Promise<number> {
	const hashed = await hashPassword(password);
	const [, revoked] = await deps.db.batch([
		setPassword(deps.db, session.userId, hashed),
		deleteOtherSessions(deps.db, session.userId, session.id),
	]);
	return revoked.length;
}
