import { sha256Hex } from "../lib/crypto";
import type { UserState } from "./user-state";

export type UserStateNamespace = DurableObjectNamespace<UserState>;
export type UserStateStub = DurableObjectStub<UserState>;

/** The user's own Durable Object: the one writer of their security state. */
export function userStateFor(namespace: UserStateNamespace, userId: string): UserStateStub {
	return namespace.get(namespace.idFromName(`user:${userId}`));
}

/**
 * The password limiter of one login email, whether or not an account has it,
 * so the limiter reveals no accounts. Named by a hash: ids carry no email.
 */
export async function loginLimiterFor(namespace: UserStateNamespace, email: string): Promise<UserStateStub> {
	return namespace.get(namespace.idFromName(`login:${await sha256Hex(email)}`));
}

/**
 * The per-client limiter of one address (CF-Connecting-IP, reduced by
 * clientKey): sign-ups and failed password sign-ins from it, whatever the
 * emails. Named by a hash, like the login limiter.
 */
export async function clientLimiterFor(namespace: UserStateNamespace, clientKey: string): Promise<UserStateStub> {
	return namespace.get(namespace.idFromName(`client:${await sha256Hex(clientKey)}`));
}
