import { and, eq, exists, lt, type SQL, sql } from "drizzle-orm";
import type { Db } from "./db";
import { totpCredentials } from "./schema";
import type { SingleUse } from "./sessions";

export type TotpRow = typeof totpCredentials.$inferSelect;

export async function findTotp(db: Db, userId: string): Promise<TotpRow | undefined> {
	return db.select().from(totpCredentials).where(eq(totpCredentials.userId, userId)).get();
}

/**
 * The use of a time step, for the batch that changes the session: a step is
 * accepted only if it is newer than the last accepted one, so the same code
 * twice, or an older code after a newer one, is refused even when both
 * requests arrive together; and only by the request that changed the
 * session (`claimed`), so a loser does not burn its step. It also holds
 * only while the row still has the secret the code was checked against
 * (`sealed.read`), and stores `sealed.store` in its place: the same secret
 * sealed under the newest key, once a rotation has made it old.
 */
export function totpStepUse(
	db: Db,
	userId: string,
	step: number,
	now: number,
	sealed: { read: string; store: string },
): SingleUse {
	const usable = and(
		eq(totpCredentials.userId, userId),
		lt(totpCredentials.lastStep, step),
		eq(totpCredentials.secretCiphertext, sealed.read),
	);
	return {
		available: exists(db.select({ one: sql`1` }).from(totpCredentials).where(usable)),
		spend: (claimed: SQL) =>
			db
				.update(totpCredentials)
				.set({ lastStep: step, lastUsedAt: now, secretCiphertext: sealed.store })
				.where(and(usable, claimed)),
	};
}
