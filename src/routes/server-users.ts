import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../http/context";
import { jsonBody } from "../http/middleware";
import {
	createServerSession,
	deleteServerUser,
	describeServerUser,
	putServerUser,
	resetServerUserSecondFactors,
	revokeServerSessions,
} from "../services/server-users";
import { serviceDeps } from "./deps";
import { Email, errors, json, jsonRequest, Passkey, Revoked, SessionView, Success } from "./schemas";
import { requireServerKey } from "./server-auth";
import { validationHook } from "./validation";

// The server API (API.md, "Server API"): for the app's backend only, with a
// server key (server-auth.ts); no cookie, no CORS (lib/cors.ts leaves these
// paths out). The user is named by the app's own id.

const SERVER: Record<string, string[]>[] = [{ server: [] }];

/**
 * The app's own id for a user: 1 to 128 letters, marks, digits, punctuation
 * or symbols (no spaces, no control characters), compared exactly as sent.
 * In a path, percent-encode what a path segment cannot hold ("/" as %2F).
 */
export const ExternalId = z
	.string()
	.regex(/^[\p{L}\p{M}\p{N}\p{P}\p{S}]{1,128}$/u, "1 to 128 printable characters, no spaces")
	.openapi({
		param: { name: "external_id", in: "path" },
		description:
			"The app's own id for the user: 1 to 128 printable characters (letters, digits, punctuation, symbols; no spaces), compared exactly. Percent-encode `/`.",
		example: "42",
	});

const Params = z.object({ external_id: ExternalId });

const DisplayName = z
	.string()
	.trim()
	.min(1)
	.max(128)
	.nullable()
	.openapi({ description: "A name to show for the user; null clears it", example: "Ada Lovelace" });

const ServerUser = z
	.object({
		id: z.string().openapi({ description: "Our id for the user" }),
		external_id: z.string(),
		email: z.string(),
		display_name: z.string().nullable(),
		created_at: z.string(),
	})
	.openapi("ServerUser", {
		example: {
			id: "Ns8cbA6tFbO_vEXA7D8Kzw",
			external_id: "42",
			email: "ada@example.com",
			display_name: "Ada Lovelace",
			created_at: "2026-11-25T08:00:00.000Z",
		},
	});

const ServerUserResult = z.object({ success: z.literal(true), user: ServerUser }).openapi("ServerUserResult");

const ServerUserDetails = z
	.object({
		success: z.literal(true),
		user: ServerUser,
		passkeys: z.array(Passkey),
		totp: z.boolean().openapi({ description: "Whether an authenticator app (TOTP) is set up" }),
		recovery_codes_left: z.number().int().nonnegative(),
		sessions: z.number().int().nonnegative().openapi({ description: "How many sessions are live now" }),
		last_sign_in_at: z
			.string()
			.nullable()
			.openapi({ description: "When the newest live full session began; null when none is live" }),
	})
	.openapi("ServerUserDetails");

const ServerSessionRequest = z
	.object({
		level: z.enum(["partial", "full"]).openapi({
			description:
				"`partial`: the app checked its own primary factor and the user completes a second factor here if they have one (a user with none gets `full`, as a password sign-in does). `full`: the app vouches for the whole sign-in.",
		}),
		amr: z
			.array(z.enum(["pwd", "otp"]))
			.min(1)
			.max(2)
			.refine((methods) => new Set(methods).size === methods.length, "lists a method twice")
			.openapi({
				description:
					"How the app authenticated the user (RFC 8176): its own password (`pwd`), its own one-time code (`otp`)",
				example: ["pwd"],
			}),
	})
	.openapi("ServerSessionRequest");

const ServerSessionResult = z
	.object({
		success: z.literal(true),
		session: SessionView,
		session_token: z.string().openapi({
			description: "For the app's front end to send as `Authorization: Bearer …` to the user routes",
		}),
	})
	.openapi("ServerSessionResult");

const KEY_ERRORS = ["invalid_server_key", "too_many_attempts"] as const;

const tags = ["Server API"];

