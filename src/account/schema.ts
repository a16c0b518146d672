import { sql } from "drizzle-orm";
import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import type { AmrRecord } from "../lib/amr";

// The tables of one user's Durable Object (UserState), in its own SQLite
// storage: everything about the user's security that no other user's
// request needs. The object holds one user, so no table needs an index on
// the user; `user_id` stays on the rows only so that a row read alone says
// whose it is. The DDL is durable/migrations.ts (version 3); these are the
// query builder's view of it. Times are milliseconds since the epoch (UTC).

/** The user's own row: exactly one once the account exists (id = 1). */
export const account = sqliteTable("account", {
	id: integer("id").primaryKey(),
	userId: text("user_id").notNull(),
	/** Trimmed and lower-cased; the directory (D1 users) holds the same for look-up by email. */
	email: text("email").notNull(),
	/** The WebAuthn user handle (base64url of 32 random bytes), never the email. */
	webauthnUserId: text("webauthn_user_id").notNull(),
	/** The app's own id (server API); the directory holds it too, UNIQUE there. */
	externalId: text("external_id"),
	displayName: text("display_name"),
	/** Empty: no password here (server API users, passkey-first sign-up). */
	passwordHash: text("password_hash").notNull(),
	passwordSalt: text("password_salt").notNull(),
	passwordIterations: integer("password_iterations").notNull(),
	/** The generation of the user's trusted devices (services/trusted-devices.ts). */
	trustedDeviceEpoch: integer("trusted_device_epoch").notNull(),
	createdAt: integer("created_at").notNull(),
});

export const sessions = sqliteTable(
	"sessions",
	{
		/** SHA-256 of the token: the token itself is never stored. */
		id: text("id").primaryKey(),
		userId: text("user_id").notNull(),
		level: text("level", { enum: ["partial", "full", "setup_required"] }).notNull(),
		createdAt: integer("created_at").notNull(),
		authenticatedAt: integer("authenticated_at").notNull(),
		expiresAt: integer("expires_at").notNull(),
		amr: text("amr", { mode: "json" }).$type<AmrRecord>().notNull().default(sql`'[]'`),
		/** What the session list shows and DELETE /api/auth/sessions/{id}/ takes: 128 random bits, hex. */
		publicId: text("public_id").notNull(),
		client: text("client", { enum: ["browser", "app"] }),
		device: text("device"),
		country: text("country"),
		lastUsedAt: integer("last_used_at"),
	},
	(table) => [index("sessions_expires_at").on(table.expiresAt), uniqueIndex("sessions_public_id").on(table.publicId)],
);

export const passkeys = sqliteTable("passkeys", {
	id: text("id").primaryKey(),
	userId: text("user_id").notNull(),
	/** Unique across all accounts: the directory's `credentials` table holds that. */
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
});

export const totpCredentials = sqliteTable("totp_credentials", {
	userId: text("user_id").primaryKey(),
	/** AES-GCM ciphertext of the base32 secret, with the user id as additional data. */
	secretCiphertext: text("secret_ciphertext").notNull(),
	/** The newest accepted time step: a code is accepted once, never an older one. */
	lastStep: integer("last_step").notNull(),
	createdAt: integer("created_at").notNull(),
	lastUsedAt: integer("last_used_at"),
});

export const recoveryCodes = sqliteTable(
	"recovery_codes",
	{
		id: text("id").primaryKey(),
		userId: text("user_id").notNull(),
		/** HMAC-SHA-256 of the normalized code under a Worker secret. */
		codeHash: text("code_hash").notNull(),
		createdAt: integer("created_at").notNull(),
		usedAt: integer("used_at"),
	},
	(table) => [uniqueIndex("recovery_codes_hash").on(table.codeHash)],
);

/**
 * Passwordless sign-in challenges presented with one of this user's
 * passkeys: the challenge is signed and carries its expiry, so only its use
 * is kept, until a minute after it expires; the primary key makes the first
 * use the only one.
 */
export const usedChallenges = sqliteTable("used_challenges", {
	challenge: text("challenge").primaryKey(),
	expiresAt: integer("expires_at").notNull(),
});

export type AccountRow = typeof account.$inferSelect;
export type SessionRow = typeof sessions.$inferSelect;
export type PasskeyRow = typeof passkeys.$inferSelect;
export type TotpRow = typeof totpCredentials.$inferSelect;
