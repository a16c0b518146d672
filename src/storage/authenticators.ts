import { type SQL, sql } from "drizzle-orm";
import type { Db } from "./db";

export interface AuthenticatorCounts {
	passkeys: number;
	totp: number;
	unusedRecoveryCodes: number;
}

/** The user's live second factors, read in one round trip. */
export async function countAuthenticators(db: Db, userId: string): Promise<AuthenticatorCounts> {
	const row = await db.get<{ passkeys: number; totp: number; unused: number }>(sql`
		SELECT
			(SELECT COUNT(*) FROM passkeys WHERE user_id = ${userId}) AS passkeys,
			(SELECT COUNT(*) FROM totp_credentials WHERE user_id = ${userId}) AS totp,
			(SELECT COUNT(*) FROM recovery_codes WHERE user_id = ${userId} AND used_at IS NULL) AS unused`);
	return { passkeys: row?.passkeys ?? 0, totp: row?.totp ?? 0, unusedRecoveryCodes: row?.unused ?? 0 };
}

/**
 * A condition for DELETE statements: true while the user has more than one
 * authenticator. Evaluated inside the statement, so the database itself never
 * lets a user's last passkey or TOTP go, whatever else runs concurrently.
 */
export function hasAnotherAuthenticator(userId: string): SQL {
	return sql`((SELECT COUNT(*) FROM passkeys WHERE user_id = ${userId}) + (SELECT COUNT(*) FROM totp_credentials WHERE user_id = ${userId})) > 1`;
}
