import { and, eq, lt } from "drizzle-orm";
import type { AccountDb } from "./db";
import { type TotpRow, totpCredentials } from "./schema";
import type { SingleUse } from "./sessions";

export function findTotp(db: AccountDb): TotpRow | undefined {
	return db.select().from(totpCredentials).get();
}

/**
 * The use of a time step: accepted only if newer than the last accepted one
 * (the same code twice, or an older after a newer, is refused), and only
 * while the row still has the secret the code was checked against
 * (`sealed.read`); `sealed.store` replaces it: the same secret sealed under
 * the newest key, once a rotation has made the old one old.
 */
export function totpStepUse(
	db: AccountDb,
	step: number,
	now: number,
	sealed: { read: string; store: string },
): SingleUse {
	const usable = and(lt(totpCredentials.lastStep, step), eq(totpCredentials.secretCiphertext, sealed.read));
	return {
		available: () =>
			db.select({ userId: totpCredentials.userId }).from(totpCredentials).where(usable).get() !== undefined,
		spend: () => {
			db.update(totpCredentials)
				.set({ lastStep: step, lastUsedAt: now, secretCiphertext: sealed.store })
				.where(usable)
				.run();
		},
	};
}
