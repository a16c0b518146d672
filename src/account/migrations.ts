// The schema of each UserState object's own SQLite storage, versioned.
//
// Why versions: a Durable Object's storage outlives the code that made it.
// After a deploy, the new code opens objects whose tables were written by the
// previous deploy (and the one before it), one object at a time, whenever
// each is next used. A schema change must therefore be a step that takes an
// object from the version it is at to the next, never a "create what the new
// code expects" that breaks (or silently ignores) an object made before it.
//
// Rules for whoever adds a version:
// - Append; never edit or reorder a step that has shipped: objects out there
//   are at every version already deployed, and each step runs only once.
// - A step runs in one synchronous transaction with the version bump that
//   follows it: an object is at version N or N+1, never between.
// - A step is synchronous SQL only (no await): the constructor runs it before
//   the object accepts its first request, so no request sees an old schema.

/** One step: the SQL (or synchronous code) that takes an object from the previous version to this one. */
export interface Migration {
	version: number;
	/** What the step does, for whoever reads the list. */
	description: string;
	up: (sql: SqlStorage) => void;
}

export const MIGRATIONS: readonly Migration[] = [
	{
		version: 1,
		description: "challenges (pending) and attempt counters (attempts), as before versioning",
		// Objects made before versioning already have these tables (the
		// constructor created them on every start) and no version marker:
		// they are at version 0 here, so this step adopts them, hence IF NOT
		// EXISTS. session_failures was dropped by that constructor too; an
		// object not opened since then still has it.
		up: (sql) => {
			sql.exec(`
				CREATE TABLE IF NOT EXISTS pending (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER NOT NULL);
				CREATE TABLE IF NOT EXISTS attempts (id TEXT PRIMARY KEY, scope TEXT NOT NULL, session_id TEXT, at INTEGER NOT NULL);
				CREATE INDEX IF NOT EXISTS attempts_scope_at ON attempts (scope, at);
				DROP TABLE IF EXISTS session_failures;`);
		},
	},
	{
		version: 2,
		description: "the user's security activity log (durable/activity.ts), bounded on every insert",
		up: (sql) => {
			sql.exec(`
				CREATE TABLE activity (
					id INTEGER PRIMARY KEY AUTOINCREMENT,
					type TEXT NOT NULL,
					at INTEGER NOT NULL,
					method TEXT,
					client TEXT,
					device TEXT
				);
				CREATE INDEX activity_at ON activity (at, id);`);
		},
	},
	{
		version: 3,
		description:
			"the user's account: profile and password, sessions, passkeys, TOTP, recovery codes and used sign-in challenges (account/schema.ts), moved here from D1",
		up: (sql) => {
			sql.exec(`
				CREATE TABLE account (
					id INTEGER PRIMARY KEY CHECK (id = 1),
					user_id TEXT NOT NULL,
					email TEXT NOT NULL,
					webauthn_user_id TEXT NOT NULL,
					external_id TEXT,
					display_name TEXT,
					password_hash TEXT NOT NULL,
					password_salt TEXT NOT NULL,
					password_iterations INTEGER NOT NULL,
					trusted_device_epoch INTEGER NOT NULL DEFAULT 0,
					created_at INTEGER NOT NULL
				);
				CREATE TABLE sessions (
					id TEXT PRIMARY KEY,
					user_id TEXT NOT NULL,
					level TEXT NOT NULL,
					created_at INTEGER NOT NULL,
					authenticated_at INTEGER NOT NULL,
					expires_at INTEGER NOT NULL,
					amr TEXT NOT NULL DEFAULT '[]',
					public_id TEXT NOT NULL,
					client TEXT,
					device TEXT,
					country TEXT,
					last_used_at INTEGER
				);
				CREATE INDEX sessions_expires_at ON sessions (expires_at);
				CREATE UNIQUE INDEX sessions_public_id ON sessions (public_id);
				CREATE TABLE passkeys (
					id TEXT PRIMARY KEY,
					user_id TEXT NOT NULL,
					credential_id TEXT NOT NULL UNIQUE,
					public_key TEXT NOT NULL,
					sign_count INTEGER NOT NULL,
					transports TEXT NOT NULL DEFAULT '[]',
					backup_eligible INTEGER NOT NULL,
					backed_up INTEGER NOT NULL,
					aaguid TEXT NOT NULL,
					passwordless INTEGER NOT NULL,
					name TEXT NOT NULL,
					created_at INTEGER NOT NULL,
					last_used_at INTEGER
				);
				CREATE TABLE totp_credentials (
					user_id TEXT PRIMARY KEY,
					secret_ciphertext TEXT NOT NULL,
					last_step INTEGER NOT NULL,
					created_at INTEGER NOT NULL,
					last_used_at INTEGER
				);
				CREATE TABLE recovery_codes (
					id TEXT PRIMARY KEY,
					user_id TEXT NOT NULL,
					code_hash TEXT NOT NULL,
					created_at INTEGER NOT NULL,
					used_at INTEGER
				);
				CREATE UNIQUE INDEX recovery_codes_hash ON recovery_codes (code_hash);
				CREATE TABLE used_challenges (challenge TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);`);
		},
	},
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

/** The version an object's storage is at: 0 for a new object, or one made before versioning. */
export function schemaVersion(sql: SqlStorage): number {
	const table = sql
		.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'")
		.toArray();
	if (table.length === 0) return 0;
	const row = sql.exec<{ version: number }>("SELECT version FROM schema_version").toArray()[0];
	return row?.version ?? 0;
}

/**
 * Brings the object's storage to SCHEMA_VERSION; a no-op when it is there.
 * Returns the versions it applied. Each step and its version bump commit
 * together (transactionSync): a failure leaves the object at the last
 * complete version, and the next start tries the rest again.
 */
export function migrate(storage: DurableObjectStorage): number[] {
	const { sql } = storage;
	const applied: number[] = [];
	let current = schemaVersion(sql);
	// Storage at a later version than this code knows (a rollback after a
	// deploy) skips every step: safe while steps only add what older code
	// ignores, which is why a step never renames or drops what a shipped
	// version reads.
	for (const step of MIGRATIONS) {
		if (step.version <= current) continue;
		storage.transactionSync(() => {
			step.up(sql);
			sql.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
			sql.exec("DELETE FROM schema_version");
			sql.exec("INSERT INTO schema_version (version) VALUES (?)", step.version);
		});
		current = step.version;
		applied.push(step.version);
	}
	return applied;
}
