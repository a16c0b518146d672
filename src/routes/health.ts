import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../http/context";
import { errorsWithoutStorage, json, NO_SESSION, Success } from "./schemas";

// One chain, so that the type of the sub-app carries every route (hc<AppType>).
export const health = new OpenAPIHono<AppEnv>({ strict: false }).openapi(
	createRoute({
		method: "get",
		path: "/",
		tags: ["Other"],
		summary: "Liveness",
		security: NO_SESSION,
		responses: { 200: json(Success, "Alive"), ...errorsWithoutStorage() },
	}),
	(c) => c.json({ success: true as const }, 200),
);
