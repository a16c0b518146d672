import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { MissingSecretError } from "./lib/config";
import type { AppEnv } from "./lib/context";
import { cors } from "./lib/cors";
import { ApiError, type ErrorCode, errorEnvelope } from "./lib/errors";
import { isUnavailable } from "./lib/faults";
import { requestContext } from "./lib/middleware";
import { auth } from "./routes/auth";
import { health } from "./routes/health";
import { mountOpenApi } from "./routes/openapi";
import { passkeySignIn } from "./routes/passkey-sign-in";
import { recoveryCodes } from "./routes/recovery-codes";
import { totp } from "./routes/totp";
import { webauthn } from "./routes/webauthn";
import { wellKnown } from "./routes/well-known";

export const app = new OpenAPIHono<AppEnv>({ strict: false });

app.use("*", requestContext());
app.use("*", cors());

app.route("/api/auth/passkey", passkeySignIn);
app.route("/api/auth", auth);
app.route("/api/webauthn", webauthn);
app.route("/api/totp", totp);
app.route("/api/recovery-codes", recoveryCodes);
app.route("/api/health", health);
app.route("/.well-known", wellKnown);
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

app.onError((error, c) => {
	if (error instanceof ApiError) return respond(c, error);
	if (error instanceof HTTPException && HTTP_STATUS_CODES[error.status]) {
		return respond(c, new ApiError(HTTP_STATUS_CODES[error.status] as ErrorCode));
	}
	const requestId = c.get("requestId") ?? "unknown";
	if (isUnavailable(error)) {
		console.error(`[${requestId}] storage unavailable:`, error instanceof Error ? error.message : error);
		return respond(c, new ApiError("unavailable", { retryAfterSeconds: 2 }));
	}
	if (error instanceof MissingSecretError) {
		console.error(`[${requestId}] ${error.message}`);
	} else {
		console.error(`[${requestId}] unhandled error:`, error);
	}
	return respond(c, new ApiError("internal_error"));
});

export type AppType = typeof app;
