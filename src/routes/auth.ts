import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../lib/context";
import { jsonBody, requireSession, sessionCreationOrigin } from "../lib/middleware";
import { clearSessionCookie, deliverToken } from "../lib/session-response";
import { assertPasswordNotLocked, logIn, reauthenticate, signUp } from "../services/accounts";
import { revokeSession, viewSession } from "../services/sessions";
import { serviceDeps } from "./deps";
import { Email, errors, json, jsonRequest, Password, SessionResult, SessionView, Success } from "./schemas";
import { validationHook } from "./validation";

export const auth = new OpenAPIHono<AppEnv>({ defaultHook: validationHook, strict: false });

const Credentials = z.object({ email: Email, password: Password }).openapi("Credentials");
const LoginCredentials = z.object({ email: Email, password: z.string().min(1).max(256) });

/** A locked email answers 429 before its reauthentication body is read (API.md's order). */
function passwordGate(): MiddlewareHandler<AppEnv> {
	return async function passwordGate(c, next) {
		await assertPasswordNotLocked(serviceDeps(c), c.var.auth.session.email);
		await next();
	};
}

const appHeader = {
	headers: z.object({
		"x-client": z.string().optional().openapi({ description: "`app`: the token comes in the body" }),
	}),
};

auth.openapi(
	createRoute({
		method: "post",
		path: "/signup",
		tags: ["Accounts"],
		summary: "Create an account (full session)",
		middleware: [jsonBody(), sessionCreationOrigin()] as const,
		request: jsonRequest(Credentials),
		responses: {
			201: json(
				z.object({
					success: z.literal(true),
					user: z.object({ id: z.string(), email: z.string() }),
					session: SessionView,
					session_token: z.string().optional(),
				}),
				"Signed up and signed in",
			),
			...errors(400, 403, 409, 413, 415),
		},
	}),
	async (c) => {
		const deps = serviceDeps(c);
		const { user, issued } = await signUp(deps, c.req.valid("json"));
		const session = await viewSession(deps.db, issued.session);
		return c.json(deliverToken(c, deps.client, issued, { success: true as const, user, session }), 201);
	},
);

auth.openapi(
	createRoute({
		method: "post",
		path: "/login",
		tags: ["Accounts"],
		summary: "Sign in with a password",
		description: "Partial session when the user has two-factor authentication, else full.",
		middleware: [jsonBody(), sessionCreationOrigin()] as const,
		request: { ...jsonRequest(LoginCredentials), ...appHeader },
		responses: { 200: json(SessionResult, "Signed in"), ...errors(400, 403, 413, 415, 429) },
	}),
	async (c) => {
		const deps = serviceDeps(c);
		const issued = await logIn(deps, c.req.valid("json"));
		const session = await viewSession(deps.db, issued.session);
		return c.json(deliverToken(c, deps.client, issued, { success: true as const, session }), 200);
	},
);

auth.openapi(
	createRoute({
		method: "post",
		path: "/logout",
		tags: ["Accounts"],
		summary: "Sign out: the token is revoked on the server",
		middleware: [jsonBody({ optional: true }), requireSession({ level: "2fa" })] as const,
		responses: { 200: json(Success, "Signed out"), ...errors(401, 403) },
	}),
	async (c) => {
		await revokeSession(c.var.db, c.var.auth.session);
		clearSessionCookie(c);
		return c.json({ success: true as const }, 200);
	},
);

auth.openapi(
	createRoute({
		method: "get",
		path: "/session",
		tags: ["Accounts"],
		summary: "The current session",
		middleware: [requireSession({ level: "2fa" })] as const,
		responses: { 200: json(SessionResult, "The session"), ...errors(401) },
	}),
	async (c) => {
		const session = await viewSession(c.var.db, c.var.auth.session);
		return c.json({ success: true as const, session }, 200);
	},
);

auth.openapi(
	createRoute({
		method: "post",
		path: "/reauthenticate",
		tags: ["Accounts"],
		summary: "Confirm the password to refresh recent authentication",
		middleware: [jsonBody(), requireSession({ level: "full" }), passwordGate()] as const,
		request: jsonRequest(z.object({ password: z.string().min(1).max(256) })),
		responses: { 200: json(SessionResult, "Authentication refreshed"), ...errors(400, 401, 403, 413, 415, 429) },
	}),
	async (c) => {
		const deps = serviceDeps(c);
		const refreshed = await reauthenticate(deps, c.var.auth.session, c.req.valid("json").password);
		return c.json({ success: true as const, session: await viewSession(deps.db, refreshed) }, 200);
	},
);
