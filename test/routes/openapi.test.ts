import { validate } from "@readme/openapi-parser";
import { beforeAll, describe, expect, it } from "vitest";
// The contract itself: the copy in docs/API.md, which `npm run check` holds equal
// to the team's shared/API.md beside the repository when that is there.
import apiMd from "../../docs/API.md?raw";
import { SESSION_COOKIE } from "../../src/http/session-response";
import { ERRORS, type ErrorCode } from "../../src/lib/errors";
import { ErrorEnvelope, Passkey, SessionListEntry, SessionView, Success } from "../../src/routes/schemas";
import { call } from "../helpers/api";

// GET /api/openapi.json is generated from the zod definitions that validate
// the requests. These tests hold it to API.md (every route, nothing more),
// to an OpenAPI validator, and to what a client author needs from it: how
// each route is authenticated, its request and response schemas, and the
// error envelope with the codes each route can answer.

interface Operation {
	security?: Record<string, string[]>[];
	parameters?: { name: string; in: string }[];
	requestBody?: { required?: boolean; content: Record<string, { schema: unknown }> };
	responses: Record<
		string,
		{
			description: string;
			headers?: Record<string, unknown>;
			content?: Record<string, { schema?: unknown; examples?: Record<string, { value: unknown }> }>;
		}
	>;
}

interface Document {
	openapi: string;
	paths: Record<string, Record<string, Operation>>;
	components: {
		schemas: Record<string, { example?: unknown }>;
		securitySchemes: Record<string, Record<string, unknown>>;
	};
	security: unknown;
}

const METHODS = ["get", "post", "put", "patch", "delete"];

/** `METHOD /path` of every route API.md names, without trailing slash, `<id>` as `{id}`. */
function routesOfApiMd(): Set<string> {
	const routes = new Set<string>();
	for (const [, method, path] of apiMd.matchAll(/`(GET|POST|PUT|PATCH|DELETE) (\/[^`?\s]*)[^`]*`/g)) {
		const normalized = (path as string).replace(/<(\w+)>/g, "{$1}").replace(/(.)\/$/, "$1");
		routes.add(`${method} ${normalized}`);
	}
	return routes;
}

function operations(doc: Document): [string, Operation][] {
	return Object.entries(doc.paths).flatMap(([path, item]) =>
		Object.entries(item)
			.filter(([method]) => METHODS.includes(method))
			.map(([method, operation]): [string, Operation] => [`${method.toUpperCase()} ${path}`, operation]),
	);
}

// Routes that need no session: their operations say `security: []`.
const PUBLIC_ROUTES = [
	"POST /api/auth/signup",
	"POST /api/auth/login",
	"GET /api/auth/passkey/options",
	"POST /api/auth/passkey/login",
	"POST /api/auth/signup/passkey/options",
	"POST /api/auth/signup/passkey/complete",
	"GET /api/health",
	"GET /api/openapi.json",
	"GET /.well-known/webauthn",
	"GET /.well-known/assetlinks.json",
	"GET /.well-known/apple-app-site-association",
	"GET /.well-known/jwks.json",
	"GET /.well-known/openid-configuration",
];

// The server API: a server key, and never a user's session.
const SERVER_ROUTES = [
	"PUT /api/server/users/{external_id}",
	"GET /api/server/users/{external_id}",
	"DELETE /api/server/users/{external_id}",
	"POST /api/server/users/{external_id}/sessions",
	"DELETE /api/server/users/{external_id}/sessions",
	"POST /api/server/users/{external_id}/second-factors/reset",
];

// API.md: PUT answers 200 (updated) or 201 (created); every other route has one success status.
const SUCCESSES: Record<string, string[]> = { "PUT /api/server/users/{external_id}": ["200", "201"] };

