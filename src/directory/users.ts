import { eq } from "drizzle-orm";
import type { Db } from "../storage/db";
import { users } from "../storage/schema";

// The directory's users: who has which email, WebAuthn user handle and
// external id (each UNIQUE), so that a sign-in by email, a passwordless
// sign-in's user handle and the server API's ids find their user. Nothing of
// the user's security is here: that is in their object (account/).

export type DirectoryRow = typeof users.$inferSelect;

/** What a new user's directory row holds. */
export interface DirectoryEntry {
	id: string;
	email: string;
	webauthnUserId: string;
	createdAt: number;
	externalId: string | null;
	displayName: string | null;
}

/** The row for a new user: the legacy columns (storage/schema.ts) are left empty. */
export function directoryRow(entry: DirectoryEntry): DirectoryRow {
	return { ...entry, passwordHash: "", passwordSalt: "", passwordIterations: 0, trustedDeviceEpoch: 0, legacy: 0 };
}

export function findUserByEmail(db: Db, email: string): Promise<DirectoryRow | undefined> {
	return db.select().from(users).where(eq(users.email, email)).get();
}

export function findUserById(db: Db, id: string): Promise<DirectoryRow | undefined> {
	return db.select().from(users).where(eq(users.id, id)).get();
}

export function findUserByExternalId(db: Db, externalId: string): Promise<DirectoryRow | undefined> {
	return db.select().from(users).where(eq(users.externalId, externalId)).get();
}

/**
 * Inserts a user linked to the app's id, unless one already is: the UNIQUE
 * index on external_id decides between two concurrent first PUTs, and the
 * loser (false) goes on as an update. An email another user has is a
 * UNIQUE violation the caller turns into `email_taken`.
 */
export async function insertExternalUser(db: Db, entry: DirectoryEntry): Promise<boolean> {
	const rows = await db
		.insert(users)
		.values(directoryRow(entry))
		.onConflictDoNothing({ target: users.externalId })
		.returning({ id: users.id });
	return rows.length === 1;
}

export async function updateUser(
	db: Db,
	id: string,
	changes: { email?: string; displayName?: string | null },
): Promise<DirectoryRow | undefined> {
	if (changes.email === undefined && changes.displayName === undefined) return findUserById(db, id);
	return db.update(users).set(changes).where(eq(users.id, id)).returning().get();
}

/** Deletes the user's directory row; their credential claims go with it (ON DELETE CASCADE). */
export async function deleteUser(db: Db, id: string): Promise<boolean> {
	const rows = await db.delete(users).where(eq(users.id, id)).returning({ id: users.id });
	return rows.length === 1;
}
