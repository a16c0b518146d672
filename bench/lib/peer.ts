/**
 * A peer, Better Auth 1.7.6, on Node (bench/peer) or as a Worker on D1
 * (bench/peer-worker), driven through its own API routes as its browser
 * client would: sessions and WebAuthn challenges live in cookies, and
 * every POST carries the Origin its CSRF check expects. The same software
 * authenticator answers its passkey plugin (@simplewebauthn under the hood).
 *
 * Better Auth has no passkey-as-second-factor: that operation is ours alone.
 */
import type {
	PublicKeyCredentialCreationOptionsJSON,
	PublicKeyCredentialRequestOptionsJSON,
} from "@simplewebauthn/server";
import { SoftAuthenticator } from "../../test/helpers/authenticator.ts";
import { CookieJar, call, expectStatus } from "./http.ts";
import {
	AccountPool,
	inParallel,
	newEmail,
	type Operation,
	PASSWORD,
	type PeerName,
	type StepRecorder,
	type SystemUnderTest,
} from "./system.ts";
import { currentStep, totpCode } from "./totp.ts";

export interface PeerAccount {
	email: string;
	/** The signed-up browser's cookies: its session, kept for the routes that need one. */
	jar: CookieJar;
	authenticator: SoftAuthenticator;
	totpSecret?: string;
	lastStep: number;
	added: string[];
}

const MAX_ADDED_PER_CELL = 4;

export interface PeerKind {
	name: PeerName;
	label: string;
	/** What it is measured on; Better Auth has no passkey second factor anywhere. */
	operations: readonly Operation[];
}

export const NODE_PEER: PeerKind = {
	name: "peer",
	label: "Better Auth 1.7.6 + passkey + two-factor (Node, node:sqlite), rate limiter OFF",
	operations: ["password_sign_in", "passkey_registration", "passwordless_sign_in", "totp_verify", "list_passkeys"],
};

/**
 * On workerd its password hash (scrypt, node:crypto) is not what ours uses
 * either: password sign-in and TOTP (which starts with one) stay out of the
 * comparison, so only the passkey ceremonies are run on it.
 */
export const WORKER_PEER: PeerKind = {
	name: "peer-worker",
	label: "Better Auth 1.7.6 + passkey + two-factor (Worker: wrangler dev, workerd, local D1), rate limiter OFF",
	operations: ["passkey_registration", "passwordless_sign_in", "list_passkeys"],
};

export class Peer implements SystemUnderTest<PeerAccount> {
	readonly name: PeerName;
	readonly label: string;
	private readonly operations: readonly Operation[];
	private readonly pools = new Map<Operation, AccountPool<PeerAccount>>();

	private readonly base: string;
	private readonly origin: string;

	constructor(base: string, origin: string, kind: PeerKind = NODE_PEER) {
		this.base = base;
		this.origin = origin;
		this.name = kind.name;
		this.label = kind.label;
		this.operations = kind.operations;
	}

	supports(operation: Operation): boolean {
		return this.operations.includes(operation);
	}

	private api<T>(method: string, path: string, jar: CookieJar, body?: unknown) {
		return call<T>(this.base, method, `/api/auth${path}`, {
			jar,
			headers: { origin: this.origin },
			...(body !== undefined ? { body } : {}),
		});
	}

	private pool(operation: Operation): AccountPool<PeerAccount> {
		let pool = this.pools.get(operation);
		if (!pool) {
			pool = new AccountPool<PeerAccount>();
			this.pools.set(operation, pool);
		}
		return pool;
	}

	async signUp(prefix: string): Promise<PeerAccount> {
		const email = newEmail(prefix);
		const jar = new CookieJar();
		expectStatus(
			await this.api("POST", "/sign-up/email", jar, { email, password: PASSWORD, name: "Bench User" }),
			200,
			"sign-up",
		);
		return {
			email,
			jar,
			authenticator: new SoftAuthenticator({ origin: this.origin, rpId: "localhost" }),
			lastStep: 0,
			added: [],
		};
	}

	async registerPasskey(account: PeerAccount, record?: StepRecorder): Promise<string> {
		const options = expectStatus(
			await this.api<PublicKeyCredentialCreationOptionsJSON>("GET", "/passkey/generate-register-options", account.jar),
			200,
			"generate-register-options",
		);
		record?.("generate-register-options", options.ms);
		const credential = await account.authenticator.createCredential(options.body);
		const done = expectStatus(
			await this.api<{ id: string }>("POST", "/passkey/verify-registration", account.jar, { response: credential }),
			200,
			"verify-registration",
		);
		record?.("verify-registration", done.ms);
		return done.body.id;
	}

	async enableTotp(account: PeerAccount): Promise<void> {
		const enabled = expectStatus(
			await this.api<{ totpURI: string }>("POST", "/two-factor/enable", account.jar, { password: PASSWORD }),
			200,
			"two-factor/enable",
		);
		const secret = new URL(enabled.body.totpURI).searchParams.get("secret");
		if (!secret) throw new Error("two-factor/enable: no secret in the TOTP URI");
		const step = currentStep();
		// Verifying a first code turns two-factor on (the plugin's default flow).
		expectStatus(
			await this.api("POST", "/two-factor/verify-totp", account.jar, { code: await totpCode(secret, step) }),
			200,
			"two-factor/verify-totp (activation)",
		);
		account.totpSecret = secret;
		account.lastStep = step;
	}

