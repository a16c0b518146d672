// Passkey ceremonies (through @simplewebauthn/browser, bundled, never from a
// CDN) and the WebAuthn Signal API.
import {
	type AuthenticationResponseJSON,
	browserSupportsWebAuthn,
	browserSupportsWebAuthnAutofill,
	type PublicKeyCredentialCreationOptionsJSON,
	type PublicKeyCredentialRequestOptionsJSON,
	type RegistrationResponseJSON,
	startAuthentication,
	startRegistration,
	WebAuthnAbortService,
	WebAuthnError,
} from "@simplewebauthn/browser";
import { ApiError, api, type Passkey, type PasskeyList, type SessionResult } from "./api";

export { browserSupportsWebAuthn, browserSupportsWebAuthnAutofill };

/**
 * A sentence for a failure of the browser's WebAuthn call; null for a
 * ceremony this page cancelled itself; undefined when it is not one.
 */
export function describeWebAuthnError(error: unknown): string | null | undefined {
	const code = error instanceof WebAuthnError ? error.code : undefined;
	const name = error instanceof WebAuthnError ? (error.cause as Error | undefined)?.name : (error as Error)?.name;
	if (code === "ERROR_CEREMONY_ABORTED" || name === "AbortError") return null;
	if (code === "ERROR_AUTHENTICATOR_PREVIOUSLY_REGISTERED") {
		return "This authenticator already holds a passkey for your account.";
	}
	if (code === "ERROR_INVALID_DOMAIN" || code === "ERROR_INVALID_RP_ID" || name === "SecurityError") {
		return "Passkeys cannot be used on this address.";
	}
	if (name === "NotAllowedError") return "The passkey prompt was closed or timed out. Try again.";
	if (error instanceof WebAuthnError || name === "NotSupportedError" || name === "InvalidStateError") {
		return "Your browser or authenticator could not complete the passkey request.";
	}
	return undefined;
}

/** Stops a pending ceremony, such as the autofill request of the sign-in form. */
export function cancelCeremony(): void {
	WebAuthnAbortService.cancelCeremony();
}

// The Signal API tells the browser's passkey manager what the server holds,
// so that it stops offering deleted passkeys and shows current names. The page
// is served from the relying party's own origin, so its host is the RP ID.
interface SignalApi {
	signalAllAcceptedCredentials?: (options: {
		rpId: string;
		userId: string;
		allAcceptedCredentialIds: string[];
	}) => Promise<void>;
	signalCurrentUserDetails?: (options: {
		rpId: string;
		userId: string;
		name: string;
		displayName: string;
	}) => Promise<void>;
	signalUnknownCredential?: (options: { rpId: string; credentialId: string }) => Promise<void>;
}

function signalApi(): SignalApi | null {
	return typeof PublicKeyCredential === "undefined" ? null : (PublicKeyCredential as unknown as SignalApi);
}

async function quietly(signal: Promise<void> | undefined): Promise<void> {
	try {
		await signal;
	} catch {
		// Signals are best effort: a browser that refuses one changes nothing on the server.
	}
}

/** After sign-in, a rename or a delete: the credentials this user still has, and their name. */
export async function signalAcceptedCredentials(list: PasskeyList, email: string): Promise<void> {
	const signals = signalApi();
	const userId = list.webauthn_user_id;
	if (!signals || !userId) return;
	const rpId = location.hostname;
	await Promise.all([
		typeof signals.signalAllAcceptedCredentials === "function"
			? quietly(
					signals.signalAllAcceptedCredentials({
						rpId,
						userId,
						allAcceptedCredentialIds: list.passkeys.map((passkey: Passkey) => passkey.credential_id),
					}),
				)
			: undefined,
		typeof signals.signalCurrentUserDetails === "function"
			? quietly(signals.signalCurrentUserDetails({ rpId, userId, name: email, displayName: email }))
			: undefined,
	]);
}

/** A passwordless sign-in named a credential the server does not accept. */
export async function signalUnknownCredential(credentialId: string): Promise<void> {
	const signals = signalApi();
	if (typeof signals?.signalUnknownCredential !== "function") return;
	await quietly(signals.signalUnknownCredential({ rpId: location.hostname, credentialId }));
}

/**
 * Passwordless sign-in: the modal prompt, or the form's autofill (conditional
 * mediation). `signal` stops it before the browser is asked: a request that
 * was still loading its options when the person chose another way must not
 * reach startAuthentication, which would abort the ceremony that replaced it.
 */
export async function signInWithPasskey(useBrowserAutofill: boolean, signal?: AbortSignal): Promise<SessionResult> {
	const { request_options } = await api<{ request_options: PublicKeyCredentialRequestOptionsJSON }>(
		"GET",
		"/api/auth/passkey/options/",
		undefined,
		signal ? { signal } : {},
	);
	signal?.throwIfAborted();
	const credential: AuthenticationResponseJSON = await startAuthentication({
		optionsJSON: request_options,
		useBrowserAutofill,
	});
	try {
		return await api<SessionResult>("POST", "/api/auth/passkey/login/", { credential });
	} catch (error) {
		// The server answers the same for an unknown credential and a bad
		// signature (so that it does not reveal which credentials exist); either
		// way this credential cannot sign in here.
		if (error instanceof ApiError && error.code === "verification_failed") await signalUnknownCredential(credential.id);
		throw error;
	}
}

/** The passkey second factor, on a partial session (sign-in) or a full one (reauthentication). */
export async function verifyWithPasskey(rememberDevice = false): Promise<SessionResult> {
	const { request_options } = await api<{ request_options: PublicKeyCredentialRequestOptionsJSON }>(
		"GET",
		"/api/webauthn/authenticate/options/",
		undefined,
		{ reauthenticate: false },
	);
	const credential = await startAuthentication({ optionsJSON: request_options });
	return api<SessionResult>(
		"POST",
		"/api/webauthn/verify/",
		{ credential, ...(rememberDevice ? { remember_device: true } : {}) },
		{ reauthenticate: false },
	);
}

export interface Registered {
	passkey: Passkey;
	recovery_codes?: string[];
}

/** Registers a discoverable passkey, so it can also sign in without a password. */
export async function registerPasskey(name: string): Promise<Registered> {
	const { creation_options } = await api<{ creation_options: PublicKeyCredentialCreationOptionsJSON }>(
		"GET",
		"/api/webauthn/register/options/?passwordless=true",
	);
	const credential: RegistrationResponseJSON = await startRegistration({ optionsJSON: creation_options });
	const trimmed = name.trim();
	return api<Registered>("POST", "/api/webauthn/register/complete/", {
		credential,
		...(trimmed ? { name: trimmed } : {}),
	});
}

export interface SignedUp extends SessionResult {
	user: { id: string; email: string };
	recovery_codes: string[];
}

/**
 * Passkey-first sign-up: an account whose only credential is a discoverable
 * passkey with user verification. The server stores nothing until the
 * passkey is made, and then the account, the passkey, its recovery codes and
 * the session at once.
 */
export async function signUpWithPasskey(email: string): Promise<SignedUp> {
	const { creation_options } = await api<{ creation_options: PublicKeyCredentialCreationOptionsJSON }>(
		"POST",
		"/api/auth/signup/passkey/options/",
		{ email },
	);
	const credential: RegistrationResponseJSON = await startRegistration({ optionsJSON: creation_options });
	return api<SignedUp>("POST", "/api/auth/signup/passkey/complete/", { credential });
}
