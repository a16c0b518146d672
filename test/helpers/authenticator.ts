/**
 * A software WebAuthn authenticator for tests.
 *
 * It produces real attestations and assertions (real keys, real signatures) so the server's
 * @simplewebauthn/server verification runs end to end, and it exposes overrides so tests can
 * tamper with individual fields. Only WebCrypto and Uint8Array are used because the suite runs
 * inside workerd.
 */
import type {
	AuthenticationResponseJSON,
	PublicKeyCredentialCreationOptionsJSON,
	PublicKeyCredentialRequestOptionsJSON,
	RegistrationResponseJSON,
} from "@simplewebauthn/server";
import { isoBase64URL, isoCBOR, isoUint8Array } from "@simplewebauthn/server/helpers";

export type Algorithm = "ES256" | "EdDSA" | "RS256";
export type AttestationMode = "none" | "packed-self" | "packed-x5c";

export interface SoftAuthenticatorOptions {
	algorithm?: Algorithm;
	aaguid?: string;
	backupEligible?: boolean;
	backedUp?: boolean;
	userVerification?: boolean;
	userPresence?: boolean;
	signCount?: number;
	incrementCounter?: boolean;
	origin?: string;
	rpId?: string;
	transports?: string[];
	attestation?: AttestationMode;
	credentialIdLength?: number;
}

export interface CredentialRecord {
	credentialId: string;
	userHandle?: string;
	rpId: string;
	privateKey: CryptoKey;
	publicKeyCose: Uint8Array;
	algorithm: Algorithm;
	signCount: number;
	/** Sent as every signature instead of signing (a key no one holds the private half of). */
	fixedSignature?: Uint8Array;
}

export interface Flags {
	up: boolean;
	uv: boolean;
	be: boolean;
	bs: boolean;
}

interface ClientDataOverrides {
	origin?: string;
	type?: string;
	/** Any JSON value (a client may write `"true"`); `null` leaves the member out. */
	crossOrigin?: unknown;
	/** Added to the client data when set. */
	topOrigin?: string;
	/** Replaces the challenge as spelled in the client data (e.g. a non-canonical spelling). */
	challenge?: string;
	/** Only changes the rpIdHash in authenticator data, not which credential is used. */
	rpId?: string;
	flags?: Partial<Flags>;
}

export interface CreateOverrides extends ClientDataOverrides {
	/** Raw credential id to register instead of a random one. */
	credentialId?: Uint8Array;
	algorithm?: Algorithm;
	attestation?: AttestationMode;
	omitTransports?: boolean;
	/** Replaces only the top-level id/rawId, leaving the id inside authData untouched. */
	responseId?: string;
	/**
	 * A COSE public key to attest instead of the generated one's (a "none"
	 * attestation signs nothing, so any bytes go). With `fixedSignature`, every
	 * later assertion carries that signature instead of one made by the key.
	 */
	publicKeyCose?: Uint8Array;
	fixedSignature?: Uint8Array;
	/** attStmt.alg of a packed attestation, instead of the key's own. */
	attestationAlgorithm?: number;
	/** Rewrites the DER signature of a packed attestation (e.g. to a non-canonical encoding). */
	reencodeSignature?: (der: Uint8Array) => Uint8Array;
}

export interface GetOverrides extends ClientDataOverrides {
	/** base64url id of a stored credential to sign with. */
	credentialId?: string;
	/** `null` omits userHandle; a string replaces it. */
	userHandle?: string | null;
	/** Exact counter for this response; the stored counter is left unchanged. */
	signCount?: number;
	badSignature?: boolean;
	/** Replaces only the top-level id/rawId (e.g. to present an unknown credential id). */
	responseId?: string;
	/** Rewrites the signature after signing (e.g. an ES256 DER signature to a non-canonical encoding). */
	reencodeSignature?: (signature: Uint8Array) => Uint8Array;
}

