// Attempt counters (table `attempts`): failures within a window, per scope.
// The user's object counts second-factor failures; the limiter objects (one
// per login email, one per client address) count passwords and sign-ups.
// A failure is counted before anything is answered, so parallel guesses
// cannot outrun a limit.

/** Per user (second factor), per login email (password), per client address (client_*, server_key). */
export type AttemptScope = "second_factor" | "password" | "client_password" | "client_signup" | "server_key";

export interface AttemptLimit {
	scope: AttemptScope;
	limit: number;
	windowMs: number;
}

export function forgetOldAttempts(sql: SqlStorage, limit: AttemptLimit, now: number): void {
	sql.exec("DELETE FROM attempts WHERE scope = ? AND at <= ?", limit.scope, now - limit.windowMs);
	sql.exec("DELETE FROM pending WHERE expires_at <= ?", now);
}

/** Locked until the attempt that completed the count leaves the window. */
export function lockState(
	sql: SqlStorage,
	limit: AttemptLimit,
	now: number,
): { locked: boolean; retryAfterSeconds: number } {
	const oldestCounted = sql
		.exec<{ at: number }>(
			"SELECT at FROM attempts WHERE scope = ? AND at > ? ORDER BY at DESC LIMIT 1 OFFSET ?",
			limit.scope,
			now - limit.windowMs,
			limit.limit - 1,
		)
		.toArray()[0];
	if (!oldestCounted) return { locked: false, retryAfterSeconds: 0 };
	const retryAfterMs = oldestCounted.at + limit.windowMs - now;
	return { locked: true, retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) };
}

/** Counts an attempt as a failure now; returns its id, to take it back if it passes. */
export function countAttempt(
	sql: SqlStorage,
	scope: AttemptScope,
	now: number,
	sessionId: string | null = null,
): string {
	const id = crypto.randomUUID();
	sql.exec("INSERT INTO attempts (id, scope, session_id, at) VALUES (?, ?, ?, ?)", id, scope, sessionId, now);
	return id;
}

/** A passed attempt is not a failure. */
export function takeBackAttempt(sql: SqlStorage, id: string): void {
	sql.exec("DELETE FROM attempts WHERE id = ?", id);
}
