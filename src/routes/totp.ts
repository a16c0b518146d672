import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { requireSecret } from "../lib/config";
import type { AppEnv } from "../lib/context";
import { jsonBody, requireSession } from "../lib/middleware";
import { secondFactorGate } from "../lib/rate-limit-gate";
import { deliverToken } from "../lib/session-response";
import { removeAuthenticator } from "../services/passkey-management";
import { viewSession } from "../services/sessions";
import { activateTotp, startTotpSetup, totpStatus, verifyTotpSecondFactor, viewTotpStatus } from "../services/totp";
import { serviceDeps } from "./deps";
import { errors, json, jsonRequest, SessionResult, Success } from "./schemas";
import { validationHook } from "./validation";

export const totp = new OpenAPIHono<AppEnv>({ defaultHook: validationHook, strict: false });

/** Six digits; spaces that apps show in the middle ("123 456") are ignored. */
const TotpCode = z
	.string()
	.max(32)
	.transform((code) => code.replace(/\s+/g, ""))
	.refine((code) => /^\d{6}$/.test(code), "must be 6 digits")
	.openapi({ example: "123456" });

totp.openapi(
	createRoute({
		method: "get",
		path: "/",
		tags: ["Authenticator app"],
		summary: "Whether an authenticator app is set up",
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
			...errors(401, 403),
		},
	}),
	async (c) => {
		const status = await totpStatus(c.var.db, c.var.auth.session.userId);
		return c.json({ success: true as const, ...viewTotpStatus(status) }, 200);
	},
);

totp.openapi(
	createRoute({
		method: "post",
		path: "/setup",
		tags: ["Authenticator app"],
		summary: "Start setting up an authenticator app",
		description: "A new secret (160 bits), its otpauth:// URI and a QR code of it as SVG; kept pending 10 minutes.",
		middleware: [jsonBody({ optional: true }), requireSession({ level: "full", recent: true })] as const,
		responses: {
			200: json(
				z.object({ success: z.literal(true), secret: z.string(), otpauth_uri: z.string(), qr_svg: z.string() }),
				"Pending set-up",
			),
			...errors(401, 403, 409),
		},
	}),
	async (c) => {
		const deps = { ...serviceDeps(c), encryptionKey: requireSecret(c.env, "TOTP_ENCRYPTION_KEY") };
		const setup = await startTotpSetup(deps, c.var.auth.session);
		return c.json(
			{ success: true as const, secret: setup.secret, otpauth_uri: setup.otpauthUri, qr_svg: setup.qrSvg },
			200,
		);
	},
);

totp.openapi(
	createRoute({
		method: "post",
		path: "/activate",
		tags: ["Authenticator app"],
		summary: "Activate the pending authenticator app with a code from it",
		middleware: [jsonBody(), requireSession({ level: "full", recent: true })] as const,
		request: jsonRequest(z.object({ code: TotpCode })),
		responses: {
			201: json(z.object({ success: z.literal(true), recovery_codes: z.array(z.string()).optional() }), "Activated"),
			...errors(400, 401, 403, 409, 413, 415),
		},
	}),
	async (c) => {
		const deps = { ...serviceDeps(c), encryptionKey: requireSecret(c.env, "TOTP_ENCRYPTION_KEY") };
		const { recoveryCodes } = await activateTotp(deps, c.var.auth.session, c.req.valid("json").code);
		return c.json({ success: true as const, ...(recoveryCodes ? { recovery_codes: recoveryCodes } : {}) }, 201);
	},
);

totp.openapi(
	createRoute({
		method: "post",
		path: "/verify",
		tags: ["Authenticator app"],
		summary: "Pass the second factor with an authenticator-app code",
		middleware: [jsonBody(), requireSession({ level: "2fa" }), secondFactorGate("totp")] as const,
		request: jsonRequest(z.object({ code: TotpCode })),
		responses: { 200: json(SessionResult, "Verified"), ...errors(400, 401, 403, 413, 415, 429) },
	}),
	async (c) => {
		const deps = { ...serviceDeps(c), encryptionKey: requireSecret(c.env, "TOTP_ENCRYPTION_KEY") };
		const passed = await verifyTotpSecondFactor(deps, c.var.auth.session, c.req.valid("json").code);
		const session = await viewSession(deps.db, passed.session);
		const issued = passed.token ? { session: passed.session, token: passed.token } : null;
		return c.json(deliverToken(c, deps.client, issued, { success: true as const, session }), 200);
	},
);

totp.openapi(
	createRoute({
		method: "delete",
		path: "/",
		tags: ["Authenticator app"],
		summary: "Remove the authenticator app (never the last second factor)",
		middleware: [jsonBody({ optional: true }), requireSession({ level: "full", recent: true })] as const,
		responses: { 200: json(Success, "Removed"), ...errors(400, 401, 403, 404) },
	}),
	async (c) => {
		await removeAuthenticator(serviceDeps(c), c.var.auth.session.userId, { kind: "totp" });
		return c.json({ success: true as const }, 200);
	},
);