type Bytes = Uint8Array<ArrayBuffer>;
// isoCBOR does not re-export tiny-cbor's value type, so derive it from the encoder.
type CBORValue = Parameters<typeof isoCBOR.encode>[0];

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_BE = 0x08;
const FLAG_BS = 0x10;
const FLAG_AT = 0x40;

const COSE_ALG: Record<Algorithm, number> = {
	ES256: -7,
	EdDSA: -8,
	RS256: -257,
};

const ZERO_AAGUID = "00000000-0000-0000-0000-000000000000";

export class SoftAuthenticator {
	readonly credentials: CredentialRecord[] = [];
	private readonly opts: SoftAuthenticatorOptions;

	constructor(opts: SoftAuthenticatorOptions = {}) {
		this.opts = opts;
	}

	get rpId(): string {
		return this.opts.rpId ?? "localhost";
	}

	get origin(): string {
		return this.opts.origin ?? "http://localhost:8787";
	}

	getCredential(credentialId: string): CredentialRecord | undefined {
		return this.credentials.find((c) => c.credentialId === credentialId);
	}

	async createCredential(
		options: PublicKeyCredentialCreationOptionsJSON,
		overrides: CreateOverrides = {},
	): Promise<RegistrationResponseJSON> {
		const algorithm = overrides.algorithm ?? this.opts.algorithm ?? "ES256";
		const rpId = options.rp.id ?? this.rpId;
		const rawId = toBytes(overrides.credentialId ?? randomBytes(this.opts.credentialIdLength ?? 32));
		const keyPair = await generateKeyPair(algorithm);
		const publicKeyCose = toBytes(overrides.publicKeyCose ?? (await exportCosePublicKey(keyPair.publicKey, algorithm)));

		const record: CredentialRecord = {
			credentialId: isoBase64URL.fromBuffer(rawId),
			userHandle: options.user.id,
			rpId,
			privateKey: keyPair.privateKey,
			publicKeyCose,
			algorithm,
			signCount: this.opts.signCount ?? 0,
			...(overrides.fixedSignature ? { fixedSignature: overrides.fixedSignature } : {}),
		};
		this.credentials.push(record);

		const clientDataJSON = this.clientData("webauthn.create", options.challenge, overrides);
		const authData = concat(
			await rpIdHash(overrides.rpId ?? rpId),
			Uint8Array.of(this.flagsByte(overrides.flags) | FLAG_AT),
			uint32BE(record.signCount),
			parseAaguid(this.opts.aaguid ?? ZERO_AAGUID),
			uint16BE(rawId.length),
			rawId,
			publicKeyCose,
		);
		const attestationMode = overrides.attestation ?? this.opts.attestation ?? "none";
		const attestationObject = isoCBOR.encode(
			new Map<string, CBORValue>([
				["fmt", attestationMode === "none" ? "none" : "packed"],
				["attStmt", await buildAttStmt(attestationMode, record, authData, clientDataJSON, overrides)],
				["authData", authData],
			]),
		);

		const responseId = overrides.responseId ?? record.credentialId;
		return {
			id: responseId,
			rawId: responseId,
			type: "public-key",
			authenticatorAttachment: "platform",
			clientExtensionResults: {},
			response: {
				clientDataJSON: isoBase64URL.fromBuffer(clientDataJSON),
				attestationObject: isoBase64URL.fromBuffer(attestationObject),
				authenticatorData: isoBase64URL.fromBuffer(authData),
				publicKeyAlgorithm: COSE_ALG[algorithm],
				publicKey: isoBase64URL.fromBuffer(await exportSpki(keyPair.publicKey)),
				...(overrides.omitTransports ? {} : { transports: this.opts.transports ?? ["internal"] }),
			},
		};
	}

