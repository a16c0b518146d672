/**
 * The Django example against the real Worker: `wrangler dev` on a free port
 * with a fresh local database (test/e2e/worker.ts), two users who sign in as
 * an app does, access tokens from `POST /api/auth/token/`, and the Django
 * views called over HTTP (examples/django/serve.py on a port of its own), so
 * each token is checked by PyJWT against the Worker's own `jwks_uri`: a JWT
 * library that shares no code with the one that signed it.
 *
 * Every check is counted: a step of the setup that fails fails the checks
 * that needed it, so the count of checks is the same on every run.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type {
	PublicKeyCredentialCreationOptionsJSON,
	PublicKeyCredentialRequestOptionsJSON,
} from "@simplewebauthn/server";
import { ROOT, type RunningWorker, startWorker } from "../../test/e2e/worker.ts";
import { SoftAuthenticator } from "../../test/helpers/authenticator.ts";

export const PYTHON = process.env.PASSKEY_EDGE_PYTHON || "/usr/bin/python3";
export const EXAMPLE_DIR = join(ROOT, "examples/django");
const AUDIENCE = "django-example";
const OTHER_AUDIENCE = "another-backend";
// This run's server key (SERVER_API_KEYS is `name:key` pairs): the Worker gets
// it as a variable, Django as PASSKEY_EDGE_SERVER_KEY, nothing else sees it.
const SERVER_KEY = randomBytes(32).toString("base64url");
const SERVER_API_KEYS = `django:${SERVER_KEY}`;

export interface Tally {
	passed: number;
	failed: number;
}

interface Answer {
	status: number;
	headers: Headers;
	body: Record<string, unknown>;
}

class CheckFailed extends Error {}

function expect(condition: unknown, message: string): asserts condition {
	if (!condition) throw new CheckFailed(message);
}

async function call(url: string, init: { method?: string; token?: string; body?: unknown } = {}): Promise<Answer> {
	const headers: Record<string, string> = { "x-client": "app" };
	if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`;
	if (init.body !== undefined) headers["content-type"] = "application/json";
	const response = await fetch(url, {
		method: init.method ?? "GET",
		headers,
		...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
		signal: AbortSignal.timeout(60_000),
	});
	const text = await response.text();
	let body: Record<string, unknown>;
	try {
		body = JSON.parse(text) as Record<string, unknown>;
	} catch {
		body = { text };
	}
	return { status: response.status, headers: response.headers, body };
}

async function expectStatus(answer: Promise<Answer>, status: number, what: string): Promise<Answer> {
	const got = await answer;
	expect(got.status === status, `${what}: expected ${status}, got ${got.status} ${JSON.stringify(got.body)}`);
	return got;
}

function payloadOf(jwt: string): Record<string, unknown> {
	const [, payload] = jwt.split(".");
	return JSON.parse(Buffer.from(payload ?? "", "base64url").toString("utf8")) as Record<string, unknown>;
}

function headerOf(jwt: string): Record<string, unknown> {
	const [header] = jwt.split(".");
	return JSON.parse(Buffer.from(header ?? "", "base64url").toString("utf8")) as Record<string, unknown>;
}

interface RunningDjango {
	baseUrl: string;
	stop(): Promise<void>;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
	if (child.pid === undefined) return;
	try {
		process.kill(-child.pid, signal);
	} catch {
		// Already gone.
	}
}

function exited(child: ChildProcess, ms: number): Promise<boolean> {
	if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
	return new Promise((resolve) => {
		const timer = setTimeout(() => resolve(false), ms);
		child.once("exit", () => {
			clearTimeout(timer);
			resolve(true);
		});
	});
}

/** serve.py prints {"port": N} once it listens: no fixed port, no race for one. */
async function startDjango(env: Record<string, string>): Promise<RunningDjango> {
	const child = spawn(PYTHON, [join(EXAMPLE_DIR, "serve.py")], {
		cwd: EXAMPLE_DIR,
		env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1", PASSKEY_EDGE_LOG_LEVEL: "INFO", ...env },
		detached: true,
		stdio: ["ignore", "pipe", "pipe"],
	});
	let output = "";
	child.stderr?.on("data", (chunk: Buffer) => {
		output += chunk.toString();
		if (process.env.EXAMPLE_VERBOSE) process.stderr.write(chunk);
	});
	const stop = async () => {
		killGroup(child, "SIGTERM");
		if (!(await exited(child, 10_000))) {
			killGroup(child, "SIGKILL");
			await exited(child, 5_000);
		}
	};
	const port = await new Promise<number | null>((resolve) => {
		const timer = setTimeout(() => resolve(null), 120_000);
		const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
		lines.on("line", (line) => {
			const port = /^\{"port": (\d+)\}$/.exec(line.trim())?.[1];
			if (port === undefined) return;
			clearTimeout(timer);
			resolve(Number(port));
		});
		child.once("exit", () => resolve(null));
	});
	if (port === null) {
		await stop();
		throw new Error(`the Django server did not start:\n${output.slice(-4000)}`);
	}
	return { baseUrl: `http://127.0.0.1:${port}`, stop };
}

