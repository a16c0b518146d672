// Browser helpers for the end-to-end tests: Debian's Chromium through
// playwright-core (no downloaded browser), CDP virtual authenticators, and the
// flows a person goes through on the pages.
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { generate } from "otplib";
import { type Browser, type BrowserContext, type CDPSession, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, expect, inject } from "vitest";
import { ROOT, type RunningWorker, startWorker } from "./worker";

export const PASSWORD = "correct horse battery staple";
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = [
	"--headless",
	"--no-sandbox",
	"--disable-gpu",
	"--disable-quic",
	"--no-first-run",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync",
];

/** A fresh Chromium; playwright gives it a fresh temporary user-data dir. */
export function launchBrowser(): Promise<Browser> {
	if (!existsSync(CHROMIUM)) {
		throw new Error(`No Chromium at ${CHROMIUM}: run \`apt-get install -y chromium\` (or set CHROMIUM_PATH)`);
	}
	return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 120_000 });
}

/** One Chromium for a test file: launched before its tests, closed after them. */
export function useBrowser(): () => Browser {
	let browser: Browser | undefined;
	beforeAll(async () => {
		browser = await launchBrowser();
	});
	afterAll(async () => {
		await browser?.close();
	});
	return () => {
		if (!browser) throw new Error("the browser is not launched yet");
		return browser;
	};
}

/**
 * A Worker of the test file's own, started with `vars` on top of the suite's
 * (a policy the shared Worker runs without): started before the file's tests,
 * stopped after them. Returns its base URL, for openTab's `baseUrl`.
 */
export function useOwnWorker(vars: Record<string, string>): () => string {
	let worker: RunningWorker | undefined;
	beforeAll(async () => {
		worker = await startWorker({ vars });
	});
	afterAll(async () => {
		await worker?.stop();
	});
	return () => {
		if (!worker) throw new Error("the test file's own Worker is not started yet");
		return worker.baseUrl;
	};
}

export interface SignalCall {
	name: "signalAllAcceptedCredentials" | "signalCurrentUserDetails" | "signalUnknownCredential";
	options: { rpId: string; userId?: string; allAcceptedCredentialIds?: string[]; name?: string; credentialId?: string };
}

/**
 * Runs in the page before its own scripts: records each WebAuthn Signal API
 * call (in sessionStorage, which survives the redirect after sign-in), then
 * passes it on to the browser.
 */
function recordSignals(): void {
	const api = (globalThis as unknown as { PublicKeyCredential?: Record<string, unknown> }).PublicKeyCredential;
	if (!api) return;
	for (const name of ["signalAllAcceptedCredentials", "signalCurrentUserDetails", "signalUnknownCredential"]) {
		const original = api[name];
		if (typeof original !== "function") continue;
		api[name] = (options: unknown) => {
			const calls: unknown[] = JSON.parse(sessionStorage.getItem("e2e-signals") ?? "[]");
			calls.push({ name, options });
			sessionStorage.setItem("e2e-signals", JSON.stringify(calls));
			return original.call(api, options);
		};
	}
}

/** What the page asked of navigator.credentials.get, in order: "autofill" is conditional mediation, "modal" the rest. */
export type WebAuthnEvent =
	| "autofill:pending"
	| "autofill:aborted"
	| "autofill:picked"
	| "autofill:resolved"
	| "autofill:rejected"
	| "modal:started"
	| "modal:resolved"
	| "modal:rejected";

/**
 * Runs in the page before its own scripts. The virtual authenticator answers
 * every request by itself (or, with presence off, never): it cannot be a
 * person who sees the email field's passkey list and picks from it later. So
 * an autofill request (conditional mediation) is held here, pending as the
 * browser's would be, until the test picks the passkey
 * (`window.e2ePickAutofill()`: the request then goes to the browser and the
 * authenticator answers it) or the page aborts it. Modal requests go straight
 * to the browser. Each step is recorded in sessionStorage, which survives the
 * redirect after sign-in, so that a test can tell which request signed in.
 */
