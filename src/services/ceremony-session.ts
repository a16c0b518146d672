import type { SessionRow } from "../account/schema";
import type { SessionRequirement } from "../account/session-gate";
import type { SessionGate } from "../account/sessions";
import { clock } from "../lib/clock";
import type { ClientKind } from "../lib/metrics";

// A ceremony whose session check runs inside its one call of the user's
// object (lib/middleware.ts deferSession): what the object needs to check
// the session, and the answer to a refusal.

/** A session whose checks run in the ceremony's own call of the user's object (lib/middleware.ts deferSession). */
export interface DeferredSession {
	token: string;
	tokenHash: string;
	userId: string;
	client: ClientKind;
	requirement: SessionRequirement;
	/** A cookie request from a foreign origin: refused (403) after the session is found live. */
	csrf: boolean;
	gate?: "webauthn";
	/** Set once the user's object checked the session and let the ceremony go on: no error after it needs the session settled again. */
	checked?: boolean;
	/**
	 * The session the request used, as the object checked it, when it stays
	 * the request's session (not replaced by an upgrade): its use and sliding
	 * expiry are recorded after the answer is made, as requireSession does.
	 */
	used?: { row: SessionRow; email: string; externalId: string | null };
}

export function sessionGate(deferred: DeferredSession, maxAge: number, now = clock.now()): SessionGate {
	return { tokenHash: deferred.tokenHash, requirement: deferred.requirement, csrf: deferred.csrf, maxAge, now };
}
