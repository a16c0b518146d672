import type { Page } from "playwright-core";
import { describe, expect, it } from "vitest";
import { openTab, passkeyItems, settingsReady, signOut, signUp, submitPassword, useBrowser } from "./helpers";

const browser = useBrowser();

// The automatic upgrade (conditional create): after a password sign-in the
// security page asks the browser for a passkey with mediation "conditional",
// when PublicKeyCredential.getClientCapabilities() says conditionalCreate.
//
// What these tests cannot show: the passkey being made. Chromium reports
// conditionalCreate, but its virtual authenticator never completes a
// conditional create (Chromium waits for its own password manager, which a
// test profile does not have), so the request stays pending. The server's
// half — a response without user presence accepted only for such a request,
// only right after a password check — is tested in workerd
// (test/security/conditional-create.test.ts). Here the browser's answer is
// replaced at the one seam, navigator.credentials.create, and every call is
// recorded.

interface CreateCall {
	mediation: string | null;
	residentKey: string | null;
	userVerification: string | null;
}

/** Records every navigator.credentials.create call and refuses it as a browser that declines would. */
async function declineCreates(page: Page, capabilities: { conditionalCreate: boolean }): Promise<void> {
	await page.addInitScript((conditionalCreate) => {
		const calls: CreateCall[] = [];
		(window as unknown as { createCalls: CreateCall[] }).createCalls = calls;
		navigator.credentials.create = async (options?: CredentialCreationOptions) => {
			const selection = options?.publicKey?.authenticatorSelection;
			calls.push({
				mediation: (options as { mediation?: string } | undefined)?.mediation ?? null,
				residentKey: selection?.residentKey ?? null,
				userVerification: selection?.userVerification ?? null,
			});
			throw new DOMException("The user declined.", "NotAllowedError");
		};
		const credential = PublicKeyCredential as unknown as { getClientCapabilities?: () => Promise<unknown> };
		credential.getClientCapabilities = async () => ({ conditionalCreate });
	}, capabilities.conditionalCreate);
}

async function passwordSignIn(page: Page, email: string): Promise<string | undefined> {
	await signUp(page, email);
	await signOut(page);
	await submitPassword(page, email);
	await settingsReady(page);
	await page.waitForFunction(() => document.body.dataset.passkeyUpgrade !== undefined);
	return page.evaluate(() => document.body.dataset.passkeyUpgrade);
}

const createCalls = (page: Page) =>
	page.evaluate(() => (window as unknown as { createCalls: CreateCall[] }).createCalls);

describe("automatic passkey upgrade", () => {
	it("asks the browser for a passkey without a prompt after a password sign-in, and shows nothing when it declines", async () => {
		const tab = await openTab(browser());
		const { page } = tab;
		await tab.addAuthenticator();
		await declineCreates(page, { conditionalCreate: true });
		expect(await passwordSignIn(page, "upgrade.declined@example.com")).toBe("declined");
		// Signing up asked for nothing; the sign-in asked once, conditionally, for a discoverable passkey.
		expect(await createCalls(page)).toEqual([
			{ mediation: "conditional", residentKey: "required", userVerification: "preferred" },
		]);
		expect(await page.locator("#flash").isHidden()).toBe(true);
		expect(await page.getByRole("alert").count()).toBe(0);
		expect(await passkeyItems(page).count()).toBe(0);
	});

	it("asks nothing of a browser that cannot create a passkey without a prompt", async () => {
		const tab = await openTab(browser());
		const { page } = tab;
		await tab.addAuthenticator();
		await declineCreates(page, { conditionalCreate: false });
		expect(await passwordSignIn(page, "upgrade.unavailable@example.com")).toBe("unavailable");
		expect(await createCalls(page)).toEqual([]);
	});
});
