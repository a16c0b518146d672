import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import type { AppEnv } from "../http/context";
import { jsonBody, requireSession, sessionCreationOrigin } from "../http/middleware";
import { clearSessionCookie, deliverToken } from "../http/session-response";
import { clientKeyOf } from "../lib/client-address";
import {
	assertClientNotLimited,
	assertPasswordNotLocked,
	changePassword,
	logIn,
	reauthenticate,
	signUp,
} from "../services/accounts";
import { methodsOf, revokeSession, sessionView } from "../services/sessions";
import { serviceDeps } from "./deps";
import {
	Email,
	errors,
	GivenPassword,
	json,
	jsonRequest,
	NO_SESSION,
	Password,
	Revoked,
	SESSION,
	SessionResult,
	SessionToken,
	SessionView,
	Success,
	X_CLIENT,
} from "./schemas";
import { presentedDevice, settleDevice, withDeviceOffer } from "./trusted-device";
import { validationHook } from "./validation";

const Credentials = z
	.object({ email: Email, password: Password })
	.openapi("Credentials", { example: { email: "ada@example.com", password: "correct horse battery staple" } });
const LoginCredentials = z
	.object({ email: Email, password: GivenPassword })
	.openapi("LoginCredentials", { example: { email: "ada@example.com", password: "correct horse battery staple" } });

/** How long a full session lives, as API.md says it; in the descriptions of the routes that create one. */
export const FULL_SESSION_LIFETIME =
	"A full session expires after 30 days unused (each use extends it), and in any case at its absolute end, 90 days after it was created by default (`SESSION_MAX_AGE_DAYS`); a browser's cookie expires with it.";

/** A locked email answers 429 before its reauthentication body is read (API.md's order). */
function passwordGate(): MiddlewareHandler<AppEnv> {
	return async function passwordGate(c, next) {
		await assertPasswordNotLocked(serviceDeps(c), c.var.auth.session.email);
		await next();
	};
}

/** The per-client limits key on CF-Connecting-IP only: X-Forwarded-For is the client's to write. */
export function accountDeps(c: Context<AppEnv>) {
	return { ...serviceDeps(c), clientKey: clientKeyOf(c.req.header("cf-connecting-ip")) };
}

/** A limited client answers 429 before its sign-up or sign-in body is read (API.md's order). */
export function clientGate(
	scope: "client_signup" | "client_password",
	method: "password" | "webauthn" = "password",
): MiddlewareHandler<AppEnv> {
	return async function clientGate(c, next) {
		await assertClientNotLimited(accountDeps(c), scope, method);
		await next();
	};
}

