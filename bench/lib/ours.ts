/**
 * Our Worker, driven as a mobile app would: `X-Client: app`, the session
 * token in the body, then `Authorization: Bearer`. Every ceremony is real:
 * the software authenticator signs attestations and assertions, TOTP codes
 * come from otplib, and the server's replay and rate-limit checks stay on.
 */
import type {
	AuthenticationResponseJSON,
	PublicKeyCredentialCreationOptionsJSON,
	PublicKeyCredentialRequestOptionsJSON,
} from "@simplewebauthn/server";
import { SoftAuthenticator } from "../../test/helpers/authenticator.ts";
import { type CallResult, call, expectStatus } from "./http.ts";
import {
	AccountPool,
	inParallel,
	newEmail,
	type Operation,
	PASSWORD,
	type StepRecorder,
	type SystemUnderTest,
} from "./system.ts";
import { currentStep, totpCode } from "./totp.ts";

export interface OurAccount {
	email: string;
	userId: string;
	/** The full session from sign-up, kept for the routes that need one. */
	token: string;
	/** When `token` last authenticated (recent-authentication rule: 5 minutes). */
	authenticatedAt: number;
	authenticator: SoftAuthenticator;
	totpSecret?: string;
	/** The newest TOTP time step this account has used: each is accepted once. */
	lastStep: number;
	/** Passkeys added by timed registrations, deleted after the cell. */
	added: string[];
}

interface SessionBody {
	session: { level: "partial" | "full" };
	session_token?: string;
}

let clients = 0;
/**
 * A client address of its own for each sign-up (documentation range
 * 2001:db8::/32, one /64 each): ours allows 10 sign-ups per client address
 * per hour, keyed on CF-Connecting-IP (by /64 for IPv6), and the benchmark's
 * accounts stand for different people. `wrangler dev` passes the header on as
 * the client sent it; behind Cloudflare the edge sets it. Every limit stays on.
 */
function nextClientAddress(): string {
	clients += 1;
	return `2001:db8:${((clients >>> 16) & 0xffff).toString(16)}:${(clients & 0xffff).toString(16)}::1`;
}

/** Registrations per account per cell, so that no account piles up passkeys within a cell. */
const MAX_ADDED_PER_CELL = 4;
/** Refresh recent authentication well before the 5-minute rule would refuse. */
const RECENT_MARGIN_MS = 3 * 60_000;

export class Ours implements SystemUnderTest<OurAccount> {
	readonly name = "ours" as const;
	readonly label = "passkey-edge (wrangler dev: workerd, local D1 + Durable Objects)";
	private readonly pools = new Map<Operation, AccountPool<OurAccount>>();

	private readonly base: string;
	private readonly origin: string;

	constructor(base: string, origin: string) {
		this.base = base;
		this.origin = origin;
	}

	supports(_operation: Operation): boolean {
		return true;
	}

	private api<T>(
		method: string,
		path: string,
		options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
	) {
		return call<T>(this.base, method, path, {
			headers: {
				"x-client": "app",
				...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
				...options.headers,
			},
			...(options.body !== undefined ? { body: options.body } : {}),
		});
	}

	private pool(operation: Operation): AccountPool<OurAccount> {
		let pool = this.pools.get(operation);
		if (!pool) {
			pool = new AccountPool<OurAccount>();
			this.pools.set(operation, pool);
		}
		return pool;
	}

	async signUp(prefix: string): Promise<OurAccount> {
		const email = newEmail(prefix);
		const response = expectStatus(
			await this.api<{ user: { id: string }; session_token: string }>("POST", "/api/auth/signup/", {
				body: { email, password: PASSWORD },
				headers: { "cf-connecting-ip": nextClientAddress() },
			}),
			201,
			"signup",
		);
		return {
			email,
			userId: response.body.user.id,
			token: response.body.session_token,
			authenticatedAt: Date.now(),
			authenticator: new SoftAuthenticator({ origin: this.origin, rpId: "localhost" }),
			lastStep: 0,
			added: [],
		};
	}

	async registerPasskey(account: OurAccount, passwordless: boolean, record?: StepRecorder): Promise<string> {
		const query = passwordless ? "?passwordless=true" : "";
		const options = expectStatus(
			await this.api<{ creation_options: PublicKeyCredentialCreationOptionsJSON }>(
				"GET",
				`/api/webauthn/register/options/${query}`,
				{ token: account.token },
			),
			200,
			"register options",
		);
		record?.("register options", options.ms);
		const credential = await account.authenticator.createCredential(options.body.creation_options);
		const done = expectStatus(
			await this.api<{ passkey: { id: string } }>("POST", "/api/webauthn/register/complete/", {
				token: account.token,
				body: { credential },
			}),
			201,
			"register complete",
		);
		record?.("register complete", done.ms);
		return done.body.passkey.id;
	}

	async enableTotp(account: OurAccount): Promise<void> {
		const setup = expectStatus(
			await this.api<{ secret: string }>("POST", "/api/totp/setup/", { token: account.token }),
			200,
			"totp setup",
		);
		const step = currentStep();
		expectStatus(
			await this.api("POST", "/api/totp/activate/", {
				token: account.token,
				body: { code: await totpCode(setup.body.secret, step) },
			}),
			201,
			"totp activate",
		);
		account.totpSecret = setup.body.secret;
		// The activation code counts as used.
		account.lastStep = step;
	}

