import { env } from "cloudflare:workers";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { issueSession, resolveSession } from "../../src/services/sessions";
import { ORIGIN, type TestUser } from "../helpers/api";
import {
	BASE,
	durableState,
	expectDocumentedAnswer,
	type OpenApiIndex,
	openApiIndex,
	outcomeSummary,
	requestsSent,
	send,
	userRows,
} from "../helpers/property";
import { userWithTotp } from "../helpers/totp";

// Property, against a model of API.md's checks: whatever the headers —
// Content-Type absent or in odd case, Origin absent, `null`, foreign or
// almost ours, Sec-Fetch-Site of any kind, a bearer token and a cookie
// together, the session cookie twice or under its old name, a malformed
// Authorization, X-Client in any case — every route answers exactly what
// the first failing check in API.md's order says (route → body is JSON →
// session → Origin of a cookie request → level → recent → body fields →
// the route's own rules), gives CORS access only to the configured origin,
// and a refused request changes none of the user's rows.

const RUNS = 3300;

let index: OpenApiIndex;
let user: TestUser;
const tokens = { full: "", partial: "" };

async function mint(level: "full" | "partial"): Promise<string> {
	return (await issueSession(env.USER_STATE, { ...user, externalId: null }, level)).token;
}

async function stillLive(token: string): Promise<boolean> {
	return (await resolveSession(env.USER_STATE, token)) !== null;
}

beforeAll(async () => {
	index = await openApiIndex();
	// The user has an authenticator app (and so recovery codes), no passkey.
	user = (await userWithTotp()).user;
	tokens.full = await mint("full");
	tokens.partial = await mint("partial");
});

afterAll(() => {
	console.log(`property-headers: ${requestsSent()} generated requests\n${outcomeSummary()}`);
	expect(requestsSent()).toBeGreaterThanOrEqual(RUNS);
});

// --- the routes, and what each answers once every check has passed ----------------------------------------

type Outcome = { status: number; code?: string };

interface Route {
	method: string;
	path: string;
	/** required: a JSON body is sent; optional: a body may be sent (and is held to the JSON rules); none: GET. */
	body: "required" | "optional" | "none";
	/** An optional body the route reads (not just holds to the JSON rules): text that is not JSON is a 400. */
	readsOptionalBody?: true;
	/** creation: no session, but a browser's foreign Origin is refused; 2fa / full: the session needed. */
	gate: "public" | "creation" | "2fa" | "full";
	recent?: boolean;
	/** The benign body sent, chosen so the route refuses it at its own rules, or succeeds harmlessly. */
	json?: unknown;
	terminal: Outcome;
}

