import { DAY } from "../lib/clock";
import type { ClientKind } from "../lib/metrics";

// The user's security activity log, in the user's own Durable Object
// (table `activity`, schema version 2 in migrations.ts). Bounded on every
// insert: the last ACTIVITY_LIMIT entries, none older than ACTIVITY_MAX_AGE.
// An entry says what happened, when, how and from what kind of device; never
// a secret, code, token, token hash, credential id, email or IP address:
// there is no column for any of them, and the values below are fixed words
// except the device, which is made from fixed words too (lib/user-agent.ts).

export const ACTIVITY_LIMIT = 100;
export const ACTIVITY_MAX_AGE = 90 * DAY;

export const ACTIVITY_TYPES = [
	/** A session at full level; `method` is the factor that completed it. */
	"sign_in",
	/** A password (or the app's own check, `server`) accepted; the second factor is still to come. */
	"sign_in.partial",
	/** The attempt that reached a limit; `method` says which: `password` or `second_factor`. */
	"sign_in.failed_limit",
	"passkey.added",
	"passkey.renamed",
	"passkey.removed",
	"totp.enabled",
	"totp.disabled",
	/** The first set, given with the first passkey or TOTP. */
	"recovery_codes.generated",
	"recovery_codes.regenerated",
	"recovery_code.used",
	/** Other sessions ended; `method`: `others` (the user asked), `password_change`, `server` (the app asked). */
	"sessions.revoked",
	"password.changed",
	/** The help desk removed every passkey, TOTP and recovery code and ended every session (server API). */
	"second_factors.reset",
] as const;

export type ActivityType = (typeof ACTIVITY_TYPES)[number];

export type ActivityMethod =
	| "password"
	| "passkey"
	| "totp"
	| "recovery_code"
	| "sign_up"
	| "passkey_sign_up"
	| "password_trusted_device"
	| "server"
	| "second_factor"
	| "others"
	| "one"
	| "password_change";

/** What a caller asks the object to record. */
export interface ActivityRecord {
	type: ActivityType;
	/**
	 * When it happened: stamped where it happened (the Worker, like a
	 * webhook's timestamp), so entries keep their order however their writes
	 * arrive. The bounds are the object's, by its own clock.
	 */
	at: number;
	method?: ActivityMethod;
	client?: ClientKind;
	/** Browser and OS only ("Chrome on macOS"), from lib/user-agent.ts. */
	device?: string;
}

export type ActivityEntry = ActivityRecord;

const KNOWN_TYPES = new Set<string>(ACTIVITY_TYPES);
const DEVICE_MAX = 64;

/**
 * Inserts one entry and, in the same transaction, deletes what falls outside
 * the bounds, so the log never holds more than ACTIVITY_LIMIT entries nor
 * any older than ACTIVITY_MAX_AGE, however often it is written.
 */
/** The insert and its bounds, inside the caller's transaction (a ceremony writes its entry with its outcome). */
export function writeActivity(sql: SqlStorage, record: ActivityRecord, now: number): void {
	if (!KNOWN_TYPES.has(record.type)) throw new Error("activity: unknown type");
	sql.exec(
		"INSERT INTO activity (type, at, method, client, device) VALUES (?, ?, ?, ?, ?)",
		record.type,
		record.at,
		record.method ?? null,
		record.client ?? null,
		record.device?.slice(0, DEVICE_MAX) ?? null,
	);
	sql.exec("DELETE FROM activity WHERE at <= ?", now - ACTIVITY_MAX_AGE);
	sql.exec(
		"DELETE FROM activity WHERE id IN (SELECT id FROM activity ORDER BY at DESC, id DESC LIMIT -1 OFFSET ?)",
		ACTIVITY_LIMIT,
	);
}

/** Newest first, within the bounds as of `now` (an old entry is not shown just because nothing newer came). */
export function readActivity(sql: SqlStorage, now: number): ActivityEntry[] {
	return sql
		.exec<{ type: string; at: number; method: string | null; client: string | null; device: string | null }>(
			"SELECT type, at, method, client, device FROM activity WHERE at > ? ORDER BY at DESC, id DESC LIMIT ?",
			now - ACTIVITY_MAX_AGE,
			ACTIVITY_LIMIT,
		)
		.toArray()
		.map((row) => ({
			type: row.type as ActivityType,
			at: row.at,
			...(row.method === null ? {} : { method: row.method as ActivityMethod }),
			...(row.client === null ? {} : { client: row.client as ClientKind }),
			...(row.device === null ? {} : { device: row.device }),
		}));
}
