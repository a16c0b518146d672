import { generateKeyPairSync, randomBytes } from "node:crypto";
import type { Page, Route } from "playwright-core";
import { describe, expect, it } from "vitest";
import {
	addPasskey,
	dismissRecoveryCodes,
	listedPasskeys,
	openTab,
	PASSWORD,
	passkeyItems,
	screenshot,
	secondFactorHeading,
	settingsReady,
	signOut,
	signUp,
	submitPassword,
	useBrowser,
} from "./helpers";

const browser = useBrowser();

/** The Recent security activity list as the page shows it: what happened, and when and on what device. */
function activityRows(page: Page) {
	return page.locator("#activity-list > li").evaluateAll((items) =>
		items.map((item) => ({
			title: item.querySelector(".item-title")?.textContent ?? "",
			meta: item.querySelector(".item-meta")?.textContent ?? "",
		})),
	);
}

describe("signing up and signing in", () => {
	it("signs up, adds a passkey, signs out, and signs in with the password and then the passkey", async () => {
		const tab = await openTab(browser());
		const { page } = tab;
		await tab.addAuthenticator({ synced: true });
		const email = "ada@example.com";

		await signUp(page, email);
		await expect.poll(() => page.getByRole("status").textContent()).toContain("Your account is ready");
		expect(await page.locator("#two-factor-status").textContent()).toBe("Off");

		const codes = await addPasskey(page, "MacBook Pro");
		expect(codes).toHaveLength(10);
		await dismissRecoveryCodes(page);
		const item = passkeyItems(page).first();
		expect(await item.locator(".item-title").textContent()).toBe("MacBook Pro");
		expect(await item.locator(".badge").textContent()).toBe("Synced");
		expect(await item.textContent()).toContain("Added just now");
		expect(await item.textContent()).toContain("Never used");
		expect(await page.locator("#two-factor-status").textContent()).toBe("On");
		// Recent security activity: the sign-up and the passkey, newest first, read again after the change.
		await expect
			.poll(() => activityRows(page))
			.toEqual([
				{ title: "Recovery codes created", meta: "just now · Chrome on Linux" },
				{ title: "Passkey added", meta: "just now · Chrome on Linux" },
				{ title: "Account created", meta: "just now · Chrome on Linux" },
			]);

		// The person ignores the passkey the email field offers, and types a password.
		await signOut(page);
		await tab.autofillPending();
		expect(await page.getByLabel("Email").getAttribute("autocomplete")).toBe("username webauthn");
		await screenshot(page, "sign-in");

		// A wrong password: the button shows that it waits, then the envelope's
		// message. The answer is held until the waiting button has been seen.
		let release = () => {};
		const seen = new Promise<void>((resolve) => {
			release = resolve;
		});
		await page.route("**/api/auth/login/", async (route) => {
			await seen;
			await route.continue();
		});
		await submitPassword(page, email, "not my password");
		const busy = page.locator("#sign-in-form button[type=submit][aria-busy=true]");
		await busy.waitFor();
		expect(await busy.isDisabled()).toBe(true);
		expect(await busy.textContent()).toContain("Signing in…");
		release();
		await page.getByRole("alert").filter({ hasText: "The email or password is incorrect." }).waitFor();
		await page.unroute("**/api/auth/login/");

		// Keyboard only: Tab from the email to the password, Enter submits.
		await page.getByLabel("Email").fill(email);
		await page.keyboard.press("Tab");
		await page.keyboard.type(PASSWORD);
		await page.keyboard.press("Enter");
		await secondFactorHeading(page).waitFor();
		await page.getByRole("heading", { name: "Use your passkey" }).waitFor();
		// Passkey first; the other method this user has is a recovery code (no authenticator app).
		expect(await page.getByRole("button", { name: "Use a recovery code" }).isVisible()).toBe(true);
		expect(await page.getByRole("button", { name: "Use your authenticator app" }).isVisible()).toBe(false);
		await screenshot(page, "second-factor");

		await page.getByRole("button", { name: "Use passkey" }).click();
		await settingsReady(page);
		// The autofill request never reached the authenticator: the second step stopped it.
		expect(await tab.takeWebAuthnEvents()).toEqual([
			"autofill:pending",
			"autofill:aborted",
			"modal:started",
			"modal:resolved",
		]);
		await expect.poll(() => passkeyItems(page).first().textContent()).toContain("Last used just now");
		// Both steps of the sign-in are in the activity (the wrong password and the sign-out are not).
		await expect
			.poll(async () => (await activityRows(page)).map((row) => row.title))
			.toEqual([
				"Signed in with a passkey",
				"Password accepted, waiting for the second step",
				"Recovery codes created",
				"Passkey added",
				"Account created",
			]);
		const activity = page.getByRole("list", { name: "Recent security activity" });
		expect(await activity.getByRole("listitem").count()).toBe(5);
		expect(await activity.locator("time").first().getAttribute("title")).toBeTruthy();
		await page.getByRole("heading", { name: "Recent security activity" }).scrollIntoViewIfNeeded();
		await screenshot(page, "security-activity");
		tab.expectNoProblems();
		await tab.close();
	});

	it("signs every other browser out from the security page, and keeps this one", async () => {
		const mine = await openTab(browser());
		const other = await openTab(browser());
		const email = "barbara@example.com";
		await signUp(mine.page, email);
		await other.page.goto("/sign-in");
		await submitPassword(other.page, email);
		await settingsReady(other.page);
		// The session cookie is host-only and prefixed, so no other host can set or shadow it.
		const cookies = await mine.context.cookies();
		expect(cookies.map((cookie) => cookie.name)).toEqual(["__Host-pe_session"]);

		await mine.page.getByRole("button", { name: "Sign out everywhere else" }).click();
		const dialog = mine.page.getByRole("dialog", { name: "Sign out everywhere else?" });
		await dialog.getByRole("button", { name: "Sign out other sessions" }).click();
		await expect.poll(() => mine.page.locator("#flash").textContent()).toBe("Signed out 1 other session.");

		await other.page.reload();
		await other.page.waitForURL("**/sign-in");
		await mine.page.reload();
		await settingsReady(mine.page);
		mine.expectNoProblems();
		await Promise.all([mine.close(), other.close()]);
	});

	it("signs in with a passkey alone, from the button and from the email field's autofill, and signals the passkey list", async () => {
		const tab = await openTab(browser());
		const { page } = tab;
		await tab.addAuthenticator();
		const email = "grace@example.com";
		await signUp(page, email);
		// No name: the server names it after the authenticator's model (unknown for a virtual one).
		await addPasskey(page);
		await dismissRecoveryCodes(page);
		expect(await passkeyItems(page).first().locator(".item-title").textContent()).toBe("Passkey");
		const listed = await listedPasskeys(page);

		// The button, pressed while the page's autofill request is pending (the
		// person has not picked from the list): the page aborts that request
		// before it asks for its own, and its own signs in.
		await tab.takeWebAuthnEvents();
		await signOut(page);
		await tab.autofillPending();
		await page.getByRole("button", { name: "Sign in with a passkey" }).click();
		await settingsReady(page);
		expect(await tab.takeWebAuthnEvents()).toEqual([
			"autofill:pending",
			"autofill:aborted",
			"modal:started",
			"modal:resolved",
		]);

		const signals = await tab.signals();
		const accepted = signals.filter((call) => call.name === "signalAllAcceptedCredentials").at(-1);
		expect(accepted?.options).toEqual({
			rpId: "localhost",
			userId: listed.webauthn_user_id,
			allAcceptedCredentialIds: [listed.passkeys[0]?.credential_id],
		});
		const details = signals.filter((call) => call.name === "signalCurrentUserDetails").at(-1);
		expect(details?.options).toMatchObject({ rpId: "localhost", userId: listed.webauthn_user_id, name: email });

		// Autofill (conditional mediation): the sign-in page asks for a passkey as
		// it loads; the person picks it from the email field's list. Nothing is
		// clicked on the page, and the autofill request is the one that signs in.
		await signOut(page);
		await tab.pickFromAutofill();
		await settingsReady(page);
		expect(await page.locator("#account-email").textContent()).toBe(email);
		expect(await tab.takeWebAuthnEvents()).toEqual(["autofill:pending", "autofill:picked", "autofill:resolved"]);
		tab.expectNoProblems();
		await tab.close();
	});

	it("tells the passkey manager to forget a passkey the server does not know", async () => {
		const tab = await openTab(browser());
		const { page } = tab;
		const key = await tab.addAuthenticator();
		const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
		const credentialId = randomBytes(16);
		await key.addCredential({
			credentialId: credentialId.toString("base64"),
			privateKey: privateKey.export({ format: "der", type: "pkcs8" }).toString("base64"),
			userHandle: randomBytes(32).toString("base64"),
		});
		expect(await key.credentialIds()).toEqual([credentialId.toString("base64url")]);

		// The page starts an autofill request on load, which stays pending (the
		// person does not pick from the list): the button's request is the one
		// that asks the authenticator.
		await page.goto("/sign-in");
		await tab.autofillPending();
		await page.getByRole("button", { name: "Sign in with a passkey" }).click();
		await page.getByRole("alert").filter({ hasText: "The authenticator's response could not be verified." }).waitFor();
		expect(page.url()).toMatch(/\/sign-in$/);
		// (After the failure the page starts a new autofill request: not counted here.)
		expect((await tab.takeWebAuthnEvents()).slice(0, 4)).toEqual([
			"autofill:pending",
			"autofill:aborted",
			"modal:started",
			"modal:resolved",
		]);
		const unknown = (await tab.signals()).filter((call) => call.name === "signalUnknownCredential");
		expect(unknown.map((call) => call.options)).toContainEqual({
			rpId: "localhost",
			credentialId: credentialId.toString("base64url"),
		});
		await expect.poll(() => key.credentialIds()).toEqual([]);
		tab.expectNoProblems();
		await tab.close();
	});

	it("drops the autofill request it is still preparing when the passkey button is pressed", async () => {
		const tab = await openTab(browser());
		const { page } = tab;
		await tab.addAuthenticator();
		await signUp(page, "frances@example.com");
		await addPasskey(page);
		await dismissRecoveryCodes(page);

		// Every request for passkey options is held until the test lets it go:
		// the first is the autofill's, so the button is pressed while the page
		// is still preparing the autofill request.
		const held: Route[] = [];
		let arrived = () => {};
		await page.route("**/api/auth/passkey/options/", (route) => {
			held.push(route);
			arrived();
		});
		const nthHeld = async (n: number): Promise<Route> => {
			while (held.length < n) await new Promise<void>((resolve) => (arrived = resolve));
			return held[n - 1] as Route;
		};
		await tab.takeWebAuthnEvents();
		await signOut(page);
		const autofillOptions = await nthHeld(1);
		const cancelled = page.waitForEvent("requestfailed", (request) => request === autofillOptions.request());
		await page.getByRole("button", { name: "Sign in with a passkey" }).click();
		// The page cancels the autofill's request: its options, arriving after
		// the button's, would otherwise start an autofill ceremony that aborts
		// the button's prompt.
		await cancelled;
		await (await nthHeld(2)).continue();
		await settingsReady(page);
		expect(await tab.takeWebAuthnEvents()).toEqual(["modal:started", "modal:resolved"]);
		tab.expectNoProblems();
		await tab.close();
	});

	it("leaves the focus where the person put it when the page's session check answers while they type", async () => {
		const tab = await openTab(browser());
		const { page } = tab;
		const email = "joan@example.com";
		// The page's own session check is held until the person has typed the
		// email and gone on to the password; its answer must not send the
		// focus (and the rest of the password) back to the email field.
		let held: Promise<void> | null = null;
		await page.route("**/api/auth/session/", async (route) => {
			await held;
			await route.continue();
		});
		const typeWhileChecking = async (path: string) => {
			let release = () => {};
			held = new Promise<void>((resolve) => {
				release = resolve;
			});
			await page.goto(path);
			await page.getByLabel("Email").fill(email);
			await page.getByLabel("Password").fill(PASSWORD);
			// Only this page's check was held: the next pages' go through.
			held = null;
			release();
			await page.locator("body[data-started]").waitFor({ state: "attached" });
			expect(await page.evaluate(() => document.activeElement?.id)).toBe("password");
			expect(await page.getByLabel("Email").inputValue()).toBe(email);
			expect(await page.getByLabel("Password").inputValue()).toBe(PASSWORD);
		};

		await typeWhileChecking("/sign-up");
		await page.getByRole("button", { name: "Create account with a password" }).click();
		await settingsReady(page);
		await signOut(page);

		await typeWhileChecking("/sign-in");
		await page.getByRole("button", { name: "Sign in", exact: true }).click();
		await settingsReady(page);
		await page.unroute("**/api/auth/session/");

		// With nothing focused yet, the page still starts in the email field.
		await signOut(page);
		await page.locator("body[data-started]").waitFor({ state: "attached" });
		expect(await page.evaluate(() => document.activeElement?.id)).toBe("email");
		tab.expectNoProblems();
		await tab.close();
	});

	it("serves the pages with a strict Content-Security-Policy and no inline script, and keeps JSON errors for the API", async () => {
		const tab = await openTab(browser());
		const { page } = tab;
		for (const path of ["/sign-in", "/sign-up", "/settings/security"]) {
			const response = await page.request.get(path);
			expect(response.status()).toBe(200);
			const headers = response.headers();
			expect(headers["content-security-policy"]).toContain("script-src 'self'");
			expect(headers["content-security-policy"]).toContain("default-src 'none'");
			expect(headers["content-security-policy"]).toContain("frame-ancestors 'none'");
			expect(headers["content-security-policy"]).not.toContain("unsafe-inline");
			expect(headers["x-content-type-options"]).toBe("nosniff");
			expect(headers["referrer-policy"]).toBe("no-referrer");
			const html = await response.text();
			expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
			expect(html).not.toMatch(/\son[a-z]+=/i);
			expect(html).not.toMatch(/https?:\/\//);
		}

		const missingPage = await page.request.get("/no-such-page");
		expect(missingPage.status()).toBe(404);
		expect(missingPage.headers()["content-type"]).toContain("text/html");
		const missingApi = await page.request.get("/api/no-such-route");
		expect(missingApi.status()).toBe(404);
		expect(await missingApi.json()).toEqual({ success: false, code: "not_found", message: "Not found." });

		await page.goto("/");
		await page.waitForURL("**/sign-in");
		const scripts = await page.evaluate(() => Array.from(document.scripts, (script) => script.src));
		expect(scripts).toEqual([`${new URL(page.url()).origin}/assets/app.js`]);
		tab.expectNoProblems();
		await tab.close();
	});

	it("fits a phone-sized screen", async () => {
		const tab = await openTab(browser(), { viewport: { width: 390, height: 844 }, mobile: true });
		const { page } = tab;
		await tab.addAuthenticator({ synced: true });
		const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);

		await page.goto("/sign-in");
		await page.getByLabel("Email").waitFor();
		expect(await overflow()).toBeLessThanOrEqual(0);

		await signUp(page, "katherine.phone@example.com");
		await addPasskey(page, "iPhone with a rather long passkey name to see it wrap");
		await dismissRecoveryCodes(page);
		expect(await overflow()).toBeLessThanOrEqual(0);
		const addButton = await page.getByRole("button", { name: "Add passkey" }).boundingBox();
		expect(addButton?.height ?? 0).toBeGreaterThanOrEqual(40);
		await screenshot(page, "security-phone");
		tab.expectNoProblems();
		await tab.close();
	});
});
