import { and, eq } from "drizzle-orm";
import type { Db } from "../storage/db";
import {
	credentials,
	passkeys as legacyPasskeys,
	recoveryCodes as legacyRecoveryCodes,
	sessions as legacySessions,
	totpCredentials as legacyTotp,
	users,
} from "../storage/schema";
import type { AccountDb } from "./db";
import { writeAccount } from "./profile";
import { passkeys, recoveryCodes, totpCredentials } from "./schema";

// A user made before migration 0007 has their password, passkeys, TOTP and
// recovery codes in D1's legacy tables. The first time their object is asked
// for the account and has none, it takes them over (UserState.importLegacy):
// read in one batch, written into the object in one transaction, then the
// legacy rows are deleted and the user is marked done in one batch. Their
// sessions are not taken over: a token of the D1 design names no user, so it
// cannot find the object; deploying this signs everyone out (README).

export interface LegacyUser {
	user: typeof users.$inferSelect;
	passkeys: (typeof legacyPasskeys.$inferSelect)[];
	totp: (typeof legacyTotp.$inferSelect)[];
	recoveryCodes: (typeof legacyRecoveryCodes.$inferSelect)[];
}

/** The legacy rows of a user still marked legacy, or null (no such user, or done already). */
export async function readLegacyUser(db: Db, userId: string): Promise<LegacyUser | null> {
	const [found, passkeyRows, totpRows, codeRows] = await db.batch([
		db
			.select()
			.from(users)
			.where(and(eq(users.id, userId), eq(users.legacy, 1))),
		db.select().from(legacyPasskeys).where(eq(legacyPasskeys.userId, userId)),
		db.select().from(legacyTotp).where(eq(legacyTotp.userId, userId)),
		db.select().from(legacyRecoveryCodes).where(eq(legacyRecoveryCodes.userId, userId)),
	]);
	const user = found[0];
	if (!user) return null;
	return { user, passkeys: passkeyRows, totp: totpRows, recoveryCodes: codeRows };
}

/** Writes the legacy rows into the object (inside the caller's transaction). */
export function writeLegacyUser(db: AccountDb, legacy: LegacyUser): void {
	const { user } = legacy;
	writeAccount(db, {
		userId: user.id,
		email: user.email,
		webauthnUserId: user.webauthnUserId,
		externalId: user.externalId,
		displayName: user.displayName,
		passwordHash: user.passwordHash,
		passwordSalt: user.passwordSalt,
		passwordIterations: user.passwordIterations,
		trustedDeviceEpoch: user.trustedDeviceEpoch,
		createdAt: user.createdAt,
	});
	if (legacy.passkeys.length > 0) db.insert(passkeys).values(legacy.passkeys).run();
	if (legacy.totp.length > 0) db.insert(totpCredentials).values(legacy.totp).run();
	if (legacy.recoveryCodes.length > 0) db.insert(recoveryCodes).values(legacy.recoveryCodes).run();
}

/** Claims the user's legacy passkeys' credential ids in the directory where no claim exists yet (one statement). */
export async function claimLegacyCredentials(db: Db, userId: string, legacy: LegacyUser): Promise<void> {
	if (legacy.passkeys.length === 0) return;
	await db
		.insert(credentials)
		.values(legacy.passkeys.map((p) => ({ credentialId: p.credentialId, userId, createdAt: p.createdAt })))
		.onConflictDoNothing();
}

/**
 * Once the object holds them: the user's legacy rows go (their sessions
 * too), the password leaves the directory, and the user is marked done, in
 * one batch. The credential ids stay: migration 0007 claimed them in the
 * directory.
 */
export async function clearLegacyUser(db: Db, userId: string): Promise<void> {
	await db.batch([
		db.delete(legacyPasskeys).where(eq(legacyPasskeys.userId, userId)),
		db.delete(legacyTotp).where(eq(legacyTotp.userId, userId)),
		db.delete(legacyRecoveryCodes).where(eq(legacyRecoveryCodes.userId, userId)),
		db.delete(legacySessions).where(eq(legacySessions.userId, userId)),
		db
			.update(users)
			.set({ legacy: 0, passwordHash: "", passwordSalt: "", passwordIterations: 0, trustedDeviceEpoch: 0 })
			.where(eq(users.id, userId)),
	]);
}