function holdAutofill(): void {
	const credentials = globalThis.navigator?.credentials;
	if (!credentials || typeof credentials.get !== "function") return;
	const page = globalThis as unknown as { e2eAutofillPending?: boolean; e2ePickAutofill?: () => void };
	const record = (event: WebAuthnEvent) => {
		const events: unknown[] = JSON.parse(sessionStorage.getItem("e2e-webauthn") ?? "[]");
		events.push(event);
		sessionStorage.setItem("e2e-webauthn", JSON.stringify(events));
	};
	const get = credentials.get.bind(credentials);
	const traced = (kind: "autofill" | "modal", request: Promise<Credential | null>) =>
		request.then(
			(credential) => {
				record(`${kind}:resolved`);
				return credential;
			},
			(error: unknown) => {
				record(`${kind}:rejected`);
				throw error;
			},
		);
	credentials.get = (options?: CredentialRequestOptions) => {
		if (options?.mediation !== "conditional") {
			record("modal:started");
			return traced("modal", get(options));
		}
		record("autofill:pending");
		return new Promise<Credential | null>((resolve, reject) => {
			const signal = options.signal;
			const abort = () => {
				page.e2eAutofillPending = false;
				page.e2ePickAutofill = undefined;
				record("autofill:aborted");
				// What the browser does: the promise rejects with the signal's reason.
				reject(signal?.reason ?? new DOMException("The operation was aborted.", "AbortError"));
			};
			if (signal?.aborted) return abort();
			signal?.addEventListener("abort", abort, { once: true });
			page.e2eAutofillPending = true;
			page.e2ePickAutofill = () => {
				signal?.removeEventListener("abort", abort);
				page.e2eAutofillPending = false;
				page.e2ePickAutofill = undefined;
				record("autofill:picked");
				traced("autofill", get(options)).then(resolve, reject);
			};
		});
	};
}

export interface AuthenticatorOptions {
	/** "internal": a platform authenticator (Touch ID, Windows Hello); "usb": a security key. */
	transport?: "internal" | "usb";
	/** Backed up by a passkey provider: the page shows "Synced". */
	synced?: boolean;
}

export class Authenticator {
	constructor(
		private readonly cdp: CDPSession,
		readonly id: string,
	) {}

	/** Off: the authenticator waits for a touch that never comes (the person ignores it). */
	async presence(enabled: boolean): Promise<void> {
		await this.cdp.send("WebAuthn.setAutomaticPresenceSimulation", { authenticatorId: this.id, enabled });
	}

	async credentialIds(): Promise<string[]> {
		const { credentials } = await this.cdp.send("WebAuthn.getCredentials", { authenticatorId: this.id });
		return credentials.map((credential) => Buffer.from(credential.credentialId, "base64").toString("base64url"));
	}

	async addCredential(credential: { credentialId: string; privateKey: string; userHandle: string }): Promise<void> {
		await this.cdp.send("WebAuthn.addCredential", {
			authenticatorId: this.id,
			credential: { ...credential, isResidentCredential: true, rpId: "localhost", signCount: 0 },
		});
	}
}

export interface Tab {
	context: BrowserContext;
	page: Page;
	addAuthenticator(options?: AuthenticatorOptions): Promise<Authenticator>;
	signals(): Promise<SignalCall[]>;
	/** The page's WebAuthn get() calls recorded since the last call of this (see holdAutofill). */
	takeWebAuthnEvents(): Promise<WebAuthnEvent[]>;
	/** Resolves once the page has an autofill request pending (held until `pickFromAutofill`). */
	autofillPending(): Promise<void>;
	/** The person picks the passkey from the email field's list: the held autofill request goes to the authenticator. */
	pickFromAutofill(): Promise<void>;
	/** Fails on page errors and Content-Security-Policy violations seen so far. */
	expectNoProblems(): void;
	close(): Promise<void>;
}

let tabs = 0;
const RUN = Math.floor(Math.random() * 0xffff).toString(16);

/**
 * Each tab is one person on a network of their own: `wrangler dev` takes the
 * client's `CF-Connecting-IP` as Cloudflare's edge would set it, and the
 * per-client limits (10 sign-ups an hour per address) are meant for one
 * client, not for a test suite that signs up dozens of people from
 * 127.0.0.1. A documentation prefix (2001:db8::/32), one /64 per tab.
 */
function tabAddress(): string {
	tabs += 1;
	return `2001:db8:${RUN}:${tabs.toString(16)}::1`;
}

