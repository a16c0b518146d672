import { env } from "cloudflare:workers";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { issueSession } from "../../src/services/sessions";
import type { SoftAuthenticator } from "../helpers/authenticator";
import { userWithPasskey, verifyPasskey } from "../helpers/flows";
import {
	CEREMONY_CODES,
	clearPasswordLimiter,
	durableState,
	expectDocumentedAnswer,
	jsonRequest,
	type OpenApiIndex,
	openApiIndex,
	outcomeSummary,
	requestsSent,
	send,
	userRows,
} from "../helpers/property";

// Property: whatever JSON (or not-quite-JSON) a client sends to a route that
// reads a body, the answer is the documented success or API.md's error
// envelope with a 4xx listed for that route — never a 5xx — and a refused
// request changes none of the user's rows and counts no attempt.

const RUNS_PER_ROUTE = 360;
/** This file's share of the suite's 10,000 generated requests. */
const QUOTA = 11 * RUNS_PER_ROUTE;

let index: OpenApiIndex;
let user: Awaited<ReturnType<typeof userWithPasskey>>["user"];
let passkeyId: string;
let authenticator: SoftAuthenticator;

beforeAll(async () => {
	index = await openApiIndex();
	const fixture = await userWithPasskey();
	user = fixture.user;
	passkeyId = fixture.passkey.id;
	authenticator = fixture.authenticator;
});

afterAll(() => {
	console.log(`property-bodies: ${requestsSent()} generated requests\n${outcomeSummary()}`);
	expect(requestsSent()).toBeGreaterThanOrEqual(QUOTA);
});

// --- generators -----------------------------------------------------------------------------------------

const controlAndUnicode = fc.constantFrom(
	"",
	" ",
	"\u0000",
	"\u0000\u0001\u001f\u007f",
	"\t\r\n",
	"\u202e\u200b\ufeff",
	"\ud800",
	"\udfff\ud800",
	"😀".repeat(70),
	"e\u0301".repeat(40),
	"<script>alert(1)</script>",
	"' OR 1=1 --",
	"%00%0d%0a",
	"a@b.c",
	"123456",
	"null",
);

/** A value of the wrong kind for any field, or a right kind with wrong content. */
const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
	{ weight: 4, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
	{ weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 80 }) },
	{ weight: 2, arbitrary: controlAndUnicode },
	{ weight: 1, arbitrary: fc.constantFrom(null, true, false, 0, -1, 1.5, 1e308, -0, [], {}) },
	{ weight: 1, arbitrary: fc.integer({ min: 100, max: 5000 }).map((n) => "x".repeat(n)) },
	{ weight: 1, arbitrary: fc.array(fc.integer(), { maxLength: 500 }) },
	{
		weight: 1,
		arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 30 }),
	},
);

/** A credential-shaped object whose parts are wrong, one level or two deep. */
const wrongCredential: fc.Arbitrary<unknown> = fc.oneof(
	wrongValue,
	fc.record(
		{
			id: wrongValue,
			rawId: wrongValue,
			type: fc.oneof(fc.constant("public-key"), wrongValue),
			response: fc.oneof(
				wrongValue,
				fc.record(
					{
						clientDataJSON: wrongValue,
						attestationObject: wrongValue,
						authenticatorData: wrongValue,
						signature: wrongValue,
						userHandle: wrongValue,
						transports: wrongValue,
					},
					{ requiredKeys: [] },
				),
			),
			clientExtensionResults: fc.oneof(fc.constant({}), wrongValue),
			authenticatorAttachment: wrongValue,
		},
		{ requiredKeys: [] },
	),
);

