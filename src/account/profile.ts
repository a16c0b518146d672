import { eq, sql } from "drizzle-orm";
import type { AccountDb } from "./db";
import { type AccountRow, account } from "./schema";

// The user's own row in their object: who they are (a copy of what the
// directory indexes, so that a session check needs no directory read),
// their password and their trusted-device epoch.

export function readAccount(db: AccountDb): AccountRow | undefined {
	return db.select().from(account).where(eq(account.id, 1)).get();
}

export function writeAccount(db: AccountDb, row: Omit<AccountRow, "id">): void {
	db.insert(account)
		.values({ ...row, id: 1 })
		.run();
}

export function updateAccount(
	db: AccountDb,
	changes: Partial<Pick<AccountRow, "email" | "externalId" | "displayName">>,
): AccountRow | undefined {
	if (Object.keys(changes).length === 0) return readAccount(db);
	return db.update(account).set(changes).where(eq(account.id, 1)).returning().get();
}

export function setPassword(db: AccountDb, password: { hash: string; salt: string; iterations: number }): void {
	db.update(account)
		.set({ passwordHash: password.hash, passwordSalt: password.salt, passwordIterations: password.iterations })
		.where(eq(account.id, 1))
		.run();
}

/** Whether the user has no password here: no password matches then. */
export function hasNoPassword(row: Pick<AccountRow, "passwordHash">): boolean {
	return row.passwordHash === "";
}

/**
 * Ends every trusted device of the user (their device cookies name an older
 * epoch from then on), in the transaction of the change that calls for it.
 */
export function endTrustedDevices(db: AccountDb): void {
	db.update(account)
		.set({ trustedDeviceEpoch: sql`${account.trustedDeviceEpoch} + 1` })
		.where(eq(account.id, 1))
		.run();
}