export async function openTab(
	browser: Browser,
	options: {
		viewport?: { width: number; height: number };
		mobile?: boolean;
		/** Another browser's User-Agent: what the session list then calls this device. */
		userAgent?: string;
		/** A Worker of the test file's own (startWorker with other variables); default: the suite's. */
		baseUrl?: string;
	} = {},
): Promise<Tab> {
	const context = await browser.newContext({
		...(options.userAgent ? { userAgent: options.userAgent } : {}),
		baseURL: options.baseUrl ?? inject("baseUrl"),
		extraHTTPHeaders: { "CF-Connecting-IP": tabAddress() },
		viewport: options.viewport ?? { width: 1280, height: 860 },
		isMobile: options.mobile ?? false,
		hasTouch: options.mobile ?? false,
		acceptDownloads: true,
		locale: "en-US",
		timezoneId: "UTC",
	});
	context.setDefaultTimeout(90_000);
	context.setDefaultNavigationTimeout(120_000);
	await context.addInitScript(recordSignals);
	await context.addInitScript(holdAutofill);
	const page = await context.newPage();
	const problems: string[] = [];
	page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
	page.on("console", (message) => {
		if (/Content Security Policy|Trusted ?Type/i.test(message.text())) problems.push(`console: ${message.text()}`);
	});
	const cdp = await context.newCDPSession(page);
	await cdp.send("WebAuthn.enable", { enableUI: false });
	return {
		context,
		page,
		async addAuthenticator(authenticator = {}) {
			const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
				options: {
					protocol: "ctap2",
					transport: authenticator.transport ?? "internal",
					hasResidentKey: true,
					hasUserVerification: true,
					isUserVerified: true,
					automaticPresenceSimulation: true,
					defaultBackupEligibility: authenticator.synced ?? false,
					defaultBackupState: authenticator.synced ?? false,
				},
			});
			return new Authenticator(cdp, authenticatorId);
		},
		async signals() {
			return page.evaluate(() => JSON.parse(sessionStorage.getItem("e2e-signals") ?? "[]") as SignalCall[]);
		},
		async takeWebAuthnEvents() {
			return page.evaluate(() => {
				const events = JSON.parse(sessionStorage.getItem("e2e-webauthn") ?? "[]") as WebAuthnEvent[];
				sessionStorage.removeItem("e2e-webauthn");
				return events;
			});
		},
		async autofillPending() {
			await page.waitForFunction(() => (globalThis as { e2eAutofillPending?: boolean }).e2eAutofillPending === true);
		},
		async pickFromAutofill() {
			// Checked and picked in one step of the page, once the request is pending.
			await page.waitForFunction(() => {
				const pick = (globalThis as { e2ePickAutofill?: () => void }).e2ePickAutofill;
				pick?.();
				return pick !== undefined;
			});
		},
		expectNoProblems() {
			expect(problems).toEqual([]);
		},
		close: () => context.close(),
	};
}

// ---------------------------------------------------------------- flows

export async function settingsReady(page: Page): Promise<void> {
	await page.waitForURL("**/settings/security");
	await page.locator("main.content:not([aria-busy])").waitFor();
}

export async function signUp(page: Page, email: string): Promise<void> {
	await page.goto("/sign-up");
	await page.getByLabel("Email").fill(email);
	await page.getByLabel("Password").fill(PASSWORD);
	await page.getByRole("button", { name: "Create account with a password" }).click();
	await settingsReady(page);
}

export async function signOut(page: Page): Promise<void> {
	// Waiting starts before the click, so that the navigation cannot be missed.
	await Promise.all([
		page.waitForURL("**/sign-in"),
		page.getByRole("button", { name: "Sign out", exact: true }).click(),
	]);
}

export async function submitPassword(page: Page, email: string, password = PASSWORD): Promise<void> {
	await page.getByLabel("Email").fill(email);
	await page.getByLabel("Password").fill(password);
	await page.getByRole("button", { name: "Sign in", exact: true }).click();
}

export function secondFactorHeading(page: Page) {
	return page.getByRole("heading", { name: "Two-factor authentication" });
}

/** Adds a passkey from Settings; returns the recovery codes when they came with it. */
export async function addPasskey(page: Page, name?: string): Promise<string[] | null> {
	const before = await passkeyItems(page).count();
	await page.getByRole("button", { name: "Add passkey" }).click();
	const dialog = page.getByRole("dialog", { name: "Add a passkey" });
	if (name !== undefined) await dialog.getByLabel("Name").fill(name);
	await dialog.getByRole("button", { name: "Continue" }).click();
	await dialog.waitFor({ state: "hidden" });
	await page
		.getByRole("status")
		.filter({ hasText: name === undefined ? "added." : `Passkey “${name}” added.` })
		.waitFor();
	await expect.poll(() => passkeyItems(page).count()).toBe(before + 1);
	const codes = page.locator("#recovery-codes");
	return (await codes.isVisible()) ? shownRecoveryCodes(page) : null;
}

export async function shownRecoveryCodes(page: Page): Promise<string[]> {
	await page.locator("#recovery-code-list code").first().waitFor();
	return page.locator("#recovery-code-list code").allTextContents();
}

export async function dismissRecoveryCodes(page: Page): Promise<void> {
	await page.getByRole("button", { name: "I saved them" }).click();
	await page.locator("#recovery-codes").waitFor({ state: "hidden" });
}

export function passkeyItems(page: Page) {
	return page.locator("#passkey-list > li");
}

export async function passkeyNames(page: Page): Promise<string[]> {
	return page.locator("#passkey-list .item-title").allTextContents();
}

