import type { AuthenticatorCounts } from "../account/authenticators";
import type { PasskeyRow, SessionRow } from "../account/schema";
import type { SetupUpgrade } from "../account/sessions";
import { type UserStateNamespace, type UserStateStub, userStateFor } from "../durable/stubs";
import type { AccountIdentity, ResolvedRow } from "../durable/user-state";
import { type AmrRecord, type AmrUse, type AmrValue, amrClaims, withUse } from "../lib/amr";
import { clock, DAY, HOUR, iso, MINUTE } from "../lib/clock";
import { DEFAULT_SESSION_MAX_AGE_DAYS } from "../lib/config";
import { sha256Hex } from "../lib/crypto";
import { randomBytes, toHex } from "../lib/encoding";
import { ApiError } from "../lib/errors";
import type { ClientKind } from "../lib/metrics";
import { UNKNOWN_DEVICE } from "../lib/user-agent";
import { newToken, tokenUser } from "./session-token";

export type { SessionRow, SetupUpgrade };
export { newToken, tokenUser };

export const PARTIAL_SESSION_TTL = 10 * MINUTE;
export const FULL_SESSION_TTL = 30 * DAY;
/**
 * The absolute lifetime when the caller has no configuration at hand (tests,
 * tools); the Worker passes Config.sessionMaxAge (SESSION_MAX_AGE_DAYS).
 */
export const DEFAULT_SESSION_MAX_AGE = DEFAULT_SESSION_MAX_AGE_DAYS * DAY;
// Sliding expiry is written at most once a day, not on every request.
const EXTEND_AFTER = DAY;
// The last use is written at most once an hour: the list says when, to the hour.
export const LAST_USED_PRECISION = HOUR;

/**
 * `partial`: the password was right, the second factor is still due.
 * `setup_required`: REQUIRE_SECOND_FACTOR is on and the user has no second
 * factor; the session can only add one (registration, TOTP set-up), which
 * makes it full. `full`: signed in.
 */
export type SessionLevel = "partial" | "full" | "setup_required";
export type SecondFactorMethod = "webauthn" | "totp" | "recovery_codes";

/** Where a session was created, as its list shows it (GET /api/auth/sessions/). */
export interface SessionSource {
	/** A cookie (browser) or a bearer token (app); null: not known (a row from before migration 0005, a tool's session). */
	client: ClientKind | null;
	/** Coarse: "Chrome on macOS" (lib/user-agent.ts describeDevice). */
	device: string;
	/** ISO 3166-1 alpha-2, from `request.cf.country`; null when not known. */
	country: string | null;
}

/** For a session created by no request (tools, tests): nothing is known. */
export const UNKNOWN_SOURCE: SessionSource = { client: null, device: UNKNOWN_DEVICE, country: null };

export interface AuthenticatedSession {
	/** The stored id: SHA-256 of the token. Never shown to anyone. */
	id: string;
	/** The id the session list shows and DELETE /api/auth/sessions/{id}/ takes. */
	publicId: string;
	userId: string;
	email: string;
	/** The app's own id for the user when the server API set one: the access token's subject then. */
	externalId: string | null;
	level: SessionLevel;
	createdAt: number;
	authenticatedAt: number;
	/** The sliding expiry, never later than createdAt + the absolute lifetime. */
	expiresAt: number;
	/** How it was authenticated: each method with its newest time (lib/amr.ts). */
	amr: AmrRecord;
	/** Where it was created; a partial session's carries over to its full one. */
	source: SessionSource;
	/** The newest use as stored (written at most once an hour). */
	lastUsedAt: number;
}

export interface IssuedSession {
	session: AuthenticatedSession;
	/** The bearer token: 256 random bits, shown once and stored only as a hash. */
	token: string;
}

export interface SessionView {
	level: SessionLevel;
	user: { id: string; email: string };
	methods: SecondFactorMethod[];
	authenticated_at: string;
	expires_at: string;
}

/** Who a session belongs to, as the session carries it. */
export interface SessionUser {
	id: string;
	email: string;
	externalId: string | null;
}

