// Not a browser test: the benchmark's storage measurement (bench/lib/storage.ts),
// in Node (what this suite runs in), on SQLite files laid out as wrangler dev
// leaves them under --persist-to: the D1 database with the project's own
// migrations applied, and Durable Object files named by miniflare.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, describe, expect, it } from "vitest";
import { d1File, durableObjectFiles } from "../../bench/lib/servers.ts";
import { measureStorage } from "../../bench/lib/storage.ts";
import { ROOT } from "./worker";

const persist = mkdtempSync(join(tmpdir(), "bench-storage-"));
const scratch = mkdtempSync(join(tmpdir(), "bench-storage-scratch-"));
const open: DatabaseSync[] = [];

afterAll(() => {
	for (const db of open) db.close();
	rmSync(persist, { recursive: true, force: true });
	rmSync(scratch, { recursive: true, force: true });
});

/** The local D1 file with every migration of migrations/ applied, and `users` users with two credentials each. */
function seedDirectory(users: number): void {
	const dir = join(persist, "v3", "d1", "miniflare-D1DatabaseObject");
	mkdirSync(dir, { recursive: true });
	const db = new DatabaseSync(join(dir, "0123abcd.sqlite"));
	for (const file of readdirSync(join(ROOT, "migrations"))
		.filter((f) => f.endsWith(".sql"))
		.sort()) {
		db.exec(readFileSync(join(ROOT, "migrations", file), "utf8"));
	}
	for (let i = 0; i < users; i++) {
		db.prepare(
			"INSERT INTO users (id, email, password_hash, password_salt, password_iterations, webauthn_user_id, created_at) VALUES (?, ?, '', '', 0, ?, 0)",
		).run(`user-${i}`, `person-${i}@example.com`, `handle-${i}`);
		for (const n of [1, 2]) {
			db.prepare("INSERT INTO credentials (credential_id, user_id, created_at) VALUES (?, ?, 0)").run(
				`credential-${i}-${n}`,
				`user-${i}`,
			);
		}
	}
	db.close();
}

/**
 * One object's file: the name miniflare records, a schema with what the
 * measurement must tell apart (a TEXT primary key's automatic index, an index
 * of our own, an AUTOINCREMENT table and its sqlite_sequence, the runtime's
 * _cf_METADATA), and an account row for a user. `keepOpen`: the writer stays
 * connected, so its last rows are still in the WAL, as in a running server.
 */
function seedObject(name: string, options: { account: boolean; sessions: number; keepOpen?: boolean }): void {
	const dir = join(persist, "v3", "do", "passkey-edge-UserState");
	mkdirSync(dir, { recursive: true });
	const db = new DatabaseSync(join(dir, `${name.replace(/\W/g, "_")}.sqlite`));
	db.exec(`
		PRAGMA journal_mode = WAL;
		CREATE TABLE __miniflare_do_name (id INTEGER PRIMARY KEY, name TEXT);
		CREATE TABLE account (id INTEGER PRIMARY KEY, email TEXT NOT NULL);
		CREATE TABLE sessions (id TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
		CREATE INDEX sessions_expires_at ON sessions (expires_at);
		CREATE TABLE activity (id INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL);
		CREATE TABLE _cf_METADATA (key INTEGER PRIMARY KEY, value BLOB);
		INSERT INTO _cf_METADATA VALUES (1, 0);`);
	db.prepare("INSERT INTO __miniflare_do_name (id, name) VALUES (1, ?)").run(name);
	if (options.account) db.prepare("INSERT INTO account (id, email) VALUES (1, ?)").run(`${name}@example.com`);
	for (let i = 0; i < options.sessions; i++) {
		db.prepare("INSERT INTO sessions (id, expires_at) VALUES (?, ?)").run(`${name}-session-${i}`, i);
		db.prepare("INSERT INTO activity (type) VALUES ('sign_in')").run();
	}
	if (options.keepOpen) open.push(db);
	else db.close();
}

describe("the benchmark's storage measurement", () => {
	seedDirectory(40);
	seedObject("user:a", { account: true, sessions: 3 });
	seedObject("user:b", { account: true, sessions: 5, keepOpen: true });
	seedObject("user:calibration", { account: false, sessions: 0 });
	seedObject("login:0f0f", { account: false, sessions: 0 });
	const objectFiles = durableObjectFiles(persist);
	const live = objectFiles.find((file) => file.includes("user_b"));
	const walBefore = live ? statSync(`${live}-wal`).size : 0;
	const report = measureStorage(d1File(persist), objectFiles, scratch);

	it("gives the directory's bytes per user from users and credentials with their indexes", () => {
		expect(report.users).toBe(40);
		const users = report.tables.find((t) => t.table === "users");
		const credentials = report.tables.find((t) => t.table === "credentials");
		expect(users?.rows).toBe(40);
		expect(credentials?.rows).toBe(80);
		expect(users?.indexes).toEqual(
			expect.arrayContaining(["users_email_unique", "users_webauthn_user_id_unique", "users_external_id_unique"]),
		);
		expect(credentials?.btrees?.map((b) => b.name)).toEqual(
			expect.arrayContaining(["credentials", "credentials_user_id"]),
		);
		const bytes = (users?.bytes ?? 0) + (credentials?.bytes ?? 0);
		expect(report.directory).toMatchObject({ bytes, bytesPerUser: bytes / 40 });
		expect(report.directory?.payloadBytesPerUser).toBeGreaterThan(0);
		// The legacy tables are listed, empty for users made since migration 0007.
		expect(report.tables.find((t) => t.table === "sessions")?.rows).toBe(0);
	});

	it("tells the objects apart by their names, and a user's object by its account", () => {
		const kinds = Object.fromEntries((report.durableObjects.kinds ?? []).map((k) => [k.kind, k.count]));
		expect(kinds).toEqual({ user: 2, "user (no account)": 1, login: 1 });
		expect(report.durableObjects.count).toBe(4);
	});

	it("counts a user's rows still in the WAL, and leaves the server's files as they were", () => {
		const sessions = report.durableObjects.users?.tables.find((t) => t.table === "sessions");
		expect(sessions?.rows).toBe(8);
		expect(walBefore).toBeGreaterThan(0);
		if (live) expect(statSync(`${live}-wal`).size).toBe(walBefore);
	});

	it("puts each automatic index with its table, and SQLite's, the runtime's and miniflare's b-trees apart", () => {
		const u = report.durableObjects.users;
		expect(u?.count).toBe(2);
		const sessions = u?.tables.find((t) => t.table === "sessions");
		expect(sessions?.btrees?.map((b) => b.name).sort()).toEqual([
			"sessions",
			"sessions_expires_at",
			"sqlite_autoindex_sessions_1",
		]);
		expect(u?.fixed.map((b) => b.name).sort()).toEqual([
			"__miniflare_do_name",
			"_cf_METADATA",
			"sqlite_schema",
			"sqlite_sequence",
		]);
		// account, sessions (with its two indexes) and activity: the object's own.
		expect(u?.schemaBtrees).toBe(5);
		expect(u?.meanFileBytes).toBe((u?.meanPages ?? 0) * (u?.pageSize ?? 0));
	});
});
