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
 * session (`claimed`), so a loser does not burn its step.
 */
export function totpStepUse(db: Db, userId: string, step: number, now: number): SingleUse {
	const newer = and(eq(totpCredentials.userId, userId), lt(totpCredentials.lastStep, step));
	return {
		available: exists(db.select({ one: sql`1` }).from(totpCredentials).where(newer)),
		spend: (claimed: SQL) =>
			db.update(totpCredentials).set({ lastStep: step, lastUsedAt: now }).where(and(newer, claimed)),
	};
}
