import { and, eq, inArray } from "drizzle-orm";
import type { Db } from "../storage/db";
import { credentials, users } from "../storage/schema";

// credential id → user, UNIQUE across all accounts. A claim comes before the
// passkey is added to the user's object and is released if that fails, so a
// failure between the two leaves at most a claim without a passkey: invisible
// to everyone (a sign-in with it finds no passkey in the object) and released
// by the flow that made it.

/** Claims a credential id for a user; false when another claim (any user's) holds it. */
export async function claimCredential(db: Db, credentialId: string, userId: string, now: number): Promise<boolean> {
	const rows = await db
		.insert(credentials)
		.values({ credentialId, userId, createdAt: now })
		.onConflictDoNothing()
		.returning({ credentialId: credentials.credentialId });
	return rows.length === 1;
}

/** Releases a user's claims (only theirs: another user's claim of the same id is never touched). */
export async function releaseCredentials(db: Db, userId: string, credentialIds: string[]): Promise<void> {
	if (credentialIds.length === 0) return;
	await db
		.delete(credentials)
		.where(and(eq(credentials.userId, userId), inArray(credentials.credentialId, credentialIds)));
}

/** The user a credential id belongs to, and whether their object has yet to take over their legacy rows; null: no one's. */
export async function credentialOwner(
	db: Db,
	credentialId: string,
): Promise<{ userId: string; legacy: boolean } | null> {
	const row = await db
		.select({ userId: credentials.userId, legacy: users.legacy })
		.from(credentials)
		.innerJoin(users, eq(users.id, credentials.userId))
		.where(eq(credentials.credentialId, credentialId))
		.get();
	return row ? { userId: row.userId, legacy: row.legacy === 1 } : null;
}
