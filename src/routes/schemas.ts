import { z } from "@hono/zod-openapi";

// Shared request and response shapes. The same definitions validate the
// requests and generate the OpenAPI document.

export const ErrorEnvelope = z
	.object({
		success: z.literal(false),
		code: z.string().openapi({ example: "invalid_request" }),
		message: z.string().openapi({ example: "The request is not valid." }),
		fields: z.record(z.string(), z.string()).optional(),
	})
	.openapi("Error");

const base64url = (max: number) =>
	z
		.string()
		.min(1)
		.max(max)
		.regex(/^[A-Za-z0-9_-]+$/, "must be base64url without padding");

export const Email = z.string().trim().min(3).max(254).email();
/** 8 to 256 characters, counted as Unicode code points (an emoji is one). */
export const Password = z
	.string()
	.max(1024)
	.refine((password) => {
		const length = [...password].length;
		return length >= 8 && length <= 256;
	}, "must be 8 to 256 characters");

export const SessionView = z
	.object({
		level: z.enum(["partial", "full"]),
		user: z.object({ id: z.string(), email: z.string() }),
		methods: z.array(z.enum(["webauthn", "totp", "recovery_codes"])),
		authenticated_at: z.string(),
		expires_at: z.string(),
	})
	.openapi("Session");

export const SessionResult = z
	.object({ success: z.literal(true), session: SessionView, session_token: z.string().optional() })
	.openapi("SessionResult");

const Transport = z.string().max(32);

export const RegistrationResponse = z
	.object({
		id: base64url(1400),
		rawId: base64url(1400),
		type: z.literal("public-key"),
		response: z.object({
			clientDataJSON: base64url(8192),
			attestationObject: base64url(32768),
			transports: z.array(Transport).max(16).optional(),
			publicKeyAlgorithm: z.number().int().optional(),
			publicKey: base64url(8192).optional(),
			authenticatorData: base64url(16384).optional(),
		}),
		authenticatorAttachment: z.enum(["platform", "cross-platform"]).optional(),
		clientExtensionResults: z.object({ credProps: z.object({ rk: z.boolean().optional() }).optional() }),
	})
	.openapi("RegistrationResponseJSON");

export const AuthenticationResponse = z
	.object({
		id: base64url(1400),
		rawId: base64url(1400),
		type: z.literal("public-key"),
		response: z.object({
			clientDataJSON: base64url(8192),
			authenticatorData: base64url(16384),
			signature: base64url(2048),
			userHandle: base64url(128).optional(),
		}),
		authenticatorAttachment: z.enum(["platform", "cross-platform"]).optional(),
		clientExtensionResults: z.object({}),
	})
	.openapi("AuthenticationResponseJSON");

export const PasskeyName = z
	.string()
	.max(1024)
	.transform((name) => name.trim())
	.refine((name) => [...name].length >= 1 && [...name].length <= 64, "must be 1 to 64 characters after trimming")
	// A lone surrogate is not a code point: D1 would store mojibake, not the name as given.
	.refine((name) => !/\p{Cs}/u.test(name), "must be valid Unicode text");

export const Passkey = z
	.object({
		id: z.string(),
		name: z.string(),
		created_at: z.string(),
		last_used_at: z.string().nullable(),
		passwordless: z.boolean(),
		backed_up: z.boolean(),
		device_type: z.enum(["multi_device", "single_device"]),
		transports: z.array(z.string()),
		aaguid: z.string(),
		authenticator: z.string().nullable(),
		credential_id: z.string(),
	})
	.openapi("Passkey");

export const Success = z.object({ success: z.literal(true) }).openapi("Success");

/** Error responses every authenticated route can give. */
export function errors(...statuses: number[]) {
	return Object.fromEntries(
		statuses.map((status) => [
			status,
			{ description: "Error envelope", content: { "application/json": { schema: ErrorEnvelope } } },
		]),
	);
}

export function json<T extends z.ZodType>(schema: T, description: string) {
	return { description, content: { "application/json": { schema } } };
}

export function jsonRequest<T extends z.ZodType>(schema: T) {
	return { body: { required: true, content: { "application/json": { schema } } } };
}
