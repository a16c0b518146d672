import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../lib/context";
import { json, Success } from "./schemas";

export const health = new OpenAPIHono<AppEnv>({ strict: false });

health.openapi(
	createRoute({
		method: "get",
		path: "/",
		tags: ["Other"],
		summary: "Liveness",
		responses: { 200: json(Success, "Alive") },
	}),
	(c) => c.json({ success: true as const }, 200),
);
