import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { clock } from "../lib/clock";
import { errorForRpc } from "../lib/faults";
import { checkRegistrationClaim, type RegistrationClaim } from "../services/passkey-registration";
import { checkAssertionClaim, type SignedAssertion } from "../services/passkey-verification";
import type { CeremonyCode } from "../services/second-factor";
import { createDb } from "../storage/db";
import { deleteUserRow } from "../storage/users";
import { type ActivityEntry, type ActivityRecord, insertActivity, readActivity } from "./activity";
import {
	activateTotpWithRecoveryCodes,
	addPasskeyWithRecoveryCodes,
	type NewPasskey,
	type NewTotp,
	type RemovalResult,
	removePasskey,
	removeSecondFactors,
	removeTotp,
	type SecondFactorsRemoved,
	type SetupChange,
	type SetupEnded,
	type TotpActivated,
} from "./authenticator-changes";
import { migrate } from "./migrations";

/** Per user (second factor), per login email (password), per client address (client_*, server_key). */
export type AttemptScope = "second_factor" | "password" | "client_password" | "client_signup" | "server_key";

export interface AttemptLimit {
	scope: AttemptScope;
	limit: number;
	windowMs: number;
}

export type RegistrationOutcome =
	| ({ status: "created"; passkey: NewPasskey; codesGiven: boolean } & SetupEnded)
	| { status: "credential_exists" }
	| { status: "refused"; code: "challenge_expired" | "verification_failed"; reason: string };

export type AttemptStart =
	| { locked: true; retryAfterSeconds: number }
	/** `fillsLimit`: this attempt is the one that reaches the limit if it fails. */
	| { locked: false; attemptId: string; fillsLimit: boolean };

/** A failure the Worker found before asking the object (a bad signature, a wrong code). */
export interface KnownFailure {
	code: CeremonyCode;
	reason: string;
}

export interface DecideAttempt extends AttemptLimit {
	now: number;
	/** The session making the attempt. */
	sessionId: string;
	/** The pending challenge this attempt consumes, success or failure, and what the response signed. */
	challenge?: { key: string; signed: SignedAssertion };
	/** Set when the Worker's own checks already failed. */
	failure?: KnownFailure;
}

export type AttemptDecision =
	| { outcome: "locked"; retryAfterSeconds: number }
	| { outcome: "passed" }
	/** `limitReached`: this failure is the one that closed the limit (sent once, as a security event). */
	| { outcome: "failed"; failure: KnownFailure; limitReached: boolean };

/**
 * One per user (`idFromName(userId)`), one per login email for the
 * password limiter, and one per client address for the per-client limits.
 * It is the single place that serializes a user's security state: challenges and attempt counters live in its own SQLite storage and
 * are read and written synchronously, so no other request can interleave
 * between a check and its consume. Authenticator changes await D1, which
 * opens the input gate, so they run under blockConcurrencyWhile and D1's own
 * conditional statements back them up.
 */