	async prepare(operation: Operation, count: number): Promise<void> {
		const pool = this.pool(operation);
		await inParallel(
			Array.from({ length: count }, (_, i) => i),
			8,
			async () => {
				const account = await this.signUp(`ours-${operation}`);
				switch (operation) {
					case "passkey_registration":
					case "passkey_second_factor":
						await this.registerPasskey(account, false);
						break;
					case "passwordless_sign_in":
						await this.registerPasskey(account, true);
						break;
					case "list_passkeys":
						await this.registerPasskey(account, true);
						await this.registerPasskey(account, false);
						break;
					case "totp_verify":
						await this.enableTotp(account);
						break;
					case "password_sign_in":
						break;
				}
				pool.add(account);
			},
		);
	}

	async reauthenticate(account: OurAccount): Promise<void> {
		expectStatus(
			await this.api("POST", "/api/auth/reauthenticate/", { token: account.token, body: { password: PASSWORD } }),
			200,
			"reauthenticate",
		);
		account.authenticatedAt = Date.now();
	}

	async beforeCell(operation: Operation): Promise<void> {
		if (operation !== "passkey_registration") return;
		const stale = this.pool(operation).all.filter((a) => Date.now() - a.authenticatedAt > RECENT_MARGIN_MS);
		await inParallel(stale, 8, (account) => this.reauthenticate(account));
	}

	take(operation: Operation): OurAccount | null {
		const pool = this.pool(operation);
		if (operation === "totp_verify") return pool.take((a) => a.lastStep < currentStep());
		if (operation === "passkey_registration") return pool.take((a) => a.added.length < MAX_ADDED_PER_CELL);
		return pool.take();
	}

	release(operation: Operation, account: OurAccount): void {
		this.pool(operation).release(account);
	}

	private async logIn(account: OurAccount, record: StepRecorder, level: "partial" | "full"): Promise<string> {
		const login = expectStatus(
			await this.api<SessionBody>("POST", "/api/auth/login/", { body: { email: account.email, password: PASSWORD } }),
			200,
			"login",
		);
		record("login", login.ms);
		if (login.body.session.level !== level || !login.body.session_token) {
			throw new Error(`login: expected a ${level} session, got ${login.body.session.level}`);
		}
		return login.body.session_token;
	}

	private expectFull(result: CallResult<SessionBody>, step: string): void {
		if (result.body.session.level !== "full" || !result.body.session_token) {
			throw new Error(`${step}: expected a new full session token`);
		}
	}

	async ceremony(operation: Operation, account: OurAccount, record: StepRecorder): Promise<void> {
		switch (operation) {
			case "password_sign_in": {
				await this.logIn(account, record, "full");
				return;
			}
			case "passkey_registration": {
				account.added.push(await this.registerPasskey(account, false, record));
				return;
			}
			case "passkey_second_factor": {
				const partial = await this.logIn(account, record, "partial");
				const options = expectStatus(
					await this.api<{ request_options: PublicKeyCredentialRequestOptionsJSON }>(
						"GET",
						"/api/webauthn/authenticate/options/",
						{ token: partial },
					),
					200,
					"authenticate options",
				);
				record("authenticate options", options.ms);
				const credential = await account.authenticator.getAssertion(options.body.request_options);
				const verified = expectStatus(
					await this.api<SessionBody>("POST", "/api/webauthn/verify/", { token: partial, body: { credential } }),
					200,
					"webauthn verify",
				);
				record("webauthn verify", verified.ms);
				this.expectFull(verified, "webauthn verify");
				return;
			}
			case "passwordless_sign_in": {
				const options = expectStatus(
					await this.api<{ request_options: PublicKeyCredentialRequestOptionsJSON }>(
						"GET",
						"/api/auth/passkey/options/",
					),
					200,
					"passkey options",
				);
				record("passkey options", options.ms);
				const credential: AuthenticationResponseJSON = await account.authenticator.getAssertion(
					options.body.request_options,
				);
				const signedIn = expectStatus(
					await this.api<SessionBody>("POST", "/api/auth/passkey/login/", { body: { credential } }),
					200,
					"passkey login",
				);
				record("passkey login", signedIn.ms);
				this.expectFull(signedIn, "passkey login");
				return;
			}
			case "totp_verify": {
				const partial = await this.logIn(account, record, "partial");
				const step = currentStep();
				if (step <= account.lastStep) throw new Error("totp: this account already used the current time step");
				account.lastStep = step;
				const secret = account.totpSecret;
				if (!secret) throw new Error("totp: account has no secret");
				const verified = expectStatus(
					await this.api<SessionBody>("POST", "/api/totp/verify/", {
						token: partial,
						body: { code: await totpCode(secret, step) },
					}),
					200,
					"totp verify",
				);
				record("totp verify", verified.ms);
				this.expectFull(verified, "totp verify");
				return;
			}
			case "list_passkeys": {
				const list = expectStatus(
					await this.api<{ passkeys: unknown[] }>("GET", "/api/webauthn/", { token: account.token }),
					200,
					"list",
				);
				record("list", list.ms);
				if (list.body.passkeys.length !== 2)
					throw new Error(`list: expected 2 passkeys, got ${list.body.passkeys.length}`);
				return;
			}
		}
	}

	async afterCell(operation: Operation): Promise<void> {
		if (operation !== "passkey_registration") return;
		const work = this.pool(operation).all.flatMap((account) => account.added.map((id) => ({ account, id })));
		await inParallel(work, 8, async ({ account, id }) => {
			expectStatus(
				await this.api("DELETE", `/api/webauthn/${id}/`, { token: account.token }),
				200,
				"cleanup: delete passkey",
			);
		});
		for (const account of this.pool(operation).all) {
			account.added = [];
			account.authenticator.credentials.splice(1);
		}
	}
}
