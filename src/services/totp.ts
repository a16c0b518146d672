import type { TotpRow } from "../account/schema";
import { type UserStateNamespace, userStateFor } from "../durable/stubs";
import { clock, iso, MINUTE } from "../lib/clock";
import type { Config } from "../lib/config";
import { ApiError } from "../lib/errors";
import { type KeySet, openSealed, sealWithNewest, UnlistedKeyError } from "../lib/key-set";
import type { ClientKind, Metrics } from "../lib/metrics";
import { matchingStep, newTotpSecret, otpauthUri, qrSvg } from "../lib/totp";
import { CeremonyFailure } from "../webauthn/ceremony-failure";
import { generateRecoveryCodes, recordCodesGenerated } from "./recovery-codes";
import { attemptSecondFactor, type SecondFactorDeps, type SecondFactorPassed } from "./second-factor";
import { emitSecurityEvent, type SecurityEventSink } from "./security-events";
import { type AuthenticatedSession, type IssuedSession, prepareSetupUpgrade, type SetupUpgrade } from "./sessions";

export const TOTP_SETUP_TTL = 10 * MINUTE;

export interface TotpDeps {
	userState: UserStateNamespace;
	config: Config;
	metrics: Metrics;
	client: ClientKind;
	startedAt: number;
	/** TOTP_ENCRYPTION_KEY: the newest seals, each listed key opens what it sealed. */
	encryptionKeys: KeySet;
	events: SecurityEventSink;
}

function setupKey(userId: string): string {
	return `totp-setup:${userId}`;
}

// The secret is sealed with the user id as additional data, so a ciphertext
// moved to another user's row (or pending slot) does not decrypt.
const sealFor = (userId: string) => `totp:${userId}`;

export interface TotpStatus {
	enabled: boolean;
	createdAt: number | null;
	lastUsedAt: number | null;
}

export async function totpStatus(userState: UserStateNamespace, userId: string): Promise<TotpStatus> {
	const row = await userStateFor(userState, userId).totp();
	return { enabled: row !== null, createdAt: row?.createdAt ?? null, lastUsedAt: row?.lastUsedAt ?? null };
}

export interface TotpSetup {
	secret: string;
	otpauthUri: string;
	qrSvg: string;
}

/** A new pending secret, kept 10 minutes in the user's Durable Object until a code activates it. */
export async function startTotpSetup(deps: TotpDeps, session: AuthenticatedSession): Promise<TotpSetup> {
	const stub = userStateFor(deps.userState, session.userId);
	if (await stub.totp()) throw new ApiError("already_enabled");
	const secret = newTotpSecret();
	const sealed = await sealWithNewest(deps.encryptionKeys, secret, sealFor(session.userId));
	await stub.putPending(setupKey(session.userId), sealed, clock.now() + TOTP_SETUP_TTL);
	const uri = otpauthUri(deps.config.rpName, session.email, secret);
	return { secret, otpauthUri: uri, qrSvg: qrSvg(uri) };
}

/** Asks the change that adds a factor to end the user's setup_required sessions; `upgrade`: the requesting one. */
export interface SetupChange {
	upgrade?: SetupUpgrade;
}

/**
 * What the change that adds a factor does to setup_required sessions: under
 * the policy, or from a setup_required session (one made while the policy
 * was on), it ends the user's setup_required sessions and, for the latter,
 * writes the full session that replaces the requesting one (`issued`).
 * Otherwise nothing: with the policy off the transaction is as it always was.
 */
export async function setupChangeFor(
	session: AuthenticatedSession,
	config: Pick<Config, "sessionMaxAge" | "requireSecondFactor">,
): Promise<{ change: SetupChange; issued: IssuedSession | null } | null> {
	if (session.level === "setup_required") {
		const { upgrade, issued } = await prepareSetupUpgrade(session, config.sessionMaxAge);
		return { change: { upgrade }, issued };
	}
	return config.requireSecondFactor ? { change: {}, issued: null } : null;
}

/**
 * Activation needs a valid code from the pending secret; that code counts as
 * used. A setup_required session becomes full in the same batch (`upgraded`,
 * under a new token), as with a passkey (RegistrationCompleted).
 */
