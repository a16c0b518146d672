import { and, desc, eq } from "drizzle-orm";
import type { PasskeyUse } from "../webauthn/credential";
import type { AccountDb } from "./db";
import { type PasskeyRow, passkeys } from "./schema";

export type { PasskeyUse };

export const PASSKEYS_NEWEST_FIRST = [desc(passkeys.createdAt), desc(passkeys.id)];

export function listPasskeys(db: AccountDb): PasskeyRow[] {
	return db
		.select()
		.from(passkeys)
		.orderBy(...PASSKEYS_NEWEST_FIRST)
		.all();
}

export function findPasskey(db: AccountDb, id: string): PasskeyRow | undefined {
	return db.select().from(passkeys).where(eq(passkeys.id, id)).get();
}

export function findPasskeyByCredentialId(db: AccountDb, credentialId: string): PasskeyRow | undefined {
	return db.select().from(passkeys).where(eq(passkeys.credentialId, credentialId)).get();
}

export function renamePasskey(db: AccountDb, id: string, name: string): PasskeyRow | undefined {
	return db.update(passkeys).set({ name }).where(eq(passkeys.id, id)).returning().get();
}

/**
 * Records a verified assertion, only while the passkey still has the count
 * read before verifying: of two assertions racing with the same counter,
 * one is recorded. Says whether this one was.
 */
export function recordPasskeyUse(db: AccountDb, use: PasskeyUse): boolean {
	const rows = db
		.update(passkeys)
		.set({ signCount: use.signCount, backedUp: use.backedUp, lastUsedAt: use.usedAt })
		.where(and(eq(passkeys.id, use.id), eq(passkeys.signCount, use.previousCount)))
		.returning({ id: passkeys.id })
		.all();
	return rows.length === 1;
}

export function deletePasskey(db: AccountDb, id: string): PasskeyRow | undefined {
	return db.delete(passkeys).where(eq(passkeys.id, id)).returning().get();
}
