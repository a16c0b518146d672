import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../lib/context";
import { ApiError } from "../lib/errors";
import { appleAppSiteAssociation, assetLinks, relatedOrigins } from "../services/well-known";
import { errors, json } from "./schemas";

export const wellKnown = new OpenAPIHono<AppEnv>({ strict: false });

// Platforms fetch these from their own caches (Apple through its CDN), so an
// hour of public caching is what they expect; each is plain JSON at a fixed
// path with no redirect.
function servable<T>(c: Context<AppEnv>, document: T | null): T {
	if (document === null) throw new ApiError("not_found");
	c.header("Cache-Control", "public, max-age=3600");
	return document;
}

const Document = z.record(z.string(), z.unknown());

wellKnown.openapi(
	createRoute({
		method: "get",
		path: "/webauthn",
		tags: ["Other"],
		summary: "WebAuthn related origins (when several web origins are configured)",
		responses: { 200: json(z.object({ origins: z.array(z.string()) }), "Related origins"), ...errors(404) },
	}),
	(c) => c.json(servable(c, relatedOrigins(c.env)), 200),
);

wellKnown.openapi(
	createRoute({
		method: "get",
		path: "/assetlinks.json",
		tags: ["Other"],
		summary: "Android Digital Asset Links (when ANDROID_* is configured)",
		responses: { 200: json(z.array(Document), "Statements"), ...errors(404) },
	}),
	(c) => c.json(servable(c, assetLinks(c.env)), 200),
);

wellKnown.openapi(
	createRoute({
		method: "get",
		path: "/apple-app-site-association",
		tags: ["Other"],
		summary: "Apple associated domains (when APPLE_APP_IDS is configured)",
		responses: { 200: json(Document, "webcredentials"), ...errors(404) },
	}),
	(c) => c.json(servable(c, appleAppSiteAssociation(c.env)), 200),
);
