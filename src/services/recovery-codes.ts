import { randomBytes } from "../lib/encoding";
import { hmacUnderEachKey, hmacWithNewest, type KeySet } from "../lib/key-set";
import type { ClientKind, Metrics } from "../lib/metrics";

export const RECOVERY_CODE_COUNT = 10;
// 12 symbols of Crockford's base32: 60 bits per code. It has no i, l, o or u,
// and input maps o → 0 and i, l → 1, so a code copied by hand survives.
const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";
const SYMBOLS = 12;

function randomCode(): string {
	const bytes = randomBytes(SYMBOLS);
	let code = "";
	// 256 is a multiple of 32, so `byte % 32` is uniform.
	for (const byte of bytes) code += ALPHABET[byte % 32];
	return `${code.slice(0, 4)}-${code.slice(4, 8)}-${code.slice(8, 12)}`;
}

/** Input ignores case, spaces and dashes. */
export function normalizeRecoveryCode(input: string): string {
	return input
		.toLowerCase()
		.replace(/[\s-]+/g, "")
		.replace(/o/g, "0")
		.replace(/[il]/g, "1");
}

function hashedMessage(code: string): string {
	return `recovery-code:${normalizeRecoveryCode(code)}`;
}

/** The code's hash as a new code under the newest key is stored. */
export async function hashRecoveryCode(keys: KeySet, code: string): Promise<string> {
	const [hash] = await hmacWithNewest(keys, [hashedMessage(code)]);
	if (hash === undefined) throw new Error("HMAC of one message returned none");
	return hash;
}

/**
 * What a stored code equal to this input may look like: its hash under each
 * listed key, each naming its key. Codes made before a rotation stay under
 * the key that made them (a hash cannot be re-keyed without the code), so
 * all of them are looked up; the list is as short as the key set.
 */
export function recoveryCodeCandidates(keys: KeySet, code: string): Promise<string[]> {
	return hmacUnderEachKey(keys, hashedMessage(code));
}

export interface GeneratedCodes {
	codes: string[];
	hashes: string[];
}

export async function generateRecoveryCodes(keys: KeySet): Promise<GeneratedCodes> {
	const codes = new Set<string>();
	while (codes.size < RECOVERY_CODE_COUNT) codes.add(randomCode());
	const list = [...codes];
	return { codes: list, hashes: await hmacWithNewest(keys, list.map(hashedMessage)) };
}

/** One label for every new set of codes, whichever route made it. */
export function recordCodesGenerated(
	deps: { metrics: Metrics; client: ClientKind; startedAt: number },
	reason: "first_authenticator" | "regenerated",
): void {
	deps.metrics.record({
		event: "recovery_codes.generated",
		outcome: "success",
		reason,
		method: "recovery_code",
		client: deps.client,
		durationMs: performance.now() - deps.startedAt,
	});
}
