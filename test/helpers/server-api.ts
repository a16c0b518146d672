import { env } from "cloudflare:workers";
import { type ApiResponse, type CallOptions, call } from "./api";

// The server API as the app's backend calls it, with the keys vitest.config.ts
// configures (SERVER_API_KEYS): the first as the current key, the second as
// the one being rotated out.

const configured = (env.SERVER_API_KEYS ?? "").split(",").map((pair) => pair.slice(pair.indexOf(":") + 1));
export const SERVER_KEY = configured[0] ?? "";
export const OLD_SERVER_KEY = configured[1] ?? "";

let counter = 0;
export function uniqueExternalId(prefix = "ext"): string {
	counter += 1;
	return `${prefix}-${counter}-${crypto.randomUUID()}`;
}

export function serverCall<T = Record<string, unknown>>(
	method: string,
	path: string,
	options: CallOptions = {},
): Promise<ApiResponse<T>> {
	return call<T>(method, `/api/server${path}`, { token: SERVER_KEY, ...options });
}

export interface ServerUser {
	id: string;
	external_id: string;
	email: string;
	display_name: string | null;
	created_at: string;
}

export async function putUser(externalId: string, body: Record<string, unknown>) {
	return serverCall<{ success: true; user: ServerUser }>("PUT", `/users/${encodeURIComponent(externalId)}`, { body });
}

/** A user the app created; returns it. */
export async function createServerUser(externalId = uniqueExternalId(), email?: string): Promise<ServerUser> {
	const response = await putUser(externalId, { email: email ?? `${externalId}@example.com` });
	if (response.status !== 201) throw new Error(`PUT user failed: ${response.status} ${JSON.stringify(response.body)}`);
	return response.body.user;
}

export async function serverSession(externalId: string, level: "partial" | "full", amr: string[] = ["pwd"]) {
	return serverCall<{ session: { level: string; user: { id: string; email: string } }; session_token: string }>(
		"POST",
		`/users/${encodeURIComponent(externalId)}/sessions`,
		{ body: { level, amr } },
	);
}

/** A full session the app vouched for: its bearer token. */
export async function fullServerSession(externalId: string): Promise<string> {
	const response = await serverSession(externalId, "full");
	if (response.status !== 201) throw new Error(`server session failed: ${response.status}`);
	return response.body.session_token;
}
