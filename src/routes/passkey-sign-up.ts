import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../http/context";
import { jsonBody, sessionCreationOrigin } from "../http/middleware";
import { deliverToken } from "../http/session-response";
import { requireKeySet } from "../lib/config";
import { completeSignUp, createSignUpOptions, type PasskeySignUpDeps } from "../services/passkey-sign-up";
import { accountDeps, clientGate, FULL_SESSION_LIFETIME } from "./auth";
import {
	Email,
	errors,
	json,
	jsonRequest,
	NO_SESSION,
	PasskeyName,
	RegistrationResponse,
	SessionToken,
	SessionView,
	X_CLIENT,
} from "./schemas";
import { validationHook } from "./validation";

/**
 * The sign-up challenges' MAC keys are derived from this key set, under a
 * label of their own (services/sign-up-challenge.ts); it also hashes the
 * recovery codes. Only the sign-up's own key derivation is shared with
 * nothing.
 */
function signUpDeps(c: Context<AppEnv>): PasskeySignUpDeps {
	const keys = requireKeySet(c.env, "RECOVERY_CODE_HMAC_KEY");
	return { ...accountDeps(c), challengeKeys: keys, recoveryKeys: keys };
}

const SignUpEmail = z.object({ email: Email }).openapi("PasskeySignUpEmail", { example: { email: "ada@example.com" } });

// One chain, so that the type of the sub-app carries every route (hc<AppType>).
export const passkeySignUp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook, strict: false })
	.openapi(
		createRoute({
			method: "post",
			path: "/options",
			tags: ["Accounts"],
			summary: "Options to create an account with a passkey (no password)",
			description:
				"No session needed, and nothing is stored: the email and a fresh WebAuthn user handle travel in the signed challenge, valid 5 minutes and once. A discoverable credential with user verification required. An email that has an account answers 409 `email_taken`, as `POST /api/auth/signup/` does. Each well-formed request counts toward the per-client sign-up limit that `POST /api/auth/signup/` shares (10 per client address within an hour; then 429 with Retry-After); completing it does not count again.",
			security: NO_SESSION,
			middleware: [jsonBody(), sessionCreationOrigin(), clientGate("client_signup", "webauthn")] as const,
			request: jsonRequest(SignUpEmail),
			responses: {
				200: json(
					z.object({ success: z.literal(true), creation_options: z.record(z.string(), z.unknown()) }),
					"PublicKeyCredentialCreationOptionsJSON",
				),
				...errors(
					"invalid_request",
					"csrf_failed",
					"email_taken",
					"payload_too_large",
					"unsupported_media_type",
					"too_many_attempts",
				),
			},
		}),
		async (c) => {
			const options = await createSignUpOptions(signUpDeps(c), c.req.valid("json"));
			return c.json({ success: true as const, creation_options: options }, 200);
		},
	)
	.openapi(
		createRoute({
			method: "post",
			path: "/complete",
			tags: ["Accounts"],
			summary: "Create the account with its passkey (full session, recovery codes)",
			description: `The account's only credential is this passkey (passwordless); no password is set (\`POST /api/auth/password/\` can add one later), and a password sign-in for it answers \`invalid_credentials\`. The user, the passkey, ten recovery codes (returned once) and the session are created together or not at all. A challenge that is unknown, used or expired answers \`challenge_expired\`; a credential without user verification, one the browser reports non-discoverable (credProps.rk false), or any other failed rule \`verification_failed\`. ${FULL_SESSION_LIFETIME}`,
			security: NO_SESSION,
			parameters: [X_CLIENT],
			middleware: [jsonBody(), sessionCreationOrigin()] as const,
			request: jsonRequest(z.object({ credential: RegistrationResponse, name: PasskeyName.optional() })),
			responses: {
				201: json(
					z.object({
						success: z.literal(true),
						user: z.object({ id: z.string(), email: z.string() }),
						session: SessionView,
						session_token: SessionToken,
						recovery_codes: z.array(z.string()).openapi({ example: ["7k2m-9qx4-hz3d"] }),
					}),
					"Signed up and signed in",
				),
				...errors(
					"invalid_request",
					"verification_failed",
					"challenge_expired",
					"csrf_failed",
					"email_taken",
					"credential_exists",
					"payload_too_large",
					"unsupported_media_type",
				),
			},
		}),
		async (c) => {
			const deps = signUpDeps(c);
			const { credential, name } = c.req.valid("json");
			const done = await completeSignUp(deps, credential, name);
			return c.json(
				deliverToken(c, deps.client, done.issued, {
					success: true as const,
					user: done.user,
					session: done.view,
					recovery_codes: done.recoveryCodes,
				}),
				201,
			);
		},
	);
