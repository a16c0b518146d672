import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/context";
import { jsonBody, requireSession } from "../lib/middleware";
import { emitSecurityEvent } from "../services/security-events";
import { revokeOtherSessions } from "../services/sessions";
import { serviceDeps } from "./deps";
import { errors, json, Revoked, SESSION } from "./schemas";
import { validationHook } from "./validation";

// The user's own sessions (API.md, "Account security"). Listing them and
// ending one by id come later; signing out everywhere else is here now.

// One chain, so that the type of the sub-app carries every route (hc<AppType>).
export const sessions = new OpenAPIHono<AppEnv>({ defaultHook: validationHook, strict: false }).openapi(
	createRoute({
		method: "post",
		path: "/revoke-others",
		tags: ["Accounts"],
		summary: "Sign out every other session",
		description:
			"Ends every session of the user but this one, partial ones too (a password sign-in still waiting for its second factor). Needs a full session with a recent authentication. Also done by a password change.",
		security: SESSION,
		middleware: [jsonBody({ optional: true }), requireSession({ level: "full", recent: true })] as const,
		responses: {
			200: json(Revoked, "Other sessions signed out"),
			...errors(
				"not_authenticated",
				"reauthentication_required",
				"csrf_failed",
				"mfa_required",
				"payload_too_large",
				"unsupported_media_type",
			),
		},
	}),
	async (c) => {
		const revoked = await revokeOtherSessions(c.var.db, c.var.auth.session);
		// The user asked: recorded in their activity log even when no other session was live.
		emitSecurityEvent(serviceDeps(c), {
			type: "sessions.revoked",
			userId: c.var.auth.session.userId,
			data: { method: "others" },
		});
		return c.json({ success: true as const, revoked }, 200);
	},
);