/** `manage.py <args>` to completion (migrations, the help-desk account). */
async function manage(args: string[], env: Record<string, string>): Promise<void> {
	const child = spawn(PYTHON, ["manage.py", ...args], {
		cwd: EXAMPLE_DIR,
		env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1", ...env },
		stdio: ["ignore", "pipe", "pipe"],
	});
	let output = "";
	child.stdout?.on("data", (chunk: Buffer) => {
		output += chunk.toString();
	});
	child.stderr?.on("data", (chunk: Buffer) => {
		output += chunk.toString();
	});
	const code = await new Promise<number | null>((resolve) => {
		child.once("error", () => resolve(null));
		child.once("exit", (exitCode) => resolve(exitCode));
	});
	if (code !== 0) throw new Error(`manage.py ${args[0]} failed (${code}):\n${output.slice(-4000)}`);
}

/**
 * The front end in a browser, as far as Django sees it: a cookie jar (the
 * session and CSRF cookies Django sets) and the CSRF header Django's
 * documentation has a front end send, the csrftoken cookie of the moment.
 */
class Browser {
	private readonly cookies = new Map<string, string>();
	private readonly baseUrl: string;
	constructor(baseUrl: string) {
		this.baseUrl = baseUrl;
	}

	get(path: string): Promise<Answer> {
		return this.request("GET", path);
	}

	/** JSON; `bearer`: an access token as `Authorization: Bearer`. */
	async post(path: string, body: Record<string, unknown> = {}, bearer?: string): Promise<Answer> {
		return this.request("POST", path, JSON.stringify(body), "application/json", bearer);
	}

	/** A form, as the admin's pages post one. */
	async postForm(path: string, fields: [string, string][]): Promise<Answer> {
		return this.request("POST", path, new URLSearchParams(fields).toString(), "application/x-www-form-urlencoded");
	}

	/** Django sets the CSRF cookie on this view. */
	async open(): Promise<this> {
		await expectStatus(this.get("/accounts/csrf/"), 200, "Django /accounts/csrf/");
		return this;
	}

	private async request(
		method: string,
		path: string,
		body?: string,
		contentType?: string,
		bearer?: string,
	): Promise<Answer> {
		const headers: Record<string, string> = {};
		if (this.cookies.size > 0) {
			headers.cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
		}
		const csrf = this.cookies.get("csrftoken");
		if (method !== "GET" && csrf !== undefined) headers["x-csrftoken"] = csrf;
		if (contentType !== undefined) headers["content-type"] = contentType;
		if (bearer !== undefined) headers.authorization = `Bearer ${bearer}`;
		const response = await fetch(new URL(path, this.baseUrl), {
			method,
			headers,
			redirect: "manual",
			...(body === undefined ? {} : { body }),
			signal: AbortSignal.timeout(60_000),
		});
		for (const cookie of response.headers.getSetCookie()) {
			const [pair = "", ...attributes] = cookie.split(";");
			const name = pair.slice(0, pair.indexOf("=")).trim();
			const value = pair.slice(pair.indexOf("=") + 1).trim();
			const expired = attributes.some((attribute) => /^\s*max-age=0\s*$/i.test(attribute));
			if (expired || value === "" || value === '""') this.cookies.delete(name);
			else this.cookies.set(name, value);
		}
		const text = await response.text();
		let parsed: Record<string, unknown>;
		try {
			parsed = JSON.parse(text) as Record<string, unknown>;
		} catch {
			parsed = { text: text.slice(0, 300) };
		}
		return { status: response.status, headers: response.headers, body: parsed };
	}
}

interface DjangoUser {
	username: string;
	email: string;
	password: string;
	/** Filled in by the checks as they go. */
	djangoId?: number;
	externalId?: string;
	phone: SoftAuthenticator;
	browser?: Browser;
	fullSession?: string;
	accessToken?: string;
}

interface Prepared {
	worker: RunningWorker;
	django: RunningDjango;
	/** Django's own users: Grace (password + passkey second factor), Katherine (passkey sign-in). */
	grace: DjangoUser;
	katherine: DjangoUser;
	helpdesk: { username: string; password: string };
	issuer: string;
	jwksUri: string;
	ada: { id: string; email: string; token: string };
	bob: { id: string; email: string; token: string };
	otherAudienceToken: string;
	partialSessionAnswer: Answer;
}

