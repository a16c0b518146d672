import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../http/context";
import { ApiError } from "../lib/errors";
import { loadSigningKeys } from "../lib/signing-keys";
import { tokenIssuer } from "../services/access-tokens";
import { appleAppSiteAssociation, assetLinks, relatedOrigins } from "../services/well-known";
import { errorsWithoutStorage, json, NO_SESSION } from "./schemas";

// Platforms fetch these from their own caches (Apple through its CDN), so an
// hour of public caching is what they expect; each is plain JSON at a fixed
// path with no redirect.
function servable<T>(c: Context<AppEnv>, document: T | null): T {
	if (document === null) throw new ApiError("not_found");
	c.header("Cache-Control", "public, max-age=3600");
	return document;
}

const Document = z.record(z.string(), z.unknown());

const Jwks = z
	.object({
		keys: z.array(
			z.object({
				kty: z.literal("EC"),
				crv: z.literal("P-256"),
				x: z.string(),
				y: z.string(),
				kid: z.string(),
				alg: z.literal("ES256"),
				use: z.literal("sig"),
			}),
		),
	})
	.openapi("Jwks", {
		description: "The public keys that verify the access tokens; a key's private part is never here.",
	});

const OpenIdConfiguration = z
	.object({ issuer: z.string(), jwks_uri: z.string() })
	.passthrough()
	.openapi("OpenIdConfiguration", { description: "Where JWT libraries find the issuer's keys." });

// Verifiers cache the keys; five minutes lets a rotation's new key reach them
// well before it signs anything that matters (the old key stays published).
const KEYS_CACHE = "public, max-age=300";

// One chain, so that the type of the sub-app carries every route (hc<AppType>).
export const wellKnown = new OpenAPIHono<AppEnv>({ strict: false })
	.openapi(
		createRoute({
			method: "get",
			path: "/webauthn",
			tags: ["Other"],
			security: NO_SESSION,
			summary: "WebAuthn related origins (when several web origins are configured)",
			responses: {
				200: json(z.object({ origins: z.array(z.string()) }), "Related origins"),
				...errorsWithoutStorage("not_found"),
			},
		}),
		(c) => c.json(servable(c, relatedOrigins(c.env)), 200),
	)
	.openapi(
		createRoute({
			method: "get",
			path: "/assetlinks.json",
			tags: ["Other"],
			security: NO_SESSION,
			summary: "Android Digital Asset Links (when ANDROID_* is configured)",
			responses: { 200: json(z.array(Document), "Statements"), ...errorsWithoutStorage("not_found") },
		}),
		(c) => c.json(servable(c, assetLinks(c.env)), 200),
	)
	.openapi(
		createRoute({
			method: "get",
			path: "/apple-app-site-association",
			tags: ["Other"],
			security: NO_SESSION,
			summary: "Apple associated domains (when APPLE_APP_IDS is configured)",
			responses: { 200: json(Document, "webcredentials"), ...errorsWithoutStorage("not_found") },
		}),
		(c) => c.json(servable(c, appleAppSiteAssociation(c.env)), 200),
	)
	.openapi(
		createRoute({
			method: "get",
			path: "/jwks.json",
			tags: ["Tokens"],
			security: NO_SESSION,
			summary: "The public keys of the access tokens (JWK Set)",
			description:
				"Every key of TOKEN_SIGNING_KEYS, public members only; the first one signs. Cached for 5 minutes. A missing or malformed key set answers 500 (logged) rather than publishing no keys.",
			responses: { 200: json(Jwks, "The keys"), ...errorsWithoutStorage() },
		}),
		async (c) => {
			const keys = await loadSigningKeys(c.env.TOKEN_SIGNING_KEYS);
			c.header("Cache-Control", KEYS_CACHE);
			return c.json(keys.jwks, 200);
		},
	)
	.openapi(
		createRoute({
			method: "get",
			path: "/openid-configuration",
			tags: ["Tokens"],
			security: NO_SESSION,
			summary: "Discovery: the access tokens' issuer and where its keys are",
			description:
				"Only what a JWT library needs to find the keys: this Worker issues access tokens for the app's backend, it is not an OpenID provider (no ID tokens, no authorization endpoint).",
			responses: { 200: json(OpenIdConfiguration, "Discovery document"), ...errorsWithoutStorage() },
		}),
		(c) => {
			const issuer = tokenIssuer(c.env, c.var.config);
			c.header("Cache-Control", KEYS_CACHE);
			return c.json(
				{
					issuer,
					// Where this Worker answers, whatever the configured issuer.
					jwks_uri: new URL("/.well-known/jwks.json", c.req.url).href,
					claims_supported: [
						"iss",
						"aud",
						"sub",
						"sid",
						"iat",
						"nbf",
						"exp",
						"jti",
						"auth_time",
						"amr",
						"acr",
						"email",
					],
				},
				200,
			);
		},
	);