function toAuthenticated(
	row: SessionRow,
	user: Pick<SessionUser, "email" | "externalId">,
	maxAge: number,
): AuthenticatedSession {
	return {
		id: row.id,
		publicId: row.publicId,
		userId: row.userId,
		email: user.email,
		externalId: user.externalId,
		level: row.level,
		createdAt: row.createdAt,
		authenticatedAt: row.authenticatedAt,
		// A row written before the cap (or before it was lowered) may say later; the cap wins.
		expiresAt: Math.min(row.expiresAt, row.createdAt + maxAge),
		amr: row.amr,
		source: sourceOf(row),
		lastUsedAt: lastUsedOf(row),
	};
}

/** A row from before migration 0005 knows nothing of where it was created. */
export function sourceOf(row: Pick<SessionRow, "client" | "device" | "country">): SessionSource {
	return { client: row.client, device: row.device ?? UNKNOWN_DEVICE, country: row.country };
}

/** Migration 0005 filled it in for older rows; the fallback only keeps the type honest. */
export function lastUsedOf(row: Pick<SessionRow, "lastUsedAt" | "authenticatedAt">): number {
	return row.lastUsedAt ?? row.authenticatedAt;
}

/** A public id: 128 random bits as 32 lower-case hex digits, the form migration 0005 gave older rows. */
export function newPublicId(): string {
	return toHex(randomBytes(16));
}

export function isPublicId(text: string): boolean {
	return /^[0-9a-f]{32}$/.test(text);
}

function newSessionRow(
	id: string,
	userId: string,
	level: SessionLevel,
	now: number,
	maxAge: number,
	amr: AmrRecord,
	source: SessionSource,
): SessionRow {
	// A set-up session lives as briefly as a partial one: its routes all need a recent authentication anyway.
	const ttl = level === "full" ? Math.min(FULL_SESSION_TTL, maxAge) : PARTIAL_SESSION_TTL;
	return {
		id,
		publicId: newPublicId(),
		userId,
		level,
		createdAt: now,
		authenticatedAt: now,
		expiresAt: now + ttl,
		amr,
		client: source.client,
		device: source.device,
		country: source.country,
		lastUsedAt: now,
	};
}

export async function hashToken(token: string): Promise<string> {
	return sha256Hex(`session:${token}`);
}

/** A new session and its token, not yet stored: the caller writes `row`, alone or with what goes with it. */
export async function prepareSession(
	user: SessionUser,
	level: SessionLevel,
	/** The request's client, device and country (routes/deps.ts serviceDeps). */
	source: SessionSource,
	maxAge = DEFAULT_SESSION_MAX_AGE,
	/** How the user authenticated; without it the session claims nothing (amr empty, aal1). */
	method?: AmrUse | AmrUse[],
): Promise<{ row: SessionRow; issued: IssuedSession }> {
	const draft = await draftSession(user.id, level, source, maxAge);
	const uses = method === undefined ? [] : Array.isArray(method) ? method : [method];
	const amr = uses.reduce<AmrRecord>((record, use) => withUse(record, use, draft.row.createdAt), []);
	const row = { ...draft.row, amr };
	return { row, issued: draft.issue(row, user) };
}

/**
 * A session to be written by a ceremony in the user's object, which fills in
 * its record of how it was authenticated: the token stays here, the object
 * gets only its hash. `issue` makes the answer from the row the object wrote.
 */
export async function draftSession(
	userId: string,
	level: SessionLevel,
	source: SessionSource,
	maxAge = DEFAULT_SESSION_MAX_AGE,
): Promise<{
	row: SessionRow;
	issue: (written: SessionRow, user: Pick<SessionUser, "email" | "externalId">) => IssuedSession;
}> {
	const token = await newToken(userId);
	const row = newSessionRow(await hashToken(token), userId, level, clock.now(), maxAge, [], source);
	return { row, issue: (written, user) => ({ session: toAuthenticated(written, user, maxAge), token }) };
}

function stubOf(userState: UserStateNamespace, userId: string): UserStateStub {
	return userStateFor(userState, userId);
}

