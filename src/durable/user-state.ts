import { DurableObject } from "cloudflare:workers";
import { eq, lte } from "drizzle-orm";
import { type ActivityEntry, type ActivityRecord, readActivity, writeActivity } from "../account/activity";
import { countAttempt, forgetOldAttempts, lockState, takeBackAttempt } from "../account/attempts";
import {
	type AuthenticatorCounts,
	addAuthenticator,
	countAuthenticators,
	mayRemoveAuthenticator,
} from "../account/authenticators";
import { deletePending, peekPending, putPending } from "../account/challenges";
import { type AccountDb, accountDb } from "../account/db";
import { claimLegacyCredentials, clearLegacyUser, readLegacyUser, writeLegacyUser } from "../account/legacy-import";
import { migrate } from "../account/migrations";
import {
	beginRegistration,
	completeRegistration,
	type RegistrationInput,
	type RegistrationOptionsInput,
	type RegistrationOptionsOutcome,
	type RegistrationOutcome,
} from "../account/passkey-registration";
import {
	type AssertionOptionsInput,
	type AssertionOptionsOutcome,
	beginAssertionOptions,
	beginPasskeyVerify,
	completePasskeyVerify,
	type PasskeyVerifyInput,
	type PasskeyVerifyOutcome,
} from "../account/passkey-second-factor";
import {
	beginPasskeySignIn,
	completePasskeySignIn,
	type PasskeySignInInput,
	type PasskeySignInOutcome,
	USED_CHALLENGE_GRACE_MS,
} from "../account/passkey-sign-in";
import {
	deletePasskey,
	findPasskeyByCredentialId,
	listPasskeys,
	type PasskeyUse,
	renamePasskey,
} from "../account/passkeys";
import {
	endTrustedDevices,
	hasNoPassword,
	readAccount,
	setPassword,
	updateAccount,
	writeAccount,
} from "../account/profile";
import {
	findUnusedRecoveryCode,
	type RecoveryCodeSummary,
	recoveryCodeSpentSince,
	recoveryCodeUse,
	replaceRecoveryCodes,
	summarizeRecoveryCodes,
} from "../account/recovery-codes";
import {
	type AccountRow,
	type PasskeyRow,
	passkeys,
	recoveryCodes,
	type SessionRow,
	sessions,
	type TotpRow,
	totpCredentials,
	usedChallenges,
} from "../account/schema";
import {
	deleteAllSessions,
	deleteOtherSessions,
	deleteSession,
	deleteSessionByPublicId,
	findLiveSession,
	insertSession,
	listLiveSessions,
	markAuthenticated,
	refreshSessionWith,
	type SetupUpgrade,
	type SingleUse,
	touchSession,
	upgradeSession,
} from "../account/sessions";
import { findTotp, totpStepUse } from "../account/totp";
import { updateUser } from "../directory/users";
import type { Env } from "../env";
import type { AmrRecord } from "../lib/amr";
import { clock } from "../lib/clock";
import { errorForRpc } from "../lib/faults";
import { createDb, isUniqueViolation } from "../storage/db";
import { verifyAssertion } from "../webauthn/assertion";
import type { KnownFailure } from "../webauthn/ceremony-failure";
import { CeremonyFailure } from "../webauthn/ceremony-failure";
import { inspectAssertion } from "../webauthn/inspect";

/** Per user (second factor), per login email (password), per client address (client_*, server_key). */
export type AttemptScope = "second_factor" | "password" | "client_password" | "client_signup" | "server_key";

export interface AttemptLimit {
	scope: AttemptScope;
	limit: number;
	windowMs: number;
}

export type AttemptStart =
	| { locked: true; retryAfterSeconds: number }
	/** `fillsLimit`: this attempt is the one that reaches the limit if it fails. */
	| { locked: false; attemptId: string; fillsLimit: boolean };

/** Who the user is, as a session carries it. */
export interface AccountIdentity {
	userId: string;
	email: string;
	externalId: string | null;
	webauthnUserId: string;
}

export type NewAccount = Omit<AccountRow, "id">;

