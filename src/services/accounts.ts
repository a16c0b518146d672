import type { AuthenticatorCounts } from "../account/authenticators";
import { hasNoPassword } from "../account/profile";
import type { AccountRow } from "../account/schema";
import { findUserByEmail } from "../directory/users";
import {
	clientLimiterFor,
	loginLimiterFor,
	type UserStateNamespace,
	type UserStateStub,
	userStateFor,
} from "../durable/stubs";
import type { AttemptLimit } from "../durable/user-state";
import { createUser } from "../flows/accounts";
import type { AmrUse } from "../lib/amr";
import { clock } from "../lib/clock";
import type { Config } from "../lib/config";
import { hashPassword, PASSWORD_ITERATIONS, verifyPassword } from "../lib/crypto";
import { randomBytes, randomId, toBase64Url } from "../lib/encoding";
import { ApiError } from "../lib/errors";
import type { ClientKind, Metrics } from "../lib/metrics";
import type { Db } from "../storage/db";
import { CLIENT_PASSWORD_LIMIT, CLIENT_SIGNUP_LIMIT, PASSWORD_LIMIT } from "./limits";
import { emitSecurityEvent, type SecurityEventSink } from "./security-events";
import {
	type AuthenticatedSession,
	type IssuedSession,
	issuePasswordSession,
	levelWithoutSecondFactor,
	methodsOf,
	prepareSession,
	refreshAuthentication,
	type SecondFactorMethod,
	type SessionSource,
} from "./sessions";
import { type DeviceOutcome, judgeDevice, type PresentedDevice } from "./trusted-devices";

const PASSWORD_USE: AmrUse = { m: "pwd" };

export interface AccountDeps {
	db: Db;
	/** The absolute lifetime of the sessions a sign-in writes, and whether a second factor is required. */
	config: Pick<Config, "sessionMaxAge" | "requireSecondFactor">;
	userState: UserStateNamespace;
	metrics: Metrics;
	client: ClientKind;
	/** Where the sessions a sign-in writes come from (their list shows it). */
	source: SessionSource;
	startedAt: number;
	/** The per-client limits' key (clientKeyOf); null off Cloudflare, where no client is limited. */
	clientKey?: string | null;
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
	await countClientSignUp(deps, "password");
	const email = normalizeEmail(input.email);
	if (await findUserByEmail(deps.db, email)) throw new ApiError("email_taken");
	const password = await hashPassword(input.password);
	const user = {
		id: randomId(),
		email,
		webauthnUserId: toBase64Url(randomBytes(32)),
		createdAt: clock.now(),
		externalId: null,
		displayName: null,
	};
	// Under the configured absolute lifetime, like every other full session. A
	// new account has no second factor: under REQUIRE_SECOND_FACTOR its first
	// session can only add one, or signing up would be the way around the policy.
	const level = levelWithoutSecondFactor(deps.config);
	const { row, issued } = await prepareSession(
		{ id: user.id, email, externalId: null },
		level,
		deps.source,
		deps.config.sessionMaxAge,
		PASSWORD_USE,
	);
	// Two sign-ups with one email: the directory's UNIQUE index decides.
	const created = await createUser(deps.db, deps.userState, { entry: user, password, session: row });
	if (created.status !== "created") throw new ApiError("email_taken");
	emitSecurityEvent(deps, {
		type: "session.created",
		userId: user.id,
		externalId: null,
		data: { method: "sign_up", level, client: deps.client },
	});
	return { user: { id: user.id, email }, issued };
}

/**
 * Counts one sign-up attempt against the client's limit (CLIENT_SIGNUP_LIMIT),
 * or answers 429: before the email is looked up, so parallel sign-ups cannot
 * outrun it. Password and passkey-first sign-ups share the one counter.
 */
export async function countClientSignUp(deps: AccountDeps, method: "password" | "webauthn"): Promise<void> {
	const limiter = await clientLimiter(deps);
	if (!limiter) return;
	const start = await limiter.beginAttempt({ ...CLIENT_SIGNUP_LIMIT, now: clock.now() });
	if (start.locked) throw rateLimited(deps, "client_signup", start.retryAfterSeconds, method);
}

// Compared against when the email is unknown, so that a wrong email costs
// the same PBKDF2 time as a wrong password and timing reveals no accounts.
const DUMMY_HASH = {
	hash: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	salt: "AAAAAAAAAAAAAAAAAAAAAA",
	iterations: PASSWORD_ITERATIONS,
};

