import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../http/context";
import { deferSession, jsonBody, requireSession } from "../http/middleware";
import { deliverToken } from "../http/session-response";
import { requireKeySet } from "../lib/config";
import { ApiError } from "../lib/errors";
import { listUserPasskeys, removeAuthenticator, renameUserPasskey } from "../services/passkey-management";
import { completeRegistration, createRegistrationOptions } from "../services/passkey-registration";
import { createAuthenticationOptions, verifyPasskeySecondFactor } from "../services/passkey-verification";
import { methodsOf, sessionView, type UserPasskeys } from "../services/sessions";
import { serviceDeps } from "./deps";
import {
	AuthenticationResponse,
	errors,
	json,
	jsonRequest,
	Passkey,
	PasskeyName,
	RegistrationResponse,
	RememberDevice,
	SESSION,
	SETUP_COMPLETED,
	SessionResult,
	SetupCompleted,
	Success,
	X_CLIENT,
} from "./schemas";
import { rememberDevice, rememberWanted } from "./trusted-device";
import { validationHook } from "./validation";

const full = requireSession({ level: "full" });
const fullRecent = requireSession({ level: "full", recent: true });
// The routes whose first need is the user's passkeys read them with the session (one round trip).
const fullWithPasskeys = requireSession({ level: "full", withPasskeys: true });
// Registration also serves a setup_required session (REQUIRE_SECOND_FACTOR): adding a passkey is what it is for.
// The ceremonies whose session check runs in their one call of the user's object.
const setupRecentCeremony = deferSession({ level: "setup", recent: true });
const twoFactorCeremony = deferSession({ level: "2fa" });
const twoFactorVerify = deferSession({ level: "2fa" }, { gate: "webauthn" });

/** What a `…WithPasskeys` session check read; its absence is a wiring mistake, not a client's. */
function userPasskeys(c: Context<AppEnv>): UserPasskeys {
	const found = c.var.auth.userPasskeys;
	if (!found) throw new Error("route needs a session check with withPasskeys");
	return found;
}
// Any id is accepted here: one that cannot exist is a 404 like any unknown id, not a 400 (the service decides).
const PasskeyId = z.object({
	id: z.string().openapi({ param: { name: "id", in: "path" } }),
});
const Options = z.record(z.string(), z.unknown()).openapi("WebAuthnOptionsJSON");