/** A session written straight away, with no request behind it (tools, tests): its source is unknown unless given. */
export async function issueSession(
	userState: UserStateNamespace,
	user: SessionUser,
	level: SessionLevel,
	maxAge = DEFAULT_SESSION_MAX_AGE,
	method?: AmrUse,
	source: SessionSource = UNKNOWN_SOURCE,
): Promise<IssuedSession> {
	const { row, issued } = await prepareSession(user, level, source, maxAge, method);
	if (!(await stubOf(userState, user.id).insertSession(row))) throw new ApiError("not_authenticated");
	return issued;
}

/**
 * A password sign-in's session, written only while the password checked is
 * still the user's (UserState.insertSessionIfPassword); null when it changed.
 */
export async function issuePasswordSession(
	userState: UserStateNamespace,
	user: SessionUser & { passwordHash: string },
	level: SessionLevel,
	source: SessionSource,
	maxAge: number,
	method: AmrUse,
): Promise<IssuedSession | null> {
	const { row, issued } = await prepareSession(user, level, source, maxAge, method);
	return (await stubOf(userState, user.id).insertSessionIfPassword(row, user.passwordHash)) ? issued : null;
}

export interface ResolvedSession {
	session: AuthenticatedSession;
	/**
	 * The sliding expiry is due to move to this date (null: not yet). The
	 * caller moves it with recordSessionUse once the request has passed its
	 * checks: a refused request (a foreign Origin, a partial or stale
	 * session) does not keep a session alive.
	 */
	slideTo: number | null;
	/**
	 * The session's use is due to be recorded at this time (null: not yet):
	 * an hour after the last recorded use, or whenever the expiry slides
	 * (the same write). recordSessionUse writes both, after the checks.
	 */
	usedAt: number | null;
	/** The user's second factors as the session check read them. */
	counts: AuthenticatorCounts;
	/** The user's WebAuthn identity and passkeys, when asked for (read with the session). */
	userPasskeys?: UserPasskeys;
	/** The user's TOTP row (null: none), when asked for. */
	totp?: ResolvedRow["totp"];
}

export interface UserPasskeys {
	user: { id: string; email: string; webauthnUserId: string };
	passkeys: PasskeyRow[];
}

/** Finds the live session of a token with one call to its user's object; writes nothing. */
export async function resolveSession(
	userState: UserStateNamespace,
	token: string,
	options: { withPasskeys?: boolean; withTotp?: boolean; maxAge?: number } = {},
): Promise<ResolvedSession | null> {
	const userId = await tokenUser(token);
	if (userId === null) return null;
	const now = clock.now();
	const maxAge = options.maxAge ?? DEFAULT_SESSION_MAX_AGE;
	const found = await stubOf(userState, userId).resolveSession(await hashToken(token), now, maxAge, {
		passkeys: options.withPasskeys === true,
		totp: options.withTotp === true,
	});
	if (!found) return null;
	const session = toAuthenticated(found.session, found.identity, maxAge);
	const slideTo = slideTarget(session, now, maxAge);
	const usedAt = slideTo !== null || sessionUseDue(session, now) ? now : null;
	const identity: AccountIdentity = found.identity;
	return {
		session,
		slideTo,
		usedAt,
		counts: found.counts,
		...(found.passkeys
			? {
					userPasskeys: {
						user: { id: identity.userId, email: identity.email, webauthnUserId: identity.webauthnUserId },
						passkeys: found.passkeys,
					},
				}
			: {}),
		...(found.totp !== undefined ? { totp: found.totp } : {}),
	};
}

/**
 * Where a full session's sliding expiry should move now, or null: 30 days
 * from now, capped at its absolute end. It is written at most once a day,
 * except for the last step up to the cap, so that a session in use ends at
 * its absolute end and not up to a day before it.
 */
function slideTarget(session: AuthenticatedSession, now: number, maxAge: number): number | null {
	if (session.level !== "full") return null;
	const end = session.createdAt + maxAge;
	const target = Math.min(now + FULL_SESSION_TTL, end);
	if (target <= session.expiresAt) return null;
	return target - session.expiresAt > EXTEND_AFTER || target === end ? target : null;
}

