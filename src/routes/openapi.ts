import { type OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../http/context";
import { MAX_BODY_BYTES } from "../http/middleware";
import { SESSION_COOKIE } from "../http/session-response";
import { errorsWithoutStorage, json, NO_SESSION, SESSION } from "./schemas";

export const OPENAPI_PATH = "/api/openapi.json";

const DESCRIPTION = `Passkeys (WebAuthn), authenticator-app codes (TOTP) and recovery codes, at the edge.

JSON in, JSON out (bodies over ${MAX_BODY_BYTES / 1024} KiB answer 413, bodies that are not JSON 415). Every
path also works with a trailing slash. Every error is the \`Error\` envelope. Checks run in this order,
and the first that fails answers: route exists (404) → body is JSON and small enough (415/413) → session
present (401) → \`Origin\` or \`Sec-Fetch-Site\` of a cookie request (403 \`csrf_failed\`) → session level
(403 \`mfa_required\`, or \`second_factor_required\`) → recent authentication (401 \`reauthentication_required\`) → rate limit (429, with
\`Retry-After\`) → body fields (400 \`invalid_request\`) → the route's own rules. 503 \`unavailable\` (with \`Retry-After\`) means
storage is briefly unavailable: try again.

Browsers hold the session in the HttpOnly cookie \`${SESSION_COOKIE}\` and must send an allowed \`Origin\` on
POST, PATCH and DELETE; a cookie request marked \`Sec-Fetch-Site: cross-site\` is refused whatever its method,
and one that carries the cookie twice answers 401. A full session expires after 30 days unused and in any
case at its absolute end, 90 days after sign-in unless configured (\`SESSION_MAX_AGE_DAYS\`).

With \`REQUIRE_SECOND_FACTOR=true\` (default off), a password sign-in or sign-up of a user with no passkey or
TOTP gets a session of level \`setup_required\`: only session, logout, passkey registration and TOTP set-up
work (anything else 403 \`second_factor_required\`) until a passkey or TOTP is added; the response that adds
it carries the session, now \`full\` under a new token (a new cookie, or \`session_token\` for apps), and
the user's other \`setup_required\` sessions end. Passwordless sign-in already satisfies the policy.

Apps send \`X-Client: app\` when they sign in, get \`session_token\` in the body, and send it as
\`Authorization: Bearer …\`.`;

const TAGS = [
	{ name: "Accounts", description: "Sign-up, password and passwordless sign-in, sessions" },
	{ name: "Passkeys", description: "WebAuthn registration, second factor, list, rename, delete" },
	{ name: "Authenticator app", description: "TOTP (SHA-1, 6 digits, 30 s)" },
	{ name: "Recovery codes", description: "Ten one-time codes that come with the first authenticator" },
	{
		name: "Server API",
		description:
			"For the app's backend, with a server key: users known by the app's own ids, sessions it vouches for, help-desk reset",
	},
	{ name: "Other", description: "Health, this document, well-known documents" },
];

/**
 * Serves the OpenAPI 3.1 document generated from the same zod definitions
 * that validate the requests: there is no hand-kept copy to drift.
 */
export function mountOpenApi(app: OpenAPIHono<AppEnv>): void {
	app.openAPIRegistry.registerComponent("securitySchemes", "cookie", {
		type: "apiKey",
		in: "cookie",
		name: SESSION_COOKIE,
		description:
			"Browser clients: HttpOnly, Secure, SameSite=Lax session cookie; unsafe requests need an allowed Origin, and a request marked Sec-Fetch-Site: cross-site or carrying the cookie twice is refused.",
	});
	app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
		type: "http",
		scheme: "bearer",
		description: "App clients (X-Client: app): the session_token from sign-in.",
	});
	app.openAPIRegistry.registerComponent("securitySchemes", "server", {
		type: "http",
		scheme: "bearer",
		description:
			"The app's backend only: one of the keys of the secret SERVER_API_KEYS (`name:key` pairs). Never a user's session; never sent by a browser (no CORS on these routes).",
	});
	// doc31 serves the document without describing itself: register its path.
	app.openAPIRegistry.registerPath({
		method: "get",
		path: OPENAPI_PATH,
		tags: ["Other"],
		summary: "This OpenAPI 3.1 document",
		security: NO_SESSION,
		responses: {
			200: json(z.record(z.string(), z.unknown()), "The document"),
			...errorsWithoutStorage(),
		},
	});
	app.doc31(OPENAPI_PATH, (c) => ({
		openapi: "3.1.0",
		info: { title: "passkey-edge", version: "0.1.0", description: DESCRIPTION },
		servers: [{ url: new URL(c.req.url).origin }],
		tags: TAGS,
		// Routes say what they need; this is the default for any that does not.
		security: SESSION,
	}));
}
