import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/context";
import { SESSION_COOKIE } from "../lib/session-response";

/**
 * Serves the OpenAPI 3.1 document generated from the same zod definitions
 * that validate the requests: there is no hand-kept copy to drift.
 */
// Either scheme authenticates a request; routes without a session ignore both.
const EITHER_SESSION: Record<string, string[]>[] = [{ cookie: [] }, { bearer: [] }];

export function mountOpenApi(app: OpenAPIHono<AppEnv>): void {
	app.openAPIRegistry.registerComponent("securitySchemes", "cookie", {
		type: "apiKey",
		in: "cookie",
		name: SESSION_COOKIE,
		description: "Browser clients: HttpOnly session cookie; unsafe requests need an allowed Origin.",
	});
	app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
		type: "http",
		scheme: "bearer",
		description: "App clients (X-Client: app): the session_token from sign-in.",
	});
	app.doc31("/api/openapi.json", (c) => ({
		openapi: "3.1.0",
		info: {
			title: "passkey-edge",
			version: "0.1.0",
			description: "Passkeys (WebAuthn), authenticator-app codes and recovery codes, at the edge.",
		},
		servers: [{ url: new URL(c.req.url).origin }],
		security: EITHER_SESSION,
	}));
}