const ROUTES: Route[] = [
	{
		method: "POST",
		path: "/api/auth/signup/",
		body: "required",
		gate: "creation",
		json: { email: "not an email", password: "x" },
		terminal: { status: 400, code: "invalid_request" },
	},
	{
		method: "POST",
		path: "/api/auth/login/",
		body: "required",
		gate: "creation",
		json: {},
		terminal: { status: 400, code: "invalid_request" },
	},
	{ method: "POST", path: "/api/auth/logout/", body: "optional", gate: "2fa", terminal: { status: 200 } },
	{ method: "GET", path: "/api/auth/session/", body: "none", gate: "2fa", terminal: { status: 200 } },
	{
		method: "POST",
		path: "/api/auth/reauthenticate/",
		body: "required",
		gate: "full",
		json: {},
		terminal: { status: 400, code: "invalid_request" },
	},
	// A body the sign-up rules refuse: the password stays the same.
	{
		method: "POST",
		path: "/api/auth/password/",
		body: "required",
		gate: "full",
		recent: true,
		json: { password: "short" },
		terminal: { status: 400, code: "invalid_request" },
	},
	{
		method: "POST",
		path: "/api/auth/sessions/revoke-others/",
		body: "optional",
		gate: "full",
		recent: true,
		terminal: { status: 200 },
	},
	{ method: "GET", path: "/api/auth/passkey/options/", body: "none", gate: "public", terminal: { status: 200 } },
	{
		method: "POST",
		path: "/api/auth/passkey/login/",
		body: "required",
		gate: "creation",
		json: {},
		terminal: { status: 400, code: "invalid_request" },
	},
	{
		method: "GET",
		path: "/api/webauthn/register/options/",
		body: "none",
		gate: "full",
		recent: true,
		terminal: { status: 200 },
	},
	{
		method: "POST",
		path: "/api/webauthn/register/complete/",
		body: "required",
		gate: "full",
		recent: true,
		json: {},
		terminal: { status: 400, code: "invalid_request" },
	},
	// The user has no passkey to verify with.
	{
		method: "GET",
		path: "/api/webauthn/authenticate/options/",
		body: "none",
		gate: "2fa",
		terminal: { status: 400, code: "invalid_request" },
	},
	{
		method: "POST",
		path: "/api/webauthn/verify/",
		body: "required",
		gate: "2fa",
		json: {},
		terminal: { status: 400, code: "invalid_request" },
	},
	{ method: "GET", path: "/api/webauthn/", body: "none", gate: "full", terminal: { status: 200 } },
	{
		method: "PATCH",
		path: "/api/webauthn/not-a-passkey/",
		body: "required",
		gate: "full",
		json: { name: "Renamed" },
		terminal: { status: 404, code: "not_found" },
	},
	{
		method: "DELETE",
		path: "/api/webauthn/not-a-passkey/",
		body: "optional",
		gate: "full",
		recent: true,
		terminal: { status: 404, code: "not_found" },
	},
	{ method: "GET", path: "/api/totp/", body: "none", gate: "full", terminal: { status: 200 } },
	{
		method: "POST",
		path: "/api/totp/setup/",
		body: "optional",
		gate: "full",
		recent: true,
		terminal: { status: 409, code: "already_enabled" },
	},
	{
		method: "POST",
		path: "/api/totp/activate/",
		body: "required",
		gate: "full",
		recent: true,
		json: {},
		terminal: { status: 400, code: "invalid_request" },
	},
	{
		method: "POST",
		path: "/api/totp/verify/",
		body: "required",
		gate: "2fa",
		json: {},
		terminal: { status: 400, code: "invalid_request" },
	},
	// The authenticator app is the user's only one.
	{
		method: "DELETE",
		path: "/api/totp/",
		body: "optional",
		gate: "full",
		recent: true,
		terminal: { status: 400, code: "last_authenticator" },
	},
	{ method: "GET", path: "/api/recovery-codes/", body: "none", gate: "full", terminal: { status: 200 } },
	{
		method: "POST",
		path: "/api/recovery-codes/regenerate/",
		body: "optional",
		gate: "full",
		recent: true,
		terminal: { status: 200 },
	},
	{
		method: "POST",
		path: "/api/recovery-codes/verify/",
		body: "required",
		gate: "2fa",
		json: {},
		terminal: { status: 400, code: "invalid_request" },
	},
	{ method: "GET", path: "/api/health/", body: "none", gate: "public", terminal: { status: 200 } },
	{ method: "GET", path: "/api/openapi.json", body: "none", gate: "public", terminal: { status: 200 } },
	{
		method: "GET",
		path: "/.well-known/webauthn",
		body: "none",
		gate: "public",
		terminal: { status: 404, code: "not_found" },
	},
	{
		method: "GET",
		path: "/.well-known/assetlinks.json",
		body: "none",
		gate: "public",
		terminal: { status: 404, code: "not_found" },
	},
	{
		method: "GET",
		path: "/.well-known/apple-app-site-association",
		body: "none",
		gate: "public",
		terminal: { status: 404, code: "not_found" },
	},
	{
		method: "POST",
		path: "/api/auth/token/",
		body: "optional",
		readsOptionalBody: true,
		gate: "full",
		terminal: { status: 200 },
	},
	{ method: "GET", path: "/.well-known/jwks.json", body: "none", gate: "public", terminal: { status: 200 } },
	{ method: "GET", path: "/.well-known/openid-configuration", body: "none", gate: "public", terminal: { status: 200 } },
];

const ENDS_SESSIONS = new Set(["/api/auth/logout/", "/api/auth/sessions/revoke-others/"]);

// --- header variants -------------------------------------------------------------------------------------

