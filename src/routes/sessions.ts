import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../http/context";
import { jsonBody, requireSession } from "../http/middleware";
import { clearSessionCookie } from "../http/session-response";
import { emitSecurityEvent } from "../services/security-events";
import { listSessions, revokeOtherSessions, revokeSessionByPublicId } from "../services/sessions";
import { serviceDeps } from "./deps";
import { errors, json, Revoked, SESSION, SessionList, Success } from "./schemas";
import { validationHook } from "./validation";

// The user's own sessions (API.md, "Account security"): the list, ending one
// by its public id, and signing out everywhere else.

// Any id is accepted here: one that cannot exist is a 404 like any unknown id, not a 400 (the service decides).
const SessionId = z.object({
	id: z.string().openapi({ param: { name: "id", in: "path" }, example: "3f0c2a9be1d84c7a9a51f6b0c2d3e4f5" }),
});

// One chain, so that the type of the sub-app carries every route (hc<AppType>).
export const sessions = new OpenAPIHono<AppEnv>({ defaultHook: validationHook, strict: false })
	.openapi(
		createRoute({
			method: "get",
			path: "/",
			tags: ["Accounts"],
			summary: "The user's sessions",
			description:
				"Every live session of the user, partial ones too (a password sign-in waiting for its second factor), newest first; `current` marks the one this request was made with. No token, no token hash, no address: a public id, the client kind, a coarse device (browser and OS from the User-Agent), the country when Cloudflare knew it, when it was created and last used (to within an hour), and how it was authenticated (RFC 8176 `amr`).",
			security: SESSION,
			middleware: [requireSession({ level: "full" })] as const,
			responses: {
				200: json(SessionList, "The sessions, newest first"),
				...errors("second_factor_required", "not_authenticated", "csrf_failed", "mfa_required"),
			},
		}),
		async (c) => {
			const list = await listSessions(c.env.USER_STATE, c.var.auth.session, c.var.config.sessionMaxAge);
			return c.json({ success: true as const, sessions: list }, 200);
		},
	)
	.openapi(
		createRoute({
			method: "delete",
			path: "/{id}",
			tags: ["Accounts"],
			summary: "Sign out one session",
			description:
				"Ends one of the user's sessions by the `id` of the list. Needs a full session with a recent authentication. An id that is not one of the user's live sessions (another user's, an ended one, one that cannot exist) is 404 `not_found` and changes nothing. The current session's own id signs it out, as logout does (a browser's cookie is cleared).",
			security: SESSION,
			middleware: [jsonBody({ optional: true }), requireSession({ level: "full", recent: true })] as const,
			request: { params: SessionId },
			responses: {
				200: json(Success, "Signed out"),
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
			const { current } = await revokeSessionByPublicId(
				c.env.USER_STATE,
				c.var.auth.session,
				c.req.valid("param").id,
				c.var.config.sessionMaxAge,
			);
			if (current && c.var.auth.client === "browser") clearSessionCookie(c);
			// Signing out this very session is a logout, which the log leaves out; another one is recorded.
			if (!current) {
				emitSecurityEvent(serviceDeps(c), {
					type: "sessions.revoked",
					userId: c.var.auth.session.userId,
					data: { method: "one" },
				});
			}
			return c.json({ success: true as const }, 200);
		},
	)
	.openapi(
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
					"second_factor_required",
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
			const revoked = await revokeOtherSessions(c.env.USER_STATE, c.var.auth.session);
			// The user asked: recorded in their activity log even when no other session was live.
			emitSecurityEvent(serviceDeps(c), {
				type: "sessions.revoked",
				userId: c.var.auth.session.userId,
				data: { method: "others" },
			});
			return c.json({ success: true as const, revoked }, 200);
		},
	);
