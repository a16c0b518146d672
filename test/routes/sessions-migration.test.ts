import type { D1Migration } from "cloudflare:test";
import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

// Migration 0005 adds the session list's columns to a table that already has
// rows: each existing session gets a public id (unique, random, not its
// hash), and its last use is set from what the row proves. Applied here to a
// database of its own, step by step, as `wrangler d1 migrations apply` would
// on a deployment that has sessions.

const testEnv = env as unknown as { TEST_MIGRATIONS: D1Migration[]; MIGRATION_TEST_DB: D1Database };
const db = testEnv.MIGRATION_TEST_DB;
const migrations = testEnv.TEST_MIGRATIONS;

/** An empty database: every table (and the migrations' own record) dropped. */
async function emptyDatabase(): Promise<void> {
	const { results } = await db
		.prepare(
			"SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'",
		)
		.all<{ name: string }>();
	await db.exec("PRAGMA foreign_keys = OFF");
	for (const { name } of results) await db.prepare(`DROP TABLE IF EXISTS "${name}"`).run();
}

describe("migration 0005 (session list)", () => {
	it("gives every existing session a unique public id and a last use, and only adds columns", async () => {
		await emptyDatabase();
		const index = migrations.findIndex((migration) => migration.name.startsWith("0005_"));
		expect(index).toBe(5);
		await applyD1Migrations(db, migrations.slice(0, index));

		const now = Date.now();
		const DAY = 24 * 60 * 60 * 1000;
		await db
			.prepare(
				"INSERT INTO users (id, email, password_hash, password_salt, password_iterations, webauthn_user_id, created_at) VALUES ('u1', 'a@example.com', 'h', 's', 1, 'w1', ?)",
			)
			.bind(now - 10 * DAY)
			.run();
		const insert = db.prepare(
			"INSERT INTO sessions (id, user_id, level, created_at, authenticated_at, expires_at, amr) VALUES (?, 'u1', ?, ?, ?, ?, '[]')",
		);
		await db.batch([
			// A full session created ten days ago, authenticated then, slid two days ago.
			insert.bind("hash-full", "full", now - 10 * DAY, now - 10 * DAY, now - 2 * DAY + 30 * DAY),
			// A partial one, a minute old.
			insert.bind("hash-partial", "partial", now - 60_000, now - 60_000, now + 9 * 60_000),
			// A full one reauthenticated an hour ago, never slid.
			insert.bind("hash-reauth", "full", now - 3 * DAY, now - 3_600_000, now - 3 * DAY + 30 * DAY),
		]);

		await applyD1Migrations(db, migrations);
		const { results } = await db
			.prepare("SELECT id, public_id, last_used_at, client, device, country FROM sessions ORDER BY id")
			.all<{
				id: string;
				public_id: string;
				last_used_at: number;
				client: string | null;
				device: string | null;
				country: string | null;
			}>();
		expect(results.map((row) => row.id)).toEqual(["hash-full", "hash-partial", "hash-reauth"]);
		for (const row of results) {
			expect(row.public_id).toMatch(/^[0-9a-f]{32}$/);
			expect(row.public_id).not.toBe(row.id);
			expect({ client: row.client, device: row.device, country: row.country }).toEqual({
				client: null,
				device: null,
				country: null,
			});
		}
		expect(new Set(results.map((row) => row.public_id)).size).toBe(3);
		expect(results.map((row) => row.last_used_at)).toEqual([now - 2 * DAY, now - 60_000, now - 3_600_000]);

		// The unique index holds from now on.
		await expect(
			db
				.prepare(
					"INSERT INTO sessions (id, user_id, level, created_at, authenticated_at, expires_at, public_id) VALUES ('x', 'u1', 'full', 1, 1, 2, ?)",
				)
				.bind(results[0]?.public_id)
				.run(),
		).rejects.toThrow(/UNIQUE/);
	});

	it("is ADD COLUMN, UPDATE and CREATE INDEX only: no table is rebuilt or dropped", () => {
		const migration = migrations.find((candidate) => candidate.name.startsWith("0005_"));
		const statements = (migration?.queries ?? []).map((query) =>
			query.replace(/--.*$/gm, "").trim().split(/\s+/).slice(0, 3).join(" ").toUpperCase(),
		);
		expect(statements.length).toBeGreaterThan(0);
		for (const statement of statements) {
			expect(statement).toMatch(/^(ALTER TABLE `SESSIONS`|UPDATE `SESSIONS` SET|CREATE UNIQUE INDEX)/);
		}
	});
});
