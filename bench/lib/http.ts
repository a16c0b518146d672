/**
 * The benchmark's HTTP client: Node's fetch, a per-virtual-user cookie jar
 * (Better Auth keeps sessions and WebAuthn challenges in cookies) and a
 * bounded time per request, so a stuck server cannot hang the run.
 */

export const REQUEST_TIMEOUT_MS = 30_000;

export class CookieJar {
	private readonly cookies = new Map<string, string>();

	/** Takes the Set-Cookie lines of a response; an expired or emptied cookie is dropped. */
	store(headers: Headers): void {
		for (const line of headers.getSetCookie()) {
			const [pair = "", ...attributes] = line.split(";");
			const eq = pair.indexOf("=");
			if (eq <= 0) continue;
			const name = pair.slice(0, eq).trim();
			const value = pair.slice(eq + 1).trim();
			const expired = attributes.some((attribute) => /^\s*max-age\s*=\s*(0|-\d+)\s*$/i.test(attribute));
			if (expired || value === "") this.cookies.delete(name);
			else this.cookies.set(name, value);
		}
	}

	header(): string | undefined {
		if (this.cookies.size === 0) return undefined;
		return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
	}

	clear(): void {
		this.cookies.clear();
	}
}

export interface CallOptions {
	body?: unknown;
	headers?: Record<string, string>;
	jar?: CookieJar;
}

export interface CallResult<T> {
	status: number;
	body: T;
	headers: Headers;
	/** Client-side wall time of this one request, in milliseconds. */
	ms: number;
}

export class HttpError extends Error {
	readonly status: number;
	readonly step: string;
	readonly detail: string;

	constructor(status: number, step: string, detail: string) {
		super(`${step}: HTTP ${status} ${detail}`);
		this.status = status;
		this.step = step;
		this.detail = detail;
	}
}

/**
 * Watches each request of the CPU phase (one at a time, concurrency 1):
 * `before` runs just before the request is sent, `after` once its body is read.
 */
export interface RequestObserver {
	before(): unknown;
	after(token: unknown, method: string, path: string, result: CallResult<unknown>): void;
}

let observer: RequestObserver | null = null;

export function observeRequests(next: RequestObserver | null): void {
	observer = next;
}

export async function call<T = Record<string, unknown>>(
	base: string,
	method: string,
	path: string,
	options: CallOptions = {},
): Promise<CallResult<T>> {
	const headers: Record<string, string> = { accept: "application/json", ...options.headers };
	if (options.body !== undefined) headers["content-type"] = "application/json";
	const cookie = options.jar?.header();
	if (cookie) headers.cookie = cookie;
	const token = observer?.before();
	const started = performance.now();
	const response = await fetch(`${base}${path}`, {
		method,
		headers,
		...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
		signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
	});
	const text = await response.text();
	const ms = performance.now() - started;
	options.jar?.store(response.headers);
	let body: unknown = text;
	try {
		body = text ? JSON.parse(text) : null;
	} catch {
		// Not JSON: kept as text for the error message.
	}
	const result = { status: response.status, body: body as T, headers: response.headers, ms };
	observer?.after(token, method, path, result);
	return result;
}

/** Throws unless the status is the expected one; the error names the step and the server's code. */
export function expectStatus<T>(result: CallResult<T>, expected: number, step: string): CallResult<T> {
	if (result.status !== expected) {
		const body = result.body as { code?: string; message?: string } | string | null;
		const detail =
			typeof body === "object" && body !== null
				? (body.code ?? body.message ?? JSON.stringify(body).slice(0, 120))
				: String(body).slice(0, 120);
		throw new HttpError(result.status, step, detail);
	}
	return result;
}
