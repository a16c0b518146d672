import { Hono } from "hono";
import type { AppEnv } from "../http/context";
import { OPENAPI_PATH } from "./openapi";

/**
 * GET /api/docs: the interactive API reference (Swagger UI). Its script and
 * stylesheet are static assets copied from swagger-ui-dist by web/build.mjs,
 * so they are not part of the Worker bundle and nothing comes from a CDN.
 * Not itself in the OpenAPI document: it is a page for people.
 */
export const docs = new Hono<AppEnv>({ strict: false });

const ASSETS = "/assets/api-docs";

// Only this origin's scripts and styles, no inline script (the start-up code
// is its own file) and no inline style: Swagger UI sets styles through the
// DOM, which a CSP allows. Unlike the other pages, no Trusted Types: Swagger UI
// writes its (sanitized) Markdown rendering as HTML, which they would refuse.
export const DOCS_CSP = [
	"default-src 'none'",
	"script-src 'self'",
	"style-src 'self'",
	"img-src 'self' data:",
	"connect-src 'self'",
	"frame-ancestors 'none'",
	"base-uri 'none'",
	"form-action 'none'",
].join("; ");

const PAGE = `<!doctype html>
<html lang="en">
	<head>
		<meta charset="utf-8" />
		<meta name="viewport" content="width=device-width, initial-scale=1" />
		<title>API reference · passkey-edge</title>
		<link rel="icon" href="/favicon.svg" type="image/svg+xml" />
		<link rel="stylesheet" href="${ASSETS}/swagger-ui.css" />
	</head>
	<body>
		<noscript>The interactive reference needs JavaScript. The document is at <a href="${OPENAPI_PATH}">${OPENAPI_PATH}</a>.</noscript>
		<div id="swagger-ui"></div>
		<script src="${ASSETS}/swagger-ui-bundle.js"></script>
		<script src="${ASSETS}/init.js"></script>
	</body>
</html>
`;

docs.get("/", (c) => {
	c.header("Content-Security-Policy", DOCS_CSP);
	c.header("X-Frame-Options", "DENY");
	c.header("Referrer-Policy", "no-referrer");
	c.header("Cross-Origin-Opener-Policy", "same-origin");
	return c.html(PAGE);
});
