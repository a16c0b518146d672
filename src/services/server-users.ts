import { releaseCredentials } from "../directory/credentials";
import { type DirectoryRow, findUserByExternalId, insertExternalUser } from "../directory/users";
import { type UserStateNamespace, userStateFor } from "../durable/stubs";
import { deleteUserEverywhere, writeAccount } from "../flows/accounts";
import type { AmrMethod } from "../lib/amr";
import { clock, iso } from "../lib/clock";
import type { Config } from "../lib/config";
import { randomBytes, randomId, toBase64Url } from "../lib/encoding";
import { ApiError } from "../lib/errors";
import { describeError } from "../lib/faults";
import type { ClientKind } from "../lib/metrics";
import { type Db, isUniqueViolation } from "../storage/db";
import { type PasskeyView, viewPasskey } from "../webauthn/passkey-view";
import { normalizeEmail } from "./accounts";
import { emitSecurityEvent, type SecurityEventSink } from "./security-events";
import {
	type IssuedSession,
	levelWithoutSecondFactor,
	methodsOf,
	prepareSession,
	revokeAllSessions,
	type SessionLevel,
	type SessionSource,
	type SessionView,
	sessionView,
} from "./sessions";

// The server API (API.md, "Server API"): the app's backend, holding a server
// key, manages users it knows by its own ids and vouches for their primary
// sign-in. Everything a user then does (a second factor, a passkey, an access
// token) goes through the ordinary user routes with the session made here.

export interface ServerDeps {
	db: Db;
	userState: UserStateNamespace;
	config: Pick<Config, "sessionMaxAge" | "requireSecondFactor">;
	events: SecurityEventSink;
	client: ClientKind;
	/** An app session with no device or country: the request is the backend's, not the person's (routes/deps.ts). */
	source: SessionSource;
}

/** The user as the server API shows it. */
export interface ServerUserView {
	id: string;
	external_id: string;
	email: string;
	display_name: string | null;
	created_at: string;
}

function viewUser(
	user: Pick<DirectoryRow, "id" | "email" | "displayName" | "createdAt"> & { externalId: string },
): ServerUserView {
	return {
		id: user.id,
		external_id: user.externalId,
		email: user.email,
		display_name: user.displayName,
		created_at: iso(user.createdAt),
	};
}

function linked(user: DirectoryRow | undefined): (DirectoryRow & { externalId: string }) | undefined {
	return user && user.externalId !== null ? (user as DirectoryRow & { externalId: string }) : undefined;
}

/** The linked user; one made before the per-user design has their object take over their rows first (once). */
async function requireUser(
	deps: Pick<ServerDeps, "db" | "userState">,
	externalId: string,
): Promise<DirectoryRow & { externalId: string }> {
	const user = linked(await findUserByExternalId(deps.db, externalId));
	if (!user) throw new ApiError("not_found");
	if (user.legacy === 1) await userStateFor(deps.userState, user.id).importLegacy(user.id);
	return user;
}

/**
 * PUT: creates the user linked to `externalId`, or updates the fields given.
 * Creating needs an email (the WebAuthn user name and the `email` claim of
 * the access token are made from it). Such a user has no password here: the
 * app checks its own. Two concurrent first PUTs make one user; the second
 * updates it.
 */
export async function putServerUser(
	deps: Pick<ServerDeps, "db" | "userState">,
	externalId: string,
	input: { email?: string; display_name?: string | null },
): Promise<{ created: boolean; user: ServerUserView }> {
	const email = input.email === undefined ? undefined : normalizeEmail(input.email);
	const changes = {
		...(email === undefined ? {} : { email }),
		...(input.display_name === undefined ? {} : { displayName: input.display_name }),
	};
	const existing = linked(await findUserByExternalId(deps.db, externalId));
	if (!existing) {
		if (email === undefined) {
			throw new ApiError("invalid_request", { fields: { email: "is required to create a user" } });
		}
		const entry = {
			id: randomId(),
			email,
			webauthnUserId: toBase64Url(randomBytes(32)),
			createdAt: clock.now(),
			externalId,
			displayName: input.display_name ?? null,
		};
		let inserted: boolean;
		try {
			inserted = await insertExternalUser(deps.db, entry);
		} catch (error) {
			// Only the email can collide here: external_id conflicts are handled by the insert.
			if (isUniqueViolation(error)) throw new ApiError("email_taken");
			throw error;
		}
		if (inserted) {
			// No password here: accounts.ts refuses every password for an empty hash.
			await writeAccount(deps.db, deps.userState, { entry, password: null }, { allowExisting: true });
			return { created: true, user: viewUser({ ...entry, externalId }) };
		}
	}
	// The loser of two first PUTs goes on as an update of the winner's user.
	const target = existing ?? linked(await findUserByExternalId(deps.db, externalId));
	if (!target) throw new ApiError("not_found");
	const updated = await userStateFor(deps.userState, target.id).updateProfile(target.id, changes);
	if (updated.status === "email_taken") throw new ApiError("email_taken");
	// Deleted between the read and the write: as if it never was.
	if (updated.status === "not_found") throw new ApiError("not_found");
	const account = updated.account;
	return {
		created: false,
		user: {
			id: target.id,
			external_id: externalId,
			email: account.email,
			display_name: account.displayName,
			created_at: iso(account.createdAt),
		},
	};
}

