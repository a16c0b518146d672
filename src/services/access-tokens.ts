import { createLocalJWKSet, type JWTPayload, jwtVerify, SignJWT } from "jose";
import { type Acr, type AmrValue, amrClaims } from "../lib/amr";
import { clock } from "../lib/clock";
import { type Config, ConfigError } from "../lib/config";
import { randomId } from "../lib/encoding";
import { ApiError } from "../lib/errors";
import type { AmrLabel, ClientKind, Metrics } from "../lib/metrics";
import { loadSigningKeys, SIGNING_ALGORITHM } from "../lib/signing-keys";
import type { AuthenticatedSession } from "./sessions";

// Short-lived access tokens for the app's backend: a JWT signed with ES256
// that says who signed in and how, verified with the public keys of
// /.well-known/jwks.json, so the backend needs no secret of ours and no call
// per request. What it cannot see is a revocation: a token lives until its
// `exp` (5 minutes by default), while a revoked session gets no new token.

export const DEFAULT_TTL_SECONDS = 300;
export const MAX_TTL_SECONDS = 900;
/** RFC 9068's media type for JWT access tokens: keeps them apart from any other JWT. */
export const TOKEN_TYPE = "at+jwt";

export interface TokenSettings {
	issuer: string;
	/** The audiences a token may be asked for; the first is the default. */
	audiences: [string, ...string[]];
	ttlSeconds: number;
	/** The secret TOKEN_SIGNING_KEYS, as it is. */
	signingKeys: string | undefined;
}

interface TokenEnv {
	TOKEN_SIGNING_KEYS?: string;
	TOKEN_ISSUER?: string;
	TOKEN_AUDIENCES?: string;
	TOKEN_TTL_SECONDS?: string;
}

/**
 * The tokens' `iss`: configured, or the first web origin. Not the request's
 * Host: the RPC entrypoint has no request, and an issuer must not change
 * with the name a request happened to use.
 */
export function tokenIssuer(env: TokenEnv, config: Config): string {
	const issuer = env.TOKEN_ISSUER?.trim() || config.webOrigins[0];
	if (!issuer) throw new ConfigError("TOKEN_ISSUER is not set and ORIGINS has no web origin to default to");
	return issuer;
}

/**
 * The token settings, checked: read only by the routes that need them, so a
 * mistake here answers 500 on the token route and leaves sign-in working.
 */
export function readTokenSettings(env: TokenEnv, config: Config): TokenSettings {
	const issuer = tokenIssuer(env, config);
	const audiences = (env.TOKEN_AUDIENCES ?? "")
		.split(",")
		.map((audience) => audience.trim())
		.filter((audience) => audience.length > 0);
	const ttlText = env.TOKEN_TTL_SECONDS?.trim();
	const ttlSeconds = ttlText ? Number(ttlText) : DEFAULT_TTL_SECONDS;
	if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_TTL_SECONDS) {
		throw new ConfigError(`TOKEN_TTL_SECONDS must be a whole number of seconds from 1 to ${MAX_TTL_SECONDS}`);
	}
	const [first = issuer, ...rest] = audiences;
	return { issuer, audiences: [first, ...rest], ttlSeconds, signingKeys: env.TOKEN_SIGNING_KEYS };
}

/** Which id space `sub` is in: the app's own id (server API) or ours. */
export type SubjectType = "external_id" | "user_id";

/**
 * The one place where the token's subject is chosen. A user the app's
 * backend linked to its own id (PUT /api/server/users/{external_id}) is
 * named by that id, so the backend recognises its own user without a
 * lookup; anyone else by our user id. `sub_type` says which, so a backend
 * that serves both kinds never mistakes one id space for the other.
 */
function subjectOf(session: AuthenticatedSession): { sub: string; sub_type: SubjectType } {
	return session.externalId !== null
		? { sub: session.externalId, sub_type: "external_id" }
		: { sub: session.userId, sub_type: "user_id" };
}

export interface AccessTokenClaims extends JWTPayload {
	iss: string;
	aud: string;
	sub: string;
	/** Which id space `sub` is in (subjectOf). */
	sub_type: SubjectType;
	/** The session's id (a hash of its token), never the token. */
	sid: string;
	iat: number;
	nbf: number;
	exp: number;
	jti: string;
	auth_time: number;
	amr: AmrValue[];
	acr: Acr;
	email: string;
}

export interface IssuedAccessToken {
	accessToken: string;
	expiresIn: number;
	claims: AccessTokenClaims;
}

export interface TokenDeps {
	settings: TokenSettings;
	metrics: Metrics;
	client: ClientKind;
	startedAt: number;
}

const seconds = (ms: number) => Math.floor(ms / 1000);

/** An access token for a full session, for the requested audience (one of the configured ones). */
export async function issueAccessToken(
	deps: TokenDeps,
	session: AuthenticatedSession,
	requestedAudience?: string,
): Promise<IssuedAccessToken> {
	if (session.level !== "full") throw new ApiError("mfa_required");
	const { settings } = deps;
	const audience = requestedAudience ?? settings.audiences[0];
	if (!settings.audiences.includes(audience)) {
		throw new ApiError("invalid_request", { fields: { audience: "is not one of the configured audiences" } });
	}
	const keys = await loadSigningKeys(settings.signingKeys);
	const now = seconds(clock.now());
	const { amr, acr } = amrClaims(session.amr);
	const claims: AccessTokenClaims = {
		iss: settings.issuer,
		aud: audience,
		...subjectOf(session),
		sid: session.id,
		iat: now,
		nbf: now,
		exp: now + settings.ttlSeconds,
		jti: randomId(),
		auth_time: seconds(session.authenticatedAt),
		amr,
		acr,
		email: session.email,
	};
	const accessToken = await new SignJWT(claims)
		.setProtectedHeader({ alg: SIGNING_ALGORITHM, kid: keys.signing.kid, typ: TOKEN_TYPE })
		.sign(keys.signing.key);
	deps.metrics.record({
		event: "token.issued",
		outcome: "success",
		reason: acr,
		method: amr.join(" ") as AmrLabel,
		client: deps.client,
		durationMs: performance.now() - deps.startedAt,
	});
	return { accessToken, expiresIn: settings.ttlSeconds, claims };
}

/**
 * The claims of a token this Worker signed, for the RPC entrypoint: its
 * signature under one of the published keys, our issuer, one of our
 * audiences, its time window. Anything else is null, never an exception:
 * the caller only needs to know whether to trust it.
 */
export async function verifyAccessToken(settings: TokenSettings, jwt: string): Promise<AccessTokenClaims | null> {
	if (typeof jwt !== "string" || jwt.length === 0 || jwt.length > 8192) return null;
	const keys = await loadSigningKeys(settings.signingKeys);
	try {
		const { payload } = await jwtVerify(jwt, createLocalJWKSet(keys.jwks), {
			algorithms: [SIGNING_ALGORITHM],
			issuer: settings.issuer,
			audience: settings.audiences,
			typ: TOKEN_TYPE,
			currentDate: new Date(clock.now()),
			requiredClaims: ["sub", "sid", "exp", "iat", "nbf", "jti"],
		});
		return payload as AccessTokenClaims;
	} catch {
		return null;
	}
}
