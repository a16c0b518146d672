import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { AppEnv } from "./http/context";
import { cors } from "./http/cors";
import { requestContext, settleDeferredSession } from "./http/middleware";
import { ConfigError } from "./lib/config";
import { ApiError, type ErrorCode, errorEnvelope } from "./lib/errors";
import { describeError, isUnavailable } from "./lib/faults";
import { activity } from "./routes/activity";
import { auth } from "./routes/auth";
import { docs } from "./routes/docs";
import { health } from "./routes/health";
import { mountOpenApi } from "./routes/openapi";
import { passkeySignIn } from "./routes/passkey-sign-in";
import { passkeySignUp } from "./routes/passkey-sign-up";
import { recoveryCodes } from "./routes/recovery-codes";
import { serverUsers } from "./routes/server-users";
import { sessions } from "./routes/sessions";
import { tokens } from "./routes/tokens";
import { totp } from "./routes/totp";
import { webauthn } from "./routes/webauthn";
import { wellKnown } from "./routes/well-known";

export const app = new OpenAPIHono<AppEnv>({ strict: false });

app.use("*", requestContext());
app.use("*", cors());

// One chain, so that its type carries every route: AppType, for hc<AppType>.
const routes = app
	.route("/api/auth/passkey", passkeySignIn)
	.route("/api/auth/signup/passkey", passkeySignUp)
	.route("/api/auth/sessions", sessions)
	.route("/api/auth/activity", activity)
	.route("/api/auth", auth)
	.route("/api/auth", tokens)
	.route("/api/webauthn", webauthn)
	.route("/api/totp", totp)
	.route("/api/recovery-codes", recoveryCodes)
	.route("/api/server", serverUsers)
	.route("/api/health", health)
	.route("/.well-known", wellKnown);
app.route("/api/docs", docs);
mountOpenApi(app);

function respond(c: Context<AppEnv>, error: ApiError) {
	if (error.retryAfterSeconds !== undefined) c.header("Retry-After", String(error.retryAfterSeconds));
	c.header("Cache-Control", "no-store");
	c.header("X-Content-Type-Options", "nosniff");
	return c.json(errorEnvelope(error), error.status as 400);
}

// Hono's own HTTP errors (malformed JSON, unsupported media type) get our envelope and wording.
const HTTP_STATUS_CODES: Record<number, ErrorCode> = {
	400: "invalid_request",
	404: "not_found",
	413: "payload_too_large",
	415: "unsupported_media_type",
};

app.notFound((c) => respond(c, new ApiError("not_found")));

app.onError(async (error, c) => {
	const refused =
		error instanceof ApiError
			? error
			: error instanceof HTTPException && HTTP_STATUS_CODES[error.status]
				? new ApiError(HTTP_STATUS_CODES[error.status] as ErrorCode)
				: null;
	// A ceremony whose session check is deferred to its object call, refused
	// before that call (a malformed body or response): the session's refusals
	// come first (API.md's order), so the session is settled now.
	const deferred = c.get("deferred");
	if (refused && deferred && !deferred.checked && refused.status >= 400 && refused.status < 500) {
		try {
			await settleDeferredSession(c);
		} catch (sessionError) {
			if (sessionError instanceof ApiError) return respond(c, sessionError);
			// The check itself failed (storage down): the original answer stands.
		}
	}
	if (refused) return respond(c, refused);
	const requestId = c.get("requestId") ?? "unknown";
	// describeError leaves out the values of a failed statement (password and code hashes).
	if (isUnavailable(error)) {
		console.error(`[${requestId}] storage unavailable: ${describeError(error)}`);
		return respond(c, new ApiError("unavailable", { retryAfterSeconds: 2 }));
	}
	if (error instanceof ConfigError) {
		console.error(`[${requestId}] ${error.message}`);
	} else {
		const frames = error instanceof Error ? (error.stack ?? "").split("\n").filter((line) => /^\s+at /.test(line)) : [];
		console.error(`[${requestId}] unhandled error: ${describeError(error)}\n${frames.join("\n")}`);
	}
	return respond(c, new ApiError("internal_error"));
});

/** The typed routes of the API, for Hono's RPC client: `hc<AppType>(baseUrl)` (docs/typed-client.md). */
export type AppType = typeof routes;