export interface ServerUserDetails {
	user: ServerUserView;
	passkeys: PasskeyView[];
	totp: boolean;
	recovery_codes_left: number;
	sessions: number;
	last_sign_in_at: string | null;
}

/** GET: what support staff need to help the user; nothing secret (no code, no token, no TOTP secret). */
export async function describeServerUser(deps: ServerDeps, externalId: string): Promise<ServerUserDetails> {
	const user = await requireUser(deps, externalId);
	const overview = await userStateFor(deps.userState, user.id).overview(clock.now(), deps.config.sessionMaxAge);
	if (!overview) throw new ApiError("not_found");
	return {
		user: viewUser(user),
		passkeys: overview.passkeys.map(viewPasskey),
		totp: overview.totp,
		// Codes are only usable beside a passkey or TOTP (sessions.methodsOf).
		recovery_codes_left: overview.recoveryCodesLeft,
		sessions: overview.liveSessions,
		last_sign_in_at: overview.lastSignInAt === null ? null : iso(overview.lastSignInAt),
	};
}

/**
 * DELETE: the user and everything that is theirs (account deletion), through
 * the user's object, so no passkey or TOTP set-up in flight lands after it.
 * Deleting a user who does not exist (any more) is done: the same 200.
 */
export async function deleteServerUser(deps: ServerDeps, externalId: string): Promise<void> {
	const user = linked(await findUserByExternalId(deps.db, externalId));
	if (!user) return;
	await deleteUserEverywhere(deps.db, deps.userState, user.id);
}

/** What an app may say it checked itself: its own password, its own one-time code (RFC 8176). */
export type VouchedMethod = Extract<AmrMethod, "pwd" | "otp">;

/**
 * POST …/sessions: a session for a user the app authenticated with its own
 * primary factor. Like a password sign-in here, `partial` asks for the
 * second factor only of a user who has one: a user without a passkey or
 * TOTP gets `full` (the answer's `session.level` says which). `full` is the
 * app saying it has done all the authentication it wants.
 */
export async function createServerSession(
	deps: ServerDeps,
	externalId: string,
	input: { level: SessionLevel; amr: VouchedMethod[] },
): Promise<{ issued: IssuedSession; view: SessionView }> {
	const user = await requireUser(deps, externalId);
	const stub = userStateFor(deps.userState, user.id);
	const counts = await stub.counts();
	// A `partial` request says "the app checked a first factor only": for a user
	// with no second factor that is full, or setup_required under
	// REQUIRE_SECOND_FACTOR. A `full` request is the app vouching for the whole
	// sign-in (its own second factor, say): it stays full.
	const hasSecondFactor = counts.passkeys + counts.totp > 0;
	const level: SessionLevel =
		input.level === "full" ? "full" : hasSecondFactor ? "partial" : levelWithoutSecondFactor(deps.config);
	const { row, issued } = await prepareSession(
		user,
		level,
		deps.source,
		deps.config.sessionMaxAge,
		input.amr.map((m) => ({ m })),
	);
	if (!(await stub.insertSession(row))) throw new ApiError("not_found");
	emitSecurityEvent(deps, {
		type: "session.created",
		userId: user.id,
		externalId: user.externalId,
		data: { method: "server", level, client: deps.client },
	});
	return { issued, view: sessionView(issued.session, methodsOf(counts)) };
}

/** DELETE …/sessions: every session of the user ends (their password changed at the app, say). */
export async function revokeServerSessions(deps: ServerDeps, externalId: string): Promise<number> {
	const user = await requireUser(deps, externalId);
	const revoked = await revokeAllSessions(deps.userState, user.id);
	emitSecurityEvent(deps, { type: "sessions.revoked", userId: user.id, data: { method: "server" } });
	return revoked;
}

/**
 * POST …/second-factors/reset: the app verified the person by its own means;
 * their passkeys, TOTP and recovery codes go, and so do their sessions, in
 * one batch through the user's object (durable/user-state.ts).
 */
export async function resetServerUserSecondFactors(deps: ServerDeps, externalId: string): Promise<number> {
	const user = await requireUser(deps, externalId);
	const removed = await userStateFor(deps.userState, user.id).resetSecondFactors();
	emitSecurityEvent(deps, {
		type: "second_factors.reset",
		userId: user.id,
		externalId: user.externalId,
		data: { passkeys_removed: removed.passkeys, totp_removed: removed.totp, sessions_revoked: removed.sessions },
	});
	// The passkeys are gone from the object (and said so); their directory
	// claims go after them. A failure leaves claims with no passkey, which sign
	// no one in: logged, and the reset stands.
	await releaseCredentials(deps.db, user.id, removed.credentialIds).catch((error: unknown) => {
		console.error(`second-factor reset: directory claims were not released: ${describeError(error)}`);
	});
	return removed.sessions;
}
