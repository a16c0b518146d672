/**
 * `npm run demo`: the whole story of passkey-edge in a few seconds, against a
 * running `npm run dev` (or BASE_URL), with the software authenticator the
 * tests use standing in for a phone's Face ID. It talks to the API as a
 * mobile app does (`X-Client: app`, bearer token), prints each request and
 * the essential part of each answer, and stops with a non-zero exit and the
 * error envelope it got as soon as a step does not answer as expected.
 *
 * Run by Node's built-in type stripping: only erasable TypeScript here, and
 * relative imports carry their .ts extension.
 */
import type {
	AuthenticationResponseJSON,
	PublicKeyCredentialCreationOptionsJSON,
	PublicKeyCredentialRequestOptionsJSON,
	RegistrationResponseJSON,
} from "@simplewebauthn/server";
import { SoftAuthenticator } from "../test/helpers/authenticator.ts";

interface Session {
	level: "partial" | "full";
	user: { id: string; email: string };
	methods: string[];
	expires_at: string;
}

interface SessionAnswer {
	session: Session;
	session_token: string;
}

interface Passkey {
	id: string;
	name: string;
	passwordless: boolean;
	device_type: string;
	backed_up: boolean;
	last_used_at: string | null;
}

const BASE_URL: string = process.env.BASE_URL || "http://localhost:8787";
// The authenticator signs this origin into clientDataJSON, as a browser on BASE_URL would.
const ORIGIN = new URL(BASE_URL).origin;
const email = `demo-${Date.now().toString(36)}@example.com`;
const password = `demo password ${crypto.randomUUID()}`;

const useColor = Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
const paint = (code: number) => (text: string) => (useColor ? `\x1b[${code}m${text}\x1b[0m` : text);
const bold = paint(1);
const dim = paint(2);
const red = paint(31);
const green = paint(32);
const cyan = paint(36);

let stepNumber = 0;
function step(title: string): void {
	stepNumber += 1;
	console.log(`\n${bold(`${stepNumber}. ${title}`)}`);
}

function show(line: string): void {
	console.log(`     ${line}`);
}

/** The first characters of a secret: enough to tell two apart, not enough to use. */
function short(secret: string): string {
	return `${secret.slice(0, 8)}…`;
}

class StepFailed extends Error {}

interface Call {
	token?: string;
	body?: unknown;
	/** The status this step expects; anything else stops the demo. */
	expect?: number;
}

async function api<T>(method: string, path: string, call: Call = {}): Promise<T> {
	const headers: Record<string, string> = { "x-client": "app" };
	if (call.token) headers.authorization = `Bearer ${call.token}`;
	if (call.body !== undefined) headers["content-type"] = "application/json";
	let response: Response;
	try {
		response = await fetch(new URL(path, BASE_URL), {
			method,
			headers,
			...(call.body === undefined ? {} : { body: JSON.stringify(call.body) }),
		});
	} catch (error) {
		const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : String(error);
		throw new StepFailed(`cannot reach ${BASE_URL} (${cause}). Is \`npm run dev\` running? (or set BASE_URL)`);
	}
	const text = await response.text();
	let body: unknown = text;
	try {
		body = JSON.parse(text);
	} catch {
		// Shown as text below: an answer that is not JSON is itself worth seeing.
	}
	const expected = call.expect ?? 200;
	const ok = response.status === expected;
	console.log(`   ${cyan(method.padEnd(6))}${path}  ${(ok ? green : red)(`→ ${response.status}`)}`);
	if (!ok) {
		const shown = typeof body === "string" ? body : JSON.stringify(body, null, 2);
		const hint =
			(body as { code?: unknown } | null)?.code === "verification_failed"
				? `\nhint: the authenticator signed the origin ${ORIGIN}: it must be one of the server's ORIGINS.`
				: "";
		throw new StepFailed(`expected ${expected}, got ${response.status}:\n${shown}${hint}`);
	}
	return body as T;
}

function describeSession(answer: SessionAnswer): string {
	const { session } = answer;
	return `session ${bold(session.level)} for ${session.user.email}, methods [${session.methods.join(", ")}], session_token ${short(answer.session_token)}`;
}

