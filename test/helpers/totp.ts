import { clock } from "../../src/lib/clock";
import { timeStep, totpCodeAt } from "../../src/lib/totp";
import { userSql } from "./account";
import { type ApiResponse, type CallOptions, call, logIn, ORIGIN, PASSWORD, signUp, type TestUser } from "./api";

export interface EnabledTotp {
	secret: string;
	/** Present when TOTP was the user's first authenticator. */
	recoveryCodes: string[] | undefined;
	/** The time step whose code activated it: it counts as used. */
	activationStep: number;
}

export interface SessionBody {
	session: {
		level: "partial" | "full";
		user: { id: string; email: string };
		methods: string[];
		authenticated_at: string;
		expires_at: string;
	};
	session_token?: string;
}

/** The current time step of the Worker's clock (frozen or not). */
export function currentStep(): number {
	return timeStep(clock.now());
}

/** The code an authenticator app shows `offset` steps from the Worker's current step. */
export function codeFor(secret: string, offset = 0): Promise<string> {
	return totpCodeAt(secret, currentStep() + offset);
}

/** A code that is certainly not valid near `step` for this secret (none of the five steps around it). */
export async function wrongCodeFor(secret: string, step = currentStep()): Promise<string> {
	const near = new Set(await Promise.all([-2, -1, 0, 1, 2].map((d) => totpCodeAt(secret, step + d))));
	for (let n = 0; ; n++) {
		const candidate = String((123456 + n * 7919) % 1_000_000).padStart(6, "0");
		if (!near.has(candidate)) return candidate;
	}
}

export function totpSetup(auth: CallOptions) {
	return call<{ secret: string; otpauth_uri: string; qr_svg: string }>("POST", "/api/totp/setup/", auth);
}

export function totpActivate(auth: CallOptions, code: string) {
	return call<{ recovery_codes?: string[] }>("POST", "/api/totp/activate/", { ...auth, body: { code } });
}

/** Sets up and activates an authenticator app for a user with a full, recent session. */
export async function enableTotp(user: TestUser): Promise<EnabledTotp> {
	const setup = await totpSetup({ token: user.token });
	if (setup.status !== 200) throw new Error(`totp setup failed: ${setup.status} ${JSON.stringify(setup.body)}`);
	const activationStep = currentStep();
	const activated = await totpActivate({ token: user.token }, await totpCodeAt(setup.body.secret, activationStep));
	if (activated.status !== 201) {
		throw new Error(`totp activation failed: ${activated.status} ${JSON.stringify(activated.body)}`);
	}
	return { secret: setup.body.secret, recoveryCodes: activated.body.recovery_codes, activationStep };
}

/** A fresh app user whose only authenticator is an authenticator app. */
export async function userWithTotp(): Promise<{ user: TestUser } & EnabledTotp> {
	const user = await signUp();
	return { user, ...(await enableTotp(user)) };
}

/** Password login as an app for a user with 2FA; returns the partial session's token. */
export async function partialToken(user: TestUser): Promise<string> {
	const response = await logIn(user.email);
	if (response.status !== 200 || response.body.session.level !== "partial") {
		throw new Error(`expected a partial login: ${response.status} ${JSON.stringify(response.body)}`);
	}
	return response.body.session_token;
}

/**
 * `count` independent partial sessions of one user. One after another: the
 * password limiter reserves a failure per login in flight, so more than 10
 * concurrent logins for one email are refused by design.
 */
export async function partialTokens(user: TestUser, count: number): Promise<string[]> {
	const tokens: string[] = [];
	for (let i = 0; i < count; i++) tokens.push(await partialToken(user));
	return tokens;
}

export function verifyTotp(token: string, code: unknown): Promise<ApiResponse<SessionBody>> {
	return call<SessionBody>("POST", "/api/totp/verify/", { token, app: true, body: { code } });
}

export function verifyRecoveryCode(
	token: string,
	code: unknown,
): Promise<ApiResponse<SessionBody & { unused: number }>> {
	return call<SessionBody & { unused: number }>("POST", "/api/recovery-codes/verify/", {
		token,
		app: true,
		body: { code },
	});
}

/** The `__Host-pe_session` cookie a response set, as a Cookie header value, or null. */
export function setSessionCookie(headers: Headers): string | null {
	for (const line of headers.getSetCookie()) {
		const match = /^__Host-pe_session=([^;]+)/.exec(line);
		if (match?.[1]) return `__Host-pe_session=${match[1]}`;
	}
	return null;
}

/** Password login as a browser for a user with 2FA; returns the partial session's cookie. */
export async function partialCookie(user: TestUser): Promise<string> {
	const response = await call<SessionBody>("POST", "/api/auth/login/", {
		origin: ORIGIN,
		body: { email: user.email, password: PASSWORD },
	});
	const cookie = setSessionCookie(response.headers);
	if (response.status !== 200 || response.body.session.level !== "partial" || !cookie) {
		throw new Error(`expected a partial browser login: ${response.status} ${JSON.stringify(response.body)}`);
	}
	return cookie;
}

/** Confirms the password on a full session, so routes marked recent work again after the clock moved. */
export async function reauthenticate(token: string): Promise<void> {
	const response = await call("POST", "/api/auth/reauthenticate/", { token, body: { password: PASSWORD } });
	if (response.status !== 200) throw new Error(`reauthentication failed: ${response.status}`);
}

export interface TotpDbRow {
	user_id: string;
	secret_ciphertext: string;
	last_step: number;
	created_at: number;
	last_used_at: number | null;
}

export function totpRow(userId: string): Promise<TotpDbRow | null> {
	return userSql(userId, "SELECT * FROM totp_credentials").first<TotpDbRow>();
}

export interface RecoveryCodeDbRow {
	id: string;
	user_id: string;
	code_hash: string;
	created_at: number;
	used_at: number | null;
}

export async function recoveryCodeRows(userId: string): Promise<RecoveryCodeDbRow[]> {
	const { results } = await userSql(userId, "SELECT * FROM recovery_codes").all<RecoveryCodeDbRow>();
	return results;
}

/** How many responses had each status, e.g. `{ 200: 1, 429: 19 }`. */
export function statusCounts(responses: { status: number }[]): Record<number, number> {
	const counts: Record<number, number> = {};
	for (const { status } of responses) counts[status] = (counts[status] ?? 0) + 1;
	return counts;
}

/** The middle of the current 30-second step, so that a test's codes never straddle a step boundary. */
export function midStep(ms = Date.now()): number {
	return Math.floor(ms / 30_000) * 30_000 + 15_000;
}
