import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Env } from "../env";
import type { AppEnv } from "../http/context";
import { jsonBody, sessionCreationOrigin } from "../http/middleware";
import { deliverToken } from "../http/session-response";
import { requireKeySet } from "../lib/config";
import { createSignInOptions, signInWithPasskey } from "../services/passkey-sign-in";
import { serviceDeps } from "./deps";
import { AuthenticationResponse, errors, json, jsonRequest, NO_SESSION, SessionResult, X_CLIENT } from "./schemas";
import { validationHook } from "./validation";

// Sign-in challenges are signed under keys derived from this key set (services/sign-in-challenge.ts).
const signInChallengeKeys = (env: Env) => requireKeySet(env, "RECOVERY_CODE_HMAC_KEY");

// One chain, so that the type of the sub-app carries every route (hc<AppType>).
export const passkeySignIn = new OpenAPIHono<AppEnv>({ defaultHook: validationHook, strict: false })
	.openapi(
		createRoute({
			method: "get",
			path: "/options",
			tags: ["Accounts"],
			summary: "Options for passwordless sign-in with a passkey",
			description: "No session needed. Empty allowCredentials (discoverable credentials), user verification required.",
			security: NO_SESSION,
			responses: {
				200: json(
					z.object({ success: z.literal(true), request_options: z.record(z.string(), z.unknown()) }),
					"PublicKeyCredentialRequestOptionsJSON",
				),
				...errors(),
			},
		}),
		async (c) => {
			const options = await createSignInOptions({ ...serviceDeps(c), challengeKeys: signInChallengeKeys(c.env) });
			return c.json({ success: true as const, request_options: options }, 200);
		},
	)
	.openapi(
		createRoute({
			method: "post",
			path: "/login",
			tags: ["Accounts"],
			summary: "Sign in with a discoverable passkey (full session)",
			description:
				"The user is found from the credential id; `userHandle` must be present and be that user's WebAuthn user id. An unknown credential, a bad signature and a wrong `userHandle` get the same 400 `verification_failed`.",
			security: NO_SESSION,
			parameters: [X_CLIENT],
			middleware: [jsonBody(), sessionCreationOrigin()] as const,
			request: jsonRequest(z.object({ credential: AuthenticationResponse })),
			responses: {
				200: json(SessionResult, "Signed in"),
				...errors(
					"invalid_request",
					"verification_failed",
					"challenge_expired",
					"csrf_failed",
					"payload_too_large",
					"unsupported_media_type",
				),
			},
		}),
		async (c) => {
			const deps = { ...serviceDeps(c), challengeKeys: signInChallengeKeys(c.env) };
			const { issued, view } = await signInWithPasskey(deps, c.req.valid("json").credential);
			return c.json(deliverToken(c, deps.client, issued, { success: true as const, session: view }), 200);
		},
	);