export interface ResolvedRow {
	session: SessionRow;
	identity: AccountIdentity;
	counts: AuthenticatorCounts;
	passkeys?: PasskeyRow[];
	totp?: TotpRow | null;
}

/**
 * What a passed second factor spends, described as data (the object builds
 * the statements): a recovery code (matched among the candidates here), or
 * a TOTP time step. (A passkey's is verifyPasskey's, in one call too.)
 */
export type FactorUse =
	| { kind: "recovery_code"; candidates: string[] }
	| { kind: "totp_step"; step: number; sealed: { read: string; store: string } };

export interface SecondFactorInput extends AttemptLimit {
	now: number;
	sessionId: string;
	/** Set when the Worker's own checks already failed. */
	failure?: KnownFailure;
	/** What the attempt spends and how the session changes if it passes. */
	use?: FactorUse;
	/** The method's record (lib/amr.ts), already joined with the session's. */
	amr: AmrRecord;
	maxAge: number;
	/** For a partial session: the full session that replaces it (a new token's hash). */
	next?: SessionRow;
	/** The session's authentication time as the Worker saw it (a full session's refresh). */
	seenAt: number;
}

export type SecondFactorOutcome =
	| { outcome: "locked"; retryAfterSeconds: number }
	/** `limitReached`: this failure is the one that closed the limit (sent once, as a security event). */
	| { outcome: "failed"; failure: KnownFailure; limitReached: boolean }
	/** Passed, but a concurrent request used the factor or the session first: not counted. */
	| { outcome: "lost"; reason: "session_gone" | "lost" | "concurrent_use" }
	| { outcome: "passed"; upgraded: boolean; authenticatedAt: number; unusedRecoveryCodes: number };

export interface SetupEnded {
	upgraded: boolean;
	othersEnded: number;
}

export type TotpActivated = ({ status: "created"; codesGiven: boolean } & SetupEnded) | { status: "already_enabled" };

export type RemovalResult =
	| { status: "deleted"; credentialId?: string }
	| { status: "not_found" }
	| { status: "last_authenticator" };

export interface SecondFactorsRemoved {
	passkeys: number;
	totp: boolean;
	recoveryCodes: number;
	sessions: number;
	credentialIds: string[];
}

export interface UserOverview {
	passkeys: PasskeyRow[];
	totp: boolean;
	recoveryCodesLeft: number;
	liveSessions: number;
	lastSignInAt: number | null;
}

export interface SignInCandidate {
	/** Whether this presentation of the challenge was its first with this user's passkeys. */
	first: boolean;
	passkey: PasskeyRow | undefined;
	identity: AccountIdentity | undefined;
	counts: AuthenticatorCounts;
}

function identityOf(row: AccountRow): AccountIdentity {
	return { userId: row.userId, email: row.email, externalId: row.externalId, webauthnUserId: row.webauthnUserId };
}

/**
 * One per user (`idFromName("user:" + id)`): the owner of that user's
 * security state (account/*): their password, sessions, passkeys, TOTP,
 * recovery codes, challenges, attempt counters and activity, in its own
 * SQLite storage. Every method runs in one transactionSync, with no await:
 * a check and the write it guards are one step, and no other request of the
 * user runs between them. The same class serves one object per login email
 * (the password limiter) and one per client address (the per-client limits),
 * which use only the attempt methods.
 */
