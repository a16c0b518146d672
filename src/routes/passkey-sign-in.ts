import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/context";
import { jsonBody, sessionCreationOrigin } from "../lib/middleware";
import { deliverToken } from "../lib/session-response";
import { createSignInOptions, signInWithPasskey } from "../services/passkey-sign-in";
import { viewSession } from "../services/sessions";
import { serviceDeps } from "./deps";
import { AuthenticationResponse, errors, json, jsonRequest, SessionResult } from "./schemas";
import { validationHook } from "./validation";

export const passkeySignIn = new OpenAPIHono<AppEnv>({ defaultHook: validationHook, strict: false });

passkeySignIn.openapi(
	createRoute({
		method: "get",
		path: "/options",
		tags: ["Accounts"],
		summary: "Options for passwordless sign-in with a passkey",
		description: "No session needed. Empty allowCredentials (discoverable credentials), user verification required.",
		responses: {
			200: json(
				z.object({ success: z.literal(true), request_options: z.record(z.string(), z.unknown()) }),
				"PublicKeyCredentialRequestOptionsJSON",
			),
		},
	}),
	async (c) => {
		const options = await createSignInOptions(serviceDeps(c));
		return c.json({ success: true as const, request_options: options }, 200);
	},
);

passkeySignIn.openapi(
	createRoute({
		method: "post",
		path: "/login",
		tags: ["Accounts"],
		summary: "Sign in with a discoverable passkey (full session)",
		middleware: [jsonBody(), sessionCreationOrigin()] as const,
		request: jsonRequest(z.object({ credential: AuthenticationResponse })),
		responses: { 200: json(SessionResult, "Signed in"), ...errors(400, 403, 413, 415) },
	}),
	async (c) => {
		const deps = serviceDeps(c);
		const issued = await signInWithPasskey(deps, c.req.valid("json").credential);
		const session = await viewSession(deps.db, issued.session);
		return c.json(deliverToken(c, deps.client, issued, { success: true as const, session }), 200);
	},
);
