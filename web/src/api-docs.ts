// Starts Swagger UI on /api/docs. It lives in its own file because the page's
// Content-Security-Policy runs no inline script. Nothing is fetched from
// another origin: the bundle is served from /assets/api-docs/, the document
// from /api/openapi.json, and the online validator badge is turned off.

interface SwaggerUIBundleGlobal {
	(options: Record<string, unknown>): unknown;
	presets: { apis: unknown };
}

declare const SwaggerUIBundle: SwaggerUIBundleGlobal;

SwaggerUIBundle({
	url: "/api/openapi.json",
	dom_id: "#swagger-ui",
	presets: [SwaggerUIBundle.presets.apis],
	layout: "BaseLayout",
	deepLinking: true,
	validatorUrl: null,
	// "Try it out" sends the browser's session cookie (and its Origin) like the web client does.
	withCredentials: true,
	displayRequestDuration: true,
	defaultModelsExpandDepth: 0,
	tryItOutEnabled: false,
});
