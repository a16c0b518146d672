import { generate } from "otplib";

const PERIOD_SECONDS = 30;

export function currentStep(now = Date.now()): number {
	return Math.floor(now / 1000 / PERIOD_SECONDS);
}

/** The code an authenticator app shows during `step` (SHA-1, 6 digits, 30 s), from a base32 secret. */
export function totpCode(base32Secret: string, step: number): Promise<string> {
	return generate({
		secret: base32Secret,
		algorithm: "sha1",
		digits: 6,
		period: PERIOD_SECONDS,
		epoch: step * PERIOD_SECONDS,
	});
}

/** Milliseconds until the next time step begins. */
export function msUntilNextStep(now = Date.now()): number {
	return (currentStep(now) + 1) * PERIOD_SECONDS * 1000 - now;
}