function storedHash(user: AccountRow) {
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

type PasswordLimit = "password" | "client_password" | "client_signup";

function rateLimited(
	deps: AccountDeps,
	reason: PasswordLimit,
	retryAfterSeconds: number,
	method: "password" | "webauthn" = "password",
): ApiError {
	deps.metrics.record({
		event: "rate_limit.blocked",
		outcome: "blocked",
		reason,
		method,
		client: deps.client,
		durationMs: performance.now() - deps.startedAt,
	});
	return new ApiError("too_many_attempts", { retryAfterSeconds });
}

function passwordLocked(deps: AccountDeps, retryAfterSeconds: number): ApiError {
	return rateLimited(deps, "password", retryAfterSeconds);
}

async function clientLimiter(deps: AccountDeps): Promise<UserStateStub | null> {
	return deps.clientKey ? clientLimiterFor(deps.userState, deps.clientKey) : null;
}

const CLIENT_LIMITS = { client_password: CLIENT_PASSWORD_LIMIT, client_signup: CLIENT_SIGNUP_LIMIT } as const;

/**
 * API.md answers 429 before it looks at the body: the sign-up and sign-in
 * routes ask the client's limiter first. This only reads the counter; the
 * service counts the attempt.
 */
export async function assertClientNotLimited(
	deps: AccountDeps,
	scope: keyof typeof CLIENT_LIMITS,
	method: "password" | "webauthn" = "password",
): Promise<void> {
	const limiter = await clientLimiter(deps);
	if (!limiter) return;
	const status = await limiter.attemptStatus({ ...CLIENT_LIMITS[scope], now: clock.now() });
	if (status.locked) throw rateLimited(deps, scope, status.retryAfterSeconds, method);
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

interface Reserved {
	limiter: UserStateStub;
	limit: AttemptLimit;
	reason: PasswordLimit;
}

/**
 * Checks a password under the email's limiter and, for a sign-in, the
 * client's: the attempt is counted by both (in parallel) before the hash is
 * computed, so parallel guesses cannot outrun either limit. A passed check
 * takes both reservations back; so does a locked one take back the other's,
 * since nothing was checked.
 */
async function checkPassword(
	deps: AccountDeps,
	email: string,
	password: string,
	/** `userId`: a reauthentication, whose session names the user already (no directory read). */
	options: { perClient: boolean; userId?: string },
): Promise<{ account: AccountRow; counts: AuthenticatorCounts }> {
	const client = options.perClient ? await clientLimiter(deps) : null;
	const limits: Reserved[] = [
		{ limiter: await loginLimiterFor(deps.userState, email), limit: PASSWORD_LIMIT, reason: "password" },
		...(client ? [{ limiter: client, limit: CLIENT_PASSWORD_LIMIT, reason: "client_password" as const }] : []),
	];
	const now = clock.now();
	const starts = await Promise.all(limits.map(({ limiter, limit }) => limiter.beginAttempt({ ...limit, now })));
	const takeBack = () =>
		Promise.all(
			starts.map((start, i) => (start.locked ? undefined : limits[i]?.limiter.succeedAttempt(start.attemptId))),
		);
	const locked = starts.findIndex((start) => start.locked);
	if (locked >= 0) {
		await takeBack();
		const start = starts[locked];
		throw rateLimited(deps, limits[locked]?.reason ?? "password", start?.locked ? start.retryAfterSeconds : 1);
	}
	// The directory says whose email it is (a session says it for a
	// reauthentication); the user's object holds the password.
	const entry = options.userId ? { id: options.userId, legacy: 0 } : await findUserByEmail(deps.db, email);
	const stub = entry ? userStateFor(deps.userState, entry.id) : null;
	// A user made before the per-user design: their object takes over their rows first (once).
	if (entry?.legacy === 1 && stub) await stub.importLegacy(entry.id);
	// The object answers only for its account's current email (a directory read that raced a change finds nothing).
	const found = stub ? await stub.accountForSignIn(email) : null;
	// A user with no password here (server API) is checked against the dummy
	// too: the same time, the same answer, whatever was typed.
	const user = found && !hasNoPassword(found.account) ? found : null;
	const valid = await verifyPassword(password, user ? storedHash(user.account) : DUMMY_HASH);
	if (!user || !valid) {
		record(deps, "auth.login.failed", "invalid_credentials");
		// The email's limiter (the first) says whether this failure closed it: sent once.
		const emailLimit = starts[0];
		if (user && emailLimit && !emailLimit.locked && emailLimit.fillsLimit) {
			emitSecurityEvent(deps, {
				type: "sign_in.failed_limit",
				userId: user.account.userId,
				externalId: user.account.externalId,
				data: { limit: "password" },
			});
		}
		throw new ApiError("invalid_credentials");
	}
	await takeBack();
	return user;
}

/**
 * A login is partial when the user has a live passkey or TOTP right now;
 * otherwise full, or setup_required under REQUIRE_SECOND_FACTOR. The
 * same count gives the second-factor methods the response lists, so they
 * are not counted twice.
 *
 * A browser remembered for this user (`device`: its device cookie, given
 * only when TRUSTED_DEVICE_DAYS is on and the client is a browser) skips
 * the second factor: the session is full. The cookie is read only after the
 * password was right, so it is never a first factor; the session records the
 * password alone (amr `pwd`, acr `aal1`): the second factor was not proven
 * again, and an access token does not say it was. `device` says what was made
 * of the cookie (the route clears one that is stale).
 */
export async function logIn(
	deps: AccountDeps & { device?: PresentedDevice },
	input: { email: string; password: string },
): Promise<{ issued: IssuedSession; methods: SecondFactorMethod[]; device: DeviceOutcome }> {
	const checked = await checkPassword(deps, normalizeEmail(input.email), input.password, { perClient: true });
	const { account, counts } = checked;
	const user = {
		id: account.userId,
		email: account.email,
		externalId: account.externalId,
		passwordHash: account.passwordHash,
		trustedDeviceEpoch: account.trustedDeviceEpoch,
	};
	const hasSecondFactor = counts.passkeys + counts.totp > 0;
	const device = hasSecondFactor && deps.device ? await judgeDevice(deps.device, user, clock.now()) : "unused";
	// A remembered browser skips the second factor; an account without one is held to the policy.
	const level = hasSecondFactor ? (device === "trusted" ? "full" : "partial") : levelWithoutSecondFactor(deps.config);
	const issued = await issuePasswordSession(
		deps.userState,
		user,
		level,
		deps.source,
		deps.config.sessionMaxAge,
		PASSWORD_USE,
	);
	// The password was changed while this one was being checked: it is no longer the password.
	if (!issued) {
		record(deps, "auth.login.failed", "password_changed");
		throw new ApiError("invalid_credentials");
	}
	record(deps, "auth.login.success");
	emitSecurityEvent(deps, {
		type: "session.created",
		userId: user.id,
		externalId: user.externalId,
		data: { method: device === "trusted" ? "password_trusted_device" : "password", level, client: deps.client },
	});
	return { issued, methods: methodsOf(counts), device };
}

export async function reauthenticate(
	deps: AccountDeps,
	session: AuthenticatedSession,
	password: string,
): Promise<AuthenticatedSession> {
	// Bound to a session and its email's limiter: not a sign-in from the client's spray.
	await checkPassword(deps, session.email, password, { perClient: false, userId: session.userId });
	return refreshAuthentication(deps.userState, session, PASSWORD_USE);
}

/**
 * Sets a new password (the session is full and recent, so no old password is
 * asked) and, in the same batch, ends every other session of the user, as
 * OWASP ASVS V3.3 asks: whoever knew the old password and signed in with it
 * is out, and so is every trusted device of the user (a remembered browser
 * would otherwise skip the second factor for whoever knows the new one). The
 * current session stays. Returns how many sessions ended.
 */
export async function changePassword(
	deps: Pick<AccountDeps, "userState" | "events">,
	session: AuthenticatedSession,
	password: string,
): Promise<number> {
	const hashed = await hashPassword(password);
	const revoked = await userStateFor(deps.userState, session.userId).changePassword(hashed, session.id);
	emitSecurityEvent(deps, { type: "password.changed", userId: session.userId, data: {} });
	// Only when it ended some: the user asked for a new password, not for this.
	if (revoked > 0) {
		emitSecurityEvent(deps, {
			type: "sessions.revoked",
			userId: session.userId,
			data: { method: "password_change" },
		});
	}
	return revoked;
}