export async function activateTotp(
	deps: TotpDeps & { recoveryKeys: KeySet },
	session: AuthenticatedSession,
	code: string,
): Promise<{ recoveryCodes: string[] | null; upgraded: IssuedSession | null }> {
	const stub = userStateFor(deps.userState, session.userId);
	const now = clock.now();
	const sealed = await stub.peekPending(setupKey(session.userId), now);
	if (!sealed) {
		// A second activation (a double submit) finds the set-up consumed: say it is done, not that it expired.
		if (await stub.totp()) throw new ApiError("already_enabled");
		throw new ApiError("challenge_expired", { message: "No authenticator-app set-up is pending: start again." });
	}
	const opened = await openPendingSecret(deps.encryptionKeys, sealed, session.userId);
	const step = await matchingStep(opened.plaintext, code, now, Number.NEGATIVE_INFINITY);
	if (step === null) throw new ApiError("invalid_code");
	// A set-up started just before a rotation is stored under the newest key from the start.
	const stored =
		opened.keyId === deps.encryptionKeys.newest.id
			? sealed
			: await sealWithNewest(deps.encryptionKeys, opened.plaintext, sealFor(session.userId));
	// Made here, not in the Durable Object, so that only their hashes leave the Worker.
	const firstCodes = await generateRecoveryCodes(deps.recoveryKeys);
	const setup = await setupChangeFor(session, deps.config);
	const activated = await stub.activateTotp(
		{ userId: session.userId, secretCiphertext: stored, step },
		firstCodes.hashes,
		now,
		setup?.change,
	);
	await stub.deletePending(setupKey(session.userId));
	if (activated.status === "already_enabled") throw new ApiError("already_enabled");
	deps.metrics.record({
		event: "totp.activate.success",
		outcome: "success",
		method: "totp",
		client: deps.client,
		durationMs: performance.now() - deps.startedAt,
	});
	emitSecurityEvent(deps, { type: "totp.enabled", userId: session.userId, externalId: session.externalId, data: {} });
	const upgraded = activated.upgraded ? (setup?.issued ?? null) : null;
	if (!activated.codesGiven) return { recoveryCodes: null, upgraded };
	recordCodesGenerated(deps, "first_authenticator");
	emitSecurityEvent(deps, { type: "recovery_codes.generated", userId: session.userId, data: {} });
	return { recoveryCodes: firstCodes.codes, upgraded };
}

/**
 * A pending set-up sealed under a key that was dropped in the ten minutes it
 * waits (or otherwise unreadable) is answered as gone: starting again seals
 * it under the newest key. Logged, because the key was dropped too early.
 */
async function openPendingSecret(keys: KeySet, sealed: string, userId: string) {
	try {
		return await openSealed(keys, sealed, sealFor(userId));
	} catch (error) {
		console.error(
			`totp: the pending set-up of user ${userId} does not decrypt:`,
			error instanceof UnlistedKeyError ? error.message : error instanceof Error ? error.name : "unknown",
		);
		throw new ApiError("challenge_expired", { message: "No authenticator-app set-up is pending: start again." });
	}
}

/**
 * A row that does not open under this user's id (copied from another user,
 * tampered with, or sealed under another secret) is refused like a wrong
 * code, fail closed and counted, rather than answered with a 500. It is
 * logged, without the ciphertext, because it means the database or the key
 * is wrong. A row that names a key the set no longer lists is different: the
 * operator dropped a key that data still needs. That is not the user's
 * guess, so it is not counted against them: it is thrown on, logged with the
 * variable and the key id, and answered 500 internal_error until the key is
 * listed again.
 */
async function openStoredSecret(keys: KeySet, sealed: string, userId: string) {
	try {
		return await openSealed(keys, sealed, sealFor(userId));
	} catch (error) {
		if (error instanceof UnlistedKeyError) throw error;
		console.error(
			`totp: the stored secret of user ${userId} does not decrypt:`,
			error instanceof Error ? error.name : "unknown",
		);
		throw new CeremonyFailure("invalid_code", "secret_unreadable");
	}
}

/** The authenticator-app second factor: ±1 step of drift, each step accepted once. */
export async function verifyTotpSecondFactor(
	deps: SecondFactorDeps & { encryptionKeys: KeySet },
	session: AuthenticatedSession,
	code: string,
	/** The user's TOTP row, read with the session (null: none). */
	row: TotpRow | null,
): Promise<SecondFactorPassed> {
	return attemptSecondFactor(
		deps,
		session,
		{ method: "totp", success: "totp.verify.success", failed: "totp.verify.failed" },
		{
			verify: async () => {
				if (!row) throw new CeremonyFailure("invalid_code", "totp_not_enabled");
				const opened = await openStoredSecret(deps.encryptionKeys, row.secretCiphertext, session.userId);
				const step = await matchingStep(opened.plaintext, code, clock.now(), row.lastStep);
				if (step === null) throw new CeremonyFailure("invalid_code", "wrong_or_used_code");
				// Re-sealed under the newest key on this use (lazy re-wrap), so old keys empty out.
				const store =
					opened.keyId === deps.encryptionKeys.newest.id
						? row.secretCiphertext
						: await sealWithNewest(deps.encryptionKeys, opened.plaintext, sealFor(session.userId));
				return { step, sealed: { read: row.secretCiphertext, store } };
			},
			amr: () => ({ m: "otp" }),
			// Conditional on the newest accepted step and on the secret read, and
			// spent with the session change: of two uses of one code, one wins,
			// and a loser burns no step (nor re-wraps the secret).
			use: ({ step, sealed }) => ({ kind: "totp_step", step, sealed }),
		},
	);
}

export function viewTotpStatus(status: TotpStatus) {
	return {
		enabled: status.enabled,
		...(status.createdAt !== null ? { created_at: iso(status.createdAt) } : {}),
		...(status.lastUsedAt !== null ? { last_used_at: iso(status.lastUsedAt) } : {}),
	};
}
