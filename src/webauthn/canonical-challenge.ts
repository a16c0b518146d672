import { timingSafeEqual } from "../lib/crypto";
import { fromBase64Url, toBase64Url } from "../lib/encoding";

/**
 * A challenge has one spelling. base64url of a length that is not a multiple
 * of 3 bytes leaves spare low bits in its last character, and decoders ignore
 * them: the 38 bytes of a sign-in challenge have four spellings that decode to
 * the same bytes. Were the string the challenge, one challenge could be used
 * once per spelling. So a challenge is its bytes, recorded under their
 * canonical spelling (the re-encoding of the decoded bytes), and a response
 * that spells it any other way is refused.
 */
export interface ReadChallenge {
	bytes: Uint8Array<ArrayBuffer>;
	/** The canonical spelling of these bytes: the one to record a use under. */
	canonical: string;
	/** Whether the challenge was presented in its canonical spelling. */
	isCanonical: boolean;
}

/** null for anything that is not unpadded base64url at all. */
export function readChallenge(text: string): ReadChallenge | null {
	const bytes = fromBase64Url(text);
	if (!bytes) return null;
	const canonical = toBase64Url(bytes);
	return { bytes, canonical, isCanonical: canonical === text };
}

/**
 * Why a signed challenge does not answer a pending one (both as the client
 * data spells them), or undefined when it does: the same bytes, spelled
 * canonically. The pending one is ours and always canonical.
 */
export function challengeMismatch(
	pending: string,
	signed: string,
): "challenge_not_canonical" | "challenge_mismatch" | undefined {
	const read = readChallenge(signed);
	if (!read?.isCanonical) return "challenge_not_canonical";
	const expected = fromBase64Url(pending);
	if (!expected || !timingSafeEqual(expected, read.bytes)) return "challenge_mismatch";
	return undefined;
}
