import { env } from "cloudflare:workers";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { userSql } from "../helpers/account";
import type { TestUser } from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import { registrationOptions, userWithPasskey } from "../helpers/flows";
import {
	expectDocumentedAnswer,
	jsonRequest,
	type OpenApiIndex,
	openApiIndex,
	outcomeSummary,
	requestsSent,
	send,
	userRows,
} from "../helpers/property";

// Property, against API.md's rule for names: "trimmed, then 1 to 64 Unicode
// code points, stored as given (no HTML is ever interpreted)" — whatever
// Unicode a name holds (control characters, zero-width and bidi marks,
// emoji, combining marks, lone surrogates), it is stored exactly as the
// trimmed text when the rule allows it and refused with 400 otherwise.
// Emails likewise: trimmed and compared without regard to case.

const RENAMES = 700;
const REGISTRATIONS = 120;
const SIGNUPS = 220;

let index: OpenApiIndex;
let user: TestUser;
let passkeyId: string;

beforeAll(async () => {
	index = await openApiIndex();
	const fixture = await userWithPasskey();
	user = fixture.user;
	passkeyId = fixture.passkey.id;
});

afterAll(() => {
	console.log(`property-names: ${requestsSent()} generated requests\n${outcomeSummary()}`);
	expect(requestsSent()).toBeGreaterThanOrEqual(RENAMES + REGISTRATIONS + SIGNUPS);
});

const PIECES = [
	" ",
	"\t",
	"\n",
	"\r\n",
	"\u00a0",
	"\u2028",
	"\u3000",
	"\ufeff",
	"\u0000",
	"\u0001",
	"\u001b[31m",
	"\u007f",
	"\u0085",
	"\u200b",
	"\u200d",
	"\u202e",
	"\u2066",
	"e\u0301",
	"\u0301",
	"😀",
	"👩‍👩‍👧‍👦",
	"🇫🇷",
	"\ud83d",
	"\ude00",
	"İ",
	"ß",
	"ﬁ",
	"<b>x</b>",
	"&amp;",
	"'; DROP TABLE passkeys; --",
	"%s%n",
	"$" + "{x}",
	"\\",
	'"',
	"YubiKey 5C",
	"iPhone",
];

/** Names built from awkward pieces, plain text of any Unicode, and lengths around the limit. */
const nameArbitrary: fc.Arbitrary<string> = fc.oneof(
	{ weight: 4, arbitrary: fc.array(fc.constantFrom(...PIECES), { maxLength: 12 }).map((parts) => parts.join("")) },
	{ weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 80 }) },
	{ weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 80 }) },
	{
		weight: 2,
		arbitrary: fc
			.tuple(
				fc.constantFrom("a", "😀", "e\u0301", "\u0000", "ß"),
				fc.integer({ min: 60, max: 70 }),
				fc.constantFrom("", " ", "\u3000"),
			)
			.map(([unit, count, pad]) => `${pad}${unit.repeat(count)}${pad}`),
	},
	{ weight: 1, arbitrary: fc.integer({ min: 1000, max: 1100 }).map((n) => " ".repeat(n)) },
	{ weight: 1, arbitrary: fc.integer({ min: 1020, max: 1030 }).map((n) => `${"\u0000".repeat(n - 1)}a`) },
);

/** API.md's rule, as the model: what the server must store, or null for a refusal. */
function expectedName(raw: string): string | null {
	if (raw.length > 1024) return null;
	const trimmed = raw.trim();
	const codePoints = [...trimmed].length;
	if (codePoints < 1 || codePoints > 64) return null;
	if (/\p{Cs}/u.test(trimmed)) return null;
	return trimmed;
}

async function storedName(id: string): Promise<string | null> {
	const row = await userSql(user.id, "SELECT name FROM passkeys WHERE id = ?", id).first<{ name: string }>();
	return row?.name ?? null;
}

