import { type AmrRecord, type AmrUse, type AmrValue, amrClaims, withUse } from "../lib/amr";
import { clock, DAY, HOUR, iso, MINUTE } from "../lib/clock";
import { DEFAULT_SESSION_MAX_AGE_DAYS } from "../lib/config";
import { sha256Hex } from "../lib/crypto";
import { randomBytes, toBase64Url, toHex } from "../lib/encoding";
import { ApiError } from "../lib/errors";
import type { ClientKind } from "../lib/metrics";
import { UNKNOWN_DEVICE } from "../lib/user-agent";
import { type AuthenticatorCounts, countAuthenticators } from "../storage/authenticators";
import type { Db } from "../storage/db";
import type { UserPasskeys } from "../storage/passkeys";
import {
	deleteOtherSessions,
	deleteSession,
	deleteUserSessionByPublicId,
	deleteUserSessions,
	findLiveSession,
	findLiveSessionWithPasskeys,
	insertSession,
	insertSessionIfPassword,
	listLiveSessions,
	markAuthenticated,
	refreshSessionWith,
	type SessionRow,
	type SessionWithUser,
	type SetupUpgrade,
	type SingleUse,
	touchSession,
	upgradeSession,
} from "../storage/sessions";
import { endTrustedDevices } from "../storage/users";

export const PARTIAL_SESSION_TTL = 10 * MINUTE;
export const FULL_SESSION_TTL = 30 * DAY;
export const RECENT_AUTHENTICATION = 5 * MINUTE;
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

/** A new session and its token, not yet stored: the caller writes `row`, alone or in a batch. */
export async function prepareSession(
	user: SessionUser,
	level: SessionLevel,
	/** The request's client, device and country (routes/deps.ts serviceDeps). */
	source: SessionSource,
	maxAge = DEFAULT_SESSION_MAX_AGE,
	/** How the user authenticated; without it the session claims nothing (amr empty, aal1). */
	method?: AmrUse | AmrUse[],
): Promise<{ row: SessionRow; issued: IssuedSession }> {
	const token = toBase64Url(randomBytes(32));
	const now = clock.now();
	const uses = method === undefined ? [] : Array.isArray(method) ? method : [method];
	const amr = uses.reduce<AmrRecord>((record, use) => withUse(record, use, now), []);
	const row = newSessionRow(await hashToken(token), user.id, level, now, maxAge, amr, source);
	return { row, issued: { session: toAuthenticated(row, user, maxAge), token } };
}

/** A session written straight away, with no request behind it (tools, tests): its source is unknown unless given. */
export async function issueSession(
	db: Db,
	user: SessionUser,
	level: SessionLevel,
	maxAge = DEFAULT_SESSION_MAX_AGE,
	method?: AmrUse,
	source: SessionSource = UNKNOWN_SOURCE,
): Promise<IssuedSession> {
	const { row, issued } = await prepareSession(user, level, source, maxAge, method);
	await insertSession(db, row);
	return issued;
}

/**
 * A password sign-in's session, written only while the password checked is
 * still the user's (see insertSessionIfPassword); null when it changed.
 */
export async function issuePasswordSession(
	db: Db,
	user: SessionUser & { passwordHash: string },
	level: SessionLevel,
	source: SessionSource,
	maxAge: number,
	method: AmrUse,
): Promise<IssuedSession | null> {
	const { row, issued } = await prepareSession(user, level, source, maxAge, method);
	return (await insertSessionIfPassword(db, row, user.passwordHash)) ? issued : null;
}

export interface ResolvedSession {
	session: AuthenticatedSession;
	/**
	 * The sliding expiry is due to move to this date (null: not yet). The
	 * caller moves it with slideSession once the request has passed its
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
	/** The user's WebAuthn identity and passkeys, when asked for (read with the session). */
	userPasskeys?: UserPasskeys;
}

