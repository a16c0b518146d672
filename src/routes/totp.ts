import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../http/context";
import { jsonBody, requireSession } from "../http/middleware";
import { secondFactorGate } from "../http/rate-limit-gate";
import { deliverToken } from "../http/session-response";
import { requireKeySet } from "../lib/config";
import { removeAuthenticator } from "../services/passkey-management";
import { methodsOf, sessionView, viewSession } from "../services/sessions";
import { activateTotp, startTotpSetup, totpStatus, verifyTotpSecondFactor, viewTotpStatus } from "../services/totp";
import { serviceDeps } from "./deps";
import {
	errors,
	json,
	jsonRequest,
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

/** Six digits; spaces that apps show in the middle ("123 456") are ignored. */
const TotpCode = z
	.string()
	.max(32)
	.transform((code) => code.replace(/\s+/g, ""))
	.refine((code) => /^\d{6}$/.test(code), "must be 6 digits")
	.openapi({ example: "123456" });

// One chain, so that the type of the sub-app carries every route (hc<AppType>).
export const totp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook, strict: false })
	.openapi(
		createRoute({
			method: "get",
			path: "/",
			tags: ["Authenticator app"],
			summary: "Whether an authenticator app is set up",
			security: SESSION,
			middleware: [requireSession({ level: "full" })] as const,
			responses: {
				200: json(
					z.object({
						success: z.literal(true),
						enabled: z.boolean(),
						created_at: z.string().optional(),
						last_used_at: z.string().optional(),
					}),
					"Status",
				),
				...errors("second_factor_required", "not_authenticated", "csrf_failed", "mfa_required"),
			},
		}),
		async (c) => {
			const status = await totpStatus(c.env.USER_STATE, c.var.auth.session.userId);
			return c.json({ success: true as const, ...viewTotpStatus(status) }, 200);
		},
	)
	.openapi(
		createRoute({
			method: "post",
			path: "/setup",
			tags: ["Authenticator app"],
			summary: "Start setting up an authenticator app",
			description:
				"A new secret (160 bits; SHA-1, 6 digits, 30 s), its otpauth:// URI and a QR code of it as SVG; kept pending 10 minutes.",
			security: SESSION,
			middleware: [jsonBody({ optional: true }), requireSession({ level: "setup", recent: true })] as const,
			responses: {
				200: json(
					z
						.object({ success: z.literal(true), secret: z.string(), otpauth_uri: z.string(), qr_svg: z.string() })
						.openapi({
							example: {
								success: true,
								secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
								otpauth_uri:
									"otpauth://totp/passkey-edge:ada%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=passkey-edge&algorithm=SHA1&digits=6&period=30",
								qr_svg: "<svg …>",
							},
						}),
					"Pending set-up",
				),
				...errors(
					"not_authenticated",
					"reauthentication_required",
					"csrf_failed",
					"mfa_required",
					"already_enabled",
					"payload_too_large",
					"unsupported_media_type",
				),
			},
		}),
		async (c) => {
			const deps = { ...serviceDeps(c), encryptionKeys: requireKeySet(c.env, "TOTP_ENCRYPTION_KEY") };
			const setup = await startTotpSetup(deps, c.var.auth.session);
			return c.json(
				{ success: true as const, secret: setup.secret, otpauth_uri: setup.otpauthUri, qr_svg: setup.qrSvg },
				200,
			);
		},
	)
	.openapi(
		createRoute({
			method: "post",
			path: "/activate",
			tags: ["Authenticator app"],
			summary: "Activate the pending authenticator app with a code from it",
			description: `The first authenticator of a user brings ten recovery codes, returned once. ${SETUP_COMPLETED}`,
			security: SESSION,
			parameters: [X_CLIENT],
			middleware: [jsonBody(), requireSession({ level: "setup", recent: true })] as const,
			request: jsonRequest(z.object({ code: TotpCode })),
			responses: {
				201: json(
					z.object({ success: z.literal(true), recovery_codes: z.array(z.string()).optional(), ...SetupCompleted }),
					"Activated",
				),
				...errors(
					"invalid_request",
					"invalid_code",
					"challenge_expired",
					"not_authenticated",
					"reauthentication_required",
					"csrf_failed",
					"mfa_required",
					"already_enabled",
					"payload_too_large",
					"unsupported_media_type",
				),
			},
		}),
		async (c) => {
			const deps = {
				...serviceDeps(c),
				encryptionKeys: requireKeySet(c.env, "TOTP_ENCRYPTION_KEY"),
				recoveryKeys: requireKeySet(c.env, "RECOVERY_CODE_HMAC_KEY"),
			};
			const { recoveryCodes, upgraded } = await activateTotp(deps, c.var.auth.session, c.req.valid("json").code);
			const body = {
				success: true as const,
				...(recoveryCodes ? { recovery_codes: recoveryCodes } : {}),
				...(upgraded ? { session: await viewSession(deps.userState, upgraded.session) } : {}),
			};
			return c.json(deliverToken(c, deps.client, upgraded, body), 201);
		},
	)
	.openapi(
		createRoute({
			method: "post",
			path: "/verify",
			tags: ["Authenticator app"],
			summary: "Pass the second factor with an authenticator-app code",
			description: "A code is accepted once. On a partial session the token is replaced.",
			security: SESSION,
			parameters: [X_CLIENT],
			middleware: [jsonBody(), requireSession({ level: "2fa", withTotp: true }), secondFactorGate("totp")] as const,
			request: jsonRequest(z.object({ code: TotpCode, remember_device: RememberDevice })),
			responses: {
				200: json(SessionResult, "Verified"),
				...errors(
					"second_factor_required",
					"invalid_request",
					"invalid_code",
					"verification_failed",
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
			const deps = {
				...serviceDeps(c),
				encryptionKeys: requireKeySet(c.env, "TOTP_ENCRYPTION_KEY"),
				rememberDevice: remember !== null,
			};
			const passed = await verifyTotpSecondFactor(deps, c.var.auth.session, body.code, c.var.auth.totp ?? null);
			await rememberDevice(c, remember, passed);
			const session = sessionView(passed.session, methodsOf(c.var.auth.counts));
			return c.json(deliverToken(c, deps.client, passed, { success: true as const, session }), 200);
		},
	)
	.openapi(
		createRoute({
			method: "delete",
			path: "/",
			tags: ["Authenticator app"],
			summary: "Remove the authenticator app (never the last second factor)",
			description: "400 `last_authenticator` when it is the user's last passkey or TOTP; 404 without TOTP.",
			security: SESSION,
			middleware: [jsonBody({ optional: true }), requireSession({ level: "full", recent: true })] as const,
			responses: {
				200: json(Success, "Removed"),
				...errors(
					"second_factor_required",
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
			await removeAuthenticator(serviceDeps(c), c.var.auth.session, { kind: "totp" });
			return c.json({ success: true as const }, 200);
		},
	);
