import { MINUTE } from "../lib/clock";

// Who may do what with a session, in API.md's order: a live session (401
// not_authenticated), then for a cookie the request's origin (403
// csrf_failed), then the level (403 mfa_required, or second_factor_required
// for a setup_required session), then a recent authentication (401
// reauthentication_required). One rule for the Worker's session check
// (lib/middleware.ts) and for the ceremonies whose check runs inside the
// user's object with the rest of the ceremony.

/** How long a password or second factor counts as recent for the sensitive routes. */
export const RECENT_AUTHENTICATION = 5 * MINUTE;

export type SessionLevel = "partial" | "full" | "setup_required";

export interface SessionRequirement {
	/**
	 * "any": any live session (session, logout); "2fa": partial or full (the
	 * second-factor routes); "setup": full or setup_required (adding a passkey
	 * or TOTP); "full": only a full session.
	 */
	level: "any" | "2fa" | "setup" | "full";
	recent?: boolean;
}

export type SessionRefusal =
	| "not_authenticated"
	| "csrf_failed"
	| "mfa_required"
	| "second_factor_required"
	| "reauthentication_required";

export function isRecentAt(authenticatedAt: number, now: number): boolean {
	return now - authenticatedAt <= RECENT_AUTHENTICATION;
}

/**
 * The first check a session fails, or null. `session` null: no live session
 * for the token. `csrf`: a cookie request from a foreign origin (or marked
 * cross-site), decided by the Worker from the request's headers.
 */
export function sessionRefusal(
	session: { level: SessionLevel; authenticatedAt: number } | null,
	requirement: SessionRequirement,
	csrf: boolean,
	now: number,
): SessionRefusal | null {
	if (!session) return "not_authenticated";
	if (csrf) return "csrf_failed";
	if (session.level !== "full" && requirement.level !== "any") {
		if (session.level === "partial" && requirement.level !== "2fa") return "mfa_required";
		if (session.level === "setup_required" && requirement.level !== "setup") return "second_factor_required";
	}
	if (requirement.recent && !isRecentAt(session.authenticatedAt, now)) return "reauthentication_required";
	return null;
}
