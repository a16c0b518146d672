import { describe, expect, it } from "vitest";
import {
	addPasskey,
	ageSessions,
	dismissRecoveryCodes,
	listedPasskeys,
	openTab,
	PASSWORD,
	passkeyItems,
	passkeyNames,
	screenshot,
	shownRecoveryCodes,
	signUp,
	useBrowser,
} from "./helpers";

const browser = useBrowser();

describe("managing passkeys", () => {
	it("renames a passkey in place with the keyboard, shows names only as text, and signals the new details", async () => {
		const tab = await openTab(browser());
		const { page } = tab;
		await tab.addAuthenticator();
		const email = "hedy@example.com";
		await signUp(page, email);
		await addPasskey(page, "Phone");
		await dismissRecoveryCodes(page);

		await page.getByRole("button", { name: "Rename Phone" }).focus();
		await page.keyboard.press("Enter");
		const input = page.getByLabel("New name for Phone");
		await expect.poll(() => input.evaluate((element) => element === document.activeElement)).toBe(true);
		expect(await input.inputValue()).toBe("Phone");
		// The whole name is selected: typing replaces it; Enter saves.
		await page.keyboard.type("Work laptop");
		await page.keyboard.press("Enter");
		await page.getByRole("status").filter({ hasText: "Passkey renamed to “Work laptop”." }).waitFor();
		expect(await passkeyNames(page)).toEqual(["Work laptop"]);
		await expect
			.poll(() =>
				page.getByRole("button", { name: "Rename Work laptop" }).evaluate((b) => b === document.activeElement),
			)
			.toBe(true);

		// Escape cancels.
		await page.keyboard.press("Enter");
		await page.keyboard.type("Not this");
		await page.keyboard.press("Escape");
		expect(await passkeyNames(page)).toEqual(["Work laptop"]);

		// A name is stored as given and shown as text, never as HTML.
		const markup = '<img src=x onerror="document.title=1"><b>bold</b>';
		await page.getByRole("button", { name: "Rename Work laptop" }).click();
		await page.getByLabel("New name for Work laptop").fill(markup);
		await page.getByRole("button", { name: "Save" }).click();
		await page
			.getByRole("status")
			.filter({ hasText: `Passkey renamed to “${markup}”.` })
			.waitFor();
		expect(await passkeyNames(page)).toEqual([markup]);
		expect(await page.locator("#passkey-list img, #passkey-list b").count()).toBe(0);

		// Each rename tells the passkey manager the accepted credentials and the account's name.
		const listed = await listedPasskeys(page);
		const signals = await tab.signals();
		expect(signals.filter((call) => call.name === "signalAllAcceptedCredentials").at(-1)?.options).toEqual({
			rpId: "localhost",
			userId: listed.webauthn_user_id,
			allAcceptedCredentialIds: listed.passkeys.map((passkey) => passkey.credential_id),
		});
		expect(signals.filter((call) => call.name === "signalCurrentUserDetails").at(-1)?.options).toMatchObject({
			name: email,
			userId: listed.webauthn_user_id,
		});

		// Too long a name: the envelope's message and its field.
		await page.getByRole("button", { name: `Rename ${markup}` }).click();
		await page.getByLabel(`New name for ${markup}`).fill("x".repeat(65));
		await page.getByRole("button", { name: "Save" }).click();
		await page.getByRole("alert").filter({ hasText: "The request is not valid." }).waitFor();
		tab.expectNoProblems();
		await tab.close();
	});

	it("refuses to delete the last passkey, deletes one when there is a second, and the passkey manager forgets it", async () => {
		const tab = await openTab(browser());
		const { page } = tab;
		const laptop = await tab.addAuthenticator({ synced: true });
		await signUp(page, "mary@example.com");
		await addPasskey(page, "MacBook Pro");
		await dismissRecoveryCodes(page);

		await page.getByRole("button", { name: "Delete MacBook Pro" }).click();
		const confirm = page.getByRole("dialog", { name: "Delete “MacBook Pro”?" });
		await confirm.getByRole("button", { name: "Delete passkey" }).click();
		await confirm
			.getByRole("alert")
			.filter({ hasText: "Cannot delete - you must have at least one authentication method" })
			.waitFor();
		expect(await confirm.getByRole("button", { name: "Delete passkey" }).isVisible()).toBe(false);
		await confirm.getByRole("button", { name: "Close" }).click();
		await confirm.waitFor({ state: "hidden" });
		expect(await passkeyNames(page)).toEqual(["MacBook Pro"]);

		// A second passkey on a security key (the laptop is put aside meanwhile,
		// since it already holds this account's passkey).
		await laptop.presence(false);
		const securityKey = await tab.addAuthenticator({ transport: "usb" });
		expect(await addPasskey(page, "YubiKey 5")).toBeNull();
		await laptop.presence(true);
		expect(await passkeyNames(page)).toEqual(["YubiKey 5", "MacBook Pro"]);
		expect(await passkeyItems(page).locator(".badge").allTextContents()).toEqual(["This device", "Synced"]);
		await screenshot(page, "security-passkeys");
		const [laptopCredential] = await laptop.credentialIds();
		expect(laptopCredential).toBeDefined();

		await page.getByRole("button", { name: "Delete MacBook Pro" }).click();
		await confirm.getByRole("button", { name: "Delete passkey" }).click();
		await page.getByRole("status").filter({ hasText: "Passkey “MacBook Pro” deleted." }).waitFor();
		expect(await passkeyNames(page)).toEqual(["YubiKey 5"]);
		// signalAllAcceptedCredentials made the laptop's passkey manager drop it.
		await expect.poll(() => laptop.credentialIds()).toEqual([]);
		expect(await securityKey.credentialIds()).toHaveLength(1);
		tab.expectNoProblems();
		await tab.close();
	});

	it("asks to authenticate again when the last sign-in is older than 5 minutes, then goes on with the action", async () => {
		const tab = await openTab(browser());
		const { page } = tab;
		await tab.addAuthenticator();
		const email = "alan@example.com";
		await signUp(page, email);
		const firstCodes = await addPasskey(page, "Laptop");
		await dismissRecoveryCodes(page);
		const reauth = page.getByRole("dialog", { name: "Confirm it's you" });

		// With a passkey: regenerating recovery codes goes on after the prompt.
		await ageSessions(email);
		await page.getByRole("button", { name: "Generate new codes" }).click();
		await page
			.getByRole("dialog", { name: "Generate new recovery codes?" })
			.getByRole("button", { name: "Generate new codes" })
			.click();
		await reauth.waitFor();
		await screenshot(page, "reauthenticate");
		await reauth.getByRole("button", { name: "Use a passkey" }).click();
		await reauth.waitFor({ state: "hidden" });
		const newCodes = await shownRecoveryCodes(page);
		expect(newCodes).toHaveLength(10);
		expect(newCodes).not.toEqual(firstCodes);
		await dismissRecoveryCodes(page);

		// With the password: a wrong one shows the envelope's message, the right one lets the set-up go on.
		await ageSessions(email);
		await page.getByRole("button", { name: "Set up" }).click();
		await reauth.waitFor();
		await reauth.getByLabel("Password").fill("not my password");
		await reauth.getByRole("button", { name: "Confirm with password" }).click();
		await reauth.getByRole("alert").filter({ hasText: "The email or password is incorrect." }).waitFor();
		await reauth.getByLabel("Password").fill(PASSWORD);
		await reauth.getByRole("button", { name: "Confirm with password" }).click();
		await reauth.waitFor({ state: "hidden" });
		await page.getByRole("img", { name: "QR code to scan with your authenticator app" }).waitFor();
		await page.getByRole("button", { name: "Cancel" }).click();

		// Giving up: the action stops with the API's message.
		await ageSessions(email);
		await page.getByRole("button", { name: "Delete Laptop" }).click();
		const confirm = page.getByRole("dialog", { name: "Delete “Laptop”?" });
		await confirm.getByRole("button", { name: "Delete passkey" }).click();
		await reauth.waitFor();
		await page.keyboard.press("Escape");
		await reauth.waitFor({ state: "hidden" });
		await confirm
			.getByRole("alert")
			.filter({ hasText: "Confirm it is you: authenticate again to continue." })
			.waitFor();
		await confirm.getByRole("button", { name: "Cancel" }).click();
		expect(await passkeyNames(page)).toEqual(["Laptop"]);
		tab.expectNoProblems();
		await tab.close();
	});
});
