/**
 * An ES256 signature is the DER encoding of ECDSA-Sig-Value,
 * SEQUENCE { r INTEGER, s INTEGER } (WebAuthn §6.5.5), and DER has exactly
 * one encoding of a value. The ASN.1 parser behind @simplewebauthn/server is
 * BER-lenient: it accepts trailing bytes, long-form lengths and an
 * indefinite-length sequence, so one signature had many spellings that all
 * verified. Anything but the canonical encoding is refused before the
 * verifier sees it, for assertions and for packed attestation alike.
 *
 * For P-256, r and s are below the group order, so each INTEGER holds at most
 * 33 bytes (32 and a 0x00 sign byte) and the whole is at most 72 bytes: every
 * length is short-form.
 */
const SEQUENCE = 0x30;
const INTEGER = 0x02;
const MAX_INTEGER_BYTES = 33;

/** The end offset of a canonical, positive INTEGER starting at `at`, or -1. */
function readInteger(bytes: Uint8Array, at: number): number {
	if (bytes[at] !== INTEGER) return -1;
	const length = bytes[at + 1];
	// Short form only (< 0x80), and never longer than a P-256 scalar needs.
	if (length === undefined || length === 0 || length > MAX_INTEGER_BYTES) return -1;
	const start = at + 2;
	const end = start + length;
	if (end > bytes.length) return -1;
	const first = bytes[start] ?? 0;
	// Two's complement: a set high bit is a negative number, which r and s never are.
	if (first & 0x80) return -1;
	// Minimal: a leading 0x00 only where the next byte would otherwise read as negative.
	if (first === 0 && length > 1 && ((bytes[start + 1] ?? 0) & 0x80) === 0) return -1;
	return end;
}

export function isCanonicalEs256Signature(signature: Uint8Array): boolean {
	if (signature.length < 8 || signature[0] !== SEQUENCE) return false;
	// The sequence's length must be short-form and cover exactly the rest: no trailing bytes.
	if (signature.length - 2 >= 0x80 || signature[1] !== signature.length - 2) return false;
	const afterR = readInteger(signature, 2);
	if (afterR < 0) return false;
	return readInteger(signature, afterR) === signature.length;
}
