import { env } from "cloudflare:workers";
import type {
	PublicKeyCredentialCreationOptionsJSON,
	PublicKeyCredentialRequestOptionsJSON,
	RegistrationResponseJSON,
} from "@simplewebauthn/server";
import { isoBase64URL, isoCBOR, isoUint8Array } from "@simplewebauthn/server/helpers";
import { vi } from "vitest";
import { clock } from "../../src/lib/clock";
import type { PasskeyView } from "../../src/webauthn/passkey-view";
import { credentialUser, userSql } from "./account";
import { type CallOptions, call, logIn, ORIGIN, PASSWORD, sessionCookie, signUp, type TestUser } from "./api";
import { type CreateOverrides, type GetOverrides, SoftAuthenticator } from "./authenticator";

/** Fetches creation options and answers them with the software authenticator. */
export async function registerPasskey(
	user: TestUser,
	authenticator = new SoftAuthenticator(),
	options: { passwordless?: boolean; name?: string; overrides?: CreateOverrides; auth?: CallOptions } = {},
) {
	const auth = options.auth ?? { token: user.token };
	const query = options.passwordless ? "?passwordless=true" : "";
	const opts = await call<{ creation_options: PublicKeyCredentialCreationOptionsJSON }>(
		"GET",
		`/api/webauthn/register/options/${query}`,
		auth,
	);
	if (opts.status !== 200) throw new Error(`register options failed: ${opts.status} ${JSON.stringify(opts.body)}`);
	const credential = await authenticator.createCredential(opts.body.creation_options, options.overrides);
	const body: Record<string, unknown> = { credential };
	if (options.name !== undefined) body.name = options.name;
	const response = await call<{
		passkey: { id: string; name: string; credential_id: string };
		recovery_codes?: string[];
	}>("POST", "/api/webauthn/register/complete/", { ...auth, body });
	return { response, authenticator, credential, options: opts.body.creation_options };
}

/** Password login that leaves a partial session (the user has 2FA). */
export async function partialLogin(user: TestUser): Promise<string> {
	const response = await logIn(user.email);
	if (response.status !== 200 || response.body.session.level !== "partial") {
		throw new Error(`expected a partial login: ${response.status} ${JSON.stringify(response.body)}`);
	}
	return response.body.session_token;
}

export async function authenticationOptions(token: string) {
	const response = await call<{ request_options: PublicKeyCredentialRequestOptionsJSON }>(
		"GET",
		"/api/webauthn/authenticate/options/",
		{ token },
	);
	if (response.status !== 200) throw new Error(`authenticate options failed: ${response.status}`);
	return response.body.request_options;
}

/** Gets options, signs an assertion and posts it to /api/webauthn/verify. */
export async function verifyPasskey(token: string, authenticator: SoftAuthenticator, overrides?: GetOverrides) {
	const options = await authenticationOptions(token);
	const credential = await authenticator.getAssertion(options, overrides);
	return call<{ session_token?: string; session: { level: string } }>("POST", "/api/webauthn/verify/", {
		token,
		app: true,
		body: { credential },
	});
}

// --- passkey suite helpers ----------------------------------------------------------------------

// Browser sign-up and the session cookie live in api.ts; re-exported for the passkey suites.
export { type BrowserUser, browserSignUp, sessionCookie } from "./api";

/** Password login as a browser; returns the (partial or full) session cookie. */
export async function browserLogin(email: string): Promise<string> {
	const response = await call("POST", "/api/auth/login/", { origin: ORIGIN, body: { email, password: PASSWORD } });
	const cookie = sessionCookie(response.headers);
	if (response.status !== 200 || !cookie) throw new Error(`browser login failed: ${response.status}`);
	return cookie;
}

/** The Passkey object as the API answers it. */
export type PasskeyJSON = PasskeyView;

/** A fresh app user with one registered passkey. */
export async function userWithPasskey(
	authenticator = new SoftAuthenticator(),
	options: { passwordless?: boolean; name?: string; overrides?: CreateOverrides } = {},
) {
	const user = await signUp();
	const { response } = await registerPasskey(user, authenticator, options);
	if (response.status !== 201)
		throw new Error(`registration failed: ${response.status} ${JSON.stringify(response.body)}`);
	return { user, authenticator, passkey: response.body.passkey as PasskeyJSON };
}

/** Registers one more passkey for a user who already has one; fails the test otherwise. */
export async function addPasskey(user: TestUser, authenticator = new SoftAuthenticator(), name?: string) {
	const { response } = await registerPasskey(user, authenticator, name === undefined ? {} : { name });
	if (response.status !== 201)
		throw new Error(`registration failed: ${response.status} ${JSON.stringify(response.body)}`);
	return response.body.passkey as PasskeyJSON;
}