	async getAssertion(
		options: PublicKeyCredentialRequestOptionsJSON,
		overrides: GetOverrides = {},
	): Promise<AuthenticationResponseJSON> {
		const record = this.pickCredential(options, overrides.credentialId);
		const signCount = this.nextSignCount(record, overrides.signCount);

		const clientDataJSON = this.clientData("webauthn.get", options.challenge, overrides);
		const authData = concat(
			await rpIdHash(overrides.rpId ?? record.rpId),
			Uint8Array.of(this.flagsByte(overrides.flags)),
			uint32BE(signCount),
		);
		let signature = await signWebAuthn(record, authData, clientDataJSON);
		if (overrides.reencodeSignature) {
			signature = toBytes(overrides.reencodeSignature(signature));
		}
		if (overrides.badSignature) {
			flipLastByte(signature);
		}

		const userHandle = overrides.userHandle === undefined ? record.userHandle : overrides.userHandle;
		const responseId = overrides.responseId ?? record.credentialId;
		return {
			id: responseId,
			rawId: responseId,
			type: "public-key",
			authenticatorAttachment: "platform",
			clientExtensionResults: {},
			response: {
				clientDataJSON: isoBase64URL.fromBuffer(clientDataJSON),
				authenticatorData: isoBase64URL.fromBuffer(authData),
				signature: isoBase64URL.fromBuffer(signature),
				...(userHandle == null ? {} : { userHandle }),
			},
		};
	}

	/** Mirrors authenticator selection: explicit id, then allowCredentials, then discoverable by rpId. */
	private pickCredential(options: PublicKeyCredentialRequestOptionsJSON, credentialId?: string): CredentialRecord {
		if (credentialId !== undefined) {
			return required(this.getCredential(credentialId), `no stored credential with id ${credentialId}`);
		}
		const allowed = options.allowCredentials ?? [];
		if (allowed.length > 0) {
			const ids = new Set(allowed.map((c) => c.id));
			return required(
				this.credentials.find((c) => ids.has(c.credentialId)),
				"none of the allowCredentials are stored in this authenticator",
			);
		}
		const rpId = options.rpId ?? this.rpId;
		return required(
			this.credentials.find((c) => c.rpId === rpId),
			`no discoverable credential for rpId ${rpId}`,
		);
	}

	/** A forced counter is one-off so tests can replay an old value without desyncing later ones. */
	private nextSignCount(record: CredentialRecord, forced?: number): number {
		if (forced !== undefined) {
			return forced;
		}
		if (this.opts.incrementCounter) {
			record.signCount += 1;
		}
		return record.signCount;
	}

	private flagsByte(overrides: Partial<Flags> = {}): number {
		const flags: Flags = {
			up: this.opts.userPresence ?? true,
			uv: this.opts.userVerification ?? true,
			be: this.opts.backupEligible ?? false,
			bs: this.opts.backedUp ?? false,
			...overrides,
		};
		return (flags.up ? FLAG_UP : 0) | (flags.uv ? FLAG_UV : 0) | (flags.be ? FLAG_BE : 0) | (flags.bs ? FLAG_BS : 0);
	}

	/** Key order matches what browsers emit, though the server parses it as JSON anyway. */
	private clientData(type: string, challenge: string, overrides: ClientDataOverrides): Bytes {
		const crossOrigin = overrides.crossOrigin === undefined ? false : overrides.crossOrigin;
		const json = JSON.stringify({
			type: overrides.type ?? type,
			challenge: overrides.challenge ?? challenge,
			origin: overrides.origin ?? this.origin,
			...(crossOrigin === null ? {} : { crossOrigin }),
			...(overrides.topOrigin === undefined ? {} : { topOrigin: overrides.topOrigin }),
		});
		return toBytes(isoUint8Array.fromUTF8String(json));
	}
}

// --- attestation -------------------------------------------------------------------------------

async function buildAttStmt(
	mode: AttestationMode,
	record: CredentialRecord,
	authData: Bytes,
	clientDataJSON: Bytes,
	overrides: CreateOverrides,
): Promise<Map<string, CBORValue>> {
	if (mode === "none") {
		return new Map();
	}
	const signature = await signWebAuthn(record, authData, clientDataJSON);
	const stmt = new Map<string, CBORValue>([
		["alg", overrides.attestationAlgorithm ?? COSE_ALG[record.algorithm]],
		["sig", overrides.reencodeSignature ? toBytes(overrides.reencodeSignature(signature)) : signature],
	]);
	if (mode === "packed-x5c") {
		// Not a parseable certificate on purpose: the server must refuse x5c before parsing it.
		stmt.set("x5c", [randomBytes(64)]);
	}
	return stmt;
}