/**
 * A ceremony's use of the session its object checked (deferred): when its
 * last use or sliding expiry is due, the same write as resolveSession's
 * caller makes (recordSessionUse). Returns the new expiry when it slid (a
 * browser's cookie is sent again with it), else null.
 */
export async function recordCeremonyUse(
	userState: UserStateNamespace,
	row: SessionRow,
	identity: Pick<SessionUser, "email" | "externalId">,
	maxAge = DEFAULT_SESSION_MAX_AGE,
): Promise<{ session: AuthenticatedSession; slideTo: number } | null> {
	const now = clock.now();
	const session = toAuthenticated(row, identity, maxAge);
	const slideTo = slideTarget(session, now, maxAge);
	const usedAt = slideTo !== null || sessionUseDue(session, now) ? now : null;
	await recordSessionUse(userState, session, { slideTo, usedAt });
	return slideTo === null ? null : { session, slideTo };
}

/**
 * Whether the session's last use should be written now: at most once an
 * hour, so that a session in use costs one write an hour at most (and the
 * sliding expiry's daily write carries it for free).
 */
export function sessionUseDue(session: AuthenticatedSession, now: number): boolean {
	return now - session.lastUsedAt >= LAST_USED_PRECISION;
}

/**
 * Records a use of the session in one write: its last use and, when due, its
 * sliding expiry (resolveSession says whether and what).
 */
export async function recordSessionUse(
	userState: UserStateNamespace,
	session: AuthenticatedSession,
	due: Pick<ResolvedSession, "slideTo" | "usedAt">,
): Promise<void> {
	if (due.usedAt === null) return;
	await stubOf(userState, session.userId).touchSession(session.id, due.usedAt, due.slideTo ?? undefined);
	session.lastUsedAt = due.usedAt;
	if (due.slideTo !== null) session.expiresAt = due.slideTo;
}

export async function revokeSession(userState: UserStateNamespace, session: AuthenticatedSession): Promise<void> {
	await stubOf(userState, session.userId).endSession(session.id);
}

/** One of the user's sessions as their list shows it: never its token or the token's hash, never an address. */
export interface SessionListEntry {
	id: string;
	current: boolean;
	/** "unknown" only for a session created before the list existed (migration 0005). */
	client: "browser" | "app" | "unknown";
	device: string;
	country?: string;
	created_at: string;
	last_used_at: string;
	/** RFC 8176 values, as in an access token's `amr` claim. */
	amr: AmrValue[];
}

/** The user's live sessions, newest first, the requesting one marked `current`. */
export async function listSessions(
	userState: UserStateNamespace,
	current: AuthenticatedSession,
	maxAge = DEFAULT_SESSION_MAX_AGE,
): Promise<SessionListEntry[]> {
	const rows = await stubOf(userState, current.userId).listSessions(clock.now(), maxAge);
	return rows.map((row) => {
		const source = sourceOf(row);
		return {
			id: row.publicId,
			current: row.id === current.id,
			client: source.client ?? "unknown",
			device: source.device,
			...(source.country ? { country: source.country } : {}),
			created_at: iso(row.createdAt),
			last_used_at: iso(lastUsedOf(row)),
			amr: amrClaims(row.amr).amr,
		};
	});
}

/**
 * Ends one of the user's live sessions by its public id; `current` says it
 * was the requesting one (a sign-out). An id that is not a live session of
 * this user (another user's, an ended one, one that cannot exist) is 404
 * and changes nothing: it is looked for in this user's object only.
 */
export async function revokeSessionByPublicId(
	userState: UserStateNamespace,
	current: AuthenticatedSession,
	publicId: string,
	maxAge = DEFAULT_SESSION_MAX_AGE,
): Promise<{ current: boolean }> {
	if (!isPublicId(publicId)) throw new ApiError("not_found");
	const deleted = await stubOf(userState, current.userId).endSessionByPublicId(publicId, clock.now(), maxAge);
	if (deleted === null) throw new ApiError("not_found");
	return { current: deleted === current.id };
}