async function main(): Promise<void> {
	console.log(bold(`passkey-edge demo against ${BASE_URL}`));
	console.log(dim(`   every request is sent as an app: X-Client: app, then Authorization: Bearer <session_token>`));
	await api("GET", "/api/health/");

	step("Sign up");
	const signup = await api<SessionAnswer & { user: { id: string } }>("POST", "/api/auth/signup/", {
		body: { email, password },
		expect: 201,
	});
	show(`user ${signup.user.id}, ${describeSession(signup)}`);
	let token = signup.session_token;

	step("Add a passkey (passwordless: a discoverable credential with user verification)");
	const phone = new SoftAuthenticator({ origin: ORIGIN, backupEligible: true, backedUp: true });
	const creation = await api<{ creation_options: PublicKeyCredentialCreationOptionsJSON }>(
		"GET",
		"/api/webauthn/register/options/?passwordless=true",
		{ token },
	);
	const selection = creation.creation_options.authenticatorSelection;
	show(
		`rp ${creation.creation_options.rp.id}, residentKey ${selection?.residentKey}, userVerification ${selection?.userVerification}, challenge ${short(creation.creation_options.challenge)}`,
	);
	const attestation: RegistrationResponseJSON = await phone.createCredential(creation.creation_options);
	show(dim(`the authenticator made an ES256 key pair and signed for ${ORIGIN} (the user's face or fingerprint)`));
	const registered = await api<{ passkey: Passkey; recovery_codes?: string[] }>(
		"POST",
		"/api/webauthn/register/complete/",
		{ token, body: { credential: attestation, name: "Demo phone" }, expect: 201 },
	);
	show(
		`passkey "${registered.passkey.name}": passwordless ${registered.passkey.passwordless}, ${registered.passkey.device_type}`,
	);
	const codes = registered.recovery_codes ?? [];
	if (codes.length === 0) throw new StepFailed("the first authenticator must bring recovery codes, none came");
	show(`${codes.length} recovery codes, shown this once (the server keeps only their hashes):`);
	for (let row = 0; row < codes.length; row += 5) show(`  ${codes.slice(row, row + 5).join("  ")}`);

	step("Sign out");
	await api("POST", "/api/auth/logout/", { token });
	const revoked = await api<{ code: string }>("GET", "/api/auth/session/", { token, expect: 401 });
	show(`the old token is revoked on the server: ${revoked.code}`);

	step("Sign in with the password: the account has 2FA, so the session is partial");
	const partial = await api<SessionAnswer>("POST", "/api/auth/login/", { body: { email, password } });
	show(describeSession(partial));
	if (partial.session.level !== "partial")
		throw new StepFailed(`expected a partial session, got ${partial.session.level}`);
	const blocked = await api<{ code: string }>("GET", "/api/webauthn/", { token: partial.session_token, expect: 403 });
	show(`a partial session can only finish 2FA: ${blocked.code}`);

	step("Second factor with the passkey: partial → full, with a new token");
	const request = await api<{ request_options: PublicKeyCredentialRequestOptionsJSON }>(
		"GET",
		"/api/webauthn/authenticate/options/",
		{ token: partial.session_token },
	);
	show(`allowCredentials: ${request.request_options.allowCredentials?.length ?? 0} passkey(s) of this user`);
	const secondFactor: AuthenticationResponseJSON = await phone.getAssertion(request.request_options);
	const full = await api<SessionAnswer>("POST", "/api/webauthn/verify/", {
		token: partial.session_token,
		body: { credential: secondFactor },
	});
	show(describeSession(full));
	await api("GET", "/api/auth/session/", { token: partial.session_token, expect: 401 });
	show(`the partial token ${short(partial.session_token)} stopped working: the app keeps the new one`);
	token = full.session_token;

	step("Sign out, then sign in with the passkey alone: no email, no password");
	await api("POST", "/api/auth/logout/", { token });
	const signIn = await api<{ request_options: PublicKeyCredentialRequestOptionsJSON }>(
		"GET",
		"/api/auth/passkey/options/",
	);
	show(
		`allowCredentials [] (the authenticator picks its passkey for ${signIn.request_options.rpId}), userVerification ${signIn.request_options.userVerification}`,
	);
	const assertion: AuthenticationResponseJSON = await phone.getAssertion(signIn.request_options);
	show(
		dim(`the assertion carries the user handle ${short(assertion.response.userHandle ?? "")} and user verification`),
	);
	const passwordless = await api<SessionAnswer>("POST", "/api/auth/passkey/login/", {
		body: { credential: assertion },
	});
	show(describeSession(passwordless));
	token = passwordless.session_token;

	step("List the passkeys");
	const listed = await api<{ passkeys: Passkey[] }>("GET", "/api/webauthn/", { token });
	for (const passkey of listed.passkeys) {
		show(
			`"${passkey.name}" (${passkey.id}): passwordless ${passkey.passwordless}, ${passkey.device_type}, backed up ${passkey.backed_up}, last used ${passkey.last_used_at ?? "never"}`,
		);
	}
	const first = listed.passkeys[0];
	if (!first) throw new StepFailed("the list is empty");

	step("Rename it");
	const renamed = await api<{ passkey: Passkey }>("PATCH", `/api/webauthn/${first.id}/`, {
		token,
		body: { name: "Work phone" },
	});
	show(`"${first.name}" is now "${renamed.passkey.name}"`);

	console.log(
		`\n${green("✓")} ${bold("the whole story works")}: sign up, passkey, 2FA, passwordless sign-in, list, rename`,
	);
}

try {
	await main();
} catch (error) {
	const message = error instanceof StepFailed ? error.message : error instanceof Error ? error.stack : String(error);
	const where = stepNumber === 0 ? "before the first step" : `at step ${stepNumber}`;
	console.error(`\n${red("✗ demo failed")} ${where}: ${message}`);
	process.exitCode = 1;
}
