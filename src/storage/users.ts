import { eq } from "drizzle-orm";
import type { Db } from "./db";
import { sessions, users } from "./schema";
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
