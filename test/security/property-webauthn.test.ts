import { env } from "cloudflare:workers";
import { isoBase64URL, isoCBOR } from "@simplewebauthn/server/helpers";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { readChallenge } from "../../src/webauthn/canonical-challenge";
import { userSql } from "../helpers/account";
import { signUp, type TestUser } from "../helpers/api";
import { SoftAuthenticator } from "../helpers/authenticator";
import { authenticationOptions, registrationOptions, userWithPasskey } from "../helpers/flows";
import { signInOptions, userWithDiscoverablePasskey } from "../helpers/passwordless";
import {
	CEREMONY_CODES,
	clearAttempts,
	type DurableState,
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

// Property: a WebAuthn payload that is malformed — bad base64url, random or
// truncated bytes where CBOR or authenticator data belong, a clientDataJSON
// that is not what a browser signs — is refused with a documented 4xx and
// changes nothing: no row, no consumed challenge, no counted attempt. Each
// payload starts from a real one the software authenticator signed for a
// live challenge, so the mutations reach deep into the parsers. Mutations
// that leave the payload well-formed may fail as a ceremony (which consumes
// the challenge and counts, by design) or even pass (bytes no signature
// covers); the property then checks exactly that, and starts again from a
// fresh challenge.

const RUNS_PER_ROUTE = 700;
const QUOTA = 3 * RUNS_PER_ROUTE;

type CBORValue = Parameters<typeof isoCBOR.encode>[0];
type Json = Record<string, unknown>;

let index: OpenApiIndex;
beforeAll(async () => {
	index = await openApiIndex();
	// The services log why a verifier refused; thousands of such lines say nothing here.
	vi.spyOn(console, "warn").mockImplementation(() => {});
});

afterAll(() => {
	console.log(`property-webauthn: ${requestsSent()} generated requests\n${outcomeSummary()}`);
	expect(requestsSent()).toBeGreaterThanOrEqual(QUOTA);
});

// --- mutations ------------------------------------------------------------------------------------------

/** Strings that are not base64url without padding, or not of a size any field allows. */
const malformedBase64url = fc.oneof(
	fc.constantFrom(
		"",
		"=",
		"A",
		"AA==",
		"AAA=",
		"a+b/",
		"a b",
		"a\nb",
		"aGVsbG8=",
		"🙂",
		"%41%41",
		"\u0000",
		"A".repeat(40_000),
	),
	fc.string({ unit: "binary", minLength: 1, maxLength: 64 }),
	fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => btoa(String.fromCharCode(...bytes))),
);

type ByteMutation =
	| { kind: "random"; bytes: Uint8Array }
	| { kind: "truncate"; keep: number }
	| { kind: "flip"; at: number[]; xor: number }
	| { kind: "append"; bytes: Uint8Array };