// One chain, so that the type of the sub-app carries every route (hc<AppType>).
export const auth = new OpenAPIHono<AppEnv>({ defaultHook: validationHook, strict: false })
	.openapi(
		createRoute({
			method: "post",
			path: "/signup",
			tags: ["Accounts"],
			summary: "Create an account (full session)",
			description: `Emails are trimmed and compared without regard to case. ${FULL_SESSION_LIFETIME} At most 10 sign-ups (created or \`email_taken\`) per client address (CF-Connecting-IP) within an hour; then 429 with Retry-After.`,
			security: NO_SESSION,
			parameters: [X_CLIENT],
			middleware: [jsonBody(), sessionCreationOrigin(), clientGate("client_signup")] as const,
			request: jsonRequest(Credentials),
			responses: {
				201: json(
					z.object({
						success: z.literal(true),
						user: z.object({ id: z.string(), email: z.string() }),
						session: SessionView,
						session_token: SessionToken,
					}),
					"Signed up and signed in",
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
			const deps = accountDeps(c);
			const { user, issued } = await signUp(deps, c.req.valid("json"));
			// A user created this instant has no second factor to count.
			const session = sessionView(issued.session, []);
			return c.json(deliverToken(c, deps.client, issued, { success: true as const, user, session }), 201);
		},
	)
	.openapi(
		createRoute({
			method: "post",
			path: "/login",
			tags: ["Accounts"],
			summary: "Sign in with a password",
			description: `Partial session (it expires 10 minutes after creation) when the user has two-factor authentication, else full; full at once in a browser the user had remembered at a 2FA verify (\`remember_device\`, while \`TRUSTED_DEVICE_DAYS\` is set), its session then recording the password only (amr \`pwd\`). ${FULL_SESSION_LIFETIME} A wrong email and a wrong password get the same 400 \`invalid_credentials\`; 10 failures for one email, or 30 from one client address (CF-Connecting-IP) whatever the emails, within 15 minutes answer 429 with Retry-After.`,
			security: NO_SESSION,
			parameters: [X_CLIENT],
			middleware: [jsonBody(), sessionCreationOrigin(), clientGate("client_password")] as const,
			request: jsonRequest(LoginCredentials),
			responses: {
				200: json(SessionResult, "Signed in"),
				...errors(
					"invalid_request",
					"invalid_credentials",
					"csrf_failed",
					"payload_too_large",
					"unsupported_media_type",
					"too_many_attempts",
				),
			},
		}),
		async (c) => {
			const base = accountDeps(c);
			const device = presentedDevice(c, base.client);
			const deps = device ? { ...base, device } : base;
			const signedIn = await logIn(deps, c.req.valid("json"));
			settleDevice(c, signedIn.device);
			const { issued } = signedIn;
			const session = withDeviceOffer(c, deps.client, sessionView(issued.session, signedIn.methods));
			return c.json(deliverToken(c, deps.client, issued, { success: true as const, session }), 200);
		},
	)
	.openapi(
		createRoute({
			method: "post",
			path: "/logout",
			tags: ["Accounts"],
			summary: "Sign out: the token is revoked on the server",
			security: SESSION,
			middleware: [jsonBody({ optional: true }), requireSession({ level: "any" })] as const,
			responses: {
				200: json(Success, "Signed out"),
				...errors("not_authenticated", "csrf_failed", "payload_too_large", "unsupported_media_type"),
			},
		}),
		async (c) => {
			await revokeSession(c.env.USER_STATE, c.var.auth.session);
			clearSessionCookie(c);
			return c.json({ success: true as const }, 200);
		},
	)
	.openapi(
		createRoute({
			method: "get",
			path: "/session",
			tags: ["Accounts"],
			summary: "The current session",
			security: SESSION,
			middleware: [requireSession({ level: "any" })] as const,
			responses: { 200: json(SessionResult, "The session"), ...errors("not_authenticated", "csrf_failed") },
		}),
		async (c) => {
			const session = withDeviceOffer(
				c,
				c.var.auth.client,
				sessionView(c.var.auth.session, methodsOf(c.var.auth.counts)),
			);
			return c.json({ success: true as const, session }, 200);
		},
	)
	.openapi(
		createRoute({
			method: "post",
			path: "/reauthenticate",
			tags: ["Accounts"],
			summary: "Confirm the password to refresh recent authentication",
			description: "Routes marked *recent* need an authentication within the last 5 minutes.",
			security: SESSION,
			middleware: [jsonBody(), requireSession({ level: "full" }), passwordGate()] as const,
			request: jsonRequest(
				z.object({ password: GivenPassword }).openapi({ example: { password: "correct horse battery staple" } }),
			),
			responses: {
				200: json(SessionResult, "Authentication refreshed"),
				...errors(
					"second_factor_required",
					"invalid_request",
					"invalid_credentials",
					"not_authenticated",
					"csrf_failed",
					"mfa_required",
					"payload_too_large",
					"unsupported_media_type",
					"too_many_attempts",
				),
			},
		}),
		async (c) => {
			const deps = serviceDeps(c);
			const refreshed = await reauthenticate(deps, c.var.auth.session, c.req.valid("json").password);
			return c.json({ success: true as const, session: sessionView(refreshed, methodsOf(c.var.auth.counts)) }, 200);
		},
	)
	.openapi(
		createRoute({
			method: "post",
			path: "/password",
			tags: ["Accounts"],
			summary: "Set or change the password; every other session is signed out",
			description:
				"Needs a full session with a recent authentication (the current password is not asked again). 8 to 256 characters, as at sign-up. Every other session of the user, partial ones too, ends (`revoked` says how many); this one stays.",
			security: SESSION,
			middleware: [jsonBody(), requireSession({ level: "full", recent: true })] as const,
			request: jsonRequest(z.object({ password: Password }).openapi({ example: { password: "a new passphrase" } })),
			responses: {
				200: json(Revoked, "Password set; other sessions signed out"),
				...errors(
					"second_factor_required",
					"invalid_request",
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
			const revoked = await changePassword(serviceDeps(c), c.var.auth.session, c.req.valid("json").password);
			return c.json({ success: true as const, revoked }, 200);
		},
	);
