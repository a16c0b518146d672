import { clock, iso } from "../lib/clock";
import { ApiError } from "../lib/errors";
import type { KeySet } from "../lib/key-set";
import type { ClientKind, Metrics } from "../lib/metrics";
import { countAuthenticators } from "../storage/authenticators";
import type { Db } from "../storage/db";
import {
	findUnusedRecoveryCode,
	recoveryCodeUse,
	replaceRecoveryCodes,
	summarizeRecoveryCodes,
} from "../storage/recovery-codes";
import { generateRecoveryCodes, recordCodesGenerated, recoveryCodeCandidates } from "./recovery-codes";
import { attemptSecondFactor, CeremonyFailure, type SecondFactorDeps, type SecondFactorPassed } from "./second-factor";
import { emitSecurityEvent, RECOVERY_CODES_LOW, type SecurityEventSink } from "./security-events";
import type { AuthenticatedSession } from "./sessions";

/** Recovery codes exist only beside a passkey or TOTP: without 2FA there is nothing to recover. */
async function requireTwoFactor(db: Db, userId: string): Promise<void> {
	const counts = await countAuthenticators(db, userId);
	if (counts.passkeys + counts.totp === 0) throw new ApiError("not_found");
}

export async function recoveryCodeSummary(db: Db, userId: string) {
	await requireTwoFactor(db, userId);
	const summary = await summarizeRecoveryCodes(db, userId);
	return {
		total: summary.total,
		unused: summary.unused,
		created_at: summary.createdAt === null ? null : iso(summary.createdAt),
	};
}

export async function regenerateRecoveryCodes(
	deps: {
		db: Db;
		metrics: Metrics;
		client: ClientKind;
		startedAt: number;
		recoveryKeys: KeySet;
		events: SecurityEventSink;
	},
	owner: Pick<AuthenticatedSession, "userId" | "externalId">,
): Promise<string[]> {
	const { userId } = owner;
	await requireTwoFactor(deps.db, userId);
	const { codes, hashes } = await generateRecoveryCodes(deps.recoveryKeys);
	await replaceRecoveryCodes(deps.db, userId, hashes, clock.now());
	recordCodesGenerated(deps, "regenerated");
	emitSecurityEvent(deps, {
		type: "recovery_codes.regenerated",
		userId,
		externalId: owner.externalId,
		data: { total: codes.length },
	});
	return codes;
}

/**
 * Each code works once: the conditional UPDATE lets exactly one of many
 * concurrent uses win, and it runs in the session's own batch, so a code
 * is spent only by the request that upgraded (or refreshed) the session.
 */
export async function verifyRecoveryCode(
	deps: SecondFactorDeps & { recoveryKeys: KeySet },
	session: AuthenticatedSession,
	code: string,
): Promise<SecondFactorPassed<{ unused: number }>> {
	const passed = await attemptSecondFactor(
		deps,
		session,
		{ method: "recovery_code", success: "recovery_code.verify.success", failed: "recovery_code.verify.failed" },
		{
			// RFC 8176 has no value of its own for a recovery code: it is a one-time code.
			amr: () => ({ m: "otp" }),
			// Read first, so a wrong code is counted by the Durable Object before the answer.
			verify: async () => {
				const candidates = await recoveryCodeCandidates(deps.recoveryKeys, code);
				const hash = await findUnusedRecoveryCode(deps.db, session.userId, candidates);
				if (hash === null) throw new CeremonyFailure("invalid_code", "wrong_or_used_code");
				return hash;
			},
			use: (hash) => recoveryCodeUse(deps.db, session.userId, hash, clock.now()),
			result: async () => ({ unused: (await summarizeRecoveryCodes(deps.db, session.userId)).unused }),
		},
	);
	const data = { unused: passed.result.unused };
	emitSecurityEvent(deps, { type: "recovery_code.used", userId: session.userId, externalId: session.externalId, data });
	if (data.unused <= RECOVERY_CODES_LOW)
		emitSecurityEvent(deps, {
			type: "recovery_codes.low",
			userId: session.userId,
			externalId: session.externalId,
			data,
		});
	return passed;
}