const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
	fc.record({ kind: fc.constant("random" as const), bytes: fc.uint8Array({ maxLength: 400 }) }),
	fc.record({ kind: fc.constant("truncate" as const), keep: fc.double({ min: 0, max: 0.999, noNaN: true }) }),
	fc.record({
		kind: fc.constant("flip" as const),
		at: fc.uniqueArray(fc.nat(), { minLength: 1, maxLength: 3 }),
		xor: fc.integer({ min: 1, max: 255 }),
	}),
	fc.record({ kind: fc.constant("append" as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
);

function mutateBytes(bytes: Uint8Array, mutation: ByteMutation): Uint8Array {
	switch (mutation.kind) {
		case "random":
			return mutation.bytes;
		case "truncate":
			return bytes.slice(0, Math.floor(bytes.length * mutation.keep));
		case "flip": {
			if (bytes.length === 0) return Uint8Array.of(mutation.xor);
			// Distinct positions: flipping one byte twice would change nothing.
			const copy = bytes.slice();
			for (const i of new Set(mutation.at.map((at) => at % copy.length))) copy[i] = (copy[i] ?? 0) ^ mutation.xor;
			return copy;
		}
		case "append": {
			const longer = new Uint8Array(bytes.length + mutation.bytes.length);
			longer.set(bytes);
			longer.set(mutation.bytes, bytes.length);
			return longer;
		}
	}
}

const b64 = (bytes: Uint8Array) => isoBase64URL.fromBuffer(Uint8Array.from(bytes));
const unb64 = (text: string) => isoBase64URL.toBuffer(text);

/** clientDataJSON bodies that are not what a browser signs. */
const clientDataVariant = fc.oneof(
	fc.jsonValue({ maxDepth: 2 }),
	fc.record(
		{
			type: fc.oneof(fc.constantFrom("webauthn.get", "webauthn.create", "payment.get"), fc.jsonValue({ maxDepth: 1 })),
			challenge: fc.oneof(fc.string({ maxLength: 60 }), fc.jsonValue({ maxDepth: 1 })),
			origin: fc.oneof(
				fc.constantFrom("http://localhost:8787", "https://evil.example", ""),
				fc.jsonValue({ maxDepth: 1 }),
			),
			crossOrigin: fc.jsonValue({ maxDepth: 1 }),
		},
		{ requiredKeys: [] },
	),
);

type Mutation =
	| { target: "field"; field: string; value: string }
	| { target: "bytes"; field: string; mutation: ByteMutation }
	| { target: "clientData"; data: unknown; raw: boolean; invalidUtf8: boolean }
	| { target: "authData"; mutation: ByteMutation }
	| { target: "attestation"; key: "fmt" | "attStmt" | "extra"; value: unknown }
	| { target: "drop"; field: string };

function mutation(fields: string[], registration: boolean): fc.Arbitrary<Mutation> {
	const attestation = fc.record({
		target: fc.constant("attestation" as const),
		key: fc.constantFrom("fmt" as const, "attStmt" as const, "extra" as const),
		value: fc.oneof(
			fc.string({ maxLength: 12 }),
			fc.integer(),
			fc.constant(null),
			fc.dictionary(fc.string({ maxLength: 6 }), fc.integer(), { maxKeys: 4 }),
		),
	});
	return fc.oneof(
		{ weight: registration ? 2 : 0, arbitrary: attestation },
		{
			weight: 3,
			arbitrary: fc.record({
				target: fc.constant("field" as const),
				field: fc.constantFrom(...fields),
				value: malformedBase64url,
			}),
		},
		{
			weight: 4,
			arbitrary: fc.record({
				target: fc.constant("bytes" as const),
				field: fc.constantFrom(...fields),
				mutation: byteMutation,
			}),
		},
		{
			weight: 2,
			arbitrary: fc.record({
				target: fc.constant("clientData" as const),
				data: clientDataVariant,
				raw: fc.boolean(),
				invalidUtf8: fc.boolean(),
			}),
		},
		{ weight: 4, arbitrary: fc.record({ target: fc.constant("authData" as const), mutation: byteMutation }) },
		{ weight: 1, arbitrary: fc.record({ target: fc.constant("drop" as const), field: fc.constantFrom(...fields) }) },
	);
}

function getPath(object: Json, path: string): unknown {
	return path.split(".").reduce<unknown>((value, key) => (value as Json | undefined)?.[key], object);
}

function setPath(object: Json, path: string, value: unknown): void {
	const keys = path.split(".");
	const last = keys.pop() as string;
	const parent = keys.reduce<Json>((value, key) => value[key] as Json, object);
	if (value === undefined) delete parent[last];
	else parent[last] = value;
}

function toCbor(value: unknown): CBORValue {
	if (value === null || typeof value !== "object") return value as CBORValue;
	return new Map(Object.entries(value as Json).map(([k, v]) => [k, toCbor(v)])) as CBORValue;
}

/** Applies one mutation to a copy of a real credential (registration or assertion JSON). */
function apply(base: Json, m: Mutation): Json {
	const credential = structuredClone(base);
	const response = credential.response as Json;
	switch (m.target) {
		case "field":
			setPath(credential, m.field, m.value);
			break;
		case "drop":
			setPath(credential, m.field, undefined);
			break;
		case "bytes": {
			const current = getPath(credential, m.field);
			if (typeof current === "string") setPath(credential, m.field, b64(mutateBytes(unb64(current), m.mutation)));
			break;
		}
		case "clientData": {
			// raw: the JSON cut short, which no parser accepts.
			const json = JSON.stringify(m.data) ?? "null";
			const text = m.raw ? json.slice(0, -1) : json;
			const bytes = new TextEncoder().encode(text);
			response.clientDataJSON = b64(m.invalidUtf8 ? Uint8Array.of(0xc3, 0x28, ...bytes) : bytes);
			break;
		}
		case "authData": {
			if (typeof response.attestationObject === "string") {
				// Registration: the authenticator data sits inside the CBOR attestation object.
				const attestation = isoCBOR.decodeFirst<Map<string, CBORValue>>(unb64(response.attestationObject));
				const authData = attestation.get("authData") as Uint8Array;
				attestation.set("authData", Uint8Array.from(mutateBytes(authData, m.mutation)));
				response.attestationObject = b64(isoCBOR.encode(attestation));
			} else if (typeof response.authenticatorData === "string") {
				response.authenticatorData = b64(mutateBytes(unb64(response.authenticatorData), m.mutation));
			}
			break;
		}
		case "attestation": {
			if (typeof response.attestationObject !== "string") break;
			const attestation = isoCBOR.decodeFirst<Map<string, CBORValue>>(unb64(response.attestationObject));
			attestation.set(m.key, toCbor(m.value));
			response.attestationObject = b64(isoCBOR.encode(attestation));
			break;
		}
	}
	return credential;
}

// --- the property, per ceremony -------------------------------------------------------------------------

interface Ceremony {
	/** A fresh real credential for a live challenge. */
	fresh: () => Promise<Json>;
	request: (credential: Json) => Request;
	/** The user whose rows and Durable Object must not change on a refusal. */
	userId: () => string;
	/** Whether the live challenge of `credential` is still there, given the Durable Object's state now. */
	challengeLive: (credential: Json, state: DurableState) => Promise<boolean>;
	fields: string[];
	registration: boolean;
	countsAttempts: boolean;
	/** Whether a ceremony that ran with `presented` used up the live challenge of `base` (default: always). */
	consumes?: (base: Json, presented: Json) => boolean;
}

async function runCeremony(ceremony: Ceremony): Promise<void> {
	let base = await ceremony.fresh();
	let rows = await userRows(ceremony.userId());
	let state: DurableState = await durableState(ceremony.userId());
	await fc.assert(
		fc.asyncProperty(mutation(ceremony.fields, ceremony.registration), async (m) => {
			const credential = apply(base, m);
			const request = ceremony.request(credential);
			const answer = await send(request);
			expectDocumentedAnswer(index, request, answer);
			const code = (answer.body as { code?: string }).code ?? "";
			const after = await userRows(ceremony.userId());
			const afterState = await durableState(ceremony.userId());
			const where = `${JSON.stringify(m).slice(0, 300)} → ${answer.status} ${answer.text.slice(0, 200)}`;
			if (answer.status >= 400) expect(after, where).toBe(rows);
			if (answer.status >= 400 && !CEREMONY_CODES.has(code)) {
				// Malformed: nothing consumed, nothing counted.
				expect(afterState, where).toEqual(state);
				expect(await ceremony.challengeLive(base, afterState), where).toBe(true);
				rows = after;
				return;
			}
			// A ceremony that ran (and failed or passed) used its challenge: start again.
			if (ceremony.countsAttempts) {
				expect(afterState.attempts - state.attempts, where).toBe(CEREMONY_CODES.has(code) ? 1 : 0);
				await clearAttempts(ceremony.userId());
			}
			const consumed = ceremony.consumes ? ceremony.consumes(base, credential) : true;
			expect(await ceremony.challengeLive(base, afterState), where).toBe(!consumed);
			base = await ceremony.fresh();
			rows = await userRows(ceremony.userId());
			state = await durableState(ceremony.userId());
		}),
		{ numRuns: RUNS_PER_ROUTE },
	);
}

const REGISTRATION_FIELDS = [
	"id",
	"rawId",
	"response.clientDataJSON",
	"response.attestationObject",
	"response.authenticatorData",
	"response.publicKey",
];
const ASSERTION_FIELDS = ["id", "rawId", "response.clientDataJSON", "response.authenticatorData", "response.signature"];

function challengeOf(credential: Json): string {
	const clientData = JSON.parse(
		new TextDecoder().decode(unb64((credential.response as Json).clientDataJSON as string)),
	);
	return clientData.challenge as string;
}

describe("malformed WebAuthn payloads", () => {
	it("POST /api/webauthn/register/complete: refused as documented, nothing consumed or stored", async () => {
		const user: TestUser = await signUp();
		const authenticator = new SoftAuthenticator();
		await runCeremony({
			fresh: async () => {
				// Every case is the user's first passkey (the one that brings recovery codes).
				await userSql(user.id, "DELETE FROM passkeys").run();
				await userSql(user.id, "DELETE FROM recovery_codes").run();
				await env.DB.prepare("DELETE FROM credentials WHERE user_id = ?").bind(user.id).run();
				return (await authenticator.createCredential(
					await registrationOptions({ token: user.token }),
				)) as unknown as Json;
			},
			request: (credential) =>
				jsonRequest("POST", "/api/webauthn/register/complete/", JSON.stringify({ credential }), {
					authorization: `Bearer ${user.token}`,
				}),
			userId: () => user.id,
			challengeLive: async (credential, state) =>
				Object.values(state.pending).some((value) => value.includes(challengeOf(credential))),
			fields: REGISTRATION_FIELDS,
			registration: true,
			countsAttempts: false,
		});
	});

	it("POST /api/webauthn/verify: refused as documented, no attempt counted, the challenge kept", async () => {
		const { user, authenticator } = await userWithPasskey();
		await runCeremony({
			fresh: async () => (await authenticator.getAssertion(await authenticationOptions(user.token))) as unknown as Json,
			request: (credential) =>
				jsonRequest("POST", "/api/webauthn/verify/", JSON.stringify({ credential }), {
					authorization: `Bearer ${user.token}`,
				}),
			userId: () => user.id,
			challengeLive: async (credential, state) =>
				Object.values(state.pending).some((value) => value.includes(challengeOf(credential))),
			fields: ASSERTION_FIELDS,
			registration: false,
			countsAttempts: true,
		});
	});

	it("POST /api/auth/passkey/login: refused as documented, the sign-in challenge kept", async () => {
		const { user, authenticator } = await userWithDiscoverablePasskey();
		await runCeremony({
			fresh: async () => {
				// Sign-ins that passed leave sessions nobody uses: keep the user's rows few.
				await userSql(user.id, "DELETE FROM sessions").run();
				return (await authenticator.getAssertion(await signInOptions())) as unknown as Json;
			},
			request: (credential) =>
				jsonRequest("POST", "/api/auth/passkey/login/", JSON.stringify({ credential }), { "x-client": "app" }),
			userId: () => user.id,
			// A sign-in challenge is signed, not stored: it is live until its use is recorded.
			challengeLive: async (credential) =>
				(
					await userSql(
						user.id,
						"SELECT COUNT(*) AS n FROM used_challenges WHERE challenge = ?",
						challengeOf(credential),
					).first<{
						n: number;
					}>()
				)?.n === 0,
			fields: [...ASSERTION_FIELDS, "response.userHandle"],
			registration: false,
			countsAttempts: false,
			// The challenge is found from the clientDataJSON presented: another one leaves it alone.
			// A challenge is its bytes: any spelling of the base challenge's bytes uses it up.
			consumes: (base, presented) => readChallenge(challengeOf(presented))?.canonical === challengeOf(base),
		});
	});
});
