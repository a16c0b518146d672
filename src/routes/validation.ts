import type { Hook } from "@hono/zod-openapi";
import type { AppEnv } from "../http/context";
import { ApiError } from "../lib/errors";

/** Zod failures become 400 invalid_request with a problem per field; zod's own wording stays internal. */
export const validationHook: Hook<unknown, AppEnv, string, unknown> = (result) => {
	if (result.success) return;
	const fields: Record<string, string> = {};
	for (const issue of result.error.issues) {
		const path = issue.path.map(String).join(".") || "body";
		fields[path] ??= describeIssue(issue.code);
	}
	throw new ApiError("invalid_request", { fields });
};

function describeIssue(code: string): string {
	switch (code) {
		case "invalid_type":
			return "is missing or has the wrong type";
		case "too_small":
			return "is too short";
		case "too_big":
			return "is too long";
		case "invalid_format":
			return "has the wrong format";
		case "invalid_value":
			return "is not an accepted value";
		case "unrecognized_keys":
			return "is not expected";
		default:
			return "is not valid";
	}
}