/** Registration options for a user, without answering them. */
export async function registrationOptions(auth: CallOptions, passwordless?: boolean) {
	const query = passwordless === undefined ? "" : `?passwordless=${passwordless}`;
	const response = await call<{ creation_options: PublicKeyCredentialCreationOptionsJSON }>(
		"GET",
		`/api/webauthn/register/options/${query}`,
		auth,
	);
	if (response.status !== 200) throw new Error(`register options failed: ${response.status}`);
	return response.body.creation_options;
}

export function completeRegistration(auth: CallOptions, credential: unknown, name?: string) {
	return call<{ passkey: PasskeyJSON; recovery_codes?: string[] }>("POST", "/api/webauthn/register/complete/", {
		...auth,
		body: name === undefined ? { credential } : { credential, name },
	});
}

/** Posts an assertion (or any JSON) to the second-factor verify route as an app. */
export function postVerify(token: string, credential: unknown) {
	return call<{ session_token?: string; session: { level: string; authenticated_at: string } }>(
		"POST",
		"/api/webauthn/verify/",
		{ token, app: true, body: { credential } },
	);
}

export interface PasskeyDbRow {
	id: string;
	user_id: string;
	credential_id: string;
	public_key: string;
	sign_count: number;
	backup_eligible: number;
	backed_up: number;
	name: string;
	created_at: number;
	last_used_at: number | null;
}

/** The stored row, read from its user's object (the directory says whose it is). */
export async function passkeyRow(credentialId: string): Promise<PasskeyDbRow | null> {
	const userId = await credentialUser(credentialId);
	if (userId === null) return null;
	return userSql(userId, "SELECT * FROM passkeys WHERE credential_id = ?", credentialId).first<PasskeyDbRow>();
}

/** A COUNT(*) AS n over the directory (D1). */
export async function countRows(sql: string, ...params: unknown[]): Promise<number> {
	const row = await env.DB.prepare(sql)
		.bind(...params)
		.first<{ n: number }>();
	return row?.n ?? 0;
}

/** A COUNT(*) AS n over one user's object storage (src/account/schema.ts). */
export async function countUserRows(userId: string, sql: string, ...params: unknown[]): Promise<number> {
	const row = await userSql(userId, sql, ...params).first<{ n: number }>();
	return row?.n ?? 0;
}

export function passkeyCount(userId: string): Promise<number> {
	return countUserRows(userId, "SELECT COUNT(*) AS n FROM passkeys");
}

export function sessionCount(userId: string, level: "partial" | "full"): Promise<number> {
	return countUserRows(userId, "SELECT COUNT(*) AS n FROM sessions WHERE level = ?", level);
}

/** Fixes the clock at `at` for the Worker and the Durable Object; restore with vi.restoreAllMocks(). */
export function setClock(at: number): void {
	vi.spyOn(clock, "now").mockReturnValue(at);
}

// isoCBOR does not re-export tiny-cbor's value type, so derive it from the encoder.
type CBORValue = Parameters<typeof isoCBOR.encode>[0];

/**
 * Rewrites the COSE `alg` of the credential public key inside a "none"
 * attestation. Nothing signs authenticator data at registration when the
 * attestation is "none", so this is what a client offering an algorithm we
 * never listed would send.
 */
export function withCoseAlgorithm(credential: RegistrationResponseJSON, alg: number): RegistrationResponseJSON {
	const attestation = isoCBOR.decodeFirst<Map<string, CBORValue>>(
		isoBase64URL.toBuffer(credential.response.attestationObject),
	);
	const authData = attestation.get("authData") as Uint8Array;
	const idLength = ((authData[53] ?? 0) << 8) | (authData[54] ?? 0);
	const keyStart = 55 + idLength;
	const cose = isoCBOR.decodeFirst<Map<number, CBORValue>>(authData.slice(keyStart));
	cose.set(3, alg);
	const newAuthData = isoUint8Array.concat([authData.slice(0, keyStart), isoCBOR.encode(cose)]);
	attestation.set("authData", newAuthData);
	return {
		...credential,
		response: {
			...credential.response,
			attestationObject: isoBase64URL.fromBuffer(isoCBOR.encode(attestation)),
			authenticatorData: isoBase64URL.fromBuffer(newAuthData),
			publicKeyAlgorithm: alg,
		},
	};
}
