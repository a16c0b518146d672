// A ceremony that was well formed and did not verify (a bad signature, a wrong code, an unknown challenge): the API error code, and the reason the failure metric names. It counts toward the limits where a limit applies.

export type CeremonyCode = "verification_failed" | "challenge_expired" | "invalid_code";

/** A well-formed attempt that did not verify: counts toward the limits. */
export class CeremonyFailure extends Error {
	constructor(
		readonly code: CeremonyCode,
		readonly reason: string,
	) {
		super(reason);
	}
}

/** A failure found before the user's object decides an attempt (it counts the attempt). */
export interface KnownFailure {
	code: CeremonyCode;
	reason: string;
}