describe("names and emails of any Unicode", () => {
	it("PATCH /api/webauthn/{id}: stores the trimmed name exactly when API.md's rule allows it, else 400", async () => {
		let rows = await userRows(user.id);
		await fc.assert(
			fc.asyncProperty(nameArbitrary, async (name) => {
				const request = jsonRequest("PATCH", `/api/webauthn/${passkeyId}/`, JSON.stringify({ name }), {
					authorization: `Bearer ${user.token}`,
				});
				const answer = await send(request);
				expectDocumentedAnswer(index, request, answer);
				const expected = expectedName(name);
				if (expected === null) {
					expect({
						status: answer.status,
						fields: Object.keys((answer.body as { fields?: object }).fields ?? {}),
					}).toEqual({
						status: 400,
						fields: ["name"],
					});
					expect(await userRows(user.id)).toBe(rows);
					return;
				}
				expect(answer.status).toBe(200);
				expect((answer.body as { passkey: { name: string } }).passkey.name).toBe(expected);
				expect(await storedName(passkeyId)).toBe(expected);
				rows = await userRows(user.id);
			}),
			{ numRuns: RENAMES },
		);
	});

	it("POST /api/webauthn/register/complete: the same rule for the name given at registration", async () => {
		const authenticator = new SoftAuthenticator();
		let credential = await authenticator.createCredential(await registrationOptions({ token: user.token }));
		await fc.assert(
			fc.asyncProperty(nameArbitrary, async (name) => {
				const request = jsonRequest("POST", "/api/webauthn/register/complete/", JSON.stringify({ credential, name }), {
					authorization: `Bearer ${user.token}`,
				});
				const answer = await send(request);
				expectDocumentedAnswer(index, request, answer);
				const expected = expectedName(name);
				if (expected === null) {
					// Refused before the ceremony: the same credential still answers the same challenge.
					expect(answer.status).toBe(400);
					expect(Object.keys((answer.body as { fields?: object }).fields ?? {})).toEqual(["name"]);
					return;
				}
				expect(answer.status).toBe(201);
				const passkey = (answer.body as { passkey: { id: string; name: string } }).passkey;
				expect(passkey.name).toBe(expected);
				expect(await storedName(passkey.id)).toBe(expected);
				credential = await authenticator.createCredential(await registrationOptions({ token: user.token }));
			}),
			{ numRuns: REGISTRATIONS },
		);
	});

	it("POST /api/auth/signup: stores an email trimmed and lower-cased, and finds it again in any case", async () => {
		let unique = 0;
		const localPart = fc.stringMatching(/^[a-z0-9]([a-z0-9._+-]{0,20}[a-z0-9])?$/);
		const awkwardEmail = fc
			.tuple(
				localPart,
				fc.constantFrom("example.com", "mail.example.org", "EXAMPLE.NET"),
				fc.constantFrom("", " ", "\t", "\u00a0", "\u3000", "\n", "\ufeff"),
				fc.constantFrom("", " ", "\t", "\u00a0", "\r\n", "\u2028"),
				fc.boolean(),
			)
			.map(([local, domain, before, after, upper]) => {
				// Unique per run, so that each address is new.
				unique += 1;
				const address = `${local}.${unique.toString(36)}${Date.now().toString(36)}@${domain}`;
				return `${before}${upper ? address.toUpperCase() : address}${after}`;
			});
		// Spaces that trim() does not remove, controls and bidi marks: never part of a valid address.
		const brokenEmail = fc
			.tuple(awkwardEmail, fc.constantFrom("\u0000", "\u200b", "\u202e", "\u0001", "<", " x"))
			.map(([email, piece]) => email.replace("@", `${piece}@`));
		const anyEmail = fc.oneof(
			{ weight: 3, arbitrary: awkwardEmail },
			{ weight: 1, arbitrary: brokenEmail },
			{ weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 60 }) },
		);
		await fc.assert(
			fc.asyncProperty(anyEmail, async (email) => {
				const normalized = email.trim().toLowerCase();
				const count = async () =>
					(
						await env.DB.prepare("SELECT COUNT(*) AS n FROM users WHERE email = ?")
							.bind(normalized)
							.first<{ n: number }>()
					)?.n ?? 0;
				const before = await count();
				const request = jsonRequest(
					"POST",
					"/api/auth/signup/",
					JSON.stringify({ email, password: "correct horse battery staple" }),
					{ "x-client": "app" },
				);
				const answer = await send(request);
				expectDocumentedAnswer(index, request, answer);
				if (answer.status !== 201) {
					expect(await count()).toBe(before);
					return;
				}
				expect((answer.body as { user: { email: string } }).user.email).toBe(normalized);
				expect(await count()).toBe(1);
				// The same address in another case, with other spaces, is the same account.
				const again = jsonRequest(
					"POST",
					"/api/auth/signup/",
					JSON.stringify({ email: ` ${normalized.toUpperCase()} `, password: "correct horse battery staple" }),
					{ "x-client": "app" },
				);
				const taken = await send(again);
				expectDocumentedAnswer(index, again, taken);
				if (normalized.toUpperCase().toLowerCase() === normalized) {
					expect((taken.body as { code?: string }).code).toBe("email_taken");
				}
			}),
			{ numRuns: SIGNUPS },
		);
	});
});
