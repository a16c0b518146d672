import { and, desc, eq, exists, sql } from "drizzle-orm";
import { hasAnotherAuthenticator } from "./authenticators";
import type { Db } from "./db";
import { passkeys } from "./schema";
import { endTrustedDevices } from "./users";

export type PasskeyRow = typeof passkeys.$inferSelect;

export const PASSKEYS_NEWEST_FIRST = [desc(passkeys.createdAt), desc(passkeys.id)];

export interface UserPasskeys {
	user: { id: string; email: string; webauthnUserId: string };
	passkeys: PasskeyRow[];
}

export async function findUserPasskey(db: Db, userId: string, id: string): Promise<PasskeyRow | undefined> {
	return db
		.select()
		.from(passkeys)
		.where(and(eq(passkeys.id, id), eq(passkeys.userId, userId)))
		.get();
}

export async function renamePasskey(db: Db, userId: string, id: string, name: string): Promise<PasskeyRow | undefined> {
	const [row] = await db
		.update(passkeys)
		.set({ name })
		.where(and(eq(passkeys.id, id), eq(passkeys.userId, userId)))
		.returning();
	return row;
}

export interface PasskeyUse {
	id: string;
	previousCount: number;
	signCount: number;
	backedUp: boolean;
	usedAt: number;
}

/**
 * Records a verified assertion. Conditional on the count read before
 * verifying, so two assertions racing with the same counter cannot both pass.
 */
export function passkeyUseUpdate(db: Db, use: PasskeyUse) {
	return db
		.update(passkeys)
		.set({ signCount: use.signCount, backedUp: use.backedUp, lastUsedAt: use.usedAt })
		.where(and(eq(passkeys.id, use.id), eq(passkeys.signCount, use.previousCount)));
}

export async function recordPasskeyUse(db: Db, use: PasskeyUse): Promise<boolean> {
	const rows = await passkeyUseUpdate(db, use).returning({ id: passkeys.id });
	return rows.length === 1;
}

/**
 * Deletes a passkey unless it is the user's last authenticator (passkey or
 * TOTP), and ends the user's trusted devices when it does, in one batch (a
 * transaction): both statements hold the same condition, so the devices end
 * exactly when the passkey goes.
 */
export async function deletePasskeyUnlessLast(db: Db, userId: string, id: string): Promise<boolean> {
	const deletable = and(eq(passkeys.id, id), eq(passkeys.userId, userId), hasAnotherAuthenticator(userId));
	const [, rows] = await db.batch([
		endTrustedDevices(db, userId, exists(db.select({ one: sql`1` }).from(passkeys).where(deletable))),
		db.delete(passkeys).where(deletable).returning({ id: passkeys.id }),
	]);
	return rows.length === 1;
}