const JSON_CONTENT_TYPES = [
	"application/json",
	"Application/JSON; charset=UTF-8",
	"application/json;charset=utf-8",
	"APPLICATION/JSON",
	"application/json; charset=utf-8; x=y",
	// RFC 9110: whitespace is allowed before a parameter's ";" too.
	"application/json ; q=1",
];

const OTHER_CONTENT_TYPES = [
	undefined,
	"",
	"application/json;",
	"application/json; charset",
	"application/vnd.api+json",
	"text/plain",
	"text/json",
	"application/jsonp",
	"application/json-seq",
	"application/x-www-form-urlencoded",
	"multipart/form-data; boundary=x",
	"application/ json",
];

const ORIGINS = [
	undefined,
	ORIGIN,
	"null",
	"https://evil.example",
	`${ORIGIN}/`,
	ORIGIN.toUpperCase(),
	"http://localhost:8788",
	"https://localhost:8787",
	"http://localhost:8787.evil.example",
];

type SessionRef = "full" | "partial" | "fresh-full" | "unknown" | "too-long";

interface AuthVariant {
	name: string;
	authorization?: { scheme: string; token?: SessionRef; trailing?: string } | { raw: string };
	cookie?: SessionRef | { raw: string };
	/** A second `__Host-pe_session` pair after the first. */
	extraCookie?: SessionRef;
	/** The unprefixed `pe_session` of earlier versions, sent first. */
	legacyCookie?: SessionRef;
}

const AUTH_VARIANTS: AuthVariant[] = [
	{ name: "nothing" },
	{ name: "bearer full", authorization: { scheme: "Bearer", token: "full" } },
	{ name: "bearer partial", authorization: { scheme: "Bearer", token: "partial" } },
	{ name: "cookie full", cookie: "full" },
	{ name: "cookie partial", cookie: "partial" },
	{ name: "bearer partial, cookie full", authorization: { scheme: "Bearer", token: "partial" }, cookie: "full" },
	{ name: "bearer full, cookie partial", authorization: { scheme: "Bearer", token: "full" }, cookie: "partial" },
	{ name: "bearer unknown, cookie full", authorization: { scheme: "Bearer", token: "unknown" }, cookie: "full" },
	{ name: "bearer too long", authorization: { scheme: "Bearer", token: "too-long" } },
	{ name: "lower-case scheme", authorization: { scheme: "bearer", token: "full" } },
	{ name: "upper-case scheme", authorization: { scheme: "BEARER", token: "full" } },
	{ name: "spaces around", authorization: { scheme: "Bearer   ", token: "full", trailing: "   " } },
	{ name: "two tokens", authorization: { scheme: "Bearer", token: "full", trailing: " extra" } },
	{ name: "Basic, cookie full", authorization: { raw: "Basic dXNlcjpwYXNz" }, cookie: "full" },
	{ name: "empty Authorization, cookie full", authorization: { raw: "" }, cookie: "full" },
	{ name: "scheme only", authorization: { raw: "Bearer" } },
	{ name: "bad characters", authorization: { raw: "Bearer !!!" } },
	{ name: "Token scheme", authorization: { scheme: "Token", token: "full" } },
	{ name: "cookie garbage", cookie: { raw: "__Host-pe_session=%E0%A4%A" } },
	{ name: "cookie of another name", cookie: { raw: "session=x; __Host-pe_sessionx=y" } },
	{ name: "cookie twice", cookie: "full", extraCookie: "full" },
	{ name: "cookie twice, partial first", cookie: "partial", extraCookie: "full" },
	{
		name: "bearer full, cookie twice",
		authorization: { scheme: "Bearer", token: "full" },
		cookie: "full",
		extraCookie: "full",
	},
	{ name: "cookie under its old name", legacyCookie: "full" },
	{ name: "cookie under its old name and its own", legacyCookie: "partial", cookie: "full" },
	{ name: "cookie unknown", cookie: "unknown" },
	{ name: "fresh full (for logout)", authorization: { scheme: "Bearer", token: "fresh-full" } },
	{ name: "fresh full cookie (for logout)", cookie: "fresh-full" },
];

/** Printable ASCII: what an Authorization header can carry. */
const headerText = fc.string({
	unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
	maxLength: 60,
});

