import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { MIGRATIONS, migrate, SCHEMA_VERSION, schemaVersion } from "../../src/account/migrations";
import { UserState } from "../../src/durable/user-state";

// A deploy must not break the objects the previous deploy made: each one is
// opened by the new code, with its old tables and its data, on its first use
// after the deploy. These tests make an object's storage in an older shape,
// then open it with the current code (the constructor, as the runtime does).

/** The constructor's SQL of the deploy before versioning, verbatim: what every object made by it holds. */
const BEFORE_VERSIONING = `
	CREATE TABLE IF NOT EXISTS pending (key TEXT PRIMARY KEY, value TEXT NOT NULL, expires_at INTEGER NOT NULL);
	CREATE TABLE IF NOT EXISTS attempts (id TEXT PRIMARY KEY, scope TEXT NOT NULL, session_id TEXT, at INTEGER NOT NULL);
	CREATE INDEX IF NOT EXISTS attempts_scope_at ON attempts (scope, at);
	DROP TABLE IF EXISTS session_failures;`;

const FAR_FUTURE = Date.now() + 3_600_000;

function freshObject() {
	return env.USER_STATE.get(env.USER_STATE.newUniqueId());
}

/** The schema as SQLite describes it (the runtime's own _cf_ tables left out). */
function schemaOf(sql: SqlStorage): string[] {
	return sql
		.exec<{ type: string; name: string; sql: string | null }>(
			"SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE '_cf_%' AND name NOT LIKE 'sqlite_%' ORDER BY type, name",
		)
		.toArray()
		.map((row) => `${row.type} ${row.name}: ${row.sql ?? ""}`);
}

/** Leaves the object's storage empty of our tables, as if it had never run this code. */
function wipe(sql: SqlStorage): void {
	for (const name of [
		"activity",
		"pending",
		"attempts",
		"schema_version",
		"session_failures",
		"account",
		"sessions",
		"passkeys",
		"totp_credentials",
		"recovery_codes",
		"used_challenges",
	]) {
		sql.exec(`DROP TABLE IF EXISTS ${name}`);
	}
}

/** Data of the version-1 tables: a pending challenge and a counted attempt. */
function writeVersionOneData(sql: SqlStorage): void {
	sql.exec("INSERT INTO pending (key, value, expires_at) VALUES (?, ?, ?)", "challenge:old", "kept", FAR_FUTURE);
	sql.exec(
		"INSERT INTO attempts (id, scope, session_id, at) VALUES (?, ?, ?, ?)",
		"attempt-1",
		"second_factor",
		"session-1",
		Date.now(),
	);
}

function expectVersionOneDataKept(object: UserState, sql: SqlStorage): void {
	expect(object.peekPending("challenge:old", Date.now())).toBe("kept");
	expect(sql.exec("SELECT id, scope, session_id FROM attempts").toArray()).toEqual([
		{ id: "attempt-1", scope: "second_factor", session_id: "session-1" },
	]);
}

