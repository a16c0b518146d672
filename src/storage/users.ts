import { eq } from "drizzle-orm";
import type { Db } from "./db";
import { users } from "./schema";

export type UserRow = typeof users.$inferSelect;

export async function insertUser(db: Db, user: UserRow): Promise<void> {
	await db.insert(users).values(user);
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
