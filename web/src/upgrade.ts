// Automatic passkey upgrade (conditional create): right after a sign-in with
// a password, a browser whose password manager can make a passkey by itself
// is asked to, with no prompt. When the browser declines (no such password
// manager, the user opted out), nothing is shown: the person signed in and
// that is all they wanted.
import type { PublicKeyCredentialCreationOptionsJSON, RegistrationResponseJSON } from "@simplewebauthn/browser";
import { startRegistration } from "@simplewebauthn/browser";
import { api } from "./api";
import type { Registered } from "./webauthn";

const MARK = "pe_password_sign_in";
// The server accepts the upgrade for 5 minutes after the password was checked.
const WINDOW_MS = 5 * 60 * 1000;

/** Called when a password was just checked; the next page may offer the upgrade. */
export function notePasswordSignIn(): void {
	try {
		sessionStorage.setItem(MARK, String(Date.now()));
	} catch {
		// Storage off: no upgrade, no harm.
	}
}

/** Forgets a password sign-in without offering the upgrade (the set-up mode asks for a passkey itself). */
export function forgetPasswordSignIn(): void {
	takePasswordSignIn();
}

function takePasswordSignIn(): boolean {
	try {
		const at = Number(sessionStorage.getItem(MARK));
		sessionStorage.removeItem(MARK);
		return Number.isFinite(at) && at > 0 && Date.now() - at < WINDOW_MS;
	} catch {
		return false;
	}
}

type Capabilities = Record<string, boolean | undefined>;

/** Whether this browser can create a passkey without a prompt (WebAuthn L3 getClientCapabilities). */
export async function canCreateConditionally(): Promise<boolean> {
	const credential = (globalThis as { PublicKeyCredential?: { getClientCapabilities?: () => Promise<Capabilities> } })
		.PublicKeyCredential;
	if (typeof credential?.getClientCapabilities !== "function") return false;
	try {
		return (await credential.getClientCapabilities()).conditionalCreate === true;
	} catch {
		return false;
	}
}

/**
 * After a password sign-in: asks the browser for a passkey without a prompt.
 * Resolves with what was registered, or null when anything declined; never
 * throws, since the user asked for none of this.
 */
export async function offerPasskeyUpgrade(): Promise<Registered | null> {
	if (!takePasswordSignIn()) return null;
	// What happened, for the browser tests to wait on (never shown to the person).
	const outcome = (value: "unavailable" | "declined" | "created") => {
		document.body.dataset.passkeyUpgrade = value;
	};
	if (!(await canCreateConditionally())) {
		outcome("unavailable");
		return null;
	}
	try {
		const { creation_options } = await api<{ creation_options: PublicKeyCredentialCreationOptionsJSON }>(
			"GET",
			"/api/webauthn/register/options/?conditional=true",
			undefined,
			{ reauthenticate: false },
		);
		const credential: RegistrationResponseJSON = await startRegistration({
			optionsJSON: creation_options,
			useAutoRegister: true,
		});
		const registered = await api<Registered>(
			"POST",
			"/api/webauthn/register/complete/",
			{ credential },
			{ reauthenticate: false },
		);
		outcome("created");
		return registered;
	} catch {
		outcome("declined");
		return null;
	}
}
