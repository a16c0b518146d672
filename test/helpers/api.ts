import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { app } from "../../src/app";

export const ORIGIN = "http://localhost:8787";
const BASE = "http://localhost:8787";

export interface CallOptions {
	token?: string;
	cookie?: string;
	body?: unknown;
	rawBody?: BodyInit;
	headers?: Record<string, string>;
	/** Browser requests send an Origin; default: the configured one for cookie calls. */
	origin?: string | null;
	app?: boolean;
}

export interface ApiResponse<T = Record<string, unknown>> {
	status: number;
	headers: Headers;
	body: T;
}

/** The request a client would send for these options. */
export function buildRequest(method: string, path: string, options: CallOptions = {}): Request {
	const headers = new Headers(options.headers);
	if (options.token) headers.set("authorization", `Bearer ${options.token}`);
	if (options.app) headers.set("x-client", "app");
	if (options.cookie) headers.set("cookie", options.cookie);
	const origin = options.origin === undefined ? (options.cookie ? ORIGIN : null) : options.origin;
	if (origin) headers.set("origin", origin);
	let body: BodyInit | undefined = options.rawBody;
	if (options.body !== undefined) {
		body = JSON.stringify(options.body);
		if (!headers.has("content-type")) headers.set("content-type", "application/json");
	}
	return new Request(`${BASE}${path}`, { method, headers, body });
}

/** Reads an answer: JSON when it parses, else the text, so a test can show it. */
export async function readResponse<T>(response: Response): Promise<ApiResponse<T>> {
	const text = await response.text();
	let parsed: unknown = text;
	try {
		parsed = JSON.parse(text);
	} catch {
		// Non-JSON bodies stay text.
	}
	return { status: response.status, headers: response.headers, body: parsed as T };
}

// Variables that every call adds to wrangler.toml's while `withVars` runs.
let varsInForce: Record<string, string> | null = null;

/**
 * Runs `run` with every `call` (and so every helper built on it) answered by
 * the app under wrangler.toml's environment plus `vars`, waiting for its
 * waitUntil work before returning. The bindings stay the real ones.
 */
export async function withVars<T>(vars: Record<string, string>, run: () => Promise<T>): Promise<T> {
	varsInForce = vars;
	try {
		return await run();
	} finally {
		varsInForce = null;
	}
}

/** Calls the Worker as a client would, through its default export. */
export async function call<T = Record<string, unknown>>(
	method: string,
	path: string,
	options: CallOptions = {},
): Promise<ApiResponse<T>> {
	if (varsInForce) {
		const ctx = createExecutionContext();
		const response = await app.fetch(buildRequest(method, path, options), { ...env, ...varsInForce }, ctx);
		await waitOnExecutionContext(ctx);
		return readResponse<T>(response);
	}
	return readResponse<T>(await exports.default.fetch(buildRequest(method, path, options)));
}

let counter = 0;
export function uniqueEmail(prefix = "user"): string {
	counter += 1;
	return `${prefix}-${Date.now().toString(36)}-${counter}-${crypto.randomUUID().slice(0, 8)}@example.com`;
}

export const PASSWORD = "correct horse battery staple";

export interface TestUser {
	id: string;
	email: string;
	token: string;
}

/** Signs up an app client with a fresh email and returns its bearer token. */
export async function signUp(email = uniqueEmail()): Promise<TestUser> {
	const response = await call<{ user: { id: string }; session_token: string }>("POST", "/api/auth/signup", {
		app: true,
		body: { email, password: PASSWORD },
	});
	if (response.status !== 201) throw new Error(`signup failed: ${response.status} ${JSON.stringify(response.body)}`);
	return { id: response.body.user.id, email, token: response.body.session_token };
}

export async function logIn(
	email: string,
	password = PASSWORD,
): Promise<ApiResponse<{ session_token: string; session: { level: string } }>> {
	return call("POST", "/api/auth/login", { app: true, body: { email, password } });
}

/** The full `Set-Cookie` line for the session cookie, if the response sets one. */
export function sessionSetCookie(headers: Headers): string | undefined {
	return headers.getSetCookie().find((line) => line.startsWith("__Host-pe_session="));
}

/** The session cookie a response sets, as a `Cookie` request header value; null when none or cleared. */
export function sessionCookie(headers: Headers): string | null {
	const line = sessionSetCookie(headers);
	const pair = line?.split(";")[0];
	return pair && pair !== "__Host-pe_session=" ? pair : null;
}

export interface BrowserUser {
	id: string;
	email: string;
	cookie: string;
}

/** Signs up as a browser (no X-Client) from the configured origin and returns its session cookie. */
export async function browserSignUp(email = uniqueEmail()): Promise<BrowserUser> {
	const response = await call<{ user: { id: string } }>("POST", "/api/auth/signup", {
		origin: ORIGIN,
		body: { email, password: PASSWORD },
	});
	const cookie = sessionCookie(response.headers);
	if (response.status !== 201 || !cookie) {
		throw new Error(`browser signup failed: ${response.status} ${JSON.stringify(response.body)}`);
	}
	return { id: response.body.user.id, email, cookie };
}
