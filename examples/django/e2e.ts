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

interface Prepared {
	worker: RunningWorker;
	django: RunningDjango;
	issuer: string;
	jwksUri: string;
	ada: { id: string; email: string; token: string };
	bob: { id: string; email: string; token: string };
	otherAudienceToken: string;
	partialSessionAnswer: Answer;
}

/** Two users: Ada with password + passkey (aal2), Bob with a password only (aal1). */
async function prepare(worker: RunningWorker, running: { django?: RunningDjango }): Promise<Prepared> {
	const api = (path: string) => new URL(path, worker.baseUrl).toString();
	const discovery = await expectStatus(
		call(api("/.well-known/openid-configuration")),
		200,
		"GET /.well-known/openid-configuration",
	);
	const issuer = String(discovery.body.issuer);
	const jwksUri = String(discovery.body.jwks_uri);

	running.django = await startDjango({
		PASSKEY_EDGE_ISSUER: issuer,
		PASSKEY_EDGE_AUDIENCE: AUDIENCE,
		PASSKEY_EDGE_JWKS_URL: jwksUri,
		// The machine may be busy: a slow first answer of wrangler dev is not a failure here.
		PASSKEY_EDGE_JWKS_TIMEOUT_SECONDS: "60",
	});
	await expectStatus(call(`${running.django.baseUrl}/api/health`), 200, "Django /api/health");

	const stamp = `${Date.now().toString(36)}-${crypto.randomUUID().slice(0, 8)}`;
	const password = `django example ${crypto.randomUUID()}`;

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

export async function runEndToEnd(): Promise<Tally> {
	const tally: Tally = { passed: 0, failed: 0 };
	const running: { worker?: RunningWorker; django?: RunningDjango } = {};
	let prepared: Prepared | undefined;
	try {
		console.log("e2e: starting wrangler dev with a fresh local database…");
		running.worker = await startWorker({ vars: { TOKEN_AUDIENCES: `${AUDIENCE},${OTHER_AUDIENCE}` } });
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
		for (const [title, run] of checks) {
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
	}
	return tally;
}
