import { env, runInDurableObject } from "cloudflare:test";
import { type UserStateStub, userStateFor } from "../../src/durable/stubs";

// A user's security state is in their Durable Object (src/account/). Tests
// look at it, or tamper with it the way a broken database or an attacker with
// storage access would, through these helpers only: the object's own
// diagnostics call (inspect), or SQL run inside the object
// (runInDurableObject, the test pool's supported way in).

export function accountStub(userId: string): UserStateStub {
	return userStateFor(env.USER_STATE, userId);
}

/** Everything the object holds of the user's account, as stored. */
export function inspectAccount(userId: string) {
	return accountStub(userId).inspect();
}

interface Statement {
	first<T = Record<string, unknown>>(): Promise<T | null>;
	all<T = Record<string, unknown>>(): Promise<{ results: T[] }>;
	run(): Promise<{ changes: number }>;
}

/**
 * SQL on one user's object storage, shaped like D1's prepare/bind/first so
 * that a query reads the same wherever it runs. The tables are those of
 * src/account/schema.ts.
 */
export function userSql(userId: string, sql: string, ...params: unknown[]): Statement {
	const stub = accountStub(userId);
	const rows = () => runInDurableObject(stub, (_instance, state) => state.storage.sql.exec(sql, ...params).toArray());
	return {
		first: async <T>() => ((await rows())[0] ?? null) as T | null,
		all: async <T>() => ({ results: (await rows()) as T[] }),
		run: () =>
			runInDurableObject(stub, (_instance, state) => ({
				changes: state.storage.sql.exec(sql, ...params).rowsWritten,
			})),
	};
}

/** The user a credential id belongs to, from the directory. */
export async function credentialUser(credentialId: string): Promise<string | null> {
	const row = await env.DB.prepare("SELECT user_id FROM credentials WHERE credential_id = ?")
		.bind(credentialId)
		.first<{ user_id: string }>();
	return row?.user_id ?? null;
}
