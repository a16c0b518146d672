import type { SessionRefusal } from "../account/session-gate";
import type { SessionGate } from "../account/sessions";
import { clock } from "../lib/clock";
import type { DeferredSession } from "../lib/context";
import { ApiError } from "../lib/errors";

// A ceremony whose session check runs inside its one call of the user's
// object (lib/middleware.ts deferSession): what the object needs to check
// the session, and the answer to a refusal.

export function sessionGate(deferred: DeferredSession, maxAge: number, now = clock.now()): SessionGate {
	return { tokenHash: deferred.tokenHash, requirement: deferred.requirement, csrf: deferred.csrf, maxAge, now };
}

export function refusedSession(refusal: SessionRefusal): ApiError {
	return new ApiError(refusal);
}