// One chain, so that the type of the sub-app carries every route (hc<AppType>).
export const serverUsers = new OpenAPIHono<AppEnv>({ defaultHook: validationHook, strict: false })
	.openapi(
		createRoute({
			method: "put",
			path: "/users/{external_id}",
			tags,
			summary: "Create or update a user known by the app's id",
			description:
				"Creates the user (201; `email` is required then) or updates the fields sent (200). Such a user has no password here: the app checks its own. An email another user has answers 409 `email_taken`.",
			security: SERVER,
			middleware: [jsonBody(), requireServerKey()] as const,
			request: {
				params: Params,
				...jsonRequest(z.object({ email: Email.optional(), display_name: DisplayName.optional() })),
			},
			responses: {
				200: json(ServerUserResult, "Updated"),
				201: json(ServerUserResult, "Created"),
				...errors("invalid_request", "email_taken", "payload_too_large", "unsupported_media_type", ...KEY_ERRORS),
			},
		}),
		async (c) => {
			const { external_id } = c.req.valid("param");
			const body = c.req.valid("json");
			const { created, user } = await putServerUser(serviceDeps(c), external_id, body);
			return created ? c.json({ success: true as const, user }, 201) : c.json({ success: true as const, user }, 200);
		},
	)
	.openapi(
		createRoute({
			method: "get",
			path: "/users/{external_id}",
			tags,
			summary: "What support staff need to know about a user",
			description:
				"The user, their passkeys, whether TOTP is on, the recovery codes left, how many sessions are live and the newest sign-in among them. Nothing secret.",
			security: SERVER,
			middleware: [requireServerKey()] as const,
			request: { params: Params },
			responses: {
				200: json(ServerUserDetails, "The user"),
				...errors("invalid_request", "not_found", ...KEY_ERRORS),
			},
		}),
		async (c) => {
			const { external_id } = c.req.valid("param");
			const details = await describeServerUser(serviceDeps(c), external_id);
			return c.json({ success: true as const, ...details }, 200);
		},
	)
	.openapi(
		createRoute({
			method: "delete",
			path: "/users/{external_id}",
			tags,
			summary: "Delete a user and everything they own",
			description:
				"Account deletion: the user, their sessions, passkeys, TOTP and recovery codes. Deleting a user who does not exist is 200 too, so a retry is safe.",
			security: SERVER,
			middleware: [jsonBody({ optional: true }), requireServerKey()] as const,
			request: { params: Params },
			responses: {
				200: json(Success, "Deleted (or never there)"),
				...errors("invalid_request", "payload_too_large", "unsupported_media_type", ...KEY_ERRORS),
			},
		}),
		async (c) => {
			const { external_id } = c.req.valid("param");
			await deleteServerUser(serviceDeps(c), external_id);
			return c.json({ success: true as const }, 200);
		},
	)
	.openapi(
		createRoute({
			method: "post",
			path: "/users/{external_id}/sessions",
			tags,
			summary: "A session for a user the app has authenticated",
			description:
				"For the app's front end: a `partial` session completes the user's second factor with the ordinary routes (passkey, TOTP, recovery code); a `full` one registers passkeys and asks for access tokens, whose `sub` is the app's id (`sub_type: external_id`).",
			security: SERVER,
			middleware: [jsonBody(), requireServerKey()] as const,
			request: { params: Params, ...jsonRequest(ServerSessionRequest) },
			responses: {
				201: json(ServerSessionResult, "The session and its token"),
				...errors("invalid_request", "not_found", "payload_too_large", "unsupported_media_type", ...KEY_ERRORS),
			},
		}),
		async (c) => {
			const { external_id } = c.req.valid("param");
			const { issued, view } = await createServerSession(serviceDeps(c), external_id, c.req.valid("json"));
			return c.json({ success: true as const, session: view, session_token: issued.token }, 201);
		},
	)
	.openapi(
		createRoute({
			method: "delete",
			path: "/users/{external_id}/sessions",
			tags,
			summary: "Sign a user out everywhere",
			description: "Every session of the user ends (their password changed at the app, say).",
			security: SERVER,
			middleware: [jsonBody({ optional: true }), requireServerKey()] as const,
			request: { params: Params },
			responses: {
				200: json(Revoked, "Sessions ended"),
				...errors("invalid_request", "not_found", "payload_too_large", "unsupported_media_type", ...KEY_ERRORS),
			},
		}),
		async (c) => {
			const { external_id } = c.req.valid("param");
			const revoked = await revokeServerSessions(serviceDeps(c), external_id);
			return c.json({ success: true as const, revoked }, 200);
		},
	)
	.openapi(
		createRoute({
			method: "post",
			path: "/users/{external_id}/second-factors/reset",
			tags,
			summary: "Help-desk reset of a user's second factors",
			description:
				"After the app has verified the person by its own means: their passkeys, TOTP and recovery codes are removed and their sessions revoked, in one step; recorded as the security event `second_factors.reset`.",
			security: SERVER,
			middleware: [jsonBody({ optional: true }), requireServerKey()] as const,
			request: { params: Params },
			responses: {
				200: json(Revoked, "Reset; `revoked`: the sessions that ended"),
				...errors("invalid_request", "not_found", "payload_too_large", "unsupported_media_type", ...KEY_ERRORS),
			},
		}),
		async (c) => {
			const { external_id } = c.req.valid("param");
			const revoked = await resetServerUserSecondFactors(serviceDeps(c), external_id);
			return c.json({ success: true as const, revoked }, 200);
		},
	);
