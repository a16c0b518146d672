import { type UserStateNamespace, userStateFor } from "../durable/stubs";
import { clock, iso } from "../lib/clock";
import { ApiError } from "../lib/errors";
import type { KeySet } from "../lib/key-set";
import type { ClientKind, Metrics } from "../lib/metrics";
import { generateRecoveryCodes, recordCodesGenerated, recoveryCodeCandidates } from "./recovery-codes";
import { attemptSecondFactor, type SecondFactorDeps, type SecondFactorPassed } from "./second-factor";
import { emitSecurityEvent, RECOVERY_CODES_LOW, type SecurityEventSink } from "./security-events";
import type { AuthenticatedSession } from "./sessions";

/** Recovery codes exist only beside a passkey or TOTP: without 2FA there is nothing to recover (404). */
export async function recoveryCodeSummary(userState: UserStateNamespace, userId: string) {
	const { counts, summary } = await userStateFor(userState, userId).recoveryCodeSummary();
	if (counts.passkeys + counts.totp === 0) throw new ApiError("not_found");
	return {
		total: summary.total,
		unused: summary.unused,
		created_at: summary.createdAt === null ? null : iso(summary.createdAt),
	};
}

export async function regenerateRecoveryCodes(
	deps: {
		userState: UserStateNamespace;
		metrics: Metrics;
		client: ClientKind;
		startedAt: number;
		recoveryKeys: KeySet;
		events: SecurityEventSink;
	},
	owner: Pick<AuthenticatedSession, "userId" | "externalId">,
): Promise<string[]> {
	const { userId } = owner;
	const { codes, hashes } = await generateRecoveryCodes(deps.recoveryKeys);
	// Refused (404) without a passkey or TOTP, decided in the same transaction as the replacement.
	if (!(await userStateFor(deps.userState, userId).replaceRecoveryCodes(userId, hashes, clock.now()))) {
		throw new ApiError("not_found");
	}
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
 * Each code works once: the user's object finds an unused code among the
 * candidates (the input hashed under each listed key) and spends it in the
 * transaction that upgrades (or refreshes) the session, only then: of many
 * concurrent uses exactly one wins.
 */
export async function verifyRecoveryCode(
	deps: SecondFactorDeps & { recoveryKeys: KeySet },
	session: AuthenticatedSession,
	code: string,
): Promise<SecondFactorPassed> {
	const passed = await attemptSecondFactor(
		deps,
		session,
		{ method: "recovery_code", success: "recovery_code.verify.success", failed: "recovery_code.verify.failed" },
		{
			// RFC 8176 has no value of its own for a recovery code: it is a one-time code.
			amr: () => ({ m: "otp" }),
			verify: () => recoveryCodeCandidates(deps.recoveryKeys, code),
			use: (candidates) => ({ kind: "recovery_code", candidates }),
		},
	);
	const data = { unused: passed.unusedRecoveryCodes };
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