/** Two users: Ada with password + passkey (aal2), Bob with a password only (aal1). */
async function prepare(
	worker: RunningWorker,
	running: { django?: RunningDjango; djangoDir?: string },
): Promise<Prepared> {
	const api = (path: string) => new URL(path, worker.baseUrl).toString();
	const discovery = await expectStatus(
		call(api("/.well-known/openid-configuration")),
		200,
		"GET /.well-known/openid-configuration",
	);
	const issuer = String(discovery.body.issuer);
	const jwksUri = String(discovery.body.jwks_uri);

	const stamp = `${Date.now().toString(36)}-${crypto.randomUUID().slice(0, 8)}`;
	const password = `django example ${crypto.randomUUID()}`;

	// Django's own database, fresh for this run, and a help-desk member in it.
	running.djangoDir = await mkdtemp(join(tmpdir(), "passkey-edge-django-db-"));
	const database = { DJANGO_DATABASE: join(running.djangoDir, "db.sqlite3") };
	const helpdesk = { username: "helpdesk", password: `help desk ${crypto.randomUUID()}` };
	await manage(["migrate", "--noinput"], database);
	await manage(["createsuperuser", "--noinput", "--username", helpdesk.username, "--email", "helpdesk@example.com"], {
		...database,
		DJANGO_SUPERUSER_PASSWORD: helpdesk.password,
	});

	running.django = await startDjango({
		...database,
		PASSKEY_EDGE_ISSUER: issuer,
		PASSKEY_EDGE_AUDIENCE: AUDIENCE,
		PASSKEY_EDGE_JWKS_URL: jwksUri,
		// The machine may be busy: a slow first answer of wrangler dev is not a failure here.
		PASSKEY_EDGE_JWKS_TIMEOUT_SECONDS: "60",
		PASSKEY_EDGE_URL: worker.baseUrl,
		PASSKEY_EDGE_SERVER_KEY: SERVER_KEY,
		PASSKEY_EDGE_SERVER_TIMEOUT_SECONDS: "60",
	});
	await expectStatus(call(`${running.django.baseUrl}/api/health`), 200, "Django /api/health");
	const origin = new URL(worker.baseUrl).origin;
	const djangoUser = (name: string): DjangoUser => ({
		username: `${name}-${stamp}`,
		email: `${name}-${stamp}@example.com`,
		password: `${name} ${crypto.randomUUID()}`,
		phone: new SoftAuthenticator({ origin }),
	});

	// Ada: sign up, add a passkey, sign out, sign in with password + passkey.
	const adaEmail = `ada-${stamp}@example.com`;
	const adaSignup = await expectStatus(
		call(api("/api/auth/signup/"), { method: "POST", body: { email: adaEmail, password } }),
		201,
		"Ada signs up",
	);
	let session = String(adaSignup.body.session_token);
	const adaId = String((adaSignup.body.user as { id: string }).id);
	const phone = new SoftAuthenticator({ origin: new URL(worker.baseUrl).origin });
	const creation = await expectStatus(
		call(api("/api/webauthn/register/options/"), { token: session }),
		200,
		"passkey options",
	);
	const attestation = await phone.createCredential(
		creation.body.creation_options as PublicKeyCredentialCreationOptionsJSON,
	);
	await expectStatus(
		call(api("/api/webauthn/register/complete/"), {
			method: "POST",
			token: session,
			body: { credential: attestation, name: "Ada's phone" },
		}),
		201,
		"Ada adds a passkey",
	);
	await expectStatus(call(api("/api/auth/logout/"), { method: "POST", token: session }), 200, "Ada signs out");
	const partial = await expectStatus(
		call(api("/api/auth/login/"), { method: "POST", body: { email: adaEmail, password } }),
		200,
		"Ada signs in with her password",
	);
	session = String(partial.body.session_token);
	const partialSessionAnswer = await call(api("/api/auth/token/"), {
		method: "POST",
		token: session,
		body: { audience: AUDIENCE },
	});
	const request = await expectStatus(
		call(api("/api/webauthn/authenticate/options/"), { token: session }),
		200,
		"second-factor options",
	);
	const assertion = await phone.getAssertion(request.body.request_options as PublicKeyCredentialRequestOptionsJSON);
	const full = await expectStatus(
		call(api("/api/webauthn/verify/"), { method: "POST", token: session, body: { credential: assertion } }),
		200,
		"Ada's second factor with her passkey",
	);
	session = String(full.body.session_token);
	const adaToken = await expectStatus(
		call(api("/api/auth/token/"), { method: "POST", token: session, body: { audience: AUDIENCE } }),
		200,
		"Ada's access token",
	);
	const otherAudience = await expectStatus(
		call(api("/api/auth/token/"), { method: "POST", token: session, body: { audience: OTHER_AUDIENCE } }),
		200,
		"Ada's access token for another backend",
	);

	// Bob: a password and nothing else.
	const bobEmail = `bob-${stamp}@example.com`;
	const bobSignup = await expectStatus(
		call(api("/api/auth/signup/"), { method: "POST", body: { email: bobEmail, password } }),
		201,
		"Bob signs up",
	);
	const bobToken = await expectStatus(
		call(api("/api/auth/token/"), {
			method: "POST",
			token: String(bobSignup.body.session_token),
			body: { audience: AUDIENCE },
		}),
		200,
		"Bob's access token",
	);

	return {
		worker,
		django: running.django,
		grace: djangoUser("grace"),
		katherine: djangoUser("katherine"),
		helpdesk,
		issuer,
		jwksUri,
		ada: { id: adaId, email: adaEmail, token: String(adaToken.body.access_token) },
		bob: {
			id: String((bobSignup.body.user as { id: string }).id),
			email: bobEmail,
			token: String(bobToken.body.access_token),
		},
		otherAudienceToken: String(otherAudience.body.access_token),
		partialSessionAnswer,
	};
}

type Check = [title: string, run: (context: Prepared) => Promise<void>];