describe("UserState's schema versions", () => {
	it("lists its versions in order, one step each, the newest being the schema version", () => {
		expect(MIGRATIONS.map((step) => step.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
		expect(SCHEMA_VERSION).toBe(3);
	});

	it("adopts an object made before versioning: its tables and data are kept, the activity log is added", async () => {
		await runInDurableObject(freshObject(), (_, state) => {
			const { sql } = state.storage;
			wipe(sql);
			// An object that old deploys made and has not been opened since session_failures went.
			sql.exec("CREATE TABLE session_failures (session_id TEXT PRIMARY KEY, count INTEGER NOT NULL)");
			sql.exec(BEFORE_VERSIONING.replace("DROP TABLE IF EXISTS session_failures;", ""));
			writeVersionOneData(sql);
			expect(schemaVersion(sql)).toBe(0);

			const opened = new UserState(state, env);

			expect(schemaVersion(sql)).toBe(SCHEMA_VERSION);
			expectVersionOneDataKept(opened, sql);
			expect(schemaOf(sql).some((line) => line.includes("session_failures"))).toBe(false);
			opened.recordActivity({ type: "password.changed", at: Date.now() });
			expect(opened.listActivity().map((entry) => entry.type)).toEqual(["password.changed"]);
		});
	});

	it("migrates an object at version 1 to the current version, keeping its data", async () => {
		await runInDurableObject(freshObject(), (_, state) => {
			const { sql } = state.storage;
			wipe(sql);
			// Made by the code that had only version 1.
			const versionOne = MIGRATIONS.filter((step) => step.version <= 1);
			for (const step of versionOne) step.up(sql);
			sql.exec("CREATE TABLE schema_version (version INTEGER NOT NULL)");
			sql.exec("INSERT INTO schema_version (version) VALUES (1)");
			writeVersionOneData(sql);
			expect(schemaOf(sql).some((line) => line.includes("activity"))).toBe(false);

			const opened = new UserState(state, env);

			expect(schemaVersion(sql)).toBe(SCHEMA_VERSION);
			expectVersionOneDataKept(opened, sql);
			opened.recordActivity({ type: "passkey.added", at: Date.now(), client: "browser", device: "Chrome on macOS" });
			expect(opened.listActivity()).toEqual([
				{ type: "passkey.added", at: expect.any(Number), client: "browser", device: "Chrome on macOS" },
			]);
		});
	});

	it("migrates an object at version 2 (the previous deploy's) to version 3: the account's tables join, its data is kept", async () => {
		await runInDurableObject(freshObject(), (_, state) => {
			const { sql } = state.storage;
			wipe(sql);
			// Made by the code that had versions 1 and 2: challenges, attempts and the activity log.
			for (const step of MIGRATIONS.filter((s) => s.version <= 2)) step.up(sql);
			sql.exec("CREATE TABLE schema_version (version INTEGER NOT NULL)");
			sql.exec("INSERT INTO schema_version (version) VALUES (2)");
			writeVersionOneData(sql);
			sql.exec("INSERT INTO activity (type, at, method) VALUES ('sign_in', ?, 'password')", Date.now());
			expect(schemaOf(sql).some((line) => line.includes("TABLE account"))).toBe(false);

			const opened = new UserState(state, env);

			expect(schemaVersion(sql)).toBe(3);
			expectVersionOneDataKept(opened, sql);
			expect(opened.listActivity().map((entry) => entry.type)).toEqual(["sign_in"]);
			const created = opened.createAccount({
				account: {
					userId: "AAAAAAAAAAAAAAAAAAAAAA",
					email: "migrated@example.com",
					webauthnUserId: "handle",
					externalId: null,
					displayName: null,
					passwordHash: "",
					passwordSalt: "",
					passwordIterations: 0,
					trustedDeviceEpoch: 0,
					createdAt: Date.now(),
				},
			});
			expect(created).toBe(true);
			expect(opened.inspect().account?.email).toBe("migrated@example.com");
		});
	});

	it("gives a new object the same schema as a migrated old one", async () => {
		const fresh = await runInDurableObject(freshObject(), (_, state) => schemaOf(state.storage.sql));
		const migrated = await runInDurableObject(freshObject(), (_, state) => {
			const { sql } = state.storage;
			wipe(sql);
			sql.exec(BEFORE_VERSIONING);
			new UserState(state, env);
			return schemaOf(sql);
		});
		expect(migrated).toEqual(fresh);
	});

	it("migrates once: a second run, or a second instance on the same storage, changes nothing", async () => {
		await runInDurableObject(freshObject(), (instance, state) => {
			const { sql } = state.storage;
			writeVersionOneData(sql);
			instance.recordActivity({ type: "totp.enabled", at: Date.now() });
			const schema = schemaOf(sql);
			const activity = instance.listActivity();

			expect(migrate(state.storage)).toEqual([]);
			const again = new UserState(state, env);

			expect(schemaOf(sql)).toEqual(schema);
			expect(schemaVersion(sql)).toBe(SCHEMA_VERSION);
			expectVersionOneDataKept(again, sql);
			expect(again.listActivity()).toEqual(activity);
			expect(sql.exec("SELECT version FROM schema_version").toArray()).toEqual([{ version: SCHEMA_VERSION }]);
		});
	});

	it("applies each missing step once, in order, and says which", async () => {
		await runInDurableObject(freshObject(), (_, state) => {
			wipe(state.storage.sql);
			expect(migrate(state.storage)).toEqual(MIGRATIONS.map((step) => step.version));
			expect(migrate(state.storage)).toEqual([]);
		});
	});
});