export class UserState extends DurableObject<Env> {
	private sql: SqlStorage;
	private readonly db: AccountDb;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		this.sql = ctx.storage.sql;
		// Once per instance, before the first request is delivered (the
		// constructor is synchronous): an object made by an earlier deploy is
		// brought to this code's schema on its first use (migrations.ts).
		migrate(ctx.storage);
		// drizzle's statements go through this.sql too, read at each call: one
		// handle runs every statement of the object (the round-trip test counts
		// the object's writes there).
		const handle = { transactionSync: <T>(run: () => T): T => ctx.storage.transactionSync(run) };
		Object.defineProperty(handle, "sql", { get: () => this.sql });
		this.db = accountDb(handle as unknown as DurableObjectStorage);
	}

	/**
	 * One transaction of the account's rules; afterwards the object's alarm is
	 * moved to the next expiry, when that changed (alarm below).
	 */
	private transaction<T>(run: () => T): T {
		const result = this.ctx.storage.transactionSync(run);
		this.planCleanup();
		return result;
	}

	/** When this instance last set the alarm; undefined: not known (a new instance sets it again). Not security state: only when to clean up. */
	private plannedCleanup: number | undefined;

	private planCleanup(): void {
		// Planned on sessions only: used sign-in challenges are swept by the next
		// sign-in, and by this alarm whenever it runs, without an alarm of their own.
		const next = this.sql.exec<{ at: number | null }>("SELECT MIN(expires_at) AS at FROM sessions").one().at;
		if (next === null) return;
		// A row that expired already (an alarm that fired before the clock got
		// there) is taken at the next round, a minute on, not in a tight loop.
		const at = Math.max(next, clock.now() + 60_000 * Number(next <= clock.now()));
		if (at === this.plannedCleanup) return;
		this.plannedCleanup = at;
		// Not awaited: the alarm is written with the object's other writes, before its answer leaves.
		void this.ctx.storage.setAlarm(at);
	}

	/**
	 * The user's expired sessions and used sign-in challenges are deleted here,
	 * by the object itself, when the earliest of them expires: a user who never
	 * comes back leaves no live-looking rows behind, and no sweep of all users
	 * is needed. Nothing expired is ever read (every query holds its expiry),
	 * so this changes only the object's size.
	 */
	async alarm(): Promise<void> {
		const now = clock.now();
		this.plannedCleanup = undefined;
		this.transaction(() => {
			this.db.delete(sessions).where(lte(sessions.expiresAt, now)).run();
			this.db
				.delete(usedChallenges)
				.where(lte(usedChallenges.expiresAt, now - USED_CHALLENGE_GRACE_MS))
				.run();
			this.sql.exec("DELETE FROM pending WHERE expires_at <= ?", now);
		});
	}

	// ——— the account ———

	/**
	 * Writes a new account, with what comes with it (a first session, a
	 * first passkey and its codes), in one transaction; refuses when the
	 * object already has one (false).
	 */
	createAccount(input: {
		account: NewAccount;
		session?: SessionRow;
		passkey?: PasskeyRow;
		codeHashes?: string[];
	}): boolean {
		return this.transaction(() => {
			if (readAccount(this.db)) return false;
			writeAccount(this.db, input.account);
			if (input.passkey) this.db.insert(passkeys).values(input.passkey).run();
			if (input.codeHashes)
				replaceRecoveryCodes(this.db, input.account.userId, input.codeHashes, input.account.createdAt);
			if (input.session) insertSession(this.db, input.session);
			return true;
		});
	}

	hasAccount(): boolean {
		return readAccount(this.db) !== undefined;
	}

	/**
	 * Takes over a user made before the per-user design (legacy-import.ts)
	 * when this object has no account yet: one change at a time, so two first
	 * uses import once. Says whether the object holds the account now.
	 */
	importLegacy(userId: string): Promise<boolean> {
		return this.exclusive(async () => {
			const db = createDb(this.env.DB);
			// Called only while the directory still marks the user legacy: an
			// account here means an earlier take-over whose clean-up failed; it is
			// finished now.
			if (readAccount(this.db)) {
				await clearLegacyUser(db, userId);
				return true;
			}
			const legacy = await readLegacyUser(db, userId);
			if (!legacy) return false;
			this.transaction(() => writeLegacyUser(this.db, legacy));
			// A passkey an instance of the old code added after migration 0007 has no claim yet.
			await claimLegacyCredentials(db, userId, legacy);
			await clearLegacyUser(db, userId);
			return true;
		});
	}

	/** The account's identity, password and second factors, for a password check. */
	accountForSignIn(email: string): { account: AccountRow; counts: AuthenticatorCounts } | null {
		const row = readAccount(this.db);
		// Only under the email it was found by: a stale directory entry (an email changed meanwhile) finds nothing.
		if (!row || row.email !== email) return null;
		return { account: row, counts: countAuthenticators(this.db) };
	}

	/**
	 * Changes the user's email or display name (server API): the directory
	 * first (the email is UNIQUE there), then the copy here, one change at a
	 * time for this user (blockConcurrencyWhile around the directory's write),
	 * so the two never end in different orders. An account a concurrent first
	 * PUT has not written yet is written here from the directory's row.
	 */
	updateProfile(
		userId: string,
		changes: { email?: string; displayName?: string | null },
	): Promise<{ status: "updated"; account: AccountRow } | { status: "email_taken" } | { status: "not_found" }> {
		return this.exclusive(async () => {
			const db = createDb(this.env.DB);
			let entry: Awaited<ReturnType<typeof updateUser>>;
			try {
				entry = await updateUser(db, userId, changes);
			} catch (error) {
				if (isUniqueViolation(error)) return { status: "email_taken" as const };
				throw error;
			}
			if (!entry) return { status: "not_found" as const };
			const directory = entry;
			// A user made before the per-user design: their rows come over first.
			const legacy = !readAccount(this.db) && directory.legacy === 1 ? await readLegacyUser(db, userId) : null;
			const result = this.transaction(() => {
				const profile = {
					email: directory.email,
					externalId: directory.externalId,
					displayName: directory.displayName,
				};
				if (legacy) writeLegacyUser(this.db, legacy);
				if (!readAccount(this.db)) {
					writeAccount(this.db, {
						userId,
						...profile,
						webauthnUserId: directory.webauthnUserId,
						passwordHash: "",
						passwordSalt: "",
						passwordIterations: 0,
						trustedDeviceEpoch: 0,
						createdAt: directory.createdAt,
					});
				}
				const account = updateAccount(this.db, profile);
				if (!account) throw new Error("the account vanished inside its own transaction");
				return { status: "updated" as const, account };
			});
			if (legacy) await clearLegacyUser(db, userId);
			return result;
		});
	}

	/**
	 * Runs `run` with no other request of this user in between, even across
	 * its awaits (the directory's write). A failure is thrown after
	 * blockConcurrencyWhile, not inside it, where it would reset the object
	 * and fail the user's other requests in flight; it crosses RPC as its
	 * message only (errorForRpc keeps an outage recognizable: a 503).
	 */
	private async exclusive<T>(run: () => Promise<T>): Promise<T> {
		const outcome = await this.ctx.blockConcurrencyWhile(
			async (): Promise<{ done: true; value: T } | { done: false; error: Error }> => {
				try {
					return { done: true, value: await run() };
				} catch (error) {
					return { done: false, error: errorForRpc(error) };
				}
			},
		);
		if (!outcome.done) throw outcome.error;
		return outcome.value;
	}

	trustedDeviceEpoch(): number | null {
		return readAccount(this.db)?.trustedDeviceEpoch ?? null;
	}

	/**
	 * Account deletion: everything this object holds of the user, in one
	 * transaction; a registration or sign-in in flight finds nothing after it.
	 * Says the user's credential ids (for the directory) or null when there
	 * was no account.
	 */
	deleteAccount(): string[] | null {
		return this.transaction(() => {
			const row = readAccount(this.db);
			const credentialIds = listPasskeys(this.db).map((p) => p.credentialId);
			this.sql.exec(
				"DELETE FROM pending; DELETE FROM attempts; DELETE FROM activity; DELETE FROM sessions; DELETE FROM passkeys; DELETE FROM totp_credentials; DELETE FROM recovery_codes; DELETE FROM used_challenges; DELETE FROM account;",
			);
			return row ? credentialIds : null;
		});
	}

	/** The server API's view of the user. */
	overview(now: number, maxAge: number): UserOverview | null {
		if (!readAccount(this.db)) return null;
		const live = listLiveSessions(this.db, now, maxAge);
		const full = live.filter((s) => s.level === "full").map((s) => s.createdAt);
		return {
			passkeys: listPasskeys(this.db),
			totp: findTotp(this.db) !== undefined,
			recoveryCodesLeft: countAuthenticators(this.db).unusedRecoveryCodes,
			liveSessions: live.length,
			lastSignInAt: full.length > 0 ? Math.max(...full) : null,
		};
	}

	// ——— sessions ———

	/** The live session with this id (the token's hash), its user and second factors; writes nothing. */
	resolveSession(
		id: string,
		now: number,
		maxAge: number,
		include: { passkeys?: boolean; totp?: boolean } = {},
	): ResolvedRow | null {
		const session = findLiveSession(this.db, id, now, maxAge);
		if (!session) return null;
		const row = readAccount(this.db);
		if (!row) return null;
		return {
			session,
			identity: identityOf(row),
			counts: countAuthenticators(this.db),
			...(include.passkeys ? { passkeys: listPasskeys(this.db) } : {}),
			...(include.totp ? { totp: findTotp(this.db) ?? null } : {}),
		};
	}

	counts(): AuthenticatorCounts {
		return countAuthenticators(this.db);
	}

	/** Writes a session for the account; false when there is no account (deleted meanwhile). */
	insertSession(row: SessionRow): boolean {
		return this.transaction(() => {
			if (!readAccount(this.db)) return false;
			insertSession(this.db, row);
			return true;
		});
	}

	/**
	 * Writes a password sign-in's session only while the password checked is
	 * still the user's: a change in between (a slow hash apart) ended the
	 * other sessions in its own transaction, and a sign-in with the old
	 * password in flight must not write its session after that.
	 */
	insertSessionIfPassword(row: SessionRow, passwordHash: string): boolean {
		return this.transaction(() => {
			const account = readAccount(this.db);
			if (!account || hasNoPassword(account) || account.passwordHash !== passwordHash) return false;
			insertSession(this.db, row);
			return true;
		});
	}

	touchSession(id: string, lastUsedAt: number, expiresAt?: number): void {
		touchSession(this.db, id, lastUsedAt, expiresAt);
	}

	endSession(id: string): void {
		deleteSession(this.db, id);
	}

	listSessions(now: number, maxAge: number): SessionRow[] {
		return listLiveSessions(this.db, now, maxAge);
	}

	endSessionByPublicId(publicId: string, now: number, maxAge: number): string | null {
		return deleteSessionByPublicId(this.db, publicId, now, maxAge);
	}

	/** Every other session, partial ones too, and every trusted device of the user; the current one stays. */
	endOtherSessions(keepId: string): number {
		return this.transaction(() => {
			const ended = deleteOtherSessions(this.db, keepId);
			endTrustedDevices(this.db);
			return ended;
		});
	}

	/** Every session and trusted device of the user (the server API's sign-out everywhere). */
	endAllSessions(): number {
		return this.transaction(() => {
			const ended = deleteAllSessions(this.db);
			endTrustedDevices(this.db);
			return ended;
		});
	}

	markAuthenticated(id: string, now: number, amr: AmrRecord): void {
		markAuthenticated(this.db, id, now, amr);
	}

	/**
	 * A new password, every other session ended and every trusted device
	 * with them, in one transaction (OWASP ASVS V3.3). Says how many sessions ended.
	 */
	changePassword(password: { hash: string; salt: string; iterations: number }, keepId: string): number {
		return this.transaction(() => {
			setPassword(this.db, password);
			const ended = deleteOtherSessions(this.db, keepId);
			endTrustedDevices(this.db);
			return ended;
		});
	}

	// ——— challenges and attempts ———

	/** Adds an entry to the user's activity log; the bounds are applied in the same transaction, by the object's clock. */
	recordActivity(record: ActivityRecord): void {
		this.ctx.storage.transactionSync(() => writeActivity(this.sql, record, clock.now()));
	}

	/** The user's activity, newest first (at most 100, none older than 90 days). */
	listActivity(): ActivityEntry[] {
		return readActivity(this.sql, clock.now());
	}

	/** Stores a challenge (or a pending TOTP secret) under its key, replacing an earlier one. */
	putPending(key: string, value: string, expiresAt: number): void {
		putPending(this.sql, key, value, expiresAt);
	}

	/** Reads without consuming (TOTP activation keeps the secret until a code matches). */
	peekPending(key: string, now: number): string | null {
		return peekPending(this.sql, key, now);
	}

	deletePending(key: string): void {
		deletePending(this.sql, key);
	}

	/** Whether the limiter is closed now; reserves nothing. */
	attemptStatus(limit: AttemptLimit & { now: number }): { locked: boolean; retryAfterSeconds: number } {
		forgetOldAttempts(this.sql, limit, limit.now);
		return lockState(this.sql, limit, limit.now);
	}

	/**
	 * Starts a password check: refuses when the limit is reached; otherwise
	 * counts the attempt as a failure *now*, before the slow hash, so parallel
	 * guesses cannot outrun the count (nor make us hash while locked).
	 * `succeedAttempt` takes the reservation back when the password matches.
	 */
	beginAttempt(limit: AttemptLimit & { now: number }): AttemptStart {
		return this.ctx.storage.transactionSync((): AttemptStart => {
			forgetOldAttempts(this.sql, limit, limit.now);
			const state = lockState(this.sql, limit, limit.now);
			if (state.locked) return { locked: true, retryAfterSeconds: state.retryAfterSeconds };
			const attemptId = countAttempt(this.sql, limit.scope, limit.now);
			return { locked: false, attemptId, fillsLimit: lockState(this.sql, limit, limit.now).locked };
		});
	}

	/** A passed check is not a failure; other failures stay counted. */
	succeedAttempt(attemptId: string): void {
		takeBackAttempt(this.sql, attemptId);
	}

	/**
	 * A second-factor attempt, decided and committed in one call, in one
	 * transaction: refuses when the limit is reached; otherwise consumes the
	 * challenge and holds what the response signed against it, finds the
	 * recovery code among the candidates, counts a failure before anything
	 * is answered (so parallel guesses cannot outrun the limit); a passed
	 * attempt spends its factor and changes the session, or loses to a
	 * concurrent use and spends nothing (not counted: it was no guess).
	 */
	secondFactor(input: SecondFactorInput): SecondFactorOutcome {
		return this.transaction((): SecondFactorOutcome => {
			forgetOldAttempts(this.sql, input, input.now);
			const state = lockState(this.sql, input, input.now);
			if (state.locked) return { outcome: "locked", retryAfterSeconds: state.retryAfterSeconds };
			let failure = input.failure;
			let use: SingleUse | undefined;
			if (!failure && input.use?.kind === "recovery_code") {
				const hash = findUnusedRecoveryCode(this.db, input.use.candidates);
				if (hash !== null) use = recoveryCodeUse(this.db, hash, clock.now());
				// Spent since this request began: by a request that ran beside it
				// with the same code. That is no guess, and counting those would
				// let a burst of double submits lock the user out.
				else if (recoveryCodeSpentSince(this.db, input.use.candidates, input.now)) {
					const live = findLiveSession(this.db, input.sessionId, input.now, input.maxAge);
					return { outcome: "lost", reason: live ? "lost" : "session_gone" };
				} else failure = { code: "invalid_code", reason: "wrong_or_used_code" };
			}
			if (failure) {
				// Counted toward the user's limit only: a partial session is not
				// ended by it (API.md), its verify routes answer 429 until the window passes.
				countAttempt(this.sql, input.scope, input.now, input.sessionId);
				return { outcome: "failed", failure, limitReached: lockState(this.sql, input, input.now).locked };
			}
			if (input.use?.kind === "totp_step") use = totpStepUse(this.db, input.use.step, input.now, input.use.sealed);
			const codesLeft = () => countAuthenticators(this.db).unusedRecoveryCodes;
			if (input.next) {
				const upgraded = upgradeSession(this.db, input.sessionId, input.next, use);
				if (upgraded !== "upgraded") {
					return { outcome: "lost", reason: upgraded === "session_gone" ? "session_gone" : "lost" };
				}
				return { outcome: "passed", upgraded: true, authenticatedAt: input.now, unusedRecoveryCodes: codesLeft() };
			}
			if (!use) {
				markAuthenticated(this.db, input.sessionId, input.now, input.amr);
				return { outcome: "passed", upgraded: false, authenticatedAt: input.now, unusedRecoveryCodes: codesLeft() };
			}
			const at = refreshSessionWith(
				this.db,
				{ id: input.sessionId, seenAt: input.seenAt },
				input.now,
				input.maxAge,
				use,
				input.amr,
			);
			if (at === null) return { outcome: "lost", reason: "lost" };
			return { outcome: "passed", upgraded: false, authenticatedAt: at, unusedRecoveryCodes: codesLeft() };
		});
	}

	// ——— authenticators ———

	/** Registration options: the session checked, the challenge stored, the passkeys read, in one call (account/passkey-registration.ts). */
	registrationOptions(input: RegistrationOptionsInput): RegistrationOptionsOutcome {
		return this.transaction(() => beginRegistration(this.db, this.sql, input));
	}

	/**
	 * The end of a registration in one call and one transaction: the session
	 * checked, the challenge taken (check-and-consume), the verified
	 * response's claim held against it, and only then the passkey added, with
	 * ten codes if it is the user's first authenticator, the setup_required
	 * sessions ended when asked, the trusted devices ended and the activity
	 * written (account/passkey-registration.ts).
	 */
	registerPasskey(input: RegistrationInput): RegistrationOutcome {
		return this.transaction(() => completeRegistration(this.db, this.sql, input));
	}

	/** The options of a passkey second factor: the session checked, the challenge stored, in one call. */
	assertionOptions(input: AssertionOptionsInput): AssertionOptionsOutcome {
		return this.transaction(() => beginAssertionOptions(this.db, this.sql, input));
	}

	/**
	 * The passkey second factor (or a reauthentication with a passkey) in one
	 * call (account/passkey-second-factor.ts): the session and the limit
	 * checked, the attempt counted, the challenge taken, the assertion
	 * verified here, then the sign count, the session and the activity entry.
	 */
	async verifyPasskey(input: PasskeyVerifyInput): Promise<PasskeyVerifyOutcome> {
		const begun = this.transaction(() => beginPasskeyVerify(this.db, this.sql, input));
		if (begun.status !== "verify") return begun;
		const inspected = inspectAssertion(input.response);
		let use: PasskeyUse;
		try {
			use = await verifyAssertion(begun.passkey, input.response, inspected, input.signed.challenge, {
				requireUserVerification: false,
				config: input.rules,
			});
		} catch (error) {
			if (!(error instanceof CeremonyFailure)) throw error;
			// Counted: the attempt stays as the failure it was counted as.
			return {
				status: "failed",
				failure: { code: error.code, reason: error.reason },
				limitReached: begun.fillsLimit,
				account: begun.account,
			};
		}
		return this.transaction(() =>
			completePasskeyVerify(this.db, this.sql, input, begun, use, inspected.authData.flags.uv),
		);
	}

	/** One TOTP per user: a second is refused. */
	activateTotp(
		totp: { userId: string; secretCiphertext: string; step: number },
		firstCodeHashes: string[],
		now: number,
		setup?: { upgrade?: SetupUpgrade },
	): TotpActivated {
		return this.transaction((): TotpActivated => {
			if (findTotp(this.db)) return { status: "already_enabled" };
			const added = addAuthenticator(this.db, totp.userId, firstCodeHashes, now, setup, () => {
				this.db
					.insert(totpCredentials)
					.values({ userId: totp.userId, secretCiphertext: totp.secretCiphertext, lastStep: totp.step, createdAt: now })
					.run();
			});
			return { status: "created", ...added };
		});
	}

	/** Whether the user has a passkey with this credential id (a registration whose answer was lost asks). */
	hasCredential(credentialId: string): boolean {
		return findPasskeyByCredentialId(this.db, credentialId) !== undefined;
	}

	renamePasskey(id: string, name: string): PasskeyRow | null {
		return renamePasskey(this.db, id, name) ?? null;
	}

	/** Removes a passkey unless it is the user's last authenticator; the trusted devices end with it. */
	removePasskey(id: string): RemovalResult {
		return this.transaction((): RemovalResult => {
			const passkey = this.db.select().from(passkeys).where(eq(passkeys.id, id)).get();
			if (!passkey) return { status: "not_found" };
			if (!mayRemoveAuthenticator(countAuthenticators(this.db))) return { status: "last_authenticator" };
			deletePasskey(this.db, id);
			endTrustedDevices(this.db);
			return { status: "deleted", credentialId: passkey.credentialId };
		});
	}

	totp(): TotpRow | null {
		return findTotp(this.db) ?? null;
	}

	/** Removes the TOTP unless it is the last authenticator; the trusted devices end with it. */
	removeTotp(): RemovalResult {
		return this.transaction((): RemovalResult => {
			if (!findTotp(this.db)) return { status: "not_found" };
			if (!mayRemoveAuthenticator(countAuthenticators(this.db))) return { status: "last_authenticator" };
			this.db.delete(totpCredentials).run();
			endTrustedDevices(this.db);
			return { status: "deleted" };
		});
	}

	recoveryCodeSummary(): { counts: AuthenticatorCounts; summary: RecoveryCodeSummary } {
		return { counts: countAuthenticators(this.db), summary: summarizeRecoveryCodes(this.db) };
	}

	/** Replaces the codes, only while the user has a second factor; the trusted devices end with the old codes. */
	replaceRecoveryCodes(userId: string, codeHashes: string[], now: number): boolean {
		return this.transaction(() => {
			const counts = countAuthenticators(this.db);
			if (counts.passkeys + counts.totp === 0) return false;
			replaceRecoveryCodes(this.db, userId, codeHashes, now);
			endTrustedDevices(this.db);
			return true;
		});
	}

	/**
	 * The help-desk reset (server API): the pending challenges and set-ups
	 * first, then every passkey, TOTP, code, session and trusted device, in
	 * one transaction. Deliberately not held to the last-authenticator rule:
	 * the app's backend has verified the person by its own means.
	 */
	resetSecondFactors(): SecondFactorsRemoved {
		return this.transaction((): SecondFactorsRemoved => {
			this.sql.exec("DELETE FROM pending");
			const removed = this.db.delete(passkeys).returning({ credentialId: passkeys.credentialId }).all();
			const totp = this.db.delete(totpCredentials).returning({ userId: totpCredentials.userId }).all();
			const codes = this.db.delete(recoveryCodes).returning({ id: recoveryCodes.id }).all();
			const ended = deleteAllSessions(this.db);
			endTrustedDevices(this.db);
			return {
				passkeys: removed.length,
				totp: totp.length > 0,
				recoveryCodes: codes.length,
				sessions: ended,
				credentialIds: removed.map((r) => r.credentialId),
			};
		});
	}

	// ——— passwordless sign-in ———

	/**
	 * A passwordless sign-in with one of this user's passkeys, in one call
	 * (account/passkey-sign-in.ts): the challenge's use recorded, the passkey
	 * and user handle matched, the assertion verified here, then the sign
	 * count, the session and the activity entry written together.
	 */
	async signInWithPasskey(input: PasskeySignInInput): Promise<PasskeySignInOutcome> {
		const begun = this.transaction(() => beginPasskeySignIn(this.db, input));
		if (begun.status === "refused") return begun;
		const inspected = inspectAssertion(input.response);
		let use: PasskeyUse;
		try {
			use = await verifyAssertion(begun.passkey, input.response, inspected, input.presented, {
				requireUserVerification: true,
				config: input.rules,
			});
		} catch (error) {
			if (error instanceof CeremonyFailure) return { status: "refused", code: error.code, reason: error.reason };
			throw error;
		}
		return this.transaction(() =>
			completePasskeySignIn(this.db, this.sql, input, begun.passkey, use, inspected.authData.flags.uv),
		);
	}

	// ——— diagnostics (tests, tools) ———

	/** Every row the object holds of the user's account, as stored: for tests, which look inside through this call only. */
	inspect(): {
		account: AccountRow | null;
		sessions: SessionRow[];
		passkeys: PasskeyRow[];
		totp: TotpRow | null;
		recoveryCodes: (typeof recoveryCodes.$inferSelect)[];
	} {
		return {
			account: readAccount(this.db) ?? null,
			sessions: this.db.select().from(sessions).all(),
			passkeys: listPasskeys(this.db),
			totp: findTotp(this.db) ?? null,
			recoveryCodes: this.db.select().from(recoveryCodes).all(),
		};
	}
}
