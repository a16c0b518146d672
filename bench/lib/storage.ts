/**
 * Rows and bytes per user, measured from the local D1 database file that a
 * run seeded (SQLite's dbstat: the pages each table and its indexes occupy),
 * and the Durable Object files next to it.
 */
import { copyFileSync, existsSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { DatabaseSync } from "node:sqlite";

export interface TableSize {
	table: string;
	rows: number;
	/** Pages of the table and its indexes, in bytes. */
	bytes: number;
	/** Bytes of row and index-entry payload (no page slack). */
	payloadBytes: number;
	indexes: string[];
}

export interface StorageReport {
	users: number;
	pageSize: number;
	fileBytes: number;
	tables: TableSize[];
	durableObjects: { count: number; totalBytes: number; meanBytes: number };
}

const APP_TABLES = ["users", "passkeys", "totp_credentials", "recovery_codes", "sessions", "sign_in_challenges"];

/** Copies the database (with its WAL) aside, so the measurement never touches the server's files. */
function snapshot(file: string, into: string): string {
	const target = join(into, basename(file));
	copyFileSync(file, target);
	for (const suffix of ["-wal", "-shm"]) {
		if (existsSync(file + suffix)) copyFileSync(file + suffix, target + suffix);
	}
	return target;
}

export function measureStorage(d1File: string, doFiles: string[], scratchDir: string): StorageReport {
	const db = new DatabaseSync(snapshot(d1File, scratchDir));
	try {
		db.exec("PRAGMA wal_checkpoint(TRUNCATE);");
		const pageSize = Number((db.prepare("PRAGMA page_size").get() as { page_size: number }).page_size);
		const pageCount = Number((db.prepare("PRAGMA page_count").get() as { page_count: number }).page_count);
		const indexRows = db.prepare("SELECT name, tbl_name FROM sqlite_schema WHERE type = 'index'").all() as {
			name: string;
			tbl_name: string;
		}[];
		const stats = db
			.prepare("SELECT name, SUM(pgsize) AS bytes, SUM(payload) AS payload FROM dbstat GROUP BY name")
			.all() as { name: string; bytes: number; payload: number }[];
		const byName = new Map(stats.map((s) => [s.name, s]));
		const tables = APP_TABLES.map((table) => {
			const indexes = indexRows.filter((i) => i.tbl_name === table).map((i) => i.name);
			const parts = [table, ...indexes].map((name) => byName.get(name));
			const rows = Number((db.prepare(`SELECT COUNT(*) AS n FROM "${table}"`).get() as { n: number }).n);
			return {
				table,
				rows,
				bytes: parts.reduce((sum, p) => sum + Number(p?.bytes ?? 0), 0),
				payloadBytes: parts.reduce((sum, p) => sum + Number(p?.payload ?? 0), 0),
				indexes,
			};
		});
		const users = tables.find((t) => t.table === "users")?.rows ?? 0;
		const doBytes = doFiles.map((file) =>
			["", "-wal"].reduce((sum, suffix) => sum + (existsSync(file + suffix) ? statSync(file + suffix).size : 0), 0),
		);
		const totalDoBytes = doBytes.reduce((sum, b) => sum + b, 0);
		return {
			users,
			pageSize,
			fileBytes: pageSize * pageCount,
			tables,
			durableObjects: {
				count: doFiles.length,
				totalBytes: totalDoBytes,
				meanBytes: doFiles.length ? totalDoBytes / doFiles.length : 0,
			},
		};
	} finally {
		db.close();
	}
}
