import type { AuthenticationResponseJSON, PublicKeyCredentialRequestOptionsJSON } from "@simplewebauthn/server";
import { expect } from "vitest";
import { ERRORS, type ErrorCode } from "../../src/lib/errors";
import { userSql } from "./account";
import { type ApiResponse, type CallOptions, call, signUp, type TestUser } from "./api";
import { type CreateOverrides, type GetOverrides, SoftAuthenticator } from "./authenticator";
import { registerPasskey } from "./flows";

// Helpers of the passwordless sign-in suite. They lean only on the committed
// helpers in api.ts and flows.ts.

export interface SignInResult {
	success: true;
	session: { level: string; user: { id: string; email: string }; methods: string[]; authenticated_at: string };
	session_token?: string;
}

export interface PasskeyJSON {
	id: string;
	name: string;
	last_used_at: string | null;
	passwordless: boolean;
	backed_up: boolean;
	device_type: string;
}

/** `GET /api/auth/passkey/options/`: the options of a passwordless sign-in (no session). */
export async function signInOptions(): Promise<PublicKeyCredentialRequestOptionsJSON> {
	const response = await call<{ request_options: PublicKeyCredentialRequestOptionsJSON }>(
		"GET",
		"/api/auth/passkey/options/",
	);
	if (response.status !== 200) throw new Error(`sign-in options failed: ${response.status}`);
	return response.body.request_options;
}

/** Fresh sign-in options answered by the authenticator's discoverable credential. */
export async function signInAssertion(
	authenticator: SoftAuthenticator,
	overrides?: GetOverrides,
): Promise<AuthenticationResponseJSON> {
	return authenticator.getAssertion(await signInOptions(), overrides);
}

/** `POST /api/auth/passkey/login/`, as an app unless the options say otherwise. */
export function postSignIn(credential: unknown, options: CallOptions = { app: true }) {
	return call<SignInResult>("POST", "/api/auth/passkey/login/", { ...options, body: { credential } });
}

export interface PasswordlessUser {
	user: TestUser;
	authenticator: SoftAuthenticator;
	passkey: PasskeyJSON;
	/** The WebAuthn user handle the server put into the creation options (base64url). */
	userHandle: string;
}

/** A fresh app user with one passkey registered with `passwordless=true` (or false). */
export async function userWithDiscoverablePasskey(
	authenticator = new SoftAuthenticator(),
	options: { passwordless?: boolean; overrides?: CreateOverrides } = {},
): Promise<PasswordlessUser> {
	const user = await signUp();
	const registered = await registerPasskey(user, authenticator, {
		passwordless: options.passwordless ?? true,
		...(options.overrides ? { overrides: options.overrides } : {}),
	});
	if (registered.response.status !== 201) {
		throw new Error(`registration failed: ${registered.response.status} ${JSON.stringify(registered.response.body)}`);
	}
	return {
		user,
		authenticator,
		passkey: registered.response.body.passkey as unknown as PasskeyJSON,
		userHandle: registered.options.user.id,
	};
}

/** Full sessions of a user, read from their object: the proof that a sign-in did or did not happen. */
export async function fullSessions(userId: string): Promise<number> {
	const row = await userSql(userId, "SELECT COUNT(*) AS n FROM sessions WHERE level = 'full'").first<{ n: number }>();
	return row?.n ?? 0;
}

/** The session cookie a response sets, as a `Cookie` header value, or null. */
export function cookieFrom(headers: Headers): string | null {
	for (const line of headers.getSetCookie()) {
		const match = /^__Host-pe_session=([^;]+)/.exec(line);
		if (match?.[1]) return `__Host-pe_session=${match[1]}`;
	}
	return null;
}

/** API.md's error envelope, exactly: status, code and our own sentence, nothing else. */
export function expectRefused(response: ApiResponse<unknown>, status: number, code: ErrorCode): void {
	expect({ status: response.status, body: response.body }).toEqual({
		status,
		body: { success: false, code, message: ERRORS[code][1] },
	});
	expect(response.headers.get("content-type")).toMatch(/^application\/json/);
}
