import { and, eq, type SQL, sql } from "drizzle-orm";
import { randomId } from "../lib/encoding";
import type { Db } from "./db";
import type { PasskeyRow } from "./passkeys";
import { passkeys, recoveryCodes, sessions, users } from "./schema";
import type { SessionRow } from "./sessions";

export type UserRow = typeof users.$inferSelect;

/**
 * A new account and its first session in one transaction (a D1 batch): a
 * sign-up cut off by a fault leaves both or neither, never a user without a
 * session whose email would then be taken for good.
 */
export async function insertUserWithSession(db: Db, user: UserRow, session: SessionRow): Promise<void> {
	await db.batch([db.insert(users).values(user), db.insert(sessions).values(session)]);
}

/**
 * A passkey-first sign-up's account: the user (no password), their passkey,
 * their first recovery codes and their first session, in one D1 batch (one
 * transaction). Whatever fails midway, none of it exists: never an account
 * without a credential, never an email taken by nothing. The UNIQUE indexes
 * (email, credential id) decide races; the caller reads which one refused.
 */
export async function insertPasskeyAccount(
	db: Db,
	user: UserRow,
	passkey: PasskeyRow,
	codeHashes: string[],
	session: SessionRow,
): Promise<void> {
	await db.batch([
		db.insert(users).values(user),
		db.insert(passkeys).values(passkey),
		db.insert(recoveryCodes).values(
			codeHashes.map((codeHash) => ({
				id: randomId(),
				userId: user.id,
				codeHash,
				createdAt: passkey.createdAt,
				usedAt: null,
			})),
		),
		db.insert(sessions).values(session),
	]);
}

export async function findUserByEmail(db: Db, email: string): Promise<UserRow | undefined> {
	return db.select().from(users).where(eq(users.email, email)).get();
}

export async function findUserById(db: Db, id: string): Promise<UserRow | undefined> {
	return db.select().from(users).where(eq(users.id, id)).get();
}

export async function findUserByWebauthnId(db: Db, webauthnUserId: string): Promise<UserRow | undefined> {
	return db.select().from(users).where(eq(users.webauthnUserId, webauthnUserId)).get();
}

/** The statement that replaces a user's password hash (to run in a batch with what must go with it). */
export function setPassword(db: Db, userId: string, password: { hash: string; salt: string; iterations: number }) {
	return db
		.update(users)
		.set({ passwordHash: password.hash, passwordSalt: password.salt, passwordIterations: password.iterations })
		.where(eq(users.id, userId));
}

export async function findUserByExternalId(db: Db, externalId: string): Promise<UserRow | undefined> {
	return db.select().from(users).where(eq(users.externalId, externalId)).get();
}

/**
 * Inserts a user linked to the app's id, unless one already is: the UNIQUE
 * index on external_id decides between two concurrent first PUTs, and the
 * loser (false) goes on as an update. An email another user has is a
 * UNIQUE violation the caller turns into `email_taken`.
 */
export async function insertExternalUser(db: Db, user: UserRow): Promise<boolean> {
	const rows = await db
		.insert(users)
		.values(user)
		.onConflictDoNothing({ target: users.externalId })
		.returning({ id: users.id });
	return rows.length === 1;
}

export async function updateExternalUser(
	db: Db,
	externalId: string,
	changes: { email?: string; displayName?: string | null },
): Promise<UserRow | undefined> {
	if (changes.email === undefined && changes.displayName === undefined) return findUserByExternalId(db, externalId);
	return db.update(users).set(changes).where(eq(users.externalId, externalId)).returning().get();
}

/** Deletes the user; their sessions, passkeys, TOTP and recovery codes go with them (ON DELETE CASCADE). */
export async function deleteUserRow(db: Db, userId: string): Promise<boolean> {
	const rows = await db.delete(users).where(eq(users.id, userId)).returning({ id: users.id });
	return rows.length === 1;
}

/** Whether the user has no password here (made through the server API): no password matches then. */
export function hasNoPassword(user: Pick<UserRow, "passwordHash">): boolean {
	return user.passwordHash === "";
}

/**
 * The statement that ends every trusted device of the user (their device
 * cookies name an older epoch from then on), to run in the same batch as the
 * change that calls for it. `when`: only if this holds, evaluated in the
 * statement, so a batch whose change turns out to change nothing (the last
 * authenticator kept) leaves the devices alone.
 */
export function endTrustedDevices(db: Db, userId: string, when?: SQL) {
	return db
		.update(users)
		.set({ trustedDeviceEpoch: sql`${users.trustedDeviceEpoch} + 1` })
		.where(when ? and(eq(users.id, userId), when) : eq(users.id, userId));
}

/** The user's current trusted-device epoch; null when the user is gone. */
export async function findTrustedDeviceEpoch(db: Db, userId: string): Promise<number | null> {
	const row = await db.select({ epoch: users.trustedDeviceEpoch }).from(users).where(eq(users.id, userId)).get();
	return row?.epoch ?? null;
}
