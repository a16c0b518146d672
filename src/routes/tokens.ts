import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../http/context";
import { jsonBody, requireSession } from "../http/middleware";
import { ApiError } from "../lib/errors";
import { DEFAULT_TTL_SECONDS, issueAccessToken, MAX_TTL_SECONDS, readTokenSettings } from "../services/access-tokens";
import { serviceDeps } from "./deps";
import { errors, json, SESSION } from "./schemas";
import { validationHook } from "./validation";

const TokenRequest = z.object({ audience: z.string().min(1).max(256).optional() });

/**
 * The body is optional, and an empty one (a client that always sends
 * `Content-Type: application/json`) is no body: read here rather than by the
 * route's validator, which would refuse an empty JSON body as malformed.
 * The media type and size rules were applied by jsonBody() before.
 */
async function tokenRequest(c: Context<AppEnv>): Promise<z.infer<typeof TokenRequest>> {
	const text = await c.req.text();
	if (text.trim() === "") return {};
	let parsed: unknown;
	try {
		parsed = JSON.parse(text);
	} catch {
		throw new ApiError("invalid_request");
	}
	const result = TokenRequest.safeParse(parsed);
	if (!result.success) await validationHook(result as never, c as never);
	return result.data ?? {};
}

// The schema of the document; tokenRequest() above validates with TokenRequest.
const TOKEN_REQUEST_DOCUMENT = {
	type: "object" as const,
	properties: {
		audience: {
			type: "string" as const,
			minLength: 1,
			maxLength: 256,
			description: "One of TOKEN_AUDIENCES; default: the first of them",
		},
	},
	example: { audience: "https://app.example.com" },
};

export const AccessToken = z
	.object({
		success: z.literal(true),
		access_token: z.string().openapi({ description: "A JWT (JWS, ES256): verify it with /.well-known/jwks.json" }),
		token_type: z.literal("Bearer"),
		expires_in: z.number().int().openapi({ description: "Seconds until `exp`", example: DEFAULT_TTL_SECONDS }),
	})
	.openapi("AccessToken", {
		example: {
			success: true,
			access_token: "eyJhbGciOiJFUzI1NiIsImtpZCI6IjIwMjYtMTIiLCJ0eXAiOiJhdCtqd3QifQ.eyJpc3MiOiIuLi4ifQ.c2ln",
			token_type: "Bearer",
			expires_in: DEFAULT_TTL_SECONDS,
		},
	});

const DESCRIPTION = `A short-lived access token for the app's own backend, which verifies it offline with the public keys of \`/.well-known/jwks.json\` (discoverable from \`/.well-known/openid-configuration\`).

Claims: \`iss\`, \`aud\`, \`sub\` (the user id), \`sid\` (the session's id, never its token), \`iat\`, \`nbf\`, \`exp\`, \`jti\`, \`auth_time\` (the session's last authentication), \`amr\` (RFC 8176: \`pwd\`, \`hwk\` for a device-bound passkey, \`swk\` for a synced one, \`user\` when the passkey verified the user, \`otp\` for TOTP or a recovery code, \`mfa\` for a password and a second factor), \`acr\` (NIST SP 800-63B: \`aal2\` for two factors or a passkey with user verification, else \`aal1\`) and \`email\`. Header: \`alg: ES256\`, \`kid\`, \`typ: at+jwt\`.

**Revocation.** Logging out, a password change or a revoked session ends the issuing of tokens at once, but a token already issued stays valid until its \`exp\`: ${DEFAULT_TTL_SECONDS / 60} minutes by default (TOKEN_TTL_SECONDS, at most ${MAX_TTL_SECONDS / 60}). That is the trade for a backend that checks a token without calling this Worker: a revoked session can keep using the app's backend for up to that long. Backends that must see a revocation at once ask the session itself (the service binding's \`session()\`).`;

// One chain, so that the type of the sub-app carries every route (hc<AppType>).
export const tokens = new OpenAPIHono<AppEnv>({ defaultHook: validationHook, strict: false }).openapi(
	createRoute({
		method: "post",
		path: "/token",
		tags: ["Tokens"],
		summary: "An access token (JWT) for the app's backend",
		description: DESCRIPTION,
		security: SESSION,
		middleware: [jsonBody({ optional: true }), requireSession({ level: "full" })] as const,
		request: { body: { required: false, content: { "application/json": { schema: TOKEN_REQUEST_DOCUMENT } } } },
		responses: {
			200: json(AccessToken, "Issued"),
			...errors(
				"second_factor_required",
				"invalid_request",
				"not_authenticated",
				"csrf_failed",
				"mfa_required",
				"payload_too_large",
				"unsupported_media_type",
			),
		},
	}),
	async (c) => {
		const deps = serviceDeps(c);
		const settings = readTokenSettings(c.env, c.var.config);
		const issued = await issueAccessToken({ ...deps, settings }, c.var.auth.session, (await tokenRequest(c)).audience);
		return c.json(
			{
				success: true as const,
				access_token: issued.accessToken,
				token_type: "Bearer" as const,
				expires_in: issued.expiresIn,
			},
			200,
		);
	},
);
