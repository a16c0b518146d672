import { releaseCredentials } from "../directory/credentials";
import { type UserStateNamespace, userStateFor } from "../durable/stubs";
import { ApiError } from "../lib/errors";
import { describeError } from "../lib/faults";
import type { ClientKind, Metrics } from "../lib/metrics";
import type { Db } from "../storage/db";
import { type PasskeyView, viewPasskey } from "../webauthn/passkey-view";
import { emitSecurityEvent, type SecurityEventSink } from "./security-events";
import type { AuthenticatedSession, UserPasskeys } from "./sessions";

export interface PasskeyList {
	passkeys: PasskeyView[];
	/**
	 * The user's WebAuthn user handle (base64url), which a page needs for the
	 * WebAuthn Signal API; an addition to API.md's list response, not a change.
	 */
	webauthnUserId: string;
}

/** The list as the API shows it, from the user's passkeys read with the session. */
export function listUserPasskeys(found: UserPasskeys): PasskeyList {
	return { passkeys: found.passkeys.map(viewPasskey), webauthnUserId: found.user.webauthnUserId };
}

/**
 * Our ids are base64url (randomId): one of another shape, or over-long, is
 * an id that does not exist, answered 404 like any unknown id (API.md), and
 * without a storage call.
 */
function requirePossibleId(id: string): void {
	if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new ApiError("not_found");
}

/** Another user's passkey id answers 404, never 403: ids are not revealed. */
export async function renameUserPasskey(
	deps: { userState: UserStateNamespace; events: SecurityEventSink },
	userId: string,
	id: string,
	name: string,
): Promise<PasskeyView> {
	requirePossibleId(id);
	const row = await userStateFor(deps.userState, userId).renamePasskey(id, name);
	if (!row) throw new ApiError("not_found");
	emitSecurityEvent(deps, { type: "passkey.renamed", userId, data: {} });
	return viewPasskey(row);
}

export interface RemovalDeps {
	db: Db;
	userState: UserStateNamespace;
	metrics: Metrics;
	client: ClientKind;
	startedAt: number;
	events: SecurityEventSink;
}

/**
 * Removal goes through the user's Durable Object, which runs one removal at a
 * time and deletes with a statement that refuses to remove the last
 * authenticator: two concurrent deletes of the last two never leave zero.
 */
export async function removeAuthenticator(
	deps: RemovalDeps,
	owner: Pick<AuthenticatedSession, "userId" | "externalId">,
	target: ({ kind: "webauthn" } & { id: string }) | { kind: "totp" },
): Promise<void> {
	const { userId } = owner;
	if (target.kind === "webauthn") requirePossibleId(target.id);
	const stub = userStateFor(deps.userState, userId);
	const result = target.kind === "webauthn" ? await stub.removePasskey(target.id) : await stub.removeTotp();
	if (result.status === "not_found") throw new ApiError("not_found");
	const blocked = result.status === "last_authenticator";
	deps.metrics.record({
		event: blocked ? "authenticator.delete.blocked" : "authenticator.delete.success",
		outcome: blocked ? "blocked" : "success",
		...(blocked ? { reason: "last_authenticator" } : {}),
		method: target.kind,
		client: deps.client,
		durationMs: performance.now() - deps.startedAt,
	});
	if (blocked) throw new ApiError("last_authenticator");
	emitSecurityEvent(
		deps,
		target.kind === "webauthn"
			? { type: "passkey.removed", userId, externalId: owner.externalId, data: { passkey_id: target.id } }
			: { type: "totp.disabled", userId, externalId: owner.externalId, data: {} },
	);
	// The passkey is gone from the object (and said so); its directory claim
	// goes after it. A failure here leaves a claim with no passkey, which signs
	// no one in: logged, and the removal stands.
	if (result.status === "deleted" && result.credentialId) {
		await releaseCredentials(deps.db, userId, [result.credentialId]).catch((error: unknown) => {
			console.error(`passkey removal: the directory claim was not released: ${describeError(error)}`);
		});
	}
}
