import { createExecutionContext, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { getTableColumns, getTableName } from "drizzle-orm";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";
import { expect } from "vitest";
import { account, passkeys, recoveryCodes, sessions, totpCredentials } from "../../src/account/schema";
import { app } from "../../src/app";
import { loginLimiterFor, userStateFor } from "../../src/durable/stubs";
import { ERRORS, type ErrorCode } from "../../src/lib/errors";
import { credentials, users } from "../../src/storage/schema";
import { type ApiResponse, call } from "./api";

// What the property-based bad-input suites share: the OpenAPI document as
// the oracle of what each route may answer, one request at a time through
// the Worker, and a user's own rows as the proof that a refused request
// changed nothing. Counting a user's rows (not whole tables) keeps the
// check exact while other test files write their own users concurrently.

export const BASE = "http://localhost:8787";

/** Ceremony failures: well-formed attempts that fail; they consume a challenge and count toward the limits. */
export const CEREMONY_CODES = new Set<string>(["verification_failed", "challenge_expired", "invalid_code"]);

export interface Documented {
	/** Documented statuses of the operation. */
	statuses: Set<number>;
	/** Documented error codes of the operation (from the examples of its error responses). */
	codes: Set<string>;
}

interface OperationDoc {
	responses: Record<string, { content?: Record<string, { examples?: Record<string, unknown> }> }>;
}

export type OpenApiIndex = Map<string, Documented>;

export async function openApiIndex(): Promise<OpenApiIndex> {
	const response = await call<{ paths: Record<string, Record<string, OperationDoc>> }>("GET", "/api/openapi.json");
	const index: OpenApiIndex = new Map();
	for (const [path, item] of Object.entries(response.body.paths)) {
		for (const [method, operation] of Object.entries(item)) {
			const statuses = new Set(Object.keys(operation.responses).map(Number));
			const codes = new Set(
				Object.values(operation.responses).flatMap((r) => Object.keys(r.content?.["application/json"]?.examples ?? {})),
			);
			index.set(`${method.toUpperCase()} ${path}`, { statuses, codes });
		}
	}
	return index;
}

/** The documented operation a concrete request goes to ("PATCH /api/webauthn/{id}"). */
export function operationOf(method: string, url: string): string {
	const path = new URL(url).pathname.replace(/(.)\/$/, "$1");
	const id = /^\/api\/webauthn\/(?!register$|authenticate$|verify$)[^/]+$/.test(path);
	return `${method.toUpperCase()} ${id ? "/api/webauthn/{id}" : path}`;
}

export interface Answer {
	status: number;
	headers: Headers;
	body: unknown;
	text: string;
}

let sent = 0;
const outcomes = new Map<string, number>();
/** How many requests this file has sent through `send`. */
export function requestsSent(): number {
	return sent;
}

/** How the answers were spread ("PATCH /api/webauthn/{id} 400 invalid_request": 123), for the log. */
export function outcomeSummary(): string {
	return [...outcomes]
		.sort(([a], [b]) => a.localeCompare(b))
		.map(([outcome, n]) => `  ${outcome}: ${n}`)
		.join("\n");
}

/**
 * One request to the Worker. `through: "entry"` sends it as a client would,
 * through the Worker's default export and the runtime (the header variants
 * need that); "app" hands it to the same Hono app with the same bindings,
 * directly, which costs a millisecond less per request over thousands.
 */
export async function send(request: Request, through: "entry" | "app" = "app"): Promise<Answer> {
	sent += 1;
	let response: Response;
	if (through === "entry") {
		response = await exports.default.fetch(request);
	} else {
		const ctx = createExecutionContext();
		response = await app.fetch(request, env, ctx);
		await waitOnExecutionContext(ctx);
	}
	const text = await response.text();
	let body: unknown = text;
	try {
		body = JSON.parse(text);
	} catch {
		// Kept as text: the assertion shows it.
	}
	return { status: response.status, headers: response.headers, body, text };
}

// API.md: the token keys and the discovery document are public and cached
// for 5 minutes; every other answer is never cached.
const CACHEABLE = new Map([
	["GET /.well-known/jwks.json", "public, max-age=300"],
	["GET /.well-known/openid-configuration", "public, max-age=300"],
]);

/**
 * The property every answer holds: never a 5xx; a status the document lists
 * for the route; for an error, exactly API.md's envelope with one of the
 * route's documented codes; and the headers of an auth answer.
 */
export function expectDocumentedAnswer(index: OpenApiIndex, request: Request, answer: Answer): void {
	const operation = operationOf(request.method, request.url);
	const documented = index.get(operation);
	const where = `${operation} → ${answer.status} ${answer.text.slice(0, 300)}`;
	const code = (answer.body as { code?: string } | null)?.code;
	const outcome = `${operation} ${answer.status}${code ? ` ${code}` : ""}`;
	outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
	expect(documented, where).toBeDefined();
	expect(answer.status, where).toBeLessThan(500);
	expect(documented?.statuses.has(answer.status), where).toBe(true);
	expect(answer.headers.get("x-content-type-options"), where).toBe("nosniff");
	const cache = answer.status === 200 ? (CACHEABLE.get(operation) ?? "no-store") : "no-store";
	expect(answer.headers.get("cache-control"), where).toBe(cache);
	expect(answer.headers.get("content-type"), where).toMatch(/^application\/json/);
	const body = answer.body as Record<string, unknown>;
	expect(typeof body === "object" && body !== null && !Array.isArray(body), where).toBe(true);
	if (answer.status >= 400) {
		const keys = Object.keys(body).sort();
		expect(keys, where).toEqual(
			"fields" in body ? ["code", "fields", "message", "success"] : ["code", "message", "success"],
		);
		expect(body.success, where).toBe(false);
		expect(documented?.codes.has(body.code as string), where).toBe(true);
		expect(ERRORS[body.code as ErrorCode]?.[0], where).toBe(answer.status);
		expect(typeof body.message === "string" && body.message.length > 0, where).toBe(true);
		if ("fields" in body) {
			expect(code, where).toBe("invalid_request");
			for (const problem of Object.values(body.fields as object)) expect(typeof problem, where).toBe("string");
		}
	} else if (operation === "GET /api/openapi.json") {
		// The successes that are documents, not envelopes.
		expect(body.openapi, where).toBe("3.1.0");
	} else if (operation === "GET /.well-known/jwks.json") {
		const keys = body.keys as Record<string, unknown>[];
		expect(Array.isArray(keys) && keys.length > 0, where).toBe(true);
		for (const key of keys)
			expect(Object.keys(key).sort(), where).toEqual(["alg", "crv", "kid", "kty", "use", "x", "y"]);
	} else if (operation === "GET /.well-known/openid-configuration") {
		expect(typeof body.issuer === "string" && typeof body.jwks_uri === "string", where).toBe(true);
	} else {
		expect(body.success, where).toBe(true);
	}
}

// One statement that returns every column of every row of a user, as JSON:
// the columns come from the drizzle schema, so a new column is covered too.
function rowsOf(table: SQLiteTable, userColumn: string, order: string): string {
	const columns = Object.values(getTableColumns(table)).map((column) => column.name);
	const name = getTableName(table);
	return `(SELECT json_group_array(json_array(${columns.join(", ")})) FROM (SELECT * FROM ${name} WHERE ${userColumn} = ?1 ORDER BY ${order}))`;
}

const DIRECTORY_ROWS = `SELECT ${[rowsOf(users, "id", "id"), rowsOf(credentials, "user_id", "credential_id")].join(" || '|' || ")} AS rows`;

const ACCOUNT_ROWS = `SELECT ${[
	rowsOf(account, "user_id", "id"),
	rowsOf(sessions, "user_id", "id"),
	rowsOf(passkeys, "user_id", "id"),
	rowsOf(totpCredentials, "user_id", "user_id"),
	rowsOf(recoveryCodes, "user_id", "id"),
].join(" || '|' || ")} AS rows`;

/**
 * Every row that belongs to a user, in the directory (D1) and in their
 * object, each in one statement: equal snapshots mean nothing changed.
 */
export async function userRows(userId: string): Promise<string> {
	const directory = await env.DB.prepare(DIRECTORY_ROWS).bind(userId).first<{ rows: string }>();
	const own = await runInDurableObject(
		userStateFor(env.USER_STATE, userId),
		(_, state) =>
			state.storage.sql.exec<{ rows: string }>(ACCOUNT_ROWS.replaceAll("?1", "?"), ...Array(5).fill(userId)).one().rows,
	);
	return `${directory?.rows ?? ""}|${own}`;
}

export interface DurableState {
	/** Attempts counted toward the second-factor limit (failures and those in flight). */
	attempts: number;
	/** Pending challenges and set-ups, by key. */
	pending: Record<string, string>;
}

/** What the user's Durable Object holds: the counters and the pending challenges. */
export async function durableState(userId: string): Promise<DurableState> {
	return runInDurableObject(userStateFor(env.USER_STATE, userId), (_, state) => {
		const sql = state.storage.sql;
		const attempts = sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM attempts").one().n;
		const pending = Object.fromEntries(
			sql
				.exec<{ key: string; value: string }>("SELECT key, value FROM pending ORDER BY key")
				.toArray()
				.map((row) => [row.key, row.value]),
		);
		return { attempts, pending };
	});
}

/** Forgets the user's counted attempts, so a long run of failures does not lock the property out. */
export async function clearAttempts(userId: string): Promise<void> {
	await runInDurableObject(userStateFor(env.USER_STATE, userId), (_, state) => {
		state.storage.sql.exec("DELETE FROM attempts");
	});
}

/** Forgets the failed passwords counted for an email, for the same reason. */
export async function clearPasswordLimiter(email: string): Promise<void> {
	await runInDurableObject(await loginLimiterFor(env.USER_STATE, email), (_, state) => {
		state.storage.sql.exec("DELETE FROM attempts");
	});
}

export function jsonRequest(
	method: string,
	path: string,
	body: string | undefined,
	headers: Record<string, string> = {},
): Request {
	return new Request(`${BASE}${path}`, {
		method,
		headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
		...(body === undefined ? {} : { body }),
	});
}

export type { ApiResponse };
