import { describe, expect, it } from "vitest";
import {
	dismissRecoveryCodes,
	openTab,
	readDownload,
	screenshot,
	secondFactorHeading,
	settingsReady,
	shownRecoveryCodes,
	signOut,
	signUp,
	submitPassword,
	totpCode,
	totpStep,
	useBrowser,
	waitForStepAfter,
	wrongTotpCode,
} from "./helpers";

const browser = useBrowser();

describe("authenticator app and recovery codes", () => {
	it("sets up an authenticator app from its QR code, then signs in with a code and with a recovery code", async () => {
		const tab = await openTab(browser());
		const { page } = tab;
		const email = "katherine@example.com";
		await signUp(page, email);
		expect(await page.locator("#recovery-summary").textContent()).toContain("first passkey or authenticator app");

		await page.getByRole("button", { name: "Set up" }).click();
		const qr = page.getByRole("img", { name: "QR code to scan with your authenticator app" });
		await qr.waitFor();
		expect(await qr.getAttribute("src")).toMatch(/^data:image\/svg\+xml;charset=utf-8,%3Csvg/);
		await expect
			.poll(() => qr.evaluate((image: HTMLImageElement) => image.complete && image.naturalWidth > 0))
			.toBe(true);
		const secret = ((await page.locator("#totp-secret").textContent()) ?? "").replaceAll(" ", "");
		expect(secret).toMatch(/^[A-Z2-7]{32}$/);
		expect(
			await page
				.getByLabel("Enter the 6-digit code from the app")
				.evaluate((input) => input === document.activeElement),
		).toBe(true);
		await screenshot(page, "totp-setup");

		// A wrong code shows the envelope's message; the right one turns the app on.
		await page.getByLabel("Enter the 6-digit code from the app").fill(await wrongTotpCode(secret));
		await page.getByRole("button", { name: "Verify and turn on" }).click();
		await page.getByRole("alert").filter({ hasText: "The code is not valid." }).waitFor();
		// The step is the one of the code typed (read at the same instant): the
		// server remembers the step that matched as used.
		const activationAt = Date.now();
		const activationStep = totpStep(activationAt);
		await page.getByLabel("Enter the 6-digit code from the app").fill(await totpCode(secret, activationAt));
		await page.getByRole("button", { name: "Verify and turn on" }).click();
		await page.getByRole("status").filter({ hasText: "Authenticator app turned on." }).waitFor();

		// The first authenticator brings the recovery codes, shown once: download them.
		const codes = await shownRecoveryCodes(page);
		expect(codes).toHaveLength(10);
		await screenshot(page, "recovery-codes");
		const [download] = await Promise.all([
			page.waitForEvent("download"),
			page.getByRole("button", { name: "Download .txt" }).click(),
		]);
		expect(download.suggestedFilename()).toBe("passkey-edge-recovery-codes.txt");
		const text = await readDownload(await download.path());
		expect(text).toContain(`Account: ${email}`);
		const downloaded = text.split("\n").filter((line) => /^[a-z0-9]{4}(-[a-z0-9]{4})+$/i.test(line.trim()));
		expect(downloaded).toEqual(codes);
		await tab.context.grantPermissions(["clipboard-read", "clipboard-write"]);
		await page.getByRole("button", { name: "Copy" }).click();
		await page.getByRole("button", { name: "Copied" }).waitFor();
		const copied = await page.evaluate(() => navigator.clipboard.readText());
		expect(copied).toContain(`Account: ${email}`);
		for (const code of codes) expect(copied).toContain(code);
		await dismissRecoveryCodes(page);
		expect(await page.locator("#totp-summary").textContent()).toContain("On");
		expect(await page.locator("#recovery-summary").textContent()).toContain("10 of 10 codes left");
		expect(await page.locator("#two-factor-status").textContent()).toBe("On");

		// Sign in with a code from the app: one of a later time step, since the
		// activation code counts as used.
		await signOut(page);
		await submitPassword(page, email);
		await secondFactorHeading(page).waitFor();
		await page.getByRole("heading", { name: "Use your authenticator app" }).waitFor();
		expect(await page.getByRole("button", { name: "Use your passkey" }).isVisible()).toBe(false);
		await waitForStepAfter(activationStep);
		await page.getByLabel("Authentication code").fill(await totpCode(secret));
		await page.getByRole("button", { name: "Verify" }).click();
		await settingsReady(page);
		await expect.poll(() => page.locator("#totp-summary").textContent()).toContain("Last used just now");

		// Sign in with a recovery code from the downloaded file.
		await signOut(page);
		await submitPassword(page, email);
		await secondFactorHeading(page).waitFor();
		await page.getByRole("button", { name: "Use a recovery code" }).click();
		await page.getByLabel("Recovery code").fill(downloaded[3] ?? "");
		await page.locator("#method-recovery_codes").getByRole("button", { name: "Verify" }).click();
		await settingsReady(page);
		await expect
			.poll(() => page.getByRole("status").textContent())
			.toContain("You signed in with a recovery code. 9 codes are left.");
		await expect.poll(() => page.locator("#recovery-summary").textContent()).toContain("9 of 10 codes left");

		// The same code does not work twice.
		await signOut(page);
		await submitPassword(page, email);
		await secondFactorHeading(page).waitFor();
		await page.getByRole("button", { name: "Use a recovery code" }).click();
		await page.getByLabel("Recovery code").fill(downloaded[3] ?? "");
		await page.locator("#method-recovery_codes").getByRole("button", { name: "Verify" }).click();
		await page.getByRole("alert").filter({ hasText: "The code is not valid." }).waitFor();
		expect(page.url()).toMatch(/\/sign-in$/);
		tab.expectNoProblems();
		await tab.close();
	});
});
