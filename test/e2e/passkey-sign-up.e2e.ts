import { describe, expect, it } from "vitest";
import {
	listedPasskeys,
	openTab,
	PASSWORD,
	passkeyItems,
	screenshot,
	settingsReady,
	signOut,
	submitPassword,
	useBrowser,
} from "./helpers";

const browser = useBrowser();

// Passkey-first sign-up (issue 16, item 1) in Chromium with its virtual
// authenticator: resident keys and user verification, as a platform
// authenticator has them.

describe("passkey-first sign-up", () => {
	it("offers a passkey first, creates the account with it, shows the recovery codes once, then signs in with it", async () => {
		const tab = await openTab(browser());
		const { page } = tab;
		const authenticator = await tab.addAuthenticator({ synced: true });
		const email = "lovelace.passkey@example.com";

		await page.goto("/sign-up");
		// The passkey comes first: the first button of the form, before the password.
		const buttons = await page.locator("#sign-up-form button[type=submit]").allTextContents();
		expect(buttons.map((text) => text.trim())).toEqual([
			"Create account with a passkey",
			"Create account with a password",
		]);
		expect(await page.getByText("or use a password").isVisible()).toBe(true);
		await screenshot(page, "sign-up");

		await page.getByLabel("Email").fill(email);
		// Enter in the email field is the first button: the passkey.
		await page.keyboard.press("Enter");
		await page.getByRole("heading", { name: "Save your recovery codes" }).waitFor();
		const codes = await page.locator("#recovery-code-list code").allTextContents();
		expect(codes).toHaveLength(10);
		for (const code of codes) expect(code).toMatch(/^[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}$/);
		// The credential is on the authenticator, discoverable (a resident key).
		expect(await authenticator.credentialIds()).toHaveLength(1);
		await screenshot(page, "passkey-sign-up-recovery-codes");

		await page.getByRole("button", { name: "I saved them" }).click();
		await settingsReady(page);
		await expect.poll(() => page.getByRole("status").textContent()).toContain("Your account is ready");
		expect(await passkeyItems(page).count()).toBe(1);
		expect(await page.locator("#two-factor-status").textContent()).toBe("On");
		const listed = await listedPasskeys(page);
		expect(listed.passkeys.map((passkey) => passkey.credential_id)).toEqual(await authenticator.credentialIds());

		// No password was set: password sign-in answers as for a wrong password.
		await signOut(page);
		await tab.autofillPending();
		await submitPassword(page, email, PASSWORD);
		await page.getByRole("alert").filter({ hasText: "The email or password is incorrect." }).waitFor();

		// The passkey signs in, with no password.
		await page.getByRole("button", { name: "Sign in with a passkey" }).click();
		await settingsReady(page);
		tab.expectNoProblems();
		await tab.close();
	});

	it("says when the email already has an account, and keeps the password way open", async () => {
		const tab = await openTab(browser());
		const { page } = tab;
		const authenticator = await tab.addAuthenticator();
		const email = "taken.passkey@example.com";

		await page.goto("/sign-up");
		await page.getByLabel("Email").fill(email);
		await page.getByLabel("Password").fill(PASSWORD);
		// Enter in the password field is the password button, not the passkey.
		await page.getByLabel("Password").press("Enter");
		await settingsReady(page);
		expect(await authenticator.credentialIds()).toEqual([]);
		await signOut(page);

		await page.goto("/sign-up");
		await page.getByLabel("Email").fill(email);
		await page.getByRole("button", { name: "Create account with a passkey" }).click();
		await page.getByRole("alert").filter({ hasText: "An account with this email already exists." }).waitFor();
		// Refused before the browser was asked: nothing was made on the authenticator.
		expect(await authenticator.credentialIds()).toEqual([]);
		tab.expectNoProblems();
		await tab.close();
	});
});