/** Finds the live session of a token; writes nothing. */
export async function resolveSession(
	db: Db,
	token: string,
	options: { withPasskeys?: boolean; maxAge?: number } = {},
): Promise<ResolvedSession | null> {
	if (token.length === 0 || token.length > 128) return null;
	const now = clock.now();
	const maxAge = options.maxAge ?? DEFAULT_SESSION_MAX_AGE;
	const id = await hashToken(token);
	let found: SessionWithUser | undefined;
	let userPasskeys: UserPasskeys | undefined;
	if (options.withPasskeys) {
		const withPasskeys = await findLiveSessionWithPasskeys(db, id, now, maxAge);
		found = withPasskeys;
		userPasskeys = withPasskeys?.userPasskeys;
	} else {
		found = await findLiveSession(db, id, now, maxAge);
	}
	if (!found) return null;
	const session = toAuthenticated(found.session, found, maxAge);
	const slideTo = slideTarget(session, now, maxAge);
	const usedAt = slideTo !== null || sessionUseDue(session, now) ? now : null;
	return { session, slideTo, usedAt, ...(userPasskeys ? { userPasskeys } : {}) };
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
 * Whether the session's last use should be written now: at most once an
 * hour, so that a session in use costs one D1 write an hour at most (and the
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
	db: Db,
	session: AuthenticatedSession,
	due: Pick<ResolvedSession, "slideTo" | "usedAt">,
): Promise<void> {
	if (due.usedAt === null) return;
	await touchSession(db, session.id, due.usedAt, due.slideTo ?? undefined);
	session.lastUsedAt = due.usedAt;
	if (due.slideTo !== null) session.expiresAt = due.slideTo;
}

export function revokeSession(db: Db, session: AuthenticatedSession): Promise<void> {
	return deleteSession(db, session.id);
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
	db: Db,
	current: AuthenticatedSession,
	maxAge = DEFAULT_SESSION_MAX_AGE,
): Promise<SessionListEntry[]> {
	const rows = await listLiveSessions(db, current.userId, clock.now(), maxAge);
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
 * and changes nothing.
 */
export async function revokeSessionByPublicId(
	db: Db,
	current: AuthenticatedSession,
	publicId: string,
	maxAge = DEFAULT_SESSION_MAX_AGE,
): Promise<{ current: boolean }> {
	if (!isPublicId(publicId)) throw new ApiError("not_found");
	const deleted = await deleteUserSessionByPublicId(db, current.userId, publicId, clock.now(), maxAge);
	if (deleted === null) throw new ApiError("not_found");
	return { current: deleted === current.id };
}

export type SecondFactorCompletion =
	| { completed: true; session: AuthenticatedSession; token: string | null }
	/** `session_gone`: a concurrent request already upgraded (or ended) this partial session; `lost`: the factor was used, or the session's authentication moved, first. */
	| { completed: false; reason: "session_gone" | "lost" };

/**
 * Ends every other session of the session's user, partial ones too (a
 * password sign-in waiting for its second factor is someone's foothold as
 * well), and every trusted device of the user, in one batch; the current
 * one stays. Returns how many sessions ended.
 */
export async function revokeOtherSessions(db: Db, session: AuthenticatedSession): Promise<number> {
	const [revoked] = await db.batch([
		deleteOtherSessions(db, session.userId, session.id),
		endTrustedDevices(db, session.userId),
	]);
	return revoked.length;
}

/**
 * Ends every session and every trusted device of a user (the server API's
 * "sign this user out everywhere": their password changed at the app, say).
 */
export async function revokeAllSessions(db: Db, userId: string): Promise<number> {
	const [revoked] = await db.batch([deleteUserSessions(db, userId), endTrustedDevices(db, userId)]);
	return revoked.length;
}

/**
 * A second factor passed: a partial session becomes a full one under a new
 * token (the old one stops working); a full session only records the fresh
 * authentication and keeps its token. A factor that works once (`use`) is
 * spent in the same transaction, only by the request that changed the
 * session: a request that loses a race spends nothing. Either way the method
 * joins the session's record of how it was authenticated (the new row
 * carries the partial one's record over).
 */
export async function completeSecondFactor(
	db: Db,
	session: AuthenticatedSession,
	method: AmrUse,
	maxAge = DEFAULT_SESSION_MAX_AGE,
	use?: SingleUse,
): Promise<SecondFactorCompletion> {
	const now = clock.now();
	const amr = withUse(session.amr, method, now);
	if (session.level === "full") {
		if (!use) {
			await markAuthenticated(db, session.id, now, amr);
			return { completed: true, session: { ...session, authenticatedAt: now, amr }, token: null };
		}
		const authenticatedAt = await refreshSessionWith(
			db,
			{ id: session.id, seenAt: session.authenticatedAt },
			now,
			maxAge,
			use,
			amr,
		);
		if (authenticatedAt === null) return { completed: false, reason: "lost" };
		return { completed: true, session: { ...session, authenticatedAt, amr }, token: null };
	}
	const token = toBase64Url(randomBytes(32));
	// The full session's lifetime counts from here: the partial one lived ten minutes at most.
	// Same client, same device: the partial session's source carries over (a new public id, as a new token).
	const row = newSessionRow(await hashToken(token), session.userId, "full", now, maxAge, amr, session.source);
	const outcome = await upgradeSession(db, session.id, row, use);
	if (outcome !== "upgraded") return { completed: false, reason: outcome === "session_gone" ? "session_gone" : "lost" };
	return { completed: true, session: toAuthenticated(row, session, maxAge), token };
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
	const token = toBase64Url(randomBytes(32));
	const now = clock.now();
	const row = {
		...newSessionRow(await hashToken(token), session.userId, "full", now, maxAge, session.amr, session.source),
		authenticatedAt: session.authenticatedAt,
	};
	return { upgrade: { fromId: session.id, row }, issued: { session: toAuthenticated(row, session, maxAge), token } };
}

export async function refreshAuthentication(
	db: Db,
	session: AuthenticatedSession,
	method: AmrUse,
): Promise<AuthenticatedSession> {
	const now = clock.now();
	const amr = withUse(session.amr, method, now);
	await markAuthenticated(db, session.id, now, amr);
	return { ...session, authenticatedAt: now, amr };
}

export function isRecent(session: AuthenticatedSession): boolean {
	return clock.now() - session.authenticatedAt <= RECENT_AUTHENTICATION;
}

export function methodsOf(counts: AuthenticatorCounts): SecondFactorMethod[] {
	const methods: SecondFactorMethod[] = [];
	if (counts.passkeys > 0) methods.push("webauthn");
	if (counts.totp > 0) methods.push("totp");
	if (counts.unusedRecoveryCodes > 0 && counts.passkeys + counts.totp > 0) methods.push("recovery_codes");
	return methods;
}

export async function secondFactorMethods(db: Db, userId: string): Promise<SecondFactorMethod[]> {
	return methodsOf(await countAuthenticators(db, userId));
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

export async function viewSession(db: Db, session: AuthenticatedSession): Promise<SessionView> {
	return sessionView(session, await secondFactorMethods(db, session.userId));
}