// --- keys and signatures -----------------------------------------------------------------------

function keyParams(algorithm: Algorithm) {
	switch (algorithm) {
		case "ES256":
			return {
				generate: { name: "ECDSA", namedCurve: "P-256" },
				sign: { name: "ECDSA", hash: "SHA-256" },
			};
		case "EdDSA":
			return { generate: { name: "Ed25519" }, sign: { name: "Ed25519" } };
		case "RS256":
			return {
				generate: {
					name: "RSASSA-PKCS1-v1_5",
					modulusLength: 2048,
					publicExponent: Uint8Array.of(1, 0, 1),
					hash: "SHA-256",
				},
				sign: { name: "RSASSA-PKCS1-v1_5" },
			};
	}
}

async function generateKeyPair(algorithm: Algorithm): Promise<CryptoKeyPair> {
	const result: CryptoKey | CryptoKeyPair = await crypto.subtle.generateKey(keyParams(algorithm).generate, false, [
		"sign",
		"verify",
	]);
	// Both DOM and workers typings allow a single CryptoKey here; asymmetric algorithms never return one.
	if (!("privateKey" in result)) {
		throw new Error(`expected a key pair for ${algorithm}`);
	}
	return result;
}

/** Signs authData || SHA-256(clientDataJSON) in the wire encoding WebAuthn expects for the algorithm. */
async function signWebAuthn(record: CredentialRecord, authData: Bytes, clientDataJSON: Bytes): Promise<Bytes> {
	if (record.fixedSignature) {
		return toBytes(record.fixedSignature);
	}
	const signed = concat(authData, await sha256(clientDataJSON));
	const sig = new Uint8Array(await crypto.subtle.sign(keyParams(record.algorithm).sign, record.privateKey, signed));
	// WebCrypto gives ECDSA as raw r||s but WebAuthn requires ASN.1 DER; EdDSA and RSA are already raw.
	return record.algorithm === "ES256" ? rawEcdsaToDer(sig) : sig;
}

async function exportCosePublicKey(publicKey: CryptoKey, algorithm: Algorithm): Promise<Bytes> {
	const jwk = await exportJwk(publicKey);
	const b64 = (value: string | undefined, name: string) =>
		toBytes(isoBase64URL.toBuffer(required(value, `JWK is missing ${name}`)));
	// CBOR map keys must stay integers, hence Map rather than an object literal.
	const cose = new Map<number, CBORValue>();
	switch (algorithm) {
		case "ES256":
			cose.set(1, 2).set(3, -7).set(-1, 1).set(-2, b64(jwk.x, "x")).set(-3, b64(jwk.y, "y"));
			break;
		case "EdDSA":
			cose.set(1, 1).set(3, -8).set(-1, 6).set(-2, b64(jwk.x, "x"));
			break;
		case "RS256":
			cose.set(1, 3).set(3, -257).set(-1, b64(jwk.n, "n")).set(-2, b64(jwk.e, "e"));
			break;
	}
	return toBytes(isoCBOR.encode(cose));
}

async function exportJwk(key: CryptoKey): Promise<JsonWebKey> {
	const exported: ArrayBuffer | JsonWebKey = await crypto.subtle.exportKey("jwk", key);
	// workers-types declares one union return for every format; "jwk" always yields an object.
	if (exported instanceof ArrayBuffer) {
		throw new Error("expected a JWK export");
	}
	return exported;
}

async function exportSpki(key: CryptoKey): Promise<Bytes> {
	const exported: ArrayBuffer | JsonWebKey = await crypto.subtle.exportKey("spki", key);
	if (!(exported instanceof ArrayBuffer)) {
		throw new Error("expected an SPKI export");
	}
	return new Uint8Array(exported);
}