function deepText(depth: number, kind: "array" | "object"): string {
	return kind === "array"
		? `${"[".repeat(depth)}${"]".repeat(depth)}`
		: `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
}

/** JSON text for a body: shaped like the route's, entirely arbitrary, huge, deep, or not JSON at all. */
function bodyText(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<string> {
	const shaped = fc.record(fields, { requiredKeys: [] }).map((value) => JSON.stringify(value));
	const fieldNames = Object.keys(fields);
	return fc.oneof(
		{ weight: 8, arbitrary: shaped },
		{ weight: 3, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value)) },
		{
			weight: 1,
			arbitrary: fc
				.tuple(fc.integer({ min: 1, max: 30_000 }), fc.constantFrom<"array" | "object">("array", "object"))
				.map(([depth, kind]) => deepText(depth, kind)),
		},
		{
			weight: 1,
			arbitrary: fc
				.tuple(
					fc.constantFrom(...fieldNames),
					fc.integer({ min: 1, max: 10_000 }),
					fc.constantFrom<"array" | "object">("array", "object"),
				)
				.map(([field, depth, kind]) => `{"${field}":${deepText(depth, kind)}}`),
		},
		{
			weight: 1,
			// Near and past the 64 KiB limit.
			arbitrary: fc
				.tuple(fc.constantFrom(...fieldNames), fc.integer({ min: 60_000, max: 70_000 }))
				.map(([field, size]) => JSON.stringify({ [field]: "a".repeat(size) })),
		},
		{
			weight: 1,
			arbitrary: fc
				.integer({ min: 1, max: 4000 })
				.map((keys) => JSON.stringify(Object.fromEntries(Array.from({ length: keys }, (_, i) => [`k${i}`, i])))),
		},
		{
			weight: 2,
			arbitrary: fc.oneof(
				fc.string({ unit: "binary", maxLength: 200 }),
				fc.constantFrom(
					"",
					"{",
					"[1,]",
					"{'a':1}",
					"NaN",
					"Infinity",
					"1e999",
					'"\\ud800"',
					"\ufeff{}",
					'{"a":1}{"b":2}',
					'{"__proto__":{"success":true},"constructor":{"prototype":{"admin":true}}}',
					`{"${fieldNames[0]}":1,"${fieldNames[0]}":"dup"}`,
				),
			),
		},
	);
}

// --- the property ---------------------------------------------------------------------------------------

interface Route {
	method: string;
	path: () => string;
	fields: Record<string, fc.Arbitrary<unknown>>;
	/** Which session it sends: none, the user's full session, or a fresh one (logout ends it). */
	auth: "none" | "user" | "fresh";
	/** 2FA verifies: attempts may only grow with ceremony failures. */
	countsAttempts?: boolean;
}

const ROUTES: Record<string, Route> = {
	signup: {
		method: "POST",
		path: () => "/api/auth/signup/",
		fields: { email: wrongValue, password: wrongValue },
		auth: "none",
	},
	login: {
		method: "POST",
		path: () => "/api/auth/login/",
		fields: { email: wrongValue, password: wrongValue },
		auth: "none",
	},
	reauthenticate: {
		method: "POST",
		path: () => "/api/auth/reauthenticate/",
		fields: { password: wrongValue },
		auth: "user",
	},
	"passkey login": {
		method: "POST",
		path: () => "/api/auth/passkey/login/",
		fields: { credential: wrongCredential },
		auth: "none",
	},
	"register complete": {
		method: "POST",
		path: () => "/api/webauthn/register/complete/",
		fields: { credential: wrongCredential, name: wrongValue },
		auth: "user",
	},
	"webauthn verify": {
		method: "POST",
		path: () => "/api/webauthn/verify/",
		fields: { credential: wrongCredential },
		auth: "user",
		countsAttempts: true,
	},
	rename: { method: "PATCH", path: () => `/api/webauthn/${passkeyId}/`, fields: { name: wrongValue }, auth: "user" },
	"totp activate": { method: "POST", path: () => "/api/totp/activate/", fields: { code: wrongValue }, auth: "user" },
	"totp verify": {
		method: "POST",
		path: () => "/api/totp/verify/",
		fields: { code: wrongValue },
		auth: "user",
		countsAttempts: true,
	},
	"recovery verify": {
		method: "POST",
		path: () => "/api/recovery-codes/verify/",
		fields: { code: wrongValue },
		auth: "user",
		countsAttempts: true,
	},
	// An optional body: none, or one of the configured audiences.
	token: { method: "POST", path: () => "/api/auth/token/", fields: { audience: wrongValue }, auth: "user" },
	// A body-less route still holds a body to the JSON rules.
	logout: { method: "POST", path: () => "/api/auth/logout/", fields: { reason: wrongValue }, auth: "fresh" },
};

async function emailCount(text: string): Promise<number | null> {
	let email: unknown;
	try {
		email = (JSON.parse(text) as { email?: unknown } | null)?.email;
	} catch {
		return null;
	}
	if (typeof email !== "string") return null;
	const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM users WHERE email = ?")
		.bind(email.trim().toLowerCase())
		.first<{ n: number }>();
	return row?.n ?? 0;
}

describe("arbitrary bodies on every route that reads one", () => {
	it.each(Object.entries(ROUTES))("%s: documented answers only, and refusals change nothing", async (_, route) => {
		let rows = await userRows(user.id);
		let attempts = route.countsAttempts ? (await durableState(user.id)).attempts : 0;
		await fc.assert(
			fc.asyncProperty(bodyText(route.fields), fc.boolean(), async (text, asApp) => {
				const headers: Record<string, string> = asApp ? { "x-client": "app" } : {};
				if (route.auth === "user") headers.authorization = `Bearer ${user.token}`;
				if (route.auth === "fresh") {
					headers.authorization = `Bearer ${(await issueSession(env.USER_STATE, { ...user, externalId: null }, "full")).token}`;
					rows = await userRows(user.id);
				}
				const emailsBefore = route.auth === "none" ? await emailCount(text) : null;
				const request = jsonRequest(route.method, route.path(), text, headers);
				const answer = await send(request);
				expectDocumentedAnswer(index, request, answer);
				const after = await userRows(user.id);
				if (answer.status >= 400) {
					expect(after, `${route.method} ${text.slice(0, 200)}`).toBe(rows);
					if (emailsBefore !== null) expect(await emailCount(text)).toBe(emailsBefore);
				}
				rows = after;
				// A well-formed wrong password counts toward the password limit: forget it, or
				// after ten the route would answer 429 before it reads any body.
				if ((answer.body as { code?: string }).code === "invalid_credentials") await clearPasswordLimiter(user.email);
				if (route.countsAttempts) {
					const now = (await durableState(user.id)).attempts;
					const ceremony = CEREMONY_CODES.has((answer.body as { code?: string }).code ?? "");
					// Only a well-formed attempt that fails counts toward the limit; malformed input never does.
					expect(now - attempts, `${answer.status} ${answer.text}`).toBe(ceremony ? 1 : 0);
					attempts = now;
				}
			}),
			{ numRuns: RUNS_PER_ROUTE },
		);
	});

	it("leaves the user able to pass the passkey second factor afterwards", async () => {
		// Thousands of refused requests later, the user is not locked out.
		expect((await durableState(user.id)).attempts).toBeLessThan(5);
		expect((await verifyPasskey(user.token, authenticator)).status).toBe(200);
	});
});
