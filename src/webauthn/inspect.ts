import type { AuthenticationResponseJSON, RegistrationResponseJSON } from "@simplewebauthn/server";
import {
	type AttestationFormat,
	type ClientDataJSON,
	decodeAttestationObject,
	decodeCredentialPublicKey,
	type ParsedAuthenticatorData,
	parseAuthenticatorData,
} from "@simplewebauthn/server/helpers";
import { fromBase64Url, toBase64Url } from "../lib/encoding";
import { ApiError } from "../lib/errors";

// Structural parsing happens before a challenge is consumed: a malformed
// request is a 400 invalid_request that changes nothing, while a well-formed
// response that fails a rule consumes its challenge and counts as a failure.

export const SUPPORTED_ALGORITHMS = [-8, -7, -257] as const; // EdDSA, ES256, RS256
export const MAX_CREDENTIAL_ID_BYTES = 1023;
const COSE_ALG = 3;

function malformed(field: string, problem: string): ApiError {
	return new ApiError("invalid_request", { fields: { [field]: problem } });
}

function decodeField(value: string, field: string): Uint8Array<ArrayBuffer> {
	const bytes = fromBase64Url(value);
	if (!bytes || bytes.length === 0) throw malformed(field, "must be non-empty base64url");
	return bytes;
}

function parseClientData(value: string): ClientDataJSON {
	const bytes = decodeField(value, "credential.response.clientDataJSON");
	let parsed: unknown;
	try {
		parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes));
	} catch {
		throw malformed("credential.response.clientDataJSON", "must be base64url of UTF-8 JSON");
	}
	const data = parsed as Partial<ClientDataJSON> | null;
	if (
		typeof data !== "object" ||
		data === null ||
		typeof data.type !== "string" ||
		typeof data.challenge !== "string" ||
		typeof data.origin !== "string"
	) {
		throw malformed("credential.response.clientDataJSON", "must hold type, challenge and origin");
	}
	return data as ClientDataJSON;
}

function parseAuthData(bytes: Uint8Array<ArrayBuffer>, field: string): ParsedAuthenticatorData {
	try {
		return parseAuthenticatorData(bytes);
	} catch {
		throw malformed(field, "is not valid authenticator data");
	}
}

export interface InspectedRegistration {
	clientData: ClientDataJSON;
	format: AttestationFormat;
	/** Whether the attestation statement carries a certificate chain (x5c). */
	hasCertificateChain: boolean;
	attestationStatementSize: number;
	/** attStmt.alg and attStmt.sig of a packed statement (undefined when absent or of the wrong type). */
	attestationAlgorithm: number | undefined;
	attestationSignature: Uint8Array | undefined;
	authData: ParsedAuthenticatorData;
	credentialId: string;
	credentialIdBytes: number;
	/** The COSE public key inside the authenticator data. */
	credentialPublicKey: Uint8Array;
	algorithm: number | undefined;
}

export function inspectRegistration(response: RegistrationResponseJSON): InspectedRegistration {
	const clientData = parseClientData(response.response.clientDataJSON);
	const attestationBytes = decodeField(response.response.attestationObject, "credential.response.attestationObject");
	let format: AttestationFormat;
	let statementSize: number;
	let hasCertificateChain: boolean;
	let attestationAlgorithm: number | undefined;
	let attestationSignature: Uint8Array | undefined;
	let authDataBytes: Uint8Array<ArrayBuffer>;
	try {
		const attestation = decodeAttestationObject(attestationBytes);
		format = attestation.get("fmt");
		const statement = attestation.get("attStmt");
		authDataBytes = attestation.get("authData");
		if (typeof format !== "string" || !(authDataBytes instanceof Uint8Array) || !statement) throw new Error("shape");
		statementSize = statement.size;
		hasCertificateChain = statement.get("x5c") !== undefined;
		const alg: unknown = statement.get("alg");
		const sig: unknown = statement.get("sig");
		attestationAlgorithm = typeof alg === "number" ? alg : undefined;
		attestationSignature = sig instanceof Uint8Array ? sig : undefined;
	} catch {
		throw malformed("credential.response.attestationObject", "is not a valid CBOR attestation object");
	}
	const authData = parseAuthData(authDataBytes, "credential.response.attestationObject");
	if (!authData.credentialID || !authData.credentialPublicKey) {
		throw malformed("credential.response.attestationObject", "has no attested credential data");
	}
	let algorithm: number | undefined;
	try {
		const alg = decodeCredentialPublicKey(authData.credentialPublicKey).get(COSE_ALG);
		algorithm = typeof alg === "number" ? alg : undefined;
	} catch {
		throw malformed("credential.response.attestationObject", "holds a public key that is not valid COSE");
	}
	return {
		clientData,
		format,
		hasCertificateChain,
		attestationStatementSize: statementSize,
		attestationAlgorithm,
		attestationSignature,
		authData,
		credentialId: toBase64Url(authData.credentialID),
		credentialIdBytes: authData.credentialID.length,
		credentialPublicKey: authData.credentialPublicKey,
		algorithm,
	};
}

export interface InspectedAssertion {
	clientData: ClientDataJSON;
	authData: ParsedAuthenticatorData;
	credentialId: string;
}

export function inspectAssertion(response: AuthenticationResponseJSON): InspectedAssertion {
	const clientData = parseClientData(response.response.clientDataJSON);
	const authData = parseAuthData(
		decodeField(response.response.authenticatorData, "credential.response.authenticatorData"),
		"credential.response.authenticatorData",
	);
	decodeField(response.response.signature, "credential.response.signature");
	const rawId = decodeField(response.rawId, "credential.rawId");
	if (toBase64Url(rawId) !== response.id) throw malformed("credential.id", "must equal rawId");
	return { clientData, authData, credentialId: response.id };
}

export function isSupportedAlgorithm(alg: number | undefined): boolean {
	return alg !== undefined && (SUPPORTED_ALGORITHMS as readonly number[]).includes(alg);
}
