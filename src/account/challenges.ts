// The keys under which a session's pending challenges wait in the user's
// object (table `pending`): one registration and one assertion per session
// at a time; a new request replaces the old challenge.

export function registrationChallengeKey(sessionId: string): string {
	return `register:${sessionId}`;
}

export function assertionChallengeKey(sessionId: string): string {
	return `authenticate:${sessionId}`;
}

/** Stores a challenge (or a pending TOTP secret) under its key, replacing an earlier one. */
export function putPending(sql: SqlStorage, key: string, value: string, expiresAt: number): void {
	sql.exec("INSERT OR REPLACE INTO pending (key, value, expires_at) VALUES (?, ?, ?)", key, value, expiresAt);
}

/** Check-and-consume in one synchronous step: whoever takes it first has it. */
export function takePending(sql: SqlStorage, key: string, now: number): string | null {
	const row = sql
		.exec<{ value: string; expires_at: number }>("DELETE FROM pending WHERE key = ? RETURNING value, expires_at", key)
		.toArray()[0];
	return row && row.expires_at > now ? row.value : null;
}

/** Reads without consuming (TOTP activation keeps the secret until a code matches). */
export function peekPending(sql: SqlStorage, key: string, now: number): string | null {
	const row = sql
		.exec<{ value: string; expires_at: number }>("SELECT value, expires_at FROM pending WHERE key = ?", key)
		.toArray()[0];
	return row && row.expires_at > now ? row.value : null;
}

export function deletePending(sql: SqlStorage, key: string): void {
	sql.exec("DELETE FROM pending WHERE key = ?", key);
}
