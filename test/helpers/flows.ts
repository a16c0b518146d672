import type {
	PublicKeyCredentialCreationOptionsJSON,
	PublicKeyCredentialRequestOptionsJSON,
} from "@simplewebauthn/server";
import { type CallOptions, call, logIn, type TestUser } from "./api";
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
