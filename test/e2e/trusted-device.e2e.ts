import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import {
	addPasskey,
	dismissRecoveryCodes,
	openTab,
	screenshot,
	secondFactorHeading,
	settingsReady,
	signOut,
	signUp,
	submitPassword,
	useBrowser,
	useOwnWorker,
} from "./helpers";

// "Don't ask again on this device" (TRUSTED_DEVICE_DAYS). The suite's shared
// Worker runs with it off (the default), as every other browser test expects;
// this file starts a Worker of its own with it on.

const browser = useBrowser();
const trustingUrl = useOwnWorker({ TRUSTED_DEVICE_DAYS: "30" });

const REMEMBER = "Don't ask again on this device";

/**
 * The automatic passkey upgrade (web/src/upgrade.ts) would ask for a passkey
 * after each password sign-in; a passkey it made would (rightly) end the
 * remembered browser. It is not what these tests are about: the browser
 * says it cannot create conditionally, so the upgrade settles at once as
 * "unavailable", and the test waits for that before it goes on.
 */
async function withoutConditionalCreate(page: Page): Promise<void> {
	await page.addInitScript(() => {
		const credential = PublicKeyCredential as unknown as { getClientCapabilities?: () => Promise<unknown> };
		credential.getClientCapabilities = async () => ({ conditionalCreate: false });
	});
}

async function upgradeSettled(page: Page): Promise<void> {
	await page.waitForFunction(() => document.body.dataset.passkeyUpgrade === "unavailable");
}

/** A password account with a passkey, signed out again: the next sign-in asks for the second factor. */
async function signUpWithPasskey(page: Page, email: string): Promise<void> {
	await signUp(page, email);
	const codes = await addPasskey(page, "Laptop");
	if (codes) await dismissRecoveryCodes(page);
	await signOut(page);
}

describe("remember this device", () => {
	it("after a passkey with the box ticked, the next password sign-in goes straight to the security page", async () => {
		const tab = await openTab(browser(), { baseUrl: trustingUrl() });
		await tab.addAuthenticator();
		const { page } = tab;
		await withoutConditionalCreate(page);
		const email = "grace@example.com";
		await signUpWithPasskey(page, email);

		await submitPassword(page, email);
		await secondFactorHeading(page).waitFor();
		const box = page.getByRole("checkbox", { name: REMEMBER });
		await box.waitFor();
		expect(await box.isChecked()).toBe(false);
		expect(await page.locator("#remember-device-hint").textContent()).toContain("For 30 days");
		await box.check();
		await screenshot(page, "trusted-device");
		await page.getByRole("button", { name: "Use passkey" }).click();
		await settingsReady(page);

		// The device cookie: the page cannot read it.
		const device = (await tab.context.cookies()).find((cookie) => cookie.name === "__Host-pe_device");
		expect(device).toMatchObject({ httpOnly: true, secure: true, sameSite: "Lax", path: "/" });
		expect(await page.evaluate(() => document.cookie)).not.toContain("pe_device");

		await upgradeSettled(page);
		await signOut(page);
		await submitPassword(page, email);
		// No second step: the sign-in page went on to the security page, with a full session of the password alone.
		await settingsReady(page);
		const current = await page.evaluate(async () => {
			const response = await fetch("/api/auth/sessions/");
			const body = (await response.json()) as { sessions: { current: boolean; amr: string[] }[] };
			return body.sessions.find((session) => session.current);
		});
		expect(current?.amr).toEqual(["pwd"]);
		tab.expectNoProblems();
		await tab.close();
	});

	it("asks again when the box was not ticked", async () => {
		const tab = await openTab(browser(), { baseUrl: trustingUrl() });
		await tab.addAuthenticator();
		const { page } = tab;
		await withoutConditionalCreate(page);
		const email = "mary@example.com";
		await signUpWithPasskey(page, email);

		await submitPassword(page, email);
		await page.getByRole("checkbox", { name: REMEMBER }).waitFor();
		await page.getByRole("button", { name: "Use passkey" }).click();
		await settingsReady(page);
		expect((await tab.context.cookies()).some((cookie) => cookie.name === "__Host-pe_device")).toBe(false);

		await upgradeSettled(page);
		await signOut(page);
		await submitPassword(page, email);
		await secondFactorHeading(page).waitFor();
		tab.expectNoProblems();
		await tab.close();
	});

	it("is not offered while the operator leaves it off (the default)", async () => {
		const tab = await openTab(browser());
		await tab.addAuthenticator();
		const { page } = tab;
		const email = "trusted-device-off@example.com";
		await signUpWithPasskey(page, email);

		await submitPassword(page, email);
		await secondFactorHeading(page).waitFor();
		await page.getByRole("button", { name: "Use passkey" }).waitFor();
		expect(await page.locator("#remember-device").isHidden()).toBe(true);
		tab.expectNoProblems();
		await tab.close();
	});
});
