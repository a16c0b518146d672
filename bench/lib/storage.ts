/**
 * Rows and bytes per user, measured from the files a run seeded, with
 * SQLite's dbstat (the pages each table and each index occupies, and their
 * payload):
 *  - the local D1 database: the directory (users, credentials and their
 *    indexes), the used sign-up challenges, and the legacy tables that only
 *    users made before migration 0007 still have rows in;
 *  - the Durable Object SQLite files of the UserState class, one per object
 *    that stored anything: the users' own objects (table by table, and the
 *    whole file) and the limiter objects (per login email, per client
 *    address), told apart by the name miniflare records in each file.
 * Every file is copied aside and its WAL checkpointed into the copy first, so
 * the measurement never touches the server's files and counts what a
 * checkpoint leaves: pages, not journal.
 */
import { copyFileSync, existsSync, mkdirSync, rmSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { DatabaseSync } from "node:sqlite";

/** One b-tree of a SQLite file: a table or an index. */
export interface BtreeSize {
	name: string;
	/** The table it belongs to (itself for a table). */
	table: string;
	pages: number;
	/** pages × page size. */
	bytes: number;
	/** Bytes of row or index-entry payload (no page slack, no page headers). */
	payloadBytes: number;
}

export interface TableSize {
	table: string;
	rows: number;
	/** Pages of the table and its indexes, in bytes. */
	bytes: number;
	/** Bytes of row and index-entry payload (no page slack). */
	payloadBytes: number;
	indexes: string[];
	/** Each b-tree apart (absent in results written before it existed). */
	btrees?: BtreeSize[];
}

/** The objects of one kind, by the prefix of their name (`user:`, `login:`, `client:`). */
export interface ObjectKindSize {
	kind: string;
	count: number;
	/** Mean pages × page size after a checkpoint. */
	meanFileBytes: number;
	meanPages: number;
	/** Mean size of the file and its WAL as the runtime left them on disk (not checkpointed). */
	meanOnDiskBytes: number;
}

/** The users' own objects (those holding an account), summed over all of them. */
export interface UserObjectsSize {
	count: number;
	pageSize: number;
	/** Per object, after a checkpoint: the whole file. */
	meanFileBytes: number;
	meanPages: number;
	/** The tables of the object's schema (migrations.ts), each with its indexes; rows and bytes summed over the objects. */
	tables: TableSize[];
	/**
	 * What every file carries besides those tables, summed over the objects:
	 * SQLite's schema table and AUTOINCREMENT counter, the runtime's own
	 * tables (`_cf_*`) and miniflare's (`__miniflare_*`, local only).
	 */
	fixed: BtreeSize[];
	/** Tables and indexes of the object's schema, per object (each is at least one page). */
	schemaBtrees: number;
}

export interface DurableObjectStorage {
	/** Files with storage, all kinds, and their size on disk (file + WAL as left). */
	count: number;
	totalBytes: number;
	meanBytes: number;
	/** Absent in results written before they existed. */
	kinds?: ObjectKindSize[];
	users?: UserObjectsSize | null;
}

export interface StorageReport {
	users: number;
	pageSize: number;
	fileBytes: number;
	tables: TableSize[];
	/** The directory's share: users and credentials with their indexes (absent in results written before it existed). */
	directory?: { bytes: number; payloadBytes: number; bytesPerUser: number; payloadBytesPerUser: number };
	durableObjects: DurableObjectStorage;
}

/** D1: the directory, the used sign-up challenges, then the legacy tables (rows only for users made before 0007). */
const D1_TABLES = [
	"users",
	"credentials",
	"sign_in_challenges",
	"sessions",
	"passkeys",
	"totp_credentials",
	"recovery_codes",
];
const DIRECTORY_TABLES = ["users", "credentials"];
/** What SQLite, the runtime and miniflare keep in an object's file besides the object's own tables. */
const isFixed = (name: string) =>
	name.startsWith("sqlite_") || name.startsWith("_cf_") || name.startsWith("__miniflare");

/** Copies the database (with its WAL) aside, so the measurement never touches the server's files. */
function snapshot(file: string, into: string): string {
	const target = join(into, basename(file));
	copyFileSync(file, target);
	for (const suffix of ["-wal", "-shm"]) {
		if (existsSync(file + suffix)) copyFileSync(file + suffix, target + suffix);
	}
	return target;
}

function removeSnapshot(file: string): void {
	for (const suffix of ["", "-wal", "-shm"]) rmSync(file + suffix, { force: true });
}

function onDiskBytes(file: string): number {
	return ["", "-wal"].reduce((sum, suffix) => sum + (existsSync(file + suffix) ? statSync(file + suffix).size : 0), 0);
}

interface Measured {
	pageSize: number;
	pageCount: number;
	btrees: BtreeSize[];
	/** Tables (not indexes) of the file with their indexes' names. */
	tables: { table: string; indexes: string[] }[];
	rows: (table: string) => number;
}

/** Opens a snapshot, checkpoints its WAL into it, and reads every b-tree's pages and payload. */
function measureFile<T>(db: DatabaseSync, read: (measured: Measured) => T): T {
	db.exec("PRAGMA wal_checkpoint(TRUNCATE);");
	const pageSize = Number((db.prepare("PRAGMA page_size").get() as { page_size: number }).page_size);
	const pageCount = Number((db.prepare("PRAGMA page_count").get() as { page_count: number }).page_count);
	const schema = db.prepare("SELECT type, name, tbl_name FROM sqlite_schema").all() as {
		type: string;
		name: string;
		tbl_name: string;
	}[];
	const owner = new Map(schema.map((s) => [s.name, s.tbl_name]));
	const stats = db
		.prepare("SELECT name, COUNT(*) AS pages, SUM(pgsize) AS bytes, SUM(payload) AS payload FROM dbstat GROUP BY name")
		.all() as { name: string; pages: number; bytes: number; payload: number }[];
	const btrees = stats.map((s) => ({
		name: s.name,
		table: owner.get(s.name) ?? s.name,
		pages: Number(s.pages),
		bytes: Number(s.bytes),
		payloadBytes: Number(s.payload),
	}));
	const tables = schema
		.filter((s) => s.type === "table")
		.map((s) => ({
			table: s.name,
			indexes: schema.filter((i) => i.type === "index" && i.tbl_name === s.name).map((i) => i.name),
		}));
	const rows = (table: string) =>
		Number((db.prepare(`SELECT COUNT(*) AS n FROM "${table.replace(/"/g, '""')}"`).get() as { n: number }).n);
	return read({ pageSize, pageCount, btrees, tables, rows });
}

function tableSize(measured: Measured, table: string, indexes: string[]): TableSize {
	const btrees = [table, ...indexes]
		.map((name) => measured.btrees.find((b) => b.name === name))
		.filter((b): b is BtreeSize => b !== undefined);
	return {
		table,
		rows: measured.rows(table),
		bytes: btrees.reduce((sum, b) => sum + b.bytes, 0),
		payloadBytes: btrees.reduce((sum, b) => sum + b.payloadBytes, 0),
		indexes,
		btrees,
	};
}

/** Adds `b` into the running total `into` (same table, same b-trees by name). */
function addTable(into: TableSize | undefined, b: TableSize): TableSize {
	if (!into) return { ...b, btrees: (b.btrees ?? []).map((t) => ({ ...t })) };
	const btrees = [...(into.btrees ?? [])];
	for (const t of b.btrees ?? []) {
		const same = btrees.find((x) => x.name === t.name);
		if (same) {
			same.pages += t.pages;
			same.bytes += t.bytes;
			same.payloadBytes += t.payloadBytes;
		} else btrees.push({ ...t });
	}
	return {
		table: into.table,
		rows: into.rows + b.rows,
		bytes: into.bytes + b.bytes,
		payloadBytes: into.payloadBytes + b.payloadBytes,
		indexes: into.indexes,
		btrees,
	};
}

function measureDirectory(d1File: string, scratchDir: string) {
	const copy = snapshot(d1File, scratchDir);
	const db = new DatabaseSync(copy);
	try {
		return measureFile(db, (measured) => {
			const tables = D1_TABLES.filter((t) => measured.tables.some((x) => x.table === t)).map((table) =>
				tableSize(measured, table, measured.tables.find((x) => x.table === table)?.indexes ?? []),
			);
			return { pageSize: measured.pageSize, fileBytes: measured.pageSize * measured.pageCount, tables };
		});
	} finally {
		db.close();
		removeSnapshot(copy);
	}
}

/** The object's kind from the name miniflare stores in its file (`user:…` → `user`); a user object without an account is told apart. */
function objectKind(db: DatabaseSync, tables: string[]): string {
	let name = "";
	if (tables.includes("__miniflare_do_name")) {
		const row = db.prepare("SELECT name FROM __miniflare_do_name LIMIT 1").get() as { name?: string } | undefined;
		name = String(row?.name ?? "");
	}
	const prefix = name.includes(":") ? (name.split(":")[0] ?? "") : "unnamed";
	if (prefix !== "user") return prefix;
	const hasAccount =
		tables.includes("account") &&
		Number((db.prepare("SELECT COUNT(*) AS n FROM account").get() as { n: number }).n) > 0;
	return hasAccount ? "user" : "user (no account)";
}

function measureObjects(doFiles: string[], scratchDir: string): DurableObjectStorage {
	const dir = join(scratchDir, "do-snapshots");
	mkdirSync(dir, { recursive: true });
	const kinds = new Map<string, { count: number; fileBytes: number; pages: number; onDisk: number }>();
	const userTables = new Map<string, TableSize>();
	const fixed = new Map<string, BtreeSize>();
	let users = 0;
	let userFileBytes = 0;
	let userPages = 0;
	let pageSize = 0;
	let schemaBtrees = 0;
	let totalOnDisk = 0;
	for (const file of doFiles) {
		const onDisk = onDiskBytes(file);
		totalOnDisk += onDisk;
		const copy = snapshot(file, dir);
		const db = new DatabaseSync(copy);
		try {
			measureFile(db, (measured) => {
				const kind = objectKind(
					db,
					measured.tables.map((t) => t.table),
				);
				const fileBytes = measured.pageSize * measured.pageCount;
				const k = kinds.get(kind) ?? { count: 0, fileBytes: 0, pages: 0, onDisk: 0 };
				k.count += 1;
				k.fileBytes += fileBytes;
				k.pages += measured.pageCount;
				k.onDisk += onDisk;
				kinds.set(kind, k);
				if (kind !== "user") return;
				users += 1;
				userFileBytes += fileBytes;
				userPages += measured.pageCount;
				pageSize = measured.pageSize;
				const own = measured.tables.filter((t) => !isFixed(t.table));
				schemaBtrees = own.reduce((sum, t) => sum + 1 + t.indexes.length, 0);
				for (const t of own) {
					userTables.set(t.table, addTable(userTables.get(t.table), tableSize(measured, t.table, t.indexes)));
				}
				// By the table a b-tree belongs to: sqlite_autoindex_* are the object's own tables' indexes.
				for (const b of measured.btrees.filter((x) => isFixed(x.table))) {
					const same = fixed.get(b.name);
					if (same) {
						same.pages += b.pages;
						same.bytes += b.bytes;
						same.payloadBytes += b.payloadBytes;
					} else fixed.set(b.name, { ...b });
				}
			});
		} finally {
			db.close();
			removeSnapshot(copy);
		}
	}
	return {
		count: doFiles.length,
		totalBytes: totalOnDisk,
		meanBytes: doFiles.length ? totalOnDisk / doFiles.length : 0,
		kinds: [...kinds].map(([kind, k]) => ({
			kind,
			count: k.count,
			meanFileBytes: k.fileBytes / k.count,
			meanPages: k.pages / k.count,
			meanOnDiskBytes: k.onDisk / k.count,
		})),
		users: users
			? {
					count: users,
					pageSize,
					meanFileBytes: userFileBytes / users,
					meanPages: userPages / users,
					tables: [...userTables.values()],
					fixed: [...fixed.values()],
					schemaBtrees,
				}
			: null,
	};
}

export function measureStorage(d1File: string, doFiles: string[], scratchDir: string): StorageReport {
	const d1 = measureDirectory(d1File, scratchDir);
	const users = d1.tables.find((t) => t.table === "users")?.rows ?? 0;
	const directory = d1.tables.filter((t) => DIRECTORY_TABLES.includes(t.table));
	const bytes = directory.reduce((sum, t) => sum + t.bytes, 0);
	const payloadBytes = directory.reduce((sum, t) => sum + t.payloadBytes, 0);
	return {
		users,
		pageSize: d1.pageSize,
		fileBytes: d1.fileBytes,
		tables: d1.tables,
		directory: {
			bytes,
			payloadBytes,
			bytesPerUser: users ? bytes / users : 0,
			payloadBytesPerUser: users ? payloadBytes / users : 0,
		},
		durableObjects: measureObjects(doFiles, scratchDir),
	};
}
