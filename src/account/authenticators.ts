import { count, isNull } from "drizzle-orm";
import type { AccountDb } from "./db";
import { passkeys, recoveryCodes, totpCredentials } from "./schema";

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
