import { sql } from "drizzle-orm";
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { AmrRecord } from "../lib/amr";

// The directory: what must be unique, or found, across users. Times are
// milliseconds since the epoch (UTC).
//
// Each user's security state (password, sessions, passkeys, TOTP, recovery
// codes) lives in their own Durable Object (account/schema.ts). The tables
// and columns marked "legacy" below held it before migration 0007; they are
// read only to move a user made before it into their object on its first
// use (durable/legacy-import.ts), which then empties them for that user.

export const users = sqliteTable("users", {
	id: text("id").primaryKey(),
	/** Trimmed and lower-cased: emails compare without regard to case. */
	email: text("email").notNull().unique(),
	/** Legacy (see above): the password now lives in the user's object; '' for every user made since. */
	passwordHash: text("password_hash").notNull(),
	passwordSalt: text("password_salt").notNull(),
	passwordIterations: integer("password_iterations").notNull(),
	/** The WebAuthn user handle (base64url of 32 random bytes), never the email. */
	webauthnUserId: text("webauthn_user_id").notNull().unique(),
	createdAt: integer("created_at").notNull(),
	/** The app's own id for this user (server API), 1–128 printable characters; UNIQUE. */
	externalId: text("external_id").unique(),
	/** A name to show for the user (server API); the email when absent. */
	displayName: text("display_name"),
	/** Legacy (see above): the epoch now lives in the user's object. */
	trustedDeviceEpoch: integer("trusted_device_epoch").notNull().default(0),
	/**
	 * 1 for a user made before migration 0007, whose security state is still in
	 * the legacy tables until their object takes it over (durable/legacy-import.ts,
	 * which sets 0); 0 for every user made since.
	 */
	legacy: integer("legacy").notNull().default(0),
});

/**
 * Which user a WebAuthn credential belongs to: a credential id is UNIQUE
 * across all accounts, also under a race (the primary key decides), and a
 * passwordless sign-in finds its user here with one read. The passkey itself
 * is in the user's object; a row here is claimed before the passkey is added
 * there and released if that fails (flows/register-passkey.ts).
 */
export const credentials = sqliteTable(
	"credentials",
	{
		credentialId: text("credential_id").primaryKey(),
		userId: text("user_id")
			.notNull()
			.references(() => users.id, { onDelete: "cascade" }),
		createdAt: integer("created_at").notNull(),
	},
	(table) => [index("credentials_user_id").on(table.userId)],
);

/** Legacy (see above). */
export const sessions = sqliteTable(
	"sessions",
	{
		/** SHA-256 of the token: the token itself is never stored. */
		id: text("id").primaryKey(),
		userId: text("user_id")
			.notNull()
			.references(() => users.id, { onDelete: "cascade" }),
		level: text("level", { enum: ["partial", "full", "setup_required"] }).notNull(),
		createdAt: integer("created_at").notNull(),
		authenticatedAt: integer("authenticated_at").notNull(),
		expiresAt: integer("expires_at").notNull(),
		/** How the session was authenticated (lib/amr.ts): the access token's `amr` and `acr`. */
		amr: text("amr", { mode: "json" }).$type<AmrRecord>().notNull().default(sql`'[]'`),
		/**
		 * The id the user's session list shows and `DELETE /api/auth/sessions/{id}/`
		 * takes: 128 random bits (32 lower-case hex digits), unrelated to the token.
		 * The row's `id` (the token's hash) never leaves the server.
		 * NOT NULL here, nullable in D1: SQLite cannot add a NOT NULL column
		 * without a constant default; migration 0005 fills the older rows and
		 * every insert writes one.
		 */
		publicId: text("public_id").notNull(),
		/** "browser" (cookie) or "app" (bearer token): how the session was created. */
		client: text("client", { enum: ["browser", "app"] }),
		/** Coarse: a browser and an OS from a fixed list (lib/user-agent.ts), never the User-Agent itself. */
		device: text("device"),
		/** ISO 3166-1 alpha-2 country of the request that created it (Cloudflare's `request.cf.country`), when known. */
		country: text("country"),
		/** The newest use, written at most once an hour (services/sessions.ts, sessionUseDue). */
		lastUsedAt: integer("last_used_at"),
	},
	(table) => [
		index("sessions_user_id").on(table.userId),
		// expires_at: the scheduled sweep finds expired sessions of users who never come back.
		index("sessions_expires_at").on(table.expiresAt),
		uniqueIndex("sessions_public_id").on(table.publicId),
	],
);

/** Legacy (see above). */
export const passkeys = sqliteTable(
	"passkeys",
	{
		id: text("id").primaryKey(),
		userId: text("user_id")
			.notNull()
			.references(() => users.id, { onDelete: "cascade" }),
		/** From the authenticator data; UNIQUE across all accounts, also under a race. */
		credentialId: text("credential_id").notNull().unique(),
		publicKey: text("public_key").notNull(),
		signCount: integer("sign_count").notNull(),
		transports: text("transports").notNull().default("[]"),
		backupEligible: integer("backup_eligible", { mode: "boolean" }).notNull(),
		backedUp: integer("backed_up", { mode: "boolean" }).notNull(),
		aaguid: text("aaguid").notNull(),
		passwordless: integer("passwordless", { mode: "boolean" }).notNull(),
		name: text("name").notNull(),
		createdAt: integer("created_at").notNull(),
		lastUsedAt: integer("last_used_at"),
	},
	(table) => [index("passkeys_user_id").on(table.userId)],
);

/** Legacy (see above). */
export const totpCredentials = sqliteTable("totp_credentials", {
	userId: text("user_id")
		.primaryKey()
		.references(() => users.id, { onDelete: "cascade" }),
	/** AES-GCM ciphertext of the base32 secret, with the user id as additional data. */
	secretCiphertext: text("secret_ciphertext").notNull(),
	/** The newest accepted time step: a code is accepted once, never an older one. */
	lastStep: integer("last_step").notNull(),
	createdAt: integer("created_at").notNull(),
	lastUsedAt: integer("last_used_at"),
});

/** Legacy (see above). */
export const recoveryCodes = sqliteTable(
	"recovery_codes",
	{
		id: text("id").primaryKey(),
		userId: text("user_id")
			.notNull()
			.references(() => users.id, { onDelete: "cascade" }),
		/** HMAC-SHA-256 of the normalized code under a Worker secret. */
		codeHash: text("code_hash").notNull(),
		createdAt: integer("created_at").notNull(),
		usedAt: integer("used_at"),
	},
	(table) => [uniqueIndex("recovery_codes_user_hash").on(table.userId, table.codeHash)],
);

/**
 * Passkey-first sign-up challenges that have been presented (no user, so no
 * object, exists yet to keep them; a passwordless sign-in's are kept in the
 * user's object). Earlier also passwordless sign-in challenges: the challenge
 * itself is signed and carries its expiry (services/sign-in-challenge.ts), so
 * only its use is stored; the primary key makes the first use the only one.
 */
export const signInChallenges = sqliteTable(
	"sign_in_challenges",
	{
		challenge: text("challenge").primaryKey(),
		expiresAt: integer("expires_at").notNull(),
	},
	(table) => [index("sign_in_challenges_expires_at").on(table.expiresAt)],
);