// Routes whose JSON body API.md defines (the others take none).
const BODY_ROUTES = [
	"PUT /api/server/users/{external_id}",
	"POST /api/server/users/{external_id}/sessions",
	"POST /api/auth/signup",
	"POST /api/auth/login",
	"POST /api/auth/reauthenticate",
	"POST /api/auth/password",
	"POST /api/auth/passkey/login",
	"POST /api/auth/signup/passkey/options",
	"POST /api/auth/signup/passkey/complete",
	"POST /api/webauthn/register/complete",
	"POST /api/webauthn/verify",
	"PATCH /api/webauthn/{id}",
	"POST /api/totp/activate",
	"POST /api/totp/verify",
	"POST /api/recovery-codes/verify",
];

// Routes whose JSON body is optional (API.md: `{"audience"?}`): described, not required.
const OPTIONAL_BODY_ROUTES = ["POST /api/auth/token"];

// Routes that create or upgrade a session: X-Client: app gets the token in the body.
const TOKEN_ROUTES = [
	"POST /api/auth/signup",
	"POST /api/auth/login",
	"POST /api/auth/passkey/login",
	"POST /api/auth/signup/passkey/complete",
	"POST /api/webauthn/verify",
	"POST /api/totp/verify",
	"POST /api/recovery-codes/verify",
	// A setup_required session becomes full under a new token when its first factor is added (REQUIRE_SECOND_FACTOR).
	"POST /api/webauthn/register/complete",
	"POST /api/totp/activate",
];

// Routes that touch no storage: no 503.
const PURE_ROUTES = [
	"GET /api/health",
	"GET /api/openapi.json",
	"GET /.well-known/webauthn",
	"GET /.well-known/assetlinks.json",
	"GET /.well-known/apple-app-site-association",
	"GET /.well-known/jwks.json",
	"GET /.well-known/openid-configuration",
];

let doc: Document;
beforeAll(async () => {
	const response = await call<Document>("GET", "/api/openapi.json");
	expect(response.status).toBe(200);
	doc = response.body;
});