const authVariant: fc.Arbitrary<AuthVariant> = fc.oneof(
	{ weight: 6, arbitrary: fc.constantFrom(...AUTH_VARIANTS) },
	{
		weight: 1,
		arbitrary: fc
			.tuple(headerText, fc.constantFrom<SessionRef | undefined>(undefined, "full"))
			.map(([raw, cookie]) => ({
				name: "random Authorization",
				authorization: { raw },
				...(cookie ? { cookie } : {}),
			})),
	},
);

interface Case {
	route: Route;
	contentType: string | undefined;
	/** For optional-body routes: none, a JSON object, or text that is not JSON. */
	optionalBody: "none" | "json" | "text";
	auth: AuthVariant;
	origin: string | undefined;
	secFetchSite: string | undefined;
	xClient: string | undefined;
}

const cases: fc.Arbitrary<Case> = fc.record({
	route: fc.constantFrom(...ROUTES),
	contentType: fc.oneof(
		{ weight: 3, arbitrary: fc.constantFrom(...JSON_CONTENT_TYPES) },
		{ weight: 2, arbitrary: fc.constantFrom(...OTHER_CONTENT_TYPES) },
	),
	optionalBody: fc.constantFrom("none" as const, "json" as const, "text" as const),
	auth: authVariant,
	origin: fc.constantFrom(...ORIGINS),
	secFetchSite: fc.constantFrom(undefined, undefined, "same-origin", "same-site", "none", "cross-site", " Cross-Site "),
	xClient: fc.constantFrom(undefined, "app", "APP", " App ", "browser", "application"),
});

// --- the model -------------------------------------------------------------------------------------------

// API.md: JSON is `application/json`, in any case, with `; name=value` parameters (RFC 9110: whitespace around the ";").
const JSON_MEDIA_TYPE = /^application\/json(\s*;\s*[a-zA-Z0-9-]+=[^;]+)*$/i;
const BEARER = /^Bearer\s+([A-Za-z0-9_.-]+)\s*$/i;
const UNSAFE = new Set(["POST", "PATCH", "DELETE"]);

interface Sent {
	headers: Headers;
	body: string | undefined;
	/** The level each token stands for, by token. */
	levels: Map<string, "full" | "partial">;
}

async function tokenFor(ref: SessionRef, levels: Map<string, "full" | "partial">): Promise<string> {
	switch (ref) {
		case "full":
		case "partial": {
			levels.set(tokens[ref], ref);
			return tokens[ref];
		}
		case "fresh-full": {
			const token = await mint("full");
			levels.set(token, "full");
			return token;
		}
		case "unknown":
			return "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
		case "too-long":
			return "A".repeat(129);
	}
}

async function build(c: Case): Promise<Sent> {
	const headers = new Headers();
	const levels = new Map<string, "full" | "partial">();
	const authorization = c.auth.authorization;
	if (authorization && "raw" in authorization) headers.set("authorization", authorization.raw);
	else if (authorization) {
		const token = authorization.token ? await tokenFor(authorization.token, levels) : "";
		headers.set("authorization", `${authorization.scheme} ${token}${authorization.trailing ?? ""}`);
	}
	const cookies: string[] = [];
	if (c.auth.legacyCookie) cookies.push(`pe_session=${await tokenFor(c.auth.legacyCookie, levels)}`);
	if (c.auth.cookie && typeof c.auth.cookie === "object") cookies.push(c.auth.cookie.raw);
	else if (c.auth.cookie) cookies.push(`__Host-pe_session=${await tokenFor(c.auth.cookie, levels)}`);
	if (c.auth.extraCookie) cookies.push(`__Host-pe_session=${await tokenFor(c.auth.extraCookie, levels)}`);
	if (cookies.length > 0) headers.set("cookie", cookies.join("; "));
	if (c.origin !== undefined) headers.set("origin", c.origin);
	if (c.secFetchSite !== undefined) headers.set("sec-fetch-site", c.secFetchSite);
	if (c.xClient !== undefined) headers.set("x-client", c.xClient);
	if (c.contentType !== undefined) headers.set("content-type", c.contentType);
	let body: string | undefined;
	if (c.route.body === "required") body = JSON.stringify(c.route.json);
	if (c.route.body === "optional" && c.optionalBody !== "none") body = c.optionalBody === "json" ? "{}" : "not json";
	return { headers, body, levels };
}

