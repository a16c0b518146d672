import type { PasskeyRow, SessionRow } from "../account/schema";
import { releaseCredentials } from "../directory/credentials";
import { type DirectoryEntry, deleteUser, directoryRow } from "../directory/users";
import { type UserStateNamespace, userStateFor } from "../durable/stubs";
import type { NewAccount } from "../durable/user-state";
import { type Db, uniqueViolationOn } from "../storage/db";
import { credentials, users } from "../storage/schema";

// The changes that touch both the directory (D1) and the user's object, in
// the one order that leaves no half-state a user can see: claim in the
// directory first (the UNIQUE indexes decide races between users), then
// write the object, and release the claim if that fails. A user whose
// directory row exists but whose object has no account cannot sign in (every
// sign-in reads the object), and the flow that made the row deletes it.

export type AccountCreated = { status: "created" } | { status: "email_taken" } | { status: "credential_exists" };

export interface NewUser {
	entry: DirectoryEntry;
	password: { hash: string; salt: string; iterations: number } | null;
	session?: SessionRow;
	passkey?: PasskeyRow;
	codeHashes?: string[];
}

function accountOf(user: NewUser): NewAccount {
	const { entry, password } = user;
	return {
		userId: entry.id,
		email: entry.email,
		webauthnUserId: entry.webauthnUserId,
		externalId: entry.externalId,
		displayName: entry.displayName,
		// No password here: hasNoPassword, and password sign-in answers invalid_credentials.
		passwordHash: password?.hash ?? "",
		passwordSalt: password?.salt ?? "",
		passwordIterations: password?.iterations ?? 0,
		trustedDeviceEpoch: 0,
		createdAt: entry.createdAt,
	};
}

/**
 * A new user: their directory row (and their first passkey's credential id)
 * in one D1 batch, then their account in their object, with its first
 * session, passkey and codes in one transaction there. A failure of the
 * second step deletes the directory row (its claims go with it): the email
 * is free again and nothing of the user remains.
 */
export async function createUser(db: Db, userState: UserStateNamespace, user: NewUser): Promise<AccountCreated> {
	const { entry, passkey } = user;
	try {
		await db.batch([
			db.insert(users).values(directoryRow(entry)),
			...(passkey
				? [
						db
							.insert(credentials)
							.values({ credentialId: passkey.credentialId, userId: entry.id, createdAt: entry.createdAt }),
					]
				: []),
		]);
	} catch (error) {
		const column = uniqueViolationOn(error);
		if (column === "users.email") return { status: "email_taken" };
		if (column === "credentials.credential_id") return { status: "credential_exists" };
		throw error;
	}
	return writeAccount(db, userState, user);
}

/** The second step of createUser, also for a directory row made by the server API's PUT. */
export async function writeAccount(
	db: Db,
	userState: UserStateNamespace,
	user: NewUser,
	/** The server API: a concurrent PUT may have written the account from the directory's row already (UserState.updateProfile). */
	options: { allowExisting?: boolean } = {},
): Promise<AccountCreated> {
	const { entry } = user;
	const stub = userStateFor(userState, entry.id);
	let written: boolean;
	try {
		written = await stub.createAccount({
			account: accountOf(user),
			...(user.session ? { session: user.session } : {}),
			...(user.passkey ? { passkey: user.passkey } : {}),
			...(user.codeHashes ? { codeHashes: user.codeHashes } : {}),
		});
	} catch (error) {
		// The write may have happened with only its answer lost: then the
		// account is whole, and deleting the directory row would orphan it.
		// Asked again; only an object that answers "no account" gives the email back.
		const exists = await stub.hasAccount().catch(() => null);
		if (exists === false) await deleteUser(db, entry.id);
		throw error;
	}
	// A fresh random id names an object no one has used: it cannot hold an account already.
	if (!written && !options.allowExisting) throw new Error("a new user's object already holds an account");
	return { status: "created" };
}

/**
 * Deletes a user: their object first (everything of their security, in one
 * transaction: a sign-in or registration in flight finds nothing after it),
 * then their directory row and claims. A failure between the two leaves a
 * directory row with no account, which signs no one in; deleting again
 * finishes it. Says whether there was a user.
 */
export async function deleteUserEverywhere(db: Db, userState: UserStateNamespace, userId: string): Promise<boolean> {
	const stub = userStateFor(userState, userId);
	const credentialIds = await stub.deleteAccount();
	if (credentialIds) await releaseCredentials(db, userId, credentialIds);
	const deleted = await deleteUser(db, userId);
	// A profile change that ran between the two found the directory row and
	// wrote an account again (UserState.updateProfile): the object is emptied
	// once more, now that no directory row can bring it back.
	await stub.deleteAccount();
	return deleted || credentialIds !== null;
}
