import { generate, generateSecret, generateURI } from "otplib";
import { renderSVG } from "uqr";

// What authenticator apps expect (RFC 6238 as Google Authenticator uses it).
export const TOTP_ALGORITHM = "sha1" as const;
export const TOTP_DIGITS = 6 as const;
export const TOTP_PERIOD_SECONDS = 30;
/** One step of drift either way: a phone's clock is rarely exact. */
export const TOTP_DRIFT_STEPS = 1;
const SECRET_BYTES = 20; // 160 bits, RFC 4226's recommendation

export function newTotpSecret(): string {
	return generateSecret({ length: SECRET_BYTES });
}

export function timeStep(nowMs: number): number {
	return Math.floor(nowMs / 1000 / TOTP_PERIOD_SECONDS);
}

export function totpCodeAt(secret: string | Uint8Array, step: number): Promise<string> {
	return generate({
		secret,
		algorithm: TOTP_ALGORITHM,
		digits: TOTP_DIGITS,
		period: TOTP_PERIOD_SECONDS,
		epoch: step * TOTP_PERIOD_SECONDS,
	});
}

/**
 * The newest time step within the drift window whose code equals `code` and
 * that is newer than `lastStep`, or null. Every candidate is computed and
 * compared, so the time taken does not say which step matched.
 */
export async function matchingStep(
	secret: string,
	code: string,
	nowMs: number,
	lastStep: number,
): Promise<number | null> {
	const current = timeStep(nowMs);
	let matched: number | null = null;
	for (let step = current - TOTP_DRIFT_STEPS; step <= current + TOTP_DRIFT_STEPS; step++) {
		const expected = await totpCodeAt(secret, step);
		if (constantTimeEqual(expected, code) && step > lastStep) matched = step;
	}
	return matched;
}

function constantTimeEqual(a: string, b: string): boolean {
	if (a.length !== b.length) return false;
	let diff = 0;
	for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
	return diff === 0;
}

export function otpauthUri(issuer: string, label: string, secret: string): string {
	const uri = generateURI({
		issuer,
		label,
		secret,
		algorithm: TOTP_ALGORITHM,
		digits: TOTP_DIGITS,
		period: TOTP_PERIOD_SECONDS,
	});
	// otplib leaves out parameters equal to the Key URI defaults; we state them,
	// so that an app with other defaults cannot show codes we would refuse.
	return `${uri}&algorithm=${TOTP_ALGORITHM.toUpperCase()}&digits=${TOTP_DIGITS}&period=${TOTP_PERIOD_SECONDS}`;
}

export function qrSvg(text: string): string {
	return renderSVG(text, { ecc: "M", border: 2 });
}