/** Converts a 64-byte r||s P-256 signature to DER: SEQUENCE { INTEGER r, INTEGER s }. */
export function rawEcdsaToDer(raw: Uint8Array): Bytes {
	if (raw.length !== 64) {
		throw new Error(`expected a 64-byte ECDSA signature, got ${raw.length}`);
	}
	const r = derInteger(raw.subarray(0, 32));
	const s = derInteger(raw.subarray(32));
	// Body is at most 2 * (2 + 33) = 70 bytes, so a short-form length always fits.
	return concat(Uint8Array.of(0x30, r.length + s.length), r, s);
}

/** DER INTEGERs are minimal and signed: strip leading zeros, then pad 0x00 if the high bit is set. */
function derInteger(unsigned: Uint8Array): Bytes {
	let start = 0;
	while (start < unsigned.length - 1 && unsigned[start] === 0) {
		start++;
	}
	const trimmed = unsigned.subarray(start);
	const needsPad = ((trimmed[0] ?? 0) & 0x80) !== 0;
	const body = needsPad ? concat(Uint8Array.of(0), trimmed) : toBytes(trimmed);
	return concat(Uint8Array.of(0x02, body.length), body);
}

// --- byte helpers ------------------------------------------------------------------------------

async function rpIdHash(rpId: string): Promise<Bytes> {
	return sha256(isoUint8Array.fromUTF8String(rpId));
}

async function sha256(data: Uint8Array): Promise<Bytes> {
	return new Uint8Array(await crypto.subtle.digest("SHA-256", toBytes(data)));
}

function randomBytes(length: number): Bytes {
	return crypto.getRandomValues(new Uint8Array(length));
}

function parseAaguid(uuid: string): Bytes {
	const hex = uuid.replace(/-/g, "");
	if (!/^[0-9a-fA-F]{32}$/.test(hex)) {
		throw new Error(`invalid AAGUID ${uuid}`);
	}
	return toBytes(isoUint8Array.fromHex(hex.toLowerCase()));
}

function uint16BE(value: number): Bytes {
	const out = new Uint8Array(2);
	new DataView(out.buffer).setUint16(0, value);
	return out;
}

function uint32BE(value: number): Bytes {
	const out = new Uint8Array(4);
	new DataView(out.buffer).setUint32(0, value >>> 0);
	return out;
}

function flipLastByte(bytes: Uint8Array): void {
	const last = bytes.length - 1;
	bytes[last] = (bytes[last] ?? 0) ^ 0xff;
}

function concat(...parts: Uint8Array[]): Bytes {
	return isoUint8Array.concat(parts.map(toBytes));
}

/** Copies into a fresh ArrayBuffer-backed array so WebCrypto's BufferSource typing is satisfied. */
function toBytes(data: Uint8Array): Bytes {
	const out = new Uint8Array(data.length);
	out.set(data);
	return out;
}

function required<T>(value: T | undefined, message: string): T {
	if (value === undefined) {
		throw new Error(message);
	}
	return value;
}

// --- spellings and encodings for the strictness suites ------------------------------------------

const BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/**
 * Every unpadded base64url spelling of the same bytes: the last character's
 * spare low bits are ignored by decoders, so a challenge of 38 bytes has four.
 * The canonical spelling (spare bits zero) comes first.
 */
export function base64UrlSpellings(text: string): string[] {
	const spare = [0, 0, 4, 2][text.length % 4] ?? 0;
	const last = BASE64URL_ALPHABET.indexOf(text.slice(-1));
	if (spare === 0 || last < 0) return [text];
	const base = last & ~((1 << spare) - 1);
	return Array.from({ length: 1 << spare }, (_, i) => text.slice(0, -1) + BASE64URL_ALPHABET[base + i]);
}

/** A COSE key map, for tests that build keys by hand. */
export function encodeCoseKey(entries: [number, CBORValue][]): Bytes {
	return toBytes(isoCBOR.encode(new Map<number, CBORValue>(entries)));
}