describe("GET /api/openapi.json", () => {
	it("is a valid OpenAPI 3.1 document", async () => {
		expect(doc.openapi).toBe("3.1.0");
		// The validator dereferences in place: give it a copy.
		const result = await validate(structuredClone(doc) as never);
		expect(result).toMatchObject({ valid: true, warnings: [] });
	});

	it("the validator in use refuses a broken document", async () => {
		const broken = structuredClone(doc) as unknown as Document;
		const health = broken.paths["/api/health"] as Record<string, Operation>;
		health.get = { responses: { 200: {} as { description: string } } };
		(broken.paths["/api/webauthn/{id}"] as Record<string, Operation>).patch = {
			responses: { 200: { description: "no parameter for {id}" } },
		};
		const result = await validate(broken as never);
		expect(result.valid).toBe(false);
	});

	it("lists exactly the routes of API.md that are built, without trailing slashes", () => {
		const documented = operations(doc).map(([route]) => route);
		const contract = routesOfApiMd();
		// API.md names 43 routes; a parsing slip would show here first.
		expect(contract.size).toBe(43);
		// Every route of the contract is built and documented, and nothing else.
		expect(new Set(documented)).toEqual(contract);
		expect(documented).toHaveLength(contract.size);
		for (const path of Object.keys(doc.paths)) expect(path).not.toMatch(/.\/$/);
	});

	it("does not list the page of the reference itself", () => {
		expect(Object.keys(doc.paths).filter((path) => path.startsWith("/api/docs"))).toEqual([]);
	});

	it("describes the three security schemes: the user's cookie or bearer token, and the server key", () => {
		expect(doc.components.securitySchemes).toEqual({
			cookie: expect.objectContaining({ type: "apiKey", in: "cookie", name: SESSION_COOKIE }),
			bearer: expect.objectContaining({ type: "http", scheme: "bearer" }),
			server: expect.objectContaining({ type: "http", scheme: "bearer" }),
		});
	});

	it("says which routes need no session, which a server key, and lets the others use either user scheme", () => {
		for (const [route, operation] of operations(doc)) {
			const expected = PUBLIC_ROUTES.includes(route)
				? []
				: SERVER_ROUTES.includes(route)
					? [{ server: [] }]
					: [{ cookie: [] }, { bearer: [] }];
			expect({ route, security: operation.security }).toEqual({ route, security: expected });
		}
	});

	it("gives every route a JSON success response with a schema", () => {
		for (const [route, operation] of operations(doc)) {
			const successes = Object.keys(operation.responses).filter((status) => status.startsWith("2"));
			expect(successes, route).toHaveLength(SUCCESSES[route]?.length ?? 1);
			if (SUCCESSES[route]) expect(successes, route).toEqual(SUCCESSES[route]);
			for (const status of successes) {
				expect(operation.responses[status]?.content?.["application/json"]?.schema, route).toBeDefined();
			}
		}
	});

	it("describes the JSON body of every route that takes one, and no body elsewhere", () => {
		for (const [route, operation] of operations(doc)) {
			if (BODY_ROUTES.includes(route)) {
				expect(operation.requestBody?.required, route).toBe(true);
				expect(operation.requestBody?.content["application/json"]?.schema, route).toBeDefined();
			} else if (OPTIONAL_BODY_ROUTES.includes(route)) {
				expect(operation.requestBody?.required, route).toBe(false);
				expect(operation.requestBody?.content["application/json"]?.schema, route).toBeDefined();
			} else {
				expect(operation.requestBody, route).toBeUndefined();
			}
		}
	});

	it("documents X-Client on the routes that hand out a session token", () => {
		for (const [route, operation] of operations(doc)) {
			const names = (operation.parameters ?? []).filter((p) => p.in === "header").map((p) => p.name);
			expect({ route, headers: names }).toEqual({ route, headers: TOKEN_ROUTES.includes(route) ? ["X-Client"] : [] });
		}
	});

	it("answers every error status with the error envelope and examples of its own codes", () => {
		for (const [route, operation] of operations(doc)) {
			for (const [status, response] of Object.entries(operation.responses)) {
				if (!/^[45]/.test(status)) continue;
				const media = response.content?.["application/json"];
				expect(media?.schema, `${route} ${status}`).toEqual({ $ref: "#/components/schemas/Error" });
				const examples = Object.entries(media?.examples ?? {});
				expect(examples.length, `${route} ${status}`).toBeGreaterThan(0);
				for (const [code, { value }] of examples) {
					const [codeStatus, message] = ERRORS[code as ErrorCode];
					expect({ route, status, code, codeStatus }).toEqual({ route, status, code, codeStatus: Number(status) });
					expect(value).toEqual({ success: false, code, message });
					expect(response.description).toContain(`\`${code}\``);
				}
				if (status === "429" || status === "503") expect(response.headers, route).toHaveProperty("Retry-After");
			}
		}
	});

	it("lists 500 on every route, 503 on every route that touches storage, 413 and 415 wherever a body is read", () => {
		for (const [route, operation] of operations(doc)) {
			const statuses = Object.keys(operation.responses);
			expect(statuses, route).toContain("500");
			if (PURE_ROUTES.includes(route)) expect(statuses, route).not.toContain("503");
			else expect(statuses, route).toContain("503");
			if (BODY_ROUTES.includes(route) || OPTIONAL_BODY_ROUTES.includes(route)) {
				expect(statuses, route).toEqual(expect.arrayContaining(["400", "413", "415"]));
			}
		}
	});

	it("carries examples on the key schemas that the same zod schemas accept", () => {
		const { schemas } = doc.components;
		for (const name of [
			"Error",
			"Session",
			"Passkey",
			"Success",
			"Credentials",
			"LoginCredentials",
			"SessionListEntry",
		]) {
			expect(schemas[name]?.example, name).toBeDefined();
		}
		expect(ErrorEnvelope.safeParse(schemas.Error?.example).success).toBe(true);
		expect(SessionView.safeParse(schemas.Session?.example).success).toBe(true);
		expect(Passkey.safeParse(schemas.Passkey?.example).success).toBe(true);
		expect(Success.safeParse(schemas.Success?.example).success).toBe(true);
		expect(SessionListEntry.safeParse(schemas.SessionListEntry?.example).success).toBe(true);
	});

	it("names the server it is served from", async () => {
		expect((doc as unknown as { servers: { url: string }[] }).servers).toEqual([{ url: "http://localhost:8787" }]);
	});
});
