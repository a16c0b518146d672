import { and, eq, exists, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { hasAnotherAuthenticator } from "../storage/authenticators";
import { type Db, isUniqueViolation } from "../storage/db";
import { deletePasskeyUnlessLast, findUserPasskey, type PasskeyRow } from "../storage/passkeys";
import { firstAuthenticatorCodes } from "../storage/recovery-codes";
import { passkeys, recoveryCodes, totpCredentials } from "../storage/schema";
import { deleteUserSessions, endSetupRequired, type SetupUpgrade } from "../storage/sessions";
import { endTrustedDevices } from "../storage/users";

// These run inside the user's Durable Object under blockConcurrencyWhile:
// one change of a user's authenticators at a time.

export type NewPasskey = PasskeyRow;
/**
 * What adding a factor did to the user's setup_required sessions
 * (REQUIRE_SECOND_FACTOR): whether the requesting one became full, and how
 * many others ended.
 */
export interface SetupEnded {
	upgraded: boolean;
	othersEnded: number;
}
/**
 * Asks the change that adds a factor to end the user's setup_required
 * sessions; `upgrade`: the requesting one, which becomes full. Absent, the
 * batch leaves sessions alone (the policy off and a full session: the
 * default's statements stay as they were).
 */
export interface SetupChange {
	upgrade?: SetupUpgrade;
}

export type PasskeyAdded = ({ status: "created"; codesGiven: boolean } & SetupEnded) | { status: "credential_exists" };

export interface NewTotp {
	userId: string;
	secretCiphertext: string;
	step: number;
}
export type TotpActivated = ({ status: "created"; codesGiven: boolean } & SetupEnded) | { status: "already_enabled" };

export type RemovalResult = "deleted" | "not_found" | "last_authenticator";

/**
 * Inserts a new authenticator and, when it is the user's first, ten
 * recovery codes, in one D1 batch (a transaction): a registration is either
 * whole or absent, whatever fails midway. Whether it is the first is decided
 * by the database inside that batch (firstAuthenticatorCodes), not by a
 * count read beforehand: one round trip, and right even if another change
 * slipped past the Durable Object. The Worker makes the codes beforehand
 * either way (ten HMACs, cheaper than a round trip) and sends only their
 * hashes: this object holds neither the codes nor the key that hashes them.
 * When asked (`setup`: the policy is on, or the requesting session is
 * setup_required), the same batch ends the user's setup_required sessions
 * (endSetupRequired): the requesting one (`setup.upgrade`) becomes full, any
 * other ends; a factor is never added without that, nor that without the
 * factor. Returns whether the
 * codes were given and what became of those sessions, or "conflict" when a
 * UNIQUE constraint refused the insert.
 * The same batch ends the user's trusted devices (services/trusted-devices.ts).
 */
async function insertWithFirstCodes(
	db: Db,
	codeHashes: string[],
	userId: string,
	now: number,
	insert: BatchItem<"sqlite">,
	setup: SetupChange | undefined,
): Promise<({ codesGiven: boolean } & SetupEnded) | "conflict"> {
	const upgrade = setup?.upgrade;
	const setupStatements = setup ? endSetupRequired(db, userId, upgrade) : [];
	let results: unknown[];
	try {
		results = await db.batch([
			insert,
			...firstAuthenticatorCodes(db, userId, codeHashes, now),
			...setupStatements,
			// A new second factor ends the user's trusted devices, whole or not at all with it.
			endTrustedDevices(db, userId),
		]);
	} catch (error) {
		if (isUniqueViolation(error)) return "conflict";
		throw error;
	}
	const [, , inserted, ...rest] = results as { id: string }[][];
	// The setup statements' results only, not the trusted-device epoch's after them.
	const sessionResults = rest.slice(0, setupStatements.length);
	const upgradedRows = upgrade ? (sessionResults[0] ?? []) : [];
	const ended = (upgrade ? sessionResults[1] : sessionResults[0]) ?? [];
	const upgraded = upgradedRows.length === 1;
	return {
		codesGiven: (inserted ?? []).length > 0,
		upgraded,
		// The requesting session's old row is among the ended when it was upgraded.
		othersEnded: ended.filter((row) => row.id !== upgrade?.fromId).length,
	};
}

export async function addPasskeyWithRecoveryCodes(
	db: Db,
	firstCodeHashes: string[],
	passkey: NewPasskey,
	now: number,
	setup?: SetupChange,
): Promise<PasskeyAdded> {
	const given = await insertWithFirstCodes(
		db,
		firstCodeHashes,
		passkey.userId,
		now,
		db.insert(passkeys).values(passkey),
		setup,
	);
	// The UNIQUE index on credential_id decides a race between two accounts.
	if (given === "conflict") return { status: "credential_exists" };
	return { status: "created", ...given };
}

export async function activateTotpWithRecoveryCodes(
	db: Db,
	firstCodeHashes: string[],
	totp: NewTotp,
	now: number,
	setup?: SetupChange,
): Promise<TotpActivated> {
	const insert = db
		.insert(totpCredentials)
		.values({ userId: totp.userId, secretCiphertext: totp.secretCiphertext, lastStep: totp.step, createdAt: now });
	const given = await insertWithFirstCodes(db, firstCodeHashes, totp.userId, now, insert, setup);
	// One TOTP per user: the primary key refuses a second.
	if (given === "conflict") return { status: "already_enabled" };
	return { status: "created", ...given };
}

export async function removePasskey(db: Db, userId: string, passkeyId: string): Promise<RemovalResult> {
	if (await deletePasskeyUnlessLast(db, userId, passkeyId)) return "deleted";
	return (await findUserPasskey(db, userId, passkeyId)) ? "last_authenticator" : "not_found";
}

/** Removes the TOTP unless it is the last authenticator; the user's trusted devices end with it, in one batch. */
export async function removeTotp(db: Db, userId: string): Promise<RemovalResult> {
	const deletable = and(eq(totpCredentials.userId, userId), hasAnotherAuthenticator(userId));
	const [, rows] = await db.batch([
		endTrustedDevices(db, userId, exists(db.select({ one: sql`1` }).from(totpCredentials).where(deletable))),
		db.delete(totpCredentials).where(deletable).returning({ userId: totpCredentials.userId }),
	]);
	if (rows.length === 1) return "deleted";
	const existing = await db.select().from(totpCredentials).where(eq(totpCredentials.userId, userId)).get();
	return existing ? "last_authenticator" : "not_found";
}

export interface SecondFactorsRemoved {
	passkeys: number;
	totp: boolean;
	recoveryCodes: number;
	sessions: number;
}

/**
 * The help-desk reset: every passkey, the TOTP secret, every recovery code
 * and every session and trusted device of the user, in one D1 batch (one
 * transaction), so no sign-in can land between the factors going and the
 * sessions ending.
 * Deliberately not held to the last-authenticator rule: the app's backend
 * has verified the person by its own means and is starting them over.
 */
export async function removeSecondFactors(db: Db, userId: string): Promise<SecondFactorsRemoved> {
	const [removedPasskeys, removedTotp, removedCodes, removedSessions] = await db.batch([
		db.delete(passkeys).where(eq(passkeys.userId, userId)).returning({ id: passkeys.id }),
		db.delete(totpCredentials).where(eq(totpCredentials.userId, userId)).returning({ userId: totpCredentials.userId }),
		db.delete(recoveryCodes).where(eq(recoveryCodes.userId, userId)).returning({ id: recoveryCodes.id }),
		deleteUserSessions(db, userId),
		endTrustedDevices(db, userId),
	]);
	return {
		passkeys: removedPasskeys.length,
		totp: removedTotp.length > 0,
		recoveryCodes: removedCodes.length,
		sessions: removedSessions.length,
	};
}
