import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../lib/context";
import { ApiError } from "../lib/errors";
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
	);
