// A passkey as the WebAuthn rules see it: what registration makes and an
// assertion is verified against. The user's object stores it as this shape
// (account/schema.ts `passkeys`, whose rows are this type).

export interface StoredPasskey {
	/** Our id (randomId): what the API shows and takes. */
	id: string;
	userId: string;
	/** From the authenticator data, base64url; unique across all accounts. */
	credentialId: string;
	/** The COSE public key, base64url. */
	publicKey: string;
	signCount: number;
	/** JSON array of transports. */
	transports: string;
	backupEligible: boolean;
	backedUp: boolean;
	aaguid: string;
	/** Registered for passwordless sign-in (discoverable, user-verified). */
	passwordless: boolean;
	name: string;
	createdAt: number;
	lastUsedAt: number | null;
}

/**
 * A verified assertion, to record: the new sign count, written only while
 * the passkey still has the count read before verifying (`previousCount`).
 */
export interface PasskeyUse {
	id: string;
	previousCount: number;
	signCount: number;
	backedUp: boolean;
	usedAt: number;
}