const checks: Check[] = [
	[
		"the Worker's JWKS publishes P-256 ES256 signing keys, never a private part",
		async ({ jwksUri, issuer }) => {
			expect(jwksUri.startsWith(issuer), `jwks_uri ${jwksUri} is not under the issuer ${issuer}`);
			const jwks = await expectStatus(call(jwksUri), 200, "GET jwks_uri");
			const keys = jwks.body.keys as Record<string, unknown>[];
			expect(Array.isArray(keys) && keys.length > 0, "no keys");
			for (const key of keys) {
				expect(key.kty === "EC" && key.crv === "P-256", `not a P-256 key: ${JSON.stringify(key)}`);
				expect(key.alg === "ES256" && key.use === "sig", `not an ES256 signing key: ${JSON.stringify(key)}`);
				expect(typeof key.kid === "string" && key.kid !== "", "a key without kid");
				expect(!("d" in key), "a private key in the JWKS");
			}
			expect(
				jwks.headers.get("cache-control") === "public, max-age=300",
				`Cache-Control ${jwks.headers.get("cache-control")}`,
			);
		},
	],
	[
		"Ada's token (password + passkey) carries the contract's claims: aal2, amr pwd + hwk/swk + mfa",
		async ({ ada, issuer, jwksUri }) => {
			const header = headerOf(ada.token);
			expect(header.alg === "ES256", `alg ${String(header.alg)}`);
			const jwks = await call(jwksUri);
			const kids = (jwks.body.keys as { kid: string }[]).map((key) => key.kid);
			expect(kids.includes(String(header.kid)), `kid ${String(header.kid)} is not in the JWKS`);
			const claims = payloadOf(ada.token);
			expect(claims.iss === issuer, `iss ${String(claims.iss)}`);
			const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
			expect(audiences.includes(AUDIENCE), `aud ${JSON.stringify(claims.aud)}`);
			expect(claims.sub === ada.id, `sub ${String(claims.sub)}, user ${ada.id}`);
			expect(claims.email === ada.email, `email ${String(claims.email)}`);
			for (const name of ["sid", "jti"]) expect(typeof claims[name] === "string", `${name} is not a string`);
			for (const name of ["iat", "nbf", "exp", "auth_time"]) {
				expect(Number.isInteger(claims[name]), `${name} is not a number of seconds`);
			}
			const lifetime = Number(claims.exp) - Number(claims.iat);
			expect(lifetime > 0 && lifetime <= 900, `lifetime ${lifetime} s`);
			const amr = claims.amr as string[];
			expect(Array.isArray(amr), "amr is not a list");
			expect(
				amr.includes("pwd") && amr.includes("mfa") && (amr.includes("hwk") || amr.includes("swk")),
				`amr ${JSON.stringify(amr)}`,
			);
			expect(claims.acr === "aal2", `acr ${String(claims.acr)}`);
		},
	],
	[
		"Django (PyJWT against jwks_uri) knows Ada: /api/me answers her email and amr",
		async ({ django, ada }) => {
			const me = await expectStatus(call(`${django.baseUrl}/api/me`, { token: ada.token }), 200, "/api/me");
			const user = me.body.user as { sub: string; email: string; amr: string[]; acr: string; sid: string };
			const claims = payloadOf(ada.token);
			expect(user.sub === ada.id, `sub ${user.sub}`);
			expect(user.email === ada.email, `email ${user.email}`);
			expect(JSON.stringify(user.amr) === JSON.stringify(claims.amr), `amr ${JSON.stringify(user.amr)}`);
			expect(user.acr === "aal2" && user.sid === claims.sid, `acr ${user.acr}, sid ${user.sid}`);
		},
	],
	[
		"Django's aal2 view answers 200 for Ada's token",
		async ({ django, ada }) => {
			await expectStatus(call(`${django.baseUrl}/api/sensitive`, { token: ada.token }), 200, "/api/sensitive");
		},
	],
	[
		"Bob's password-only token is aal1: /api/me 200, the aal2 view 403 with a step-up challenge",
		async ({ django, bob }) => {
			const claims = payloadOf(bob.token);
			expect(claims.acr === "aal1", `acr ${String(claims.acr)}`);
			expect(JSON.stringify(claims.amr) === JSON.stringify(["pwd"]), `amr ${JSON.stringify(claims.amr)}`);
			const me = await expectStatus(call(`${django.baseUrl}/api/me`, { token: bob.token }), 200, "/api/me");
			expect((me.body.user as { email: string }).email === bob.email, "not Bob");
			const refused = await expectStatus(
				call(`${django.baseUrl}/api/sensitive`, { token: bob.token }),
				403,
				"/api/sensitive",
			);
			expect(refused.body.code === "insufficient_user_authentication", `code ${String(refused.body.code)}`);
			expect(
				refused.headers.get("www-authenticate")?.includes('acr_values="aal2"') === true,
				`WWW-Authenticate ${refused.headers.get("www-authenticate")}`,
			);
		},
	],
	[
		"Django refuses a token the same Worker signed for another backend (audience)",
		async ({ django, otherAudienceToken }) => {
			const claims = payloadOf(otherAudienceToken);
			expect(JSON.stringify(claims.aud).includes(OTHER_AUDIENCE), `aud ${JSON.stringify(claims.aud)}`);
			const refused = await expectStatus(
				call(`${django.baseUrl}/api/me`, { token: otherAudienceToken }),
				401,
				"/api/me",
			);
			expect(refused.body.code === "invalid_token", `code ${String(refused.body.code)}`);
		},
	],
	[
		"Django refuses Ada's token with its payload raised from Bob's, or one signature byte changed",
		async ({ django, ada, bob }) => {
			const [adaHeader, adaPayload, adaSignature] = ada.token.split(".");
			const [, bobPayload] = bob.token.split(".");
			const swapped = `${adaHeader}.${bobPayload}.${adaSignature}`;
			const signature = Buffer.from(adaSignature ?? "", "base64url");
			signature[10] = (signature[10] ?? 0) ^ 1;
			const flipped = `${adaHeader}.${adaPayload}.${signature.toString("base64url")}`;
			for (const token of [swapped, flipped]) {
				await expectStatus(call(`${django.baseUrl}/api/me`, { token }), 401, "/api/me");
			}
		},
	],
	[
		"a partial session (password, second factor pending) gets no token: 403 mfa_required",
		async ({ partialSessionAnswer }) => {
			expect(
				partialSessionAnswer.status === 403 && partialSessionAnswer.body.code === "mfa_required",
				`${partialSessionAnswer.status} ${JSON.stringify(partialSessionAnswer.body)}`,
			);
		},
	],
];

