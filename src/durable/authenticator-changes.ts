import { and, eq } from "drizzle-orm";
import { generateRecoveryCodes } from "../services/recovery-codes";
import { countAuthenticators, hasAnotherAuthenticator } from "../storage/authenticators";
import { type Db, isUniqueViolation } from "../storage/db";
import { deletePasskeyUnlessLast, findUserPasskey, type PasskeyRow } from "../storage/passkeys";
import { replaceRecoveryCodes } from "../storage/recovery-codes";
import { passkeys, totpCredentials } from "../storage/schema";

// These run inside the user's Durable Object under blockConcurrencyWhile:
// one change of a user's authenticators at a time.

export type NewPasskey = PasskeyRow;
export type PasskeyAdded = { status: "created"; recoveryCodes: string[] | null } | { status: "credential_exists" };

export interface NewTotp {
	userId: string;
	secretCiphertext: string;
	step: number;
}
export type TotpActivated = { status: "created"; recoveryCodes: string[] | null } | { status: "already_enabled" };

export type RemovalResult = "deleted" | "not_found" | "last_authenticator";

/** The first authenticator a user adds brings ten recovery codes, shown once. */
async function codesIfFirst(db: Db, recoveryKey: string, userId: string, now: number): Promise<string[] | null> {
	const counts = await countAuthenticators(db, userId);
	if (counts.passkeys + counts.totp !== 1) return null;
	const { codes, hashes } = await generateRecoveryCodes(recoveryKey);
	await replaceRecoveryCodes(db, userId, hashes, now);
	return codes;
}

export async function addPasskeyWithRecoveryCodes(
	db: Db,
	recoveryKey: string,
	passkey: NewPasskey,
	now: number,
): Promise<PasskeyAdded> {
	try {
		await db.insert(passkeys).values(passkey);
	} catch (error) {
		// The UNIQUE index on credential_id decides a race between two accounts.
		if (isUniqueViolation(error)) return { status: "credential_exists" };
		throw error;
	}
	return { status: "created", recoveryCodes: await codesIfFirst(db, recoveryKey, passkey.userId, now) };
}

export async function activateTotpWithRecoveryCodes(
	db: Db,
	recoveryKey: string,
	totp: NewTotp,
	now: number,
): Promise<TotpActivated> {
	const inserted = await db
		.insert(totpCredentials)
		.values({ userId: totp.userId, secretCiphertext: totp.secretCiphertext, lastStep: totp.step, createdAt: now })
		.onConflictDoNothing()
		.returning({ userId: totpCredentials.userId });
	if (inserted.length === 0) return { status: "already_enabled" };
	return { status: "created", recoveryCodes: await codesIfFirst(db, recoveryKey, totp.userId, now) };
}

export async function removePasskey(db: Db, userId: string, passkeyId: string): Promise<RemovalResult> {
	if (await deletePasskeyUnlessLast(db, userId, passkeyId)) return "deleted";
	return (await findUserPasskey(db, userId, passkeyId)) ? "last_authenticator" : "not_found";
}

export async function removeTotp(db: Db, userId: string): Promise<RemovalResult> {
	const rows = await db
		.delete(totpCredentials)
		.where(and(eq(totpCredentials.userId, userId), hasAnotherAuthenticator(userId)))
		.returning({ userId: totpCredentials.userId });
	if (rows.length === 1) return "deleted";
	const existing = await db.select().from(totpCredentials).where(eq(totpCredentials.userId, userId)).get();
	return existing ? "last_authenticator" : "not_found";
}