export class UserState extends DurableObject<Env> {
	private readonly sql: SqlStorage;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		this.sql = ctx.storage.sql;
		// Once per instance, before the first request is delivered (the
		// constructor is synchronous): an object made by an earlier deploy is
		// brought to this code's schema on its first use (migrations.ts).
		migrate(ctx.storage);
	}

	/** Adds an entry to the user's activity log; the bounds are applied in the same transaction, by the object's clock. */
	recordActivity(record: ActivityRecord): void {
		insertActivity(this.ctx.storage, record, clock.now());
	}

	/** The user's activity, newest first (at most 100, none older than 90 days). */
	listActivity(): ActivityEntry[] {
		return readActivity(this.sql, clock.now());
	}

	/** Stores a challenge (or a pending TOTP secret) under its key, replacing an earlier one. */
	putPending(key: string, value: string, expiresAt: number): void {
		this.sql.exec("INSERT OR REPLACE INTO pending (key, value, expires_at) VALUES (?, ?, ?)", key, value, expiresAt);
	}

	/** Check-and-consume in one synchronous step: whoever takes it first has it. */
	takePending(key: string, now: number): string | null {
		const rows = this.sql
			.exec<{ value: string; expires_at: number }>("DELETE FROM pending WHERE key = ? RETURNING value, expires_at", key)
			.toArray();
		const row = rows[0];
		return row && row.expires_at > now ? row.value : null;
	}

	/** Reads without consuming (TOTP activation keeps the secret until a code matches). */
	peekPending(key: string, now: number): string | null {
		const row = this.sql
			.exec<{ value: string; expires_at: number }>("SELECT value, expires_at FROM pending WHERE key = ?", key)
			.toArray()[0];
		return row && row.expires_at > now ? row.value : null;
	}

	deletePending(key: string): void {
		this.sql.exec("DELETE FROM pending WHERE key = ?", key);
	}

	/** Whether the limiter is closed now; reserves nothing. */
	attemptStatus(limit: AttemptLimit & { now: number }): { locked: boolean; retryAfterSeconds: number } {
		this.forgetOldAttempts(limit);
		return this.lockState(limit);
	}

	/**
	 * Starts a password check: refuses when the limit is reached; otherwise
	 * counts the attempt as a failure *now*, before the slow hash, so parallel
	 * guesses cannot outrun the count (nor make us hash while locked).
	 * `succeedAttempt` takes the reservation back when the password matches.
	 */
	beginAttempt(limit: AttemptLimit & { now: number }): AttemptStart {
		this.forgetOldAttempts(limit);
		const state = this.lockState(limit);
		if (state.locked) return { locked: true, retryAfterSeconds: state.retryAfterSeconds };
		const attemptId = crypto.randomUUID();
		this.sql.exec("INSERT INTO attempts (id, scope, at) VALUES (?, ?, ?)", attemptId, limit.scope, limit.now);
		return { locked: false, attemptId, fillsLimit: this.lockState(limit).locked };
	}

	/** A passed check is not a failure; other failures stay counted. */
	succeedAttempt(attemptId: string): void {
		this.sql.exec("DELETE FROM attempts WHERE id = ?", attemptId);
	}

	/**
	 * Decides a second-factor attempt in one call, synchronously (no await):
	 * refuses when the limit is reached; otherwise consumes the challenge and
	 * holds what the response signed against it, and counts a failure *before*
	 * the Worker answers, so parallel guesses cannot outrun the limit. A passed
	 * attempt is not counted (see attemptSecondFactor).
	 */
	decideAttempt(input: DecideAttempt): AttemptDecision {
		this.forgetOldAttempts(input);
		const state = this.lockState(input);
		if (state.locked) return { outcome: "locked", retryAfterSeconds: state.retryAfterSeconds };
		let failure = input.failure;
		if (input.challenge) {
			const pending = this.takePending(input.challenge.key, input.now);
			// An unknown challenge is the first reason, whatever else is wrong.
			failure = checkAssertionClaim(pending, input.challenge.signed) ?? failure;
		}
		if (!failure) return { outcome: "passed" };
		// Counted toward the user's limit only: a partial session is not ended
		// by it (API.md), its verify routes answer 429 until the window passes.
		this.sql.exec(
			"INSERT INTO attempts (id, scope, session_id, at) VALUES (?, ?, ?, ?)",
			crypto.randomUUID(),
			input.scope,
			input.sessionId,
			input.now,
		);
		return { outcome: "failed", failure, limitReached: this.lockState(input).locked };
	}

	/**
	 * The end of a registration in one call: the pending challenge is taken
	 * synchronously (check-and-consume, before any await), the verified
	 * response's claim is held against it, and only then is the passkey added.
	 */
	async completeRegistration(input: {
		challengeKey: string;
		claim: RegistrationClaim & { passwordRecent: boolean };
		passkey: NewPasskey;
		/** The hashes of the codes to give if this is the user's first authenticator. */
		firstCodeHashes: string[];
		now: number;
		/** End the user's setup_required sessions, upgrading the requesting one if it is (REQUIRE_SECOND_FACTOR). */
		setup?: SetupChange;
	}): Promise<RegistrationOutcome> {
		const check = checkRegistrationClaim(this.takePending(input.challengeKey, input.now), input.claim);
		if (!check.accepted) return { status: "refused", code: check.code, reason: check.reason };
		const passkey = { ...input.passkey, passwordless: check.passwordless };
		const added = await this.change(() =>
			addPasskeyWithRecoveryCodes(this.db(), input.firstCodeHashes, passkey, input.now, input.setup),
		);
		if (added.status === "credential_exists") return added;
		return { ...added, passkey };
	}

	activateTotp(totp: NewTotp, firstCodeHashes: string[], now: number, setup?: SetupChange): Promise<TotpActivated> {
		return this.change(() => activateTotpWithRecoveryCodes(this.db(), firstCodeHashes, totp, now, setup));
	}

	removePasskey(userId: string, passkeyId: string): Promise<RemovalResult> {
		return this.change(() => removePasskey(this.db(), userId, passkeyId));
	}

	removeTotp(userId: string): Promise<RemovalResult> {
		return this.change(() => removeTotp(this.db(), userId));
	}

	/**
	 * The help-desk reset (server API). The user's pending challenges and
	 * TOTP set-ups go first, synchronously: a registration or set-up begun
	 * before the reset finds nothing to complete after it, and one that
	 * completed before is removed by it (both run one at a time, here).
	 */
	resetSecondFactors(userId: string): Promise<SecondFactorsRemoved> {
		this.sql.exec("DELETE FROM pending");
		return this.change(() => removeSecondFactors(this.db(), userId));
	}

	/**
	 * Account deletion (server API): this object's state of the user, then
	 * the user's row, whose deletion takes their sessions, passkeys, TOTP and
	 * codes with it. Serialized with authenticator changes, so none lands on
	 * a user being deleted. Says whether there was a row to delete.
	 */
	deleteAccount(userId: string): Promise<boolean> {
		this.sql.exec("DELETE FROM pending");
		this.sql.exec("DELETE FROM attempts");
		this.sql.exec("DELETE FROM activity");
		return this.change(() => deleteUserRow(this.db(), userId));
	}

	/**
	 * One authenticator change at a time. A failure is thrown after
	 * blockConcurrencyWhile, not inside it, where it would reset the object
	 * and fail the user's other requests in flight: a D1 outage leaves this
	 * object's own state untouched. Errors cross RPC as their message only:
	 * errorForRpc keeps an outage recognizable there (a 503 for the client,
	 * not a 500) and leaves the statement's values out.
	 */
	private async change<T>(run: () => Promise<T>): Promise<T> {
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

	private db() {
		return createDb(this.env.DB);
	}

	private forgetOldAttempts(limit: AttemptLimit & { now: number }): void {
		this.sql.exec("DELETE FROM attempts WHERE scope = ? AND at <= ?", limit.scope, limit.now - limit.windowMs);
		this.sql.exec("DELETE FROM pending WHERE expires_at <= ?", limit.now);
	}

	private lockState(limit: AttemptLimit & { now: number }): { locked: boolean; retryAfterSeconds: number } {
		const rows = this.sql
			.exec<{ at: number }>(
				"SELECT at FROM attempts WHERE scope = ? AND at > ? ORDER BY at DESC LIMIT 1 OFFSET ?",
				limit.scope,
				limit.now - limit.windowMs,
				limit.limit - 1,
			)
			.toArray();
		const oldestCounted = rows[0];
		if (!oldestCounted) return { locked: false, retryAfterSeconds: 0 };
		// Locked until the attempt that completed the count leaves the window.
		const retryAfterMs = oldestCounted.at + limit.windowMs - limit.now;
		return { locked: true, retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) };
	}
}