/** A server route of passkey-edge, as Django's backend calls it (its server key, no cookie). */
async function server(worker: RunningWorker, method: string, path: string): Promise<Answer> {
	const response = await fetch(new URL(path, worker.baseUrl), {
		method,
		headers: { authorization: `Bearer ${SERVER_KEY}` },
		signal: AbortSignal.timeout(60_000),
	});
	const text = await response.text();
	let body: Record<string, unknown>;
	try {
		body = JSON.parse(text) as Record<string, unknown>;
	} catch {
		body = { text };
	}
	return { status: response.status, headers: response.headers, body };
}

function need<T>(value: T | undefined, what: string): T {
	if (value === undefined) throw new CheckFailed(`not run: an earlier check did not get ${what}`);
	return value;
}

interface RemoteUser {
	user: { external_id: string; email: string };
	passkeys: unknown[];
	totp: boolean;
	recovery_codes_left: number;
	sessions: number;
}

async function remoteUser(worker: RunningWorker, externalId: string): Promise<RemoteUser> {
	const answer = await expectStatus(
		server(worker, "GET", `/api/server/users/${encodeURIComponent(externalId)}`),
		200,
		"GET /api/server/users/{external_id}",
	);
	return answer.body as unknown as RemoteUser;
}

/** The front end adds a passkey with a session Django handed it (`two-factor/setup/`). */
async function setUpPasskey(context: Prepared, user: DjangoUser, passwordless: boolean): Promise<unknown[]> {
	const api = (path: string) => new URL(path, context.worker.baseUrl).toString();
	const browser = need(user.browser, `${user.username}'s Django session`);
	const setup = await expectStatus(
		browser.post("/accounts/two-factor/setup/", { password: user.password }),
		200,
		"Django two-factor/setup/",
	);
	expect(setup.body.level === "full", `a first set-up got a ${String(setup.body.level)} session`);
	user.externalId = String(setup.body.external_id);
	const token = String(setup.body.session_token);
	const creation = await expectStatus(
		call(api(`/api/webauthn/register/options/?passwordless=${passwordless}`), { token }),
		200,
		"passkey options with the session Django handed over",
	);
	const attestation = await user.phone.createCredential(
		creation.body.creation_options as PublicKeyCredentialCreationOptionsJSON,
	);
	const added = await expectStatus(
		call(api("/api/webauthn/register/complete/"), {
			method: "POST",
			token,
			body: { credential: attestation, name: `${user.username}'s phone` },
		}),
		201,
		"the front end adds the passkey",
	);
	// The set-up is done: the front end ends the session it was given for it.
	await expectStatus(call(api("/api/auth/logout/"), { method: "POST", token }), 200, "logout of the set-up session");
	return added.body.recovery_codes as unknown[];
}

/** passkey-edge's passwordless sign-in, then an access token for Django. */
async function passkeySignIn(context: Prepared, user: DjangoUser): Promise<Answer> {
	const api = (path: string) => new URL(path, context.worker.baseUrl).toString();
	const options = await expectStatus(call(api("/api/auth/passkey/options/")), 200, "GET /api/auth/passkey/options/");
	const request = options.body.request_options as PublicKeyCredentialRequestOptionsJSON;
	const assertion = await user.phone.getAssertion(request);
	return call(api("/api/auth/passkey/login/"), { method: "POST", body: { credential: assertion } });
}

