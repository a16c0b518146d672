import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, type JWTPayload, jwtVerify } from "jose";
import { expect } from "vitest";
import testSigningKeys from "../fixtures/token-signing-keys.json";
import { type ApiResponse, type CallOptions, call } from "./api";
import { callConfigured, type Vars } from "./configured";

// Access tokens, checked the way an app's backend would: with jose, against
// the JWK Set the Worker publishes, never with the signing key itself.

export const ISSUER = "http://localhost:8787";
export const TEST_KEYS = testSigningKeys;

export interface TokenBody {
	success: true;
	access_token: string;
	token_type: string;
	expires_in: number;
}

export interface Claims extends JWTPayload {
	sid: string;
	auth_time: number;
	amr: string[];
	acr: string;
	email: string;
}

export function requestToken(auth: CallOptions, vars?: Vars): Promise<ApiResponse<TokenBody>> {
	return vars
		? callConfigured<TokenBody>(vars, "POST", "/api/auth/token/", auth)
		: call<TokenBody>("POST", "/api/auth/token/", auth);
}

/** A token for this session, or the test fails. */
export async function tokenFor(auth: CallOptions, vars?: Vars): Promise<string> {
	const response = await requestToken(auth, vars);
	expect(response.status, JSON.stringify(response.body)).toBe(200);
	return response.body.access_token;
}

export async function publishedKeys(vars?: Vars): Promise<JSONWebKeySet> {
	const response = vars
		? await callConfigured<JSONWebKeySet>(vars, "GET", "/.well-known/jwks.json")
		: await call<JSONWebKeySet>("GET", "/.well-known/jwks.json");
	expect(response.status).toBe(200);
	return response.body;
}

/** Verifies a token as a backend would: ES256 only, the JWKS, our issuer, the audience. */
export async function verifyToken(token: string, options: { audience?: string; vars?: Vars } = {}): Promise<Claims> {
	const jwks = createLocalJWKSet(await publishedKeys(options.vars));
	const { payload } = await jwtVerify(token, jwks, {
		algorithms: ["ES256"],
		issuer: ISSUER,
		audience: options.audience ?? ISSUER,
		typ: "at+jwt",
	});
	return payload as Claims;
}

export { decodeProtectedHeader };
