import { count, isNull } from "drizzle-orm";
import type { AccountDb } from "./db";
import { endTrustedDevices } from "./profile";
import { replaceRecoveryCodes } from "./recovery-codes";
import { passkeys, recoveryCodes, totpCredentials } from "./schema";
import { endSetupRequired, type SetupUpgrade } from "./sessions";

// The last-authenticator rule, in one place: a user who has a second factor
// (a passkey or a TOTP) keeps at least one. Recovery codes are no
// authenticator of their own: they only stand in for one.

export interface AuthenticatorCounts {
	passkeys: number;
	totp: number;
	unusedRecoveryCodes: number;
}

export function countAuthenticators(db: AccountDb): AuthenticatorCounts {
	const passkeyCount = db.select({ n: count() }).from(passkeys).get()?.n ?? 0;
	const totpCount = db.select({ n: count() }).from(totpCredentials).get()?.n ?? 0;
	const unused = db.select({ n: count() }).from(recoveryCodes).where(isNull(recoveryCodes.usedAt)).get()?.n ?? 0;
	return { passkeys: passkeyCount, totp: totpCount, unusedRecoveryCodes: unused };
}

/** Whether one authenticator may go: only while the user has another. */
export function mayRemoveAuthenticator(counts: AuthenticatorCounts): boolean {
	return counts.passkeys + counts.totp > 1;
}

/** Whether an authenticator being added is the user's first (counted before it is added): the one that comes with codes. */
export function isFirstAuthenticator(counts: AuthenticatorCounts): boolean {
	return counts.passkeys + counts.totp === 0;
}

/** What adding a factor did to the user's setup_required sessions: the requesting one became full; how many others ended. */
export interface SetupEnded {
	upgraded: boolean;
	othersEnded: number;
}

/**
 * Adds an authenticator, inside the caller's transaction: with ten codes
 * when it is the user's first (the Worker made them; only their hashes are
 * here), ending the setup_required sessions when asked (`setup`), and
 * ending the user's trusted devices.
 */
export function addAuthenticator(
	db: AccountDb,
	userId: string,
	firstCodeHashes: string[],
	now: number,
	setup: { upgrade?: SetupUpgrade } | undefined,
	insert: () => void,
): { codesGiven: boolean } & SetupEnded {
	const first = isFirstAuthenticator(countAuthenticators(db));
	insert();
	if (first) replaceRecoveryCodes(db, userId, firstCodeHashes, now);
	const ended = setup ? endSetupRequired(db, setup.upgrade) : { upgraded: false, othersEnded: 0 };
	endTrustedDevices(db);
	return { codesGiven: first, ...ended };
}
