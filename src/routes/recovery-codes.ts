import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { requireSecret } from "../lib/config";
import type { AppEnv } from "../lib/context";
import { jsonBody, requireSession } from "../lib/middleware";
import { secondFactorGate } from "../lib/rate-limit-gate";
import { deliverToken } from "../lib/session-response";
import { recoveryCodeSummary, regenerateRecoveryCodes, verifyRecoveryCode } from "../services/recovery-code-use";
import { normalizeRecoveryCode } from "../services/recovery-codes";
import { viewSession } from "../services/sessions";
import { serviceDeps } from "./deps";
import { errors, json, jsonRequest, SessionView } from "./schemas";
import { validationHook } from "./validation";

export const recoveryCodes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook, strict: false });

/** Case, spaces and dashes are ignored; what is left must look like a code. */
const RecoveryCode = z
	.string()
	.max(64)
	.transform(normalizeRecoveryCode)
	.refine((code) => /^[0-9a-z]{12}$/.test(code), "must be a recovery code")
	.openapi({ example: "7k2m-9qx4-hz3d" });

recoveryCodes.openapi(
	createRoute({
		method: "get",
		path: "/",
		tags: ["Recovery codes"],
		summary: "How many recovery codes are left",
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
			...errors(401, 403, 404),
		},
	}),
	async (c) => {
		const summary = await recoveryCodeSummary(c.var.db, c.var.auth.session.userId);
		return c.json({ success: true as const, ...summary }, 200);
	},
);

recoveryCodes.openapi(
	createRoute({
		method: "post",
		path: "/regenerate",
		tags: ["Recovery codes"],
		summary: "Replace all recovery codes (the old ones stop working)",
		middleware: [jsonBody({ optional: true }), requireSession({ level: "full", recent: true })] as const,
		responses: {
			200: json(z.object({ success: z.literal(true), recovery_codes: z.array(z.string()) }), "New codes, shown once"),
			...errors(401, 403, 404),
		},
	}),
	async (c) => {
		const deps = { ...serviceDeps(c), recoveryKey: requireSecret(c.env, "RECOVERY_CODE_HMAC_KEY") };
		const codes = await regenerateRecoveryCodes(deps, c.var.auth.session.userId);
		return c.json({ success: true as const, recovery_codes: codes }, 200);
	},
);

recoveryCodes.openapi(
	createRoute({
		method: "post",
		path: "/verify",
		tags: ["Recovery codes"],
		summary: "Pass the second factor with a recovery code (each works once)",
		middleware: [jsonBody(), requireSession({ level: "2fa" }), secondFactorGate("recovery_code")] as const,
		request: jsonRequest(z.object({ code: RecoveryCode })),
		responses: {
			200: json(
				z.object({
					success: z.literal(true),
					session: SessionView,
					session_token: z.string().optional(),
					unused: z.number().int(),
				}),
				"Verified",
			),
			...errors(400, 401, 403, 413, 415, 429),
		},
	}),
	async (c) => {
		const deps = { ...serviceDeps(c), recoveryKey: requireSecret(c.env, "RECOVERY_CODE_HMAC_KEY") };
		const passed = await verifyRecoveryCode(deps, c.var.auth.session, c.req.valid("json").code);
		const session = await viewSession(deps.db, passed.session);
		const issued = passed.token ? { session: passed.session, token: passed.token } : null;
		return c.json(
			deliverToken(c, deps.client, issued, { success: true as const, session, unused: passed.result.unused }),
			200,
		);
	},
);