/**
 * Ends every other session of the session's user, partial ones too (a
 * password sign-in waiting for its second factor is someone's foothold as
 * well), and every trusted device of the user, in one transaction; the
 * current one stays. Returns how many sessions ended.
 */
export function revokeOtherSessions(userState: UserStateNamespace, session: AuthenticatedSession): Promise<number> {
	return stubOf(userState, session.userId).endOtherSessions(session.id);
}

/**
 * Ends every session and every trusted device of a user (the server API's
 * "sign this user out everywhere": their password changed at the app, say).
 */
export function revokeAllSessions(userState: UserStateNamespace, userId: string): Promise<number> {
	return stubOf(userState, userId).endAllSessions();
}

/**
 * The full session that replaces a partial one when its second factor
 * passes: a new token (the old one stops working), the partial one's source
 * and record carried over with the method added; its lifetime counts from now.
 */
export async function prepareSecondFactorUpgrade(
	session: AuthenticatedSession,
	amr: AmrRecord,
	now: number,
	maxAge = DEFAULT_SESSION_MAX_AGE,
): Promise<{ row: SessionRow; issued: IssuedSession }> {
	const token = await newToken(session.userId);
	const row = newSessionRow(await hashToken(token), session.userId, "full", now, maxAge, amr, session.source);
	return { row, issued: { session: toAuthenticated(row, session, maxAge), token } };
}

/**
 * The level of a session signed in without a second factor (a password, or a
 * server API `partial` request) for a user who has none: full, unless the
 * operator requires a second factor (REQUIRE_SECOND_FACTOR).
 */
export function levelWithoutSecondFactor(config: { requireSecondFactor: boolean }): SessionLevel {
	return config.requireSecondFactor ? "setup_required" : "full";
}

/**
 * The full session that replaces a setup_required one when the user adds a
 * second factor: a new token (as partial → full), the same source and record
 * of how it was authenticated. Adding a factor is not authenticating with it:
 * the last authentication stays the password's. Its lifetime counts from now.
 */
export async function prepareSetupUpgrade(
	session: AuthenticatedSession,
	maxAge = DEFAULT_SESSION_MAX_AGE,
): Promise<{ upgrade: SetupUpgrade; issued: IssuedSession }> {
	const token = await newToken(session.userId);
	const now = clock.now();
	const row = {
		...newSessionRow(await hashToken(token), session.userId, "full", now, maxAge, session.amr, session.source),
		authenticatedAt: session.authenticatedAt,
	};
	return { upgrade: { fromId: session.id, row }, issued: { session: toAuthenticated(row, session, maxAge), token } };
}

export async function refreshAuthentication(
	userState: UserStateNamespace,
	session: AuthenticatedSession,
	method: AmrUse,
): Promise<AuthenticatedSession> {
	const now = clock.now();
	const amr = withUse(session.amr, method, now);
	await stubOf(userState, session.userId).markAuthenticated(session.id, now, amr);
	return { ...session, authenticatedAt: now, amr };
}

export function methodsOf(counts: AuthenticatorCounts): SecondFactorMethod[] {
	const methods: SecondFactorMethod[] = [];
	if (counts.passkeys > 0) methods.push("webauthn");
	if (counts.totp > 0) methods.push("totp");
	if (counts.unusedRecoveryCodes > 0 && counts.passkeys + counts.totp > 0) methods.push("recovery_codes");
	return methods;
}

export async function secondFactorMethods(
	userState: UserStateNamespace,
	userId: string,
): Promise<SecondFactorMethod[]> {
	return methodsOf(await stubOf(userState, userId).counts());
}

/** The session as the API shows it, from counts the caller already read. */
export function sessionView(session: AuthenticatedSession, methods: SecondFactorMethod[]): SessionView {
	return {
		level: session.level,
		user: { id: session.userId, email: session.email },
		methods,
		authenticated_at: iso(session.authenticatedAt),
		expires_at: iso(session.expiresAt),
	};
}

export async function viewSession(userState: UserStateNamespace, session: AuthenticatedSession): Promise<SessionView> {
	return sessionView(session, await secondFactorMethods(userState, session.userId));
}