/** The passkeys of the signed-in user, straight from the API (the page's cookie). */
export async function listedPasskeys(
	page: Page,
): Promise<{ passkeys: { id: string; name: string; credential_id: string }[]; webauthn_user_id: string }> {
	const response = await page.request.get("/api/webauthn/");
	expect(response.status()).toBe(200);
	return response.json();
}

/**
 * Makes the user's sessions look as if they last authenticated 10 minutes
 * ago, in the storage `wrangler dev` uses: the Worker's clock cannot be moved
 * from outside, so the stored time moves instead. Sessions are in the user's
 * Durable Object (src/account/schema.ts), which `wrangler dev` keeps as one
 * SQLite file per object under the persist directory; the user's is the one
 * whose `account` row has the email. The file is shared with the running
 * workerd as `wrangler d1 execute` shares D1's: through SQLite's own locking
 * (WAL), so the object's next read sees the change.
 */
export async function ageSessions(email: string): Promise<void> {
	const objects = join(inject("persistDir"), "v3/do/passkey-edge-UserState");
	const files = (await readdir(objects)).filter((name) => name.endsWith(".sqlite") && name !== "metadata.sqlite");
	const aged: { file: string; sessions: number }[] = [];
	for (const file of files) {
		const db = new DatabaseSync(join(objects, file), { timeout: 60_000 });
		try {
			// Other objects of the class (limiters, or one still being made) have no account row.
			const hasAccount = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'account'").get();
			if (!hasAccount || !db.prepare("SELECT 1 FROM account WHERE email = ?").get(email)) continue;
			const { changes } = db.prepare("UPDATE sessions SET authenticated_at = authenticated_at - 600000").run();
			aged.push({ file, sessions: Number(changes) });
		} finally {
			db.close();
		}
	}
	// Exactly the user's object, and sessions in it: an update that reached nothing would let the test pass for the wrong reason.
	expect(aged, `the Durable Object of ${email} under ${objects}`).toHaveLength(1);
	expect(aged[0]?.sessions, `sessions of ${email}`).toBeGreaterThan(0);
}

/**
 * The README's screenshots are refreshed only on request (`npm run
 * screenshots`); an ordinary run writes them under test-results/, so that
 * running the tests leaves the working tree as it was.
 */
const SCREENSHOT_DIR = process.env.UPDATE_SCREENSHOTS === "1" ? "docs/screenshots" : "test-results/screenshots";

export async function screenshot(page: Page, name: string): Promise<void> {
	// Let transitions and the smooth scroll to new content finish first: the
	// finite animations end, then the scroll position holds for a few frames
	// (a smooth scroll moves it every frame). Counted in frames, not in time.
	await page.evaluate(async () => {
		const finite = document
			.getAnimations()
			.filter((animation) => animation.effect?.getComputedTiming().iterations !== Number.POSITIVE_INFINITY);
		await Promise.all(finite.map((animation) => animation.finished.catch(() => undefined)));
		let still = 0;
		let last = `${window.scrollX},${window.scrollY}`;
		while (still < 3) {
			await new Promise((resolve) => requestAnimationFrame(resolve));
			const now = `${window.scrollX},${window.scrollY}`;
			still = now === last ? still + 1 : 0;
			last = now;
		}
	});
	await page.screenshot({
		path: join(ROOT, SCREENSHOT_DIR, `${name}.png`),
		fullPage: true,
		animations: "disabled",
	});
}

export const TOTP_PERIOD_MS = 30_000;

/** What an authenticator app shows for this secret at `at` (SHA-1, 6 digits, 30 s). */
export function totpCode(secret: string, at = Date.now()): Promise<string> {
	return generate({ secret, algorithm: "sha1", digits: 6, period: 30, epoch: Math.floor(at / 1000) });
}

/**
 * A code the app shows at no time step near now: the server accepts ±1 step
 * around the time it verifies, which may be a step after this one.
 */
export async function wrongTotpCode(secret: string): Promise<string> {
	const now = Date.now();
	const near = await Promise.all([-2, -1, 0, 1, 2].map((offset) => totpCode(secret, now + offset * TOTP_PERIOD_MS)));
	return ["000000", "111111", "222222"].find((code) => !near.includes(code)) ?? "333333";
}

export function totpStep(at = Date.now()): number {
	return Math.floor(at / TOTP_PERIOD_MS);
}

/** Waits until the authenticator app shows a code of a later time step than `step`. */
export async function waitForStepAfter(step: number): Promise<void> {
	const wait = (step + 1) * TOTP_PERIOD_MS - Date.now() + 250;
	if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}

export async function readDownload(path: string | null): Promise<string> {
	if (!path) throw new Error("the download was not saved");
	return readFile(path, "utf8");
}
