import { and, eq, lt } from "drizzle-orm";
import type { Db } from "./db";
import { totpCredentials } from "./schema";

export type TotpRow = typeof totpCredentials.$inferSelect;

export async function findTotp(db: Db, userId: string): Promise<TotpRow | undefined> {
	return db.select().from(totpCredentials).where(eq(totpCredentials.userId, userId)).get();
}

/**
 * Accepts a time step only if it is newer than the last accepted one, in one
 * conditional statement: the same code twice, or an older code after a
 * newer one, is refused even when both requests arrive together. It also
 * holds only while the row still has the secret the code was checked
 * against (`sealed.read`), and stores `sealed.store` in its place: the same
 * secret sealed under the newest key, once a rotation has made it old.
 */
export async function acceptTotpStep(
	db: Db,
	userId: string,
	step: number,
	now: number,
	sealed: { read: string; store: string },
): Promise<boolean> {
	const rows = await db
		.update(totpCredentials)
		.set({ lastStep: step, lastUsedAt: now, secretCiphertext: sealed.store })
		.where(
			and(
				eq(totpCredentials.userId, userId),
				lt(totpCredentials.lastStep, step),
				eq(totpCredentials.secretCiphertext, sealed.read),
			),
		)
		.returning({ userId: totpCredentials.userId });
	return rows.length === 1;
}