// One chain, so that the type of the sub-app carries every route (hc<AppType>).
export const webauthn = new OpenAPIHono<AppEnv>({ defaultHook: validationHook, strict: false })
	.openapi(
		createRoute({
			method: "get",
			path: "/register/options",
			tags: ["Passkeys"],
			summary: "Options to register a passkey",
			description:
				"`excludeCredentials` holds the user's passkeys. `passwordless=true` asks for a discoverable credential with user verification required; the default is a second factor. `conditional=true` is the automatic upgrade after a password sign-in (the browser's `mediation: \"conditional\"` create): a discoverable credential whose response may lack user presence, only for a session that checked a password within the last 5 minutes (else 401 `reauthentication_required`); it signs in alone if the authenticator verified the user. A cookie request marked `Sec-Fetch-Site: cross-site` is refused with 403 `csrf_failed` and changes nothing.",
			security: SESSION,
			middleware: [setupRecentCeremony] as const,
			request: {
				query: z.object({
					passwordless: z
						.enum(["true", "false"])
						.optional()
						.openapi({ description: "A passkey for passwordless sign-in (default false)", example: "true" }),
					conditional: z.enum(["true", "false"]).optional().openapi({
						description:
							"The automatic upgrade right after a password sign-in (conditional create; default false). Not with passwordless=true.",
						example: "true",
					}),
				}),
			},
			responses: {
				200: json(
					z.object({ success: z.literal(true), creation_options: Options }),
					"PublicKeyCredentialCreationOptionsJSON",
				),
				...errors("invalid_request", "not_authenticated", "csrf_failed", "reauthentication_required", "mfa_required"),
			},
		}),
		async (c) => {
			const query = c.req.valid("query");
			if (query.passwordless === "true" && query.conditional === "true") {
				throw new ApiError("invalid_request", { fields: { conditional: "is not combined with passwordless" } });
			}
			const kind =
				query.conditional === "true" ? "conditional" : query.passwordless === "true" ? "passwordless" : "second_factor";
			const options = await createRegistrationOptions(serviceDeps(c), c.var.deferred, kind);
			return c.json({ success: true as const, creation_options: options }, 200);
		},
	)
	.openapi(
		createRoute({
			method: "post",
			path: "/register/complete",
			tags: ["Passkeys"],
			summary: "Verify and store a new passkey",
			description: `The first authenticator of a user brings ten recovery codes, returned once. ${SETUP_COMPLETED} Without a \`name\`, the passkey is named after its authenticator model, else \`Passkey\`. The credential public key must be a real key of a kind offered: ES256 on P-256, EdDSA on Ed25519 (no small-order point) or RS256 of at least 2048 bits with e = 65537, with no other COSE member; an ES256 signature must be canonical DER; the challenge must be spelled as issued; \`crossOrigin\` must be absent or \`false\` and \`topOrigin\` absent. Anything else is 400 \`verification_failed\`.`,
			security: SESSION,
			parameters: [X_CLIENT],
			middleware: [jsonBody(), setupRecentCeremony] as const,
			request: jsonRequest(z.object({ credential: RegistrationResponse, name: PasskeyName.optional() })),
			responses: {
				201: json(
					z.object({
						success: z.literal(true),
						passkey: Passkey,
						recovery_codes: z
							.array(z.string())
							.optional()
							.openapi({ example: ["7k2m-9qx4-hz3d"] }),
						...SetupCompleted,
					}),
					"Registered",
				),
				...errors(
					"invalid_request",
					"verification_failed",
					"challenge_expired",
					"not_authenticated",
					"reauthentication_required",
					"csrf_failed",
					"mfa_required",
					"credential_exists",
					"payload_too_large",
					"unsupported_media_type",
				),
			},
		}),
		async (c) => {
			const { credential, name } = c.req.valid("json");
			const deps = { ...serviceDeps(c), recoveryKeys: requireKeySet(c.env, "RECOVERY_CODE_HMAC_KEY") };
			const done = await completeRegistration(deps, c.var.deferred, credential, name);
			const body = {
				success: true as const,
				passkey: done.passkey,
				...(done.recoveryCodes ? { recovery_codes: done.recoveryCodes } : {}),
				...(done.upgraded ? { session: sessionView(done.upgraded.session, done.upgraded.methods) } : {}),
			};
			return c.json(deliverToken(c, deps.client, done.upgraded, body), 201);
		},
	)
	.openapi(
		createRoute({
			method: "get",
			path: "/authenticate/options",
			tags: ["Passkeys"],
			summary: "Options for the passkey second factor",
			description:
				"`allowCredentials` holds the user's passkeys; 400 when the user has none. The challenge replaces the session's pending one, so a cookie request marked `Sec-Fetch-Site: cross-site` (a link on another site) is refused with 403 `csrf_failed` and changes nothing.",
			security: SESSION,
			middleware: [twoFactorCeremony] as const,
			responses: {
				200: json(
					z.object({ success: z.literal(true), request_options: Options }),
					"PublicKeyCredentialRequestOptionsJSON",
				),
				...errors("second_factor_required", "invalid_request", "not_authenticated", "csrf_failed"),
			},
		}),
		async (c) => {
			const options = await createAuthenticationOptions(serviceDeps(c), c.var.deferred);
			return c.json({ success: true as const, request_options: options }, 200);
		},
	)
	.openapi(
		createRoute({
			method: "post",
			path: "/verify",
			tags: ["Passkeys"],
			summary: "Pass the second factor with a passkey",
			description: "On a partial session the token is replaced; on a full one it refreshes recent authentication.",
			security: SESSION,
			parameters: [X_CLIENT],
			middleware: [jsonBody(), twoFactorVerify] as const,
			request: jsonRequest(z.object({ credential: AuthenticationResponse, remember_device: RememberDevice })),
			responses: {
				200: json(SessionResult, "Verified"),
				...errors(
					"second_factor_required",
					"invalid_request",
					"verification_failed",
					"challenge_expired",
					"not_authenticated",
					"csrf_failed",
					"payload_too_large",
					"unsupported_media_type",
					"too_many_attempts",
				),
			},
		}),
		async (c) => {
			const body = c.req.valid("json");
			const remember = rememberWanted(c, body.remember_device);
			const deps = { ...serviceDeps(c), rememberDevice: remember !== null };
			const passed = await verifyPasskeySecondFactor(deps, c.var.deferred, body.credential);
			await rememberDevice(c, remember, passed);
			const session = sessionView(passed.session, methodsOf(passed.counts));
			return c.json(deliverToken(c, deps.client, passed, { success: true as const, session }), 200);
		},
	)
	.openapi(
		createRoute({
			method: "get",
			path: "/",
			tags: ["Passkeys"],
			summary: "The user's passkeys, newest first",
			security: SESSION,
			middleware: [fullWithPasskeys] as const,
			responses: {
				200: json(
					z.object({
						success: z.literal(true),
						passkeys: z.array(Passkey),
						webauthn_user_id: z
							.string()
							.openapi({ description: "The WebAuthn user handle (base64url), for the WebAuthn Signal API" }),
					}),
					"Passkeys",
				),
				...errors("second_factor_required", "not_authenticated", "csrf_failed", "mfa_required"),
			},
		}),
		async (c) => {
			const { passkeys, webauthnUserId } = listUserPasskeys(userPasskeys(c));
			return c.json({ success: true as const, passkeys, webauthn_user_id: webauthnUserId }, 200);
		},
	)
	.openapi(
		createRoute({
			method: "patch",
			path: "/{id}",
			tags: ["Passkeys"],
			summary: "Rename a passkey",
			description: "Names are trimmed, then must be 1 to 64 Unicode code points; they are stored as given.",
			security: SESSION,
			middleware: [jsonBody(), full] as const,
			request: {
				params: PasskeyId,
				...jsonRequest(z.object({ name: PasskeyName }).openapi({ example: { name: "iPhone 15" } })),
			},
			responses: {
				200: json(z.object({ success: z.literal(true), passkey: Passkey }), "Renamed"),
				...errors(
					"second_factor_required",
					"invalid_request",
					"not_authenticated",
					"csrf_failed",
					"mfa_required",
					"not_found",
					"payload_too_large",
					"unsupported_media_type",
				),
			},
		}),
		async (c) => {
			const passkey = await renameUserPasskey(
				serviceDeps(c),
				c.var.auth.session.userId,
				c.req.valid("param").id,
				c.req.valid("json").name,
			);
			return c.json({ success: true as const, passkey }, 200);
		},
	)
	.openapi(
		createRoute({
			method: "delete",
			path: "/{id}",
			tags: ["Passkeys"],
			summary: "Delete a passkey (never the last second factor)",
			description: "400 `last_authenticator` when it is the user's last passkey or TOTP.",
			security: SESSION,
			middleware: [jsonBody({ optional: true }), fullRecent] as const,
			request: { params: PasskeyId },
			responses: {
				200: json(Success, "Deleted"),
				...errors(
					"second_factor_required",
					"invalid_request",
					"last_authenticator",
					"not_authenticated",
					"reauthentication_required",
					"csrf_failed",
					"mfa_required",
					"not_found",
					"payload_too_large",
					"unsupported_media_type",
				),
			},
		}),
		async (c) => {
			await removeAuthenticator(serviceDeps(c), c.var.auth.session, {
				kind: "webauthn",
				id: c.req.valid("param").id,
			});
			return c.json({ success: true as const }, 200);
		},
	);
