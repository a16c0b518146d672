import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../http/context";
import { jsonBody, requireSession } from "../http/middleware";
import { secondFactorGate } from "../http/rate-limit-gate";
import { deliverToken } from "../http/session-response";
import { requireKeySet } from "../lib/config";
import { recoveryCodeSummary, regenerateRecoveryCodes, verifyRecoveryCode } from "../services/recovery-code-use";
import { normalizeRecoveryCode } from "../services/recovery-codes";
import { methodsOf, sessionView } from "../services/sessions";
import { serviceDeps } from "./deps";
import { errors, json, jsonRequest, RememberDevice, SESSION, SessionToken, SessionView, X_CLIENT } from "./schemas";
import { rememberDevice, rememberWanted } from "./trusted-device";
import { validationHook } from "./validation";

/** Case, spaces and dashes are ignored; what is left must look like a code. */
const RecoveryCode = z
	.string()
	.max(64)
	.transform(normalizeRecoveryCode)
	.refine((code) => /^[0-9a-z]{12}$/.test(code), "must be a recovery code")
	.openapi({ example: "7k2m-9qx4-hz3d" });

// One chain, so that the type of the sub-app carries every route (hc<AppType>).
export const recoveryCodes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook, strict: false })
	.openapi(
		createRoute({
			method: "get",
			path: "/",
			tags: ["Recovery codes"],
			summary: "How many recovery codes are left",
			description: "404 when the user has no two-factor authentication.",
			security: SESSION,
			middleware: [requireSession({ level: "full" })] as const,
			responses: {
				200: json(
					z.object({
						success: z.literal(true),
						total: z.number().int(),
						unused: z.number().int(),
						created_at: z.string().nullable(),
					}),
					"Counts",
				),
				...errors("second_factor_required", "not_authenticated", "csrf_failed", "mfa_required", "not_found"),
			},
		}),
		async (c) => {
			const summary = await recoveryCodeSummary(c.env.USER_STATE, c.var.auth.session.userId);
			return c.json({ success: true as const, ...summary }, 200);
		},
	)
	.openapi(
		createRoute({
			method: "post",
			path: "/regenerate",
			tags: ["Recovery codes"],
			summary: "Replace all recovery codes (the old ones stop working)",
			security: SESSION,
			middleware: [jsonBody({ optional: true }), requireSession({ level: "full", recent: true })] as const,
			responses: {
				200: json(
					z
						.object({ success: z.literal(true), recovery_codes: z.array(z.string()) })
						.openapi({ example: { success: true, recovery_codes: ["7k2m-9qx4-hz3d", "p4rt-ws8n-c2ve"] } }),
					"New codes, shown once",
				),
				...errors(
					"second_factor_required",
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
			const deps = { ...serviceDeps(c), recoveryKeys: requireKeySet(c.env, "RECOVERY_CODE_HMAC_KEY") };
			const codes = await regenerateRecoveryCodes(deps, c.var.auth.session);
			return c.json({ success: true as const, recovery_codes: codes }, 200);
		},
	)
	.openapi(
		createRoute({
			method: "post",
			path: "/verify",
			tags: ["Recovery codes"],
			summary: "Pass the second factor with a recovery code (each works once)",
			description: "Case, spaces and dashes are ignored.",
			security: SESSION,
			parameters: [X_CLIENT],
			middleware: [jsonBody(), requireSession({ level: "2fa" }), secondFactorGate("recovery_code")] as const,
			request: jsonRequest(z.object({ code: RecoveryCode, remember_device: RememberDevice })),
			responses: {
				200: json(
					z.object({
						success: z.literal(true),
						session: SessionView,
						session_token: SessionToken,
						unused: z.number().int(),
					}),
					"Verified",
				),
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
				recoveryKeys: requireKeySet(c.env, "RECOVERY_CODE_HMAC_KEY"),
				rememberDevice: remember !== null,
			};
			const passed = await verifyRecoveryCode(deps, c.var.auth.session, body.code);
			await rememberDevice(c, remember, passed);
			const counts = { ...c.var.auth.counts, unusedRecoveryCodes: passed.unusedRecoveryCodes };
			const session = sessionView(passed.session, methodsOf(counts));
			return c.json(
				deliverToken(c, deps.client, passed, { success: true as const, session, unused: passed.unusedRecoveryCodes }),
				200,
			);
		},
	);
