import { ApiError, api, type PasskeyList, type SessionResult, type SessionView } from "./api";
import { signalAcceptedCredentials } from "./webauthn";

/** The current session, or null when there is none. */
export async function currentSession(): Promise<SessionView | null> {
	try {
		return (await api<SessionResult>("GET", "/api/auth/session/")).session;
	} catch (error) {
		if (error instanceof ApiError && error.status === 401) return null;
		throw error;
	}
}

export const SETTINGS_PAGE = "/settings/security";
export const SIGN_IN_PAGE = "/sign-in";

/**
 * Signed in: a session that must first set up a second factor goes straight
 * to the security page, which walks the person through it (set-up mode);
 * otherwise tell the passkey manager which passkeys are still valid and the
 * current account name, then go to the settings. Signals are best effort and
 * never hold the person up for long.
 */
export async function finishSignIn(session: SessionView): Promise<void> {
	if (session.level === "setup_required") {
		location.assign(SETTINGS_PAGE);
		return;
	}
	try {
		const list = await api<PasskeyList>("GET", "/api/webauthn/");
		await Promise.race([
			signalAcceptedCredentials(list, session.user.email),
			new Promise((resolve) => setTimeout(resolve, 2000)),
		]);
	} catch {
		// The settings page loads the same list and shows any error there.
	}
	location.assign(SETTINGS_PAGE);
}