	async prepare(operation: Operation, count: number): Promise<void> {
		const pool = this.pool(operation);
		await inParallel(
			Array.from({ length: count }, (_, i) => i),
			8,
			async () => {
				const account = await this.signUp(`${this.name}-${operation}`);
				switch (operation) {
					case "passkey_registration":
					case "passwordless_sign_in":
						await this.registerPasskey(account);
						break;
					case "list_passkeys":
						await this.registerPasskey(account);
						await this.registerPasskey(account);
						break;
					case "totp_verify":
						await this.enableTotp(account);
						break;
					case "password_sign_in":
					case "passkey_second_factor":
						break;
				}
				pool.add(account);
			},
		);
	}

	async beforeCell(_operation: Operation): Promise<void> {
		// Better Auth's registration needs a session younger than a day (freshAge): nothing to refresh.
	}

	take(operation: Operation): PeerAccount | null {
		const pool = this.pool(operation);
		if (operation === "totp_verify") return pool.take((a) => a.lastStep < currentStep());
		if (operation === "passkey_registration") return pool.take((a) => a.added.length < MAX_ADDED_PER_CELL);
		return pool.take();
	}

	release(operation: Operation, account: PeerAccount): void {
		this.pool(operation).release(account);
	}

	async ceremony(operation: Operation, account: PeerAccount, record: StepRecorder): Promise<void> {
		switch (operation) {
			case "password_sign_in": {
				const jar = new CookieJar();
				const signedIn = expectStatus(
					await this.api<{ token?: string; twoFactorRedirect?: boolean }>("POST", "/sign-in/email", jar, {
						email: account.email,
						password: PASSWORD,
					}),
					200,
					"sign-in/email",
				);
				record("sign-in/email", signedIn.ms);
				if (!signedIn.body.token) throw new Error("sign-in/email: no session token");
				return;
			}
			case "passkey_registration": {
				account.added.push(await this.registerPasskey(account, record));
				return;
			}
			case "passwordless_sign_in": {
				// A fresh browser: no session, so the options carry no allowCredentials.
				const jar = new CookieJar();
				const options = expectStatus(
					await this.api<PublicKeyCredentialRequestOptionsJSON>("GET", "/passkey/generate-authenticate-options", jar),
					200,
					"generate-authenticate-options",
				);
				record("generate-authenticate-options", options.ms);
				const credential = await account.authenticator.getAssertion(options.body);
				const signedIn = expectStatus(
					await this.api<{ session?: { token: string } }>("POST", "/passkey/verify-authentication", jar, {
						response: credential,
					}),
					200,
					"verify-authentication",
				);
				record("verify-authentication", signedIn.ms);
				if (!signedIn.body.session?.token) throw new Error("verify-authentication: no session");
				return;
			}
			case "totp_verify": {
				const jar = new CookieJar();
				const signedIn = expectStatus(
					await this.api<{ twoFactorRedirect?: boolean }>("POST", "/sign-in/email", jar, {
						email: account.email,
						password: PASSWORD,
					}),
					200,
					"sign-in/email",
				);
				record("sign-in/email", signedIn.ms);
				if (!signedIn.body.twoFactorRedirect) throw new Error("sign-in/email: expected a two-factor redirect");
				const step = currentStep();
				if (step <= account.lastStep) throw new Error("totp: this account already used the current time step");
				account.lastStep = step;
				const secret = account.totpSecret;
				if (!secret) throw new Error("totp: account has no secret");
				const verified = expectStatus(
					await this.api<{ token?: string }>("POST", "/two-factor/verify-totp", jar, {
						code: await totpCode(secret, step),
					}),
					200,
					"two-factor/verify-totp",
				);
				record("two-factor/verify-totp", verified.ms);
				if (!verified.body.token) throw new Error("two-factor/verify-totp: no session token");
				return;
			}
			case "list_passkeys": {
				const list = expectStatus(
					await this.api<unknown[]>("GET", "/passkey/list-user-passkeys", account.jar),
					200,
					"list-user-passkeys",
				);
				record("list-user-passkeys", list.ms);
				if (!Array.isArray(list.body) || list.body.length !== 2) throw new Error("list-user-passkeys: expected 2");
				return;
			}
			case "passkey_second_factor":
				throw new Error("Better Auth has no passkey second factor");
		}
	}

	async afterCell(operation: Operation): Promise<void> {
		if (operation !== "passkey_registration") return;
		const work = this.pool(operation).all.flatMap((account) => account.added.map((id) => ({ account, id })));
		await inParallel(work, 8, async ({ account, id }) => {
			expectStatus(
				await this.api("POST", "/passkey/delete-passkey", account.jar, { id }),
				200,
				"cleanup: delete-passkey",
			);
		});
		for (const account of this.pool(operation).all) {
			account.added = [];
			account.authenticator.credentials.splice(1);
		}
	}
}