async function adminAction(context: Prepared, action: string, user: DjangoUser, extra: [string, string][] = []) {
	const staff = await new Browser(context.django.baseUrl).open();
	const signedIn = await expectStatus(
		staff.post("/accounts/login/", { username: context.helpdesk.username, password: context.helpdesk.password }),
		200,
		"the help desk signs in to Django",
	);
	expect(signedIn.body.status === "signed_in", `help desk: ${JSON.stringify(signedIn.body)}`);
	const done = await staff.postForm("/admin/auth/user/", [
		["action", action],
		["_selected_action", String(need(user.djangoId, `${user.username}'s Django id`))],
		["index", "0"],
		...extra,
	]);
	expect(done.status === 302, `the admin action ${action} answered ${done.status} ${JSON.stringify(done.body)}`);
}

/**
 * Django's own users: the password stays in Django, passkey-edge adds the
 * passkey (a second factor for Grace, the whole sign-in for Katherine).
 * In order: each check goes on from where the one before left the users.
 */
const djangoChecks: Check[] = [
	[
		"Django: Grace (a Django user, no second factor) signs in with her password alone",
		async ({ django, grace }) => {
			const browser = await new Browser(django.baseUrl).open();
			const signup = await expectStatus(
				browser.post("/accounts/signup/", { username: grace.username, email: grace.email, password: grace.password }),
				201,
				"Django signup",
			);
			grace.djangoId = Number((signup.body.user as { id: number }).id);
			await expectStatus(browser.post("/accounts/logout/"), 200, "Django logout");
			expect((await browser.get("/accounts/me/")).status === 401, "still signed in after logout");
			const login = await expectStatus(
				browser.post("/accounts/login/", { username: grace.username, password: grace.password }),
				200,
				"Django login",
			);
			expect(login.body.status === "signed_in", `status ${String(login.body.status)}`);
			expect(!("session_token" in login.body), "a session token for a user without a second factor");
			const me = await expectStatus(browser.get("/accounts/me/"), 200, "Django /accounts/me/");
			const user = me.body.user as { username: string; external_id: string | null };
			expect(user.username === grace.username && user.external_id === null, `me ${JSON.stringify(user)}`);
			const status = await expectStatus(browser.get("/accounts/two-factor/"), 200, "two-factor status");
			expect(status.body.enrolled === false, `enrolled ${String(status.body.enrolled)}`);
			grace.browser = browser;
		},
	],
	[
		"Django: Grace's 2FA set-up creates her in passkey-edge (PUT) and the front end adds a passkey with the session Django handed over",
		async (context) => {
			const { worker, grace } = context;
			const codes = await setUpPasskey(context, grace, false);
			expect(Array.isArray(codes) && codes.length === 10, `recovery codes ${JSON.stringify(codes)}`);
			const externalId = need(grace.externalId, "Grace's external id");
			const remote = await remoteUser(worker, externalId);
			expect(remote.user.external_id === externalId, `external_id ${remote.user.external_id}`);
			expect(remote.user.email === grace.email, `email ${remote.user.email}`);
			expect(remote.passkeys.length === 1 && remote.totp === false, `passkeys ${remote.passkeys.length}`);
			expect(remote.recovery_codes_left === 10, `recovery codes left ${remote.recovery_codes_left}`);
			const browser = need(grace.browser, "Grace's Django session");
			const status = await expectStatus(browser.get("/accounts/two-factor/"), 200, "two-factor status");
			expect(
				status.body.enrolled === true && (status.body.passkeys as unknown[]).length === 1,
				`status ${JSON.stringify(status.body)}`,
			);
			await expectStatus(browser.post("/accounts/logout/"), 200, "Django logout");
		},
	],
	[
		"Django: Grace's password gets a partial passkey-edge session, her passkey finishes it, and the access token (sub: her external id) opens her Django session",
		async ({ worker, django, grace }) => {
			const api = (path: string) => new URL(path, worker.baseUrl).toString();
			const externalId = need(grace.externalId, "Grace's external id");
			const browser = await new Browser(django.baseUrl).open();
			const login = await expectStatus(
				browser.post("/accounts/login/", { username: grace.username, password: grace.password }),
				200,
				"Django login",
			);
			expect(login.body.status === "second_factor_required", `status ${String(login.body.status)}`);
			expect((login.body.methods as string[]).includes("webauthn"), `methods ${JSON.stringify(login.body.methods)}`);
			expect((await browser.get("/accounts/me/")).status === 401, "a Django session before the second factor");
			let token = String(login.body.session_token);
			const session = await expectStatus(call(api("/api/auth/session/"), { token }), 200, "GET /api/auth/session/");
			expect((session.body.session as { level: string }).level === "partial", "not a partial session");
			const early = await call(api("/api/auth/token/"), { method: "POST", token, body: { audience: AUDIENCE } });
			expect(
				early.status === 403 && early.body.code === "mfa_required",
				`token for a partial session: ${early.status}`,
			);
			const options = await expectStatus(
				call(api("/api/webauthn/authenticate/options/"), { token }),
				200,
				"second-factor options",
			);
			const assertion = await grace.phone.getAssertion(
				options.body.request_options as PublicKeyCredentialRequestOptionsJSON,
			);
			const verified = await expectStatus(
				call(api("/api/webauthn/verify/"), { method: "POST", token, body: { credential: assertion } }),
				200,
				"Grace's passkey as second factor",
			);
			token = String(verified.body.session_token);
			grace.fullSession = token;
			const issued = await expectStatus(
				call(api("/api/auth/token/"), { method: "POST", token, body: { audience: AUDIENCE } }),
				200,
				"Grace's access token",
			);
			const accessToken = String(issued.body.access_token);
			const claims = payloadOf(accessToken);
			expect(claims.sub === externalId, `sub ${String(claims.sub)}, external id ${externalId}`);
			expect(claims.sub_type === "external_id", `sub_type ${String(claims.sub_type)}`);
			expect(claims.acr === "aal2", `acr ${String(claims.acr)}`);
			const amr = claims.amr as string[];
			expect(amr.includes("pwd") && amr.includes("mfa"), `amr ${JSON.stringify(amr)}`);
			const opened = await expectStatus(
				browser.post("/accounts/passkey-edge/login/", {}, accessToken),
				200,
				"Django opens the session from the access token",
			);
			expect(opened.body.status === "signed_in", `status ${String(opened.body.status)}`);
			const me = await expectStatus(browser.get("/accounts/me/"), 200, "Django /accounts/me/");
			const user = me.body.user as { username: string; external_id: string; amr: string[] };
			expect(user.username === grace.username && user.external_id === externalId, `me ${JSON.stringify(user)}`);
			expect(JSON.stringify(user.amr) === JSON.stringify(amr), `the Django session's amr ${JSON.stringify(user.amr)}`);
			grace.browser = browser;
			grace.accessToken = accessToken;
		},
	],
	[
		"Django refuses a wrong password (passkey-edge not asked), the same access token twice, an aal1 token and a token of a passkey-edge user of its own",
		async ({ worker, django, grace, ada, bob }) => {
			const externalId = need(grace.externalId, "Grace's external id");
			const accessToken = need(grace.accessToken, "Grace's access token");
			const before = (await remoteUser(worker, externalId)).sessions;
			const browser = await new Browser(django.baseUrl).open();
			const wrong = await browser.post("/accounts/login/", { username: grace.username, password: "not her password" });
			expect(wrong.status === 400 && wrong.body.code === "invalid_credentials", `wrong password: ${wrong.status}`);
			const after = (await remoteUser(worker, externalId)).sessions;
			expect(after === before, `passkey-edge sessions ${before} → ${after} after a wrong password`);
			const replay = await browser.post("/accounts/passkey-edge/login/", {}, accessToken);
			expect(
				replay.status === 401 && replay.body.code === "token_used",
				`replay: ${replay.status} ${replay.body.code}`,
			);
			const aal1 = await browser.post("/accounts/passkey-edge/login/", {}, bob.token);
			expect(aal1.status === 403, `Bob's aal1 token: ${aal1.status} ${JSON.stringify(aal1.body)}`);
			expect(payloadOf(ada.token).sub_type === "user_id", `Ada's sub_type ${String(payloadOf(ada.token).sub_type)}`);
			const stranger = await browser.post("/accounts/passkey-edge/login/", {}, ada.token);
			expect(stranger.status === 403 && stranger.body.code === "unknown_user", `Ada's token: ${stranger.status}`);
			expect((await browser.get("/accounts/me/")).status === 401, "signed in after all that");
		},
	],
	[
		"Django: Katherine, whom Django created in passkey-edge, signs in with her passkey alone (passwordless) and Django logs her in from the access token",
		async (context) => {
			const { django, katherine } = context;
			const browser = await new Browser(django.baseUrl).open();
			const signup = await expectStatus(
				browser.post("/accounts/signup/", {
					username: katherine.username,
					email: katherine.email,
					password: katherine.password,
				}),
				201,
				"Django signup",
			);
			katherine.djangoId = Number((signup.body.user as { id: number }).id);
			katherine.browser = browser;
			await setUpPasskey(context, katherine, true);
			const externalId = need(katherine.externalId, "Katherine's external id");
			await expectStatus(browser.post("/accounts/logout/"), 200, "Django logout");

			// Another day, the login page's "Sign in with a passkey".
			const fresh = await new Browser(django.baseUrl).open();
			const signedIn = await expectStatus(passkeySignIn(context, katherine), 200, "POST /api/auth/passkey/login/");
			expect((signedIn.body.session as { level: string }).level === "full", "not a full session");
			const issued = await expectStatus(
				call(new URL("/api/auth/token/", context.worker.baseUrl).toString(), {
					method: "POST",
					token: String(signedIn.body.session_token),
					body: { audience: AUDIENCE },
				}),
				200,
				"Katherine's access token",
			);
			const accessToken = String(issued.body.access_token);
			const claims = payloadOf(accessToken);
			expect(claims.sub === externalId && claims.sub_type === "external_id", `sub ${String(claims.sub)}`);
			expect(claims.acr === "aal2", `acr ${String(claims.acr)}`);
			expect(!(claims.amr as string[]).includes("pwd"), `amr ${JSON.stringify(claims.amr)}`);
			await expectStatus(
				fresh.post("/accounts/passkey-edge/login/", {}, accessToken),
				200,
				"Django opens the session from the access token",
			);
			const me = await expectStatus(fresh.get("/accounts/me/"), 200, "Django /accounts/me/");
			expect((me.body.user as { username: string }).username === katherine.username, "not Katherine");
		},
	],
	[
		"Django: Grace's password change revokes her passkey-edge sessions; her Django session stays",
		async ({ worker, grace }) => {
			const api = (path: string) => new URL(path, worker.baseUrl).toString();
			const externalId = need(grace.externalId, "Grace's external id");
			const token = need(grace.fullSession, "Grace's full passkey-edge session");
			const browser = need(grace.browser, "Grace's Django session");
			await expectStatus(call(api("/api/auth/session/"), { token }), 200, "her passkey-edge session before");
			const newPassword = `grace again ${crypto.randomUUID()}`;
			const changed = await expectStatus(
				browser.post("/accounts/password/", { old_password: grace.password, new_password: newPassword }),
				200,
				"Django password change",
			);
			grace.password = newPassword;
			const revoked = changed.body.passkey_edge_sessions_revoked;
			expect(typeof revoked === "number" && revoked >= 1, `revoked ${JSON.stringify(revoked)}`);
			const after = await call(api("/api/auth/session/"), { token });
			expect(after.status === 401, `her passkey-edge session after: ${after.status}`);
			expect((await remoteUser(worker, externalId)).sessions === 0, "live passkey-edge sessions left");
			await expectStatus(browser.get("/accounts/me/"), 200, "her Django session after");
		},
	],
	[
		"Django admin: the help desk resets Grace's second factors in passkey-edge; her next sign-in is her password alone",
		async (context) => {
			const { worker, django, grace } = context;
			const externalId = need(grace.externalId, "Grace's external id");
			await adminAction(context, "reset_second_factors", grace);
			const remote = await remoteUser(worker, externalId);
			expect(
				remote.passkeys.length === 0 && remote.totp === false && remote.recovery_codes_left === 0,
				`after the reset: ${JSON.stringify({ passkeys: remote.passkeys.length, totp: remote.totp, codes: remote.recovery_codes_left })}`,
			);
			const browser = await new Browser(django.baseUrl).open();
			const login = await expectStatus(
				browser.post("/accounts/login/", { username: grace.username, password: grace.password }),
				200,
				"Django login after the reset",
			);
			expect(login.body.status === "signed_in", `status ${String(login.body.status)}`);
			// Django ended the full session passkey-edge gave it and it did not need.
			expect((await remoteUser(worker, externalId)).sessions === 0, "an unused passkey-edge session left live");
		},
	],
	[
		"Django admin: deleting Katherine deletes her in passkey-edge, and her passkey signs in no more",
		async (context) => {
			const { worker, katherine } = context;
			const externalId = need(katherine.externalId, "Katherine's external id");
			await adminAction(context, "delete_selected", katherine, [["post", "yes"]]);
			const gone = await server(worker, "GET", `/api/server/users/${encodeURIComponent(externalId)}`);
			expect(gone.status === 404 && gone.body.code === "not_found", `GET after deletion: ${gone.status}`);
			const refused = await passkeySignIn(context, katherine);
			expect(
				refused.status === 400 && refused.body.code === "verification_failed",
				`her passkey after deletion: ${refused.status} ${JSON.stringify(refused.body)}`,
			);
		},
	],
];

