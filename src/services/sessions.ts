import { clock, DAY, iso, MINUTE } from "../lib/clock";
import { sha256Hex } from "../lib/crypto";
import { randomBytes, toBase64Url } from "../lib/encoding";
import { type AuthenticatorCounts, countAuthenticators } from "../storage/authenticators";
import type { Db } from "../storage/db";
import type { UserPasskeys } from "../storage/passkeys";
import {
	deleteSession,
	extendSession,
	findLiveSession,
	findLiveSessionWithPasskeys,
	insertSession,
	markAuthenticated,
	refreshSessionWith,
	type SessionRow,
	type SessionWithUser,
	type SingleUse,
	upgradeSession,
} from "../storage/sessions";

export const PARTIAL_SESSION_TTL = 10 * MINUTE;
export const FULL_SESSION_TTL = 30 * DAY;
export const RECENT_AUTHENTICATION = 5 * MINUTE;
// Sliding expiry is written at most once a day, not on every request.
const EXTEND_AFTER = DAY;

export type SessionLevel = "partial" | "full";
export type SecondFactorMethod = "webauthn" | "totp" | "recovery_codes";

export interface AuthenticatedSession {
	/** The stored id: SHA-256 of the token. */
	id: string;
	userId: string;
	email: string;
	level: SessionLevel;
	authenticatedAt: number;
	expiresAt: number;
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

function toAuthenticated(row: SessionRow, email: string): AuthenticatedSession {
	return {
		id: row.id,
		userId: row.userId,
		email,
		level: row.level,
		authenticatedAt: row.authenticatedAt,
		expiresAt: row.expiresAt,
	};
}

function newSessionRow(id: string, userId: string, level: SessionLevel, now: number): SessionRow {
	const ttl = level === "partial" ? PARTIAL_SESSION_TTL : FULL_SESSION_TTL;
	return { id, userId, level, createdAt: now, authenticatedAt: now, expiresAt: now + ttl };
}

export async function hashToken(token: string): Promise<string> {
	return sha256Hex(`session:${token}`);
}

/** A new session and its token, not yet stored: the caller writes `row`, alone or in a batch. */
export async function prepareSession(
	user: { id: string; email: string },
	level: SessionLevel,
): Promise<{ row: SessionRow; issued: IssuedSession }> {
	const token = toBase64Url(randomBytes(32));
	const row = newSessionRow(await hashToken(token), user.id, level, clock.now());
	return { row, issued: { session: toAuthenticated(row, user.email), token } };
}

export async function issueSession(
	db: Db,
	user: { id: string; email: string },
	level: SessionLevel,
): Promise<IssuedSession> {
	const { row, issued } = await prepareSession(user, level);
	await insertSession(db, row);
	return issued;
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
	/** The user's WebAuthn identity and passkeys, when asked for (read with the session). */
	userPasskeys?: UserPasskeys;
}

/** Finds the live session of a token; writes nothing. */
export async function resolveSession(
	db: Db,
	token: string,
	options: { withPasskeys?: boolean } = {},
): Promise<ResolvedSession | null> {
	if (token.length === 0 || token.length > 128) return null;
	const now = clock.now();
	const id = await hashToken(token);
	let found: SessionWithUser | undefined;
	let userPasskeys: UserPasskeys | undefined;
	if (options.withPasskeys) {
		const withPasskeys = await findLiveSessionWithPasskeys(db, id, now);
		found = withPasskeys;
		userPasskeys = withPasskeys?.userPasskeys;
	} else {
		found = await findLiveSession(db, id, now);
	}
	if (!found) return null;
	const session = toAuthenticated(found.session, found.email);
	const due = session.level === "full" && session.expiresAt - now < FULL_SESSION_TTL - EXTEND_AFTER;
	return { session, slideTo: due ? now + FULL_SESSION_TTL : null, ...(userPasskeys ? { userPasskeys } : {}) };
}

/** Moves a full session's expiry forward (resolveSession says when and to what). */
export async function slideSession(db: Db, session: AuthenticatedSession, expiresAt: number): Promise<void> {
	await extendSession(db, session.id, expiresAt);
	session.expiresAt = expiresAt;
}

export function revokeSession(db: Db, session: AuthenticatedSession): Promise<void> {
	return deleteSession(db, session.id);
}

export type SecondFactorCompletion =
	| { completed: true; session: AuthenticatedSession; token: string | null }
	/** `session_gone`: a concurrent request already upgraded (or ended) this partial session; `lost`: the factor was used, or the session's authentication moved, first. */
	| { completed: false; reason: "session_gone" | "lost" };

/**
 * A second factor passed: a partial session becomes a full one under a new
 * token (the old one stops working); a full session only records the fresh
 * authentication and keeps its token. A factor that works once (`use`) is
 * spent in the same transaction, only by the request that changed the
 * session: a request that loses a race spends nothing.
 */
export async function completeSecondFactor(
	db: Db,
	session: AuthenticatedSession,
	use?: SingleUse,
): Promise<SecondFactorCompletion> {
	const now = clock.now();
	if (session.level === "full") {
		if (!use) {
			await markAuthenticated(db, session.id, now);
			return { completed: true, session: { ...session, authenticatedAt: now }, token: null };
		}
		const authenticatedAt = await refreshSessionWith(db, { id: session.id, seenAt: session.authenticatedAt }, now, use);
		if (authenticatedAt === null) return { completed: false, reason: "lost" };
		return { completed: true, session: { ...session, authenticatedAt }, token: null };
	}
	const token = toBase64Url(randomBytes(32));
	const row = newSessionRow(await hashToken(token), session.userId, "full", now);
	const outcome = await upgradeSession(db, session.id, row, use);
	if (outcome !== "upgraded") return { completed: false, reason: outcome === "session_gone" ? "session_gone" : "lost" };
	return { completed: true, session: toAuthenticated(row, session.email), token };
}

export async function refreshAuthentication(db: Db, session: AuthenticatedSession): Promise<AuthenticatedSession> {
	const now = clock.now();
	await markAuthenticated(db, session.id, now);
	return { ...session, authenticatedAt: now };
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
