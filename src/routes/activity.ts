import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../http/context";
import { requireSession } from "../http/middleware";
import { listUserActivity } from "../services/activity";
import { ActivityList, errors, json, SESSION } from "./schemas";
import { validationHook } from "./validation";

// The user's security activity log (API.md, "Account security").

// One chain, so that the type of the sub-app carries every route (hc<AppType>).
export const activity = new OpenAPIHono<AppEnv>({ defaultHook: validationHook, strict: false }).openapi(
	createRoute({
		method: "get",
		path: "/",
		tags: ["Accounts"],
		summary: "Recent security activity",
		description:
			"What happened to the account, newest first: sign-ins and how, sign-in limits reached, passkeys added, renamed and removed, TOTP enabled and disabled, recovery codes generated and used, sessions revoked, password changes, second-factor resets. The last 100 entries, none older than 90 days. No entry holds a secret, code, token, credential id, email or IP address.",
		security: SESSION,
		middleware: [requireSession({ level: "full" })] as const,
		responses: {
			200: json(ActivityList, "The user's activity, newest first"),
			...errors("not_authenticated", "csrf_failed", "mfa_required", "second_factor_required"),
		},
	}),
	async (c) => {
		const events = await listUserActivity({ userState: c.env.USER_STATE }, c.var.auth.session.userId);
		return c.json({ success: true as const, events }, 200);
	},
);
