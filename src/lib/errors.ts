// Every error a client can see, defined once: code → status and a sentence for
// a person. Library messages never reach a client; they are logged and
// replaced by one of these.
export const ERRORS = {
	invalid_request: [400, "The request is not valid."],
	verification_failed: [400, "The authenticator's response could not be verified."],
	challenge_expired: [400, "The challenge is unknown, already used or expired. Start again."],
	last_authenticator: [400, "Cannot delete - you must have at least one authentication method"],
	invalid_credentials: [400, "The email or password is incorrect."],
	invalid_code: [400, "The code is not valid."],
	not_authenticated: [401, "Sign in first."],
	invalid_server_key: [401, "A valid server key is required (Authorization: Bearer <server key>)."],
	reauthentication_required: [401, "Confirm it is you: authenticate again to continue."],
	csrf_failed: [403, "The request's origin is not allowed."],
	mfa_required: [403, "Complete two-factor authentication first."],
	second_factor_required: [403, "Add a passkey or an authenticator app to your account first."],
	not_found: [404, "Not found."],
	email_taken: [409, "An account with this email already exists."],
	credential_exists: [409, "This passkey is already registered."],
	already_enabled: [409, "This is already enabled."],
	payload_too_large: [413, "The request body is larger than 64 KiB."],
	unsupported_media_type: [415, "The request body must be JSON (Content-Type: application/json)."],
	too_many_attempts: [429, "Too many attempts. Try again later."],
	internal_error: [500, "Something went wrong on our side."],
	unavailable: [503, "The service is briefly unavailable. Try again shortly."],
} as const satisfies Record<string, readonly [number, string]>;

export type ErrorCode = keyof typeof ERRORS;

export interface ApiErrorOptions {
	fields?: Record<string, string>;
	retryAfterSeconds?: number;
	message?: string;
}

export class ApiError extends Error {
	readonly code: ErrorCode;
	readonly status: number;
	readonly fields?: Record<string, string>;
	readonly retryAfterSeconds?: number;

	constructor(code: ErrorCode, options: ApiErrorOptions = {}) {
		const [status, message] = ERRORS[code];
		super(options.message ?? message);
		this.code = code;
		this.status = status;
		if (options.fields) this.fields = options.fields;
		if (options.retryAfterSeconds !== undefined) this.retryAfterSeconds = options.retryAfterSeconds;
	}
}

export interface ErrorEnvelope {
	success: false;
	code: ErrorCode;
	message: string;
	fields?: Record<string, string>;
}

export function errorEnvelope(error: ApiError): ErrorEnvelope {
	const body: ErrorEnvelope = { success: false, code: error.code, message: error.message };
	if (error.fields) body.fields = error.fields;
	return body;
}