export async function runEndToEnd(): Promise<Tally> {
	const tally: Tally = { passed: 0, failed: 0 };
	const running: { worker?: RunningWorker; django?: RunningDjango; djangoDir?: string } = {};
	let prepared: Prepared | undefined;
	try {
		console.log("e2e: starting wrangler dev with a fresh local database…");
		running.worker = await startWorker({
			vars: { TOKEN_AUDIENCES: `${AUDIENCE},${OTHER_AUDIENCE}`, SERVER_API_KEYS },
		});
		console.log(`e2e: the Worker answers on ${running.worker.baseUrl}`);
		prepared = await prepare(running.worker, running);
		console.log(`e2e: the Django example answers on ${prepared.django.baseUrl}`);
		for (const [name, user] of [
			["Ada", prepared.ada],
			["Bob", prepared.bob],
		] as const) {
			const claims = payloadOf(user.token);
			console.log(`e2e: ${name}'s token: amr ${JSON.stringify(claims.amr)}, acr ${String(claims.acr)}`);
		}
	} catch (error) {
		const message = error instanceof Error ? error.message : String(error);
		console.error(`e2e: setup failed: ${message}`);
	}
	try {
		for (const [title, run] of [...checks, ...djangoChecks]) {
			if (prepared === undefined) {
				tally.failed += 1;
				console.log(`  ✗ ${title} (not run: the setup failed)`);
				continue;
			}
			try {
				await run(prepared);
				tally.passed += 1;
				console.log(`  ✓ ${title}`);
			} catch (error) {
				tally.failed += 1;
				console.log(`  ✗ ${title}\n      ${error instanceof Error ? error.message : String(error)}`);
			}
		}
	} finally {
		await running.django?.stop();
		await running.worker?.stop();
		if (running.djangoDir !== undefined) await rm(running.djangoDir, { recursive: true, force: true });
	}
	return tally;
}