/** What API.md's order of checks says this request gets. */
function predict(c: Case, sent: Sent): Outcome {
	const { route } = c;
	// An empty header is no header (Hono reads it as undefined): an empty Authorization falls back to the cookie.
	const header = (name: string) => sent.headers.get(name) || undefined;
	// A body sent without a Content-Type is text/plain to the Worker (the Request adds it).
	const contentType = header("content-type") ?? (sent.body !== undefined ? "text/plain;charset=UTF-8" : undefined);
	if (route.body !== "none") {
		const passesWithout = route.body === "optional" && sent.body === undefined && !contentType;
		if (!passesWithout && !(contentType && JSON_MEDIA_TYPE.test(contentType.trim()))) {
			return { status: 415, code: "unsupported_media_type" };
		}
	}
	const origin = header("origin");
	const allowedOrigin = origin === ORIGIN;
	if (route.gate === "creation") {
		const app = header("x-client")?.toLowerCase() === "app";
		if (origin !== undefined && !app && !allowedOrigin) return { status: 403, code: "csrf_failed" };
		return route.terminal;
	}
	if (route.gate === "public") return route.terminal;

	const authorization = header("authorization");
	let bearer: string | null | undefined;
	if (authorization !== undefined) bearer = BEARER.exec(authorization)?.[1] ?? null;
	// The session cookie twice is refused outright; the old name is never read.
	const cookieTokens = [...(header("cookie") ?? "").matchAll(/(?:^|;\s*)__Host-pe_session=([^;]*)/g)].map((m) => m[1]);
	if (bearer === null || cookieTokens.length > 1) return { status: 401, code: "not_authenticated" };
	const token = bearer ?? cookieTokens[0];
	const level = token ? sent.levels.get(token) : undefined;
	if (!level) return { status: 401, code: "not_authenticated" };
	// A cookie request another site started is refused whatever its method; an unsafe one needs our Origin.
	const crossSite = header("sec-fetch-site")?.trim().toLowerCase() === "cross-site";
	if (!bearer && (crossSite || (UNSAFE.has(route.method) && !allowedOrigin)))
		return { status: 403, code: "csrf_failed" };
	if (route.gate === "full" && level !== "full") return { status: 403, code: "mfa_required" };
	if (route.readsOptionalBody && sent.body === "not json") return { status: 400, code: "invalid_request" };
	return route.terminal;
}

describe("header variants on every route", () => {
	it("answer as the model of API.md's checks says, with CORS only for the configured origin", async () => {
		let rows = await userRows(user.id);
		await fc.assert(
			fc.asyncProperty(cases, async (c) => {
				const sent = await build(c);
				if (c.auth.name.startsWith("fresh")) rows = await userRows(user.id);
				const request = new Request(`${BASE}${c.route.path}`, {
					method: c.route.method,
					headers: sent.headers,
					...(sent.body === undefined ? {} : { body: sent.body }),
				});
				// Through the Worker entry: the runtime reads these headers first.
				const answer = await send(request, "entry");
				expectDocumentedAnswer(index, request, answer);
				const code = (answer.body as { code?: string }).code;
				const expected = predict(c, sent);
				expect({ status: answer.status, ...(code ? { code } : {}) }, `${c.route.method} ${c.route.path}`).toEqual(
					expected,
				);

				const allowed = c.origin === ORIGIN;
				expect(answer.headers.get("access-control-allow-origin")).toBe(allowed ? ORIGIN : null);
				expect(answer.headers.get("access-control-allow-credentials")).toBe(allowed ? "true" : null);

				const after = await userRows(user.id);
				if (answer.status >= 400) expect(after).toBe(rows);
				rows = after;
				// A logout that passed ended the session it used, a revoke-others every other one: later cases get new ones.
				if (ENDS_SESSIONS.has(c.route.path) && answer.status === 200) {
					for (const level of ["full", "partial"] as const) {
						if (!(await stillLive(tokens[level]))) tokens[level] = await mint(level);
					}
					rows = await userRows(user.id);
				}
			}),
			{ numRuns: RUNS },
		);
		// None of it counted as a second-factor attempt.
		expect((await durableState(user.id)).attempts).toBe(0);
	});
});
