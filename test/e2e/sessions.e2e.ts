import { describe, expect, it } from "vitest";
import {
	ageSessions,
	openTab,
	PASSWORD,
	screenshot,
	settingsReady,
	signUp,
	submitPassword,
	useBrowser,
} from "./helpers";

// Settings → Security → Sessions: two browser contexts are two sessions of
// one account. The first lists both, marks itself, and signs the other out.

const browser = useBrowser();

const FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";

describe("the session list", () => {
	it("lists this browser and another, signs the other out, and that one is signed out", async () => {
		const mine = await openTab(browser());
		const other = await openTab(browser(), { userAgent: FIREFOX_WINDOWS });
		const email = "katherine.sessions@example.com";
		await signUp(mine.page, email);
		await other.page.goto("/sign-in");
		await submitPassword(other.page, email);
		await settingsReady(other.page);

		await mine.page.reload();
		await settingsReady(mine.page);
		const items = mine.page.locator("#session-list > li");
		await expect.poll(() => items.count()).toBe(2);
		// Newest first: the other browser signed in after this one signed up.
		const [newest, oldest] = [items.nth(0), items.nth(1)];
		expect(await newest.locator(".item-title").textContent()).toBe("Firefox on Windows");
		expect(await newest.locator(".item-meta").allTextContents()).toEqual([
			expect.stringMatching(/^Browser( · .+)?$/),
			"Signed in just now with password · Last used just now",
		]);
		expect(await newest.textContent()).not.toContain("This device");
		expect(await oldest.locator(".item-title").textContent()).toBe("Chrome on Linux");
		expect(await oldest.locator(".badge").textContent()).toBe("This device");
		expect(await oldest.locator(".item-meta").allTextContents()).toEqual([
			expect.stringMatching(/^Browser( · .+)?$/),
			"Signed in just now with password · Active now",
		]);
		// This one has no Sign out button of its own: the header's signs it out.
		expect(await oldest.getByRole("button").count()).toBe(0);
		await screenshot(mine.page, "security-sessions");

		// An authentication older than 5 minutes: the password is asked for first.
		await ageSessions(email);
		await mine.page.getByRole("button", { name: "Sign out Firefox on Windows" }).click();
		const confirm = mine.page.getByRole("dialog", { name: "Sign out Firefox on Windows?" });
		await confirm.getByRole("button", { name: "Sign out session" }).click();
		const reauth = mine.page.getByRole("dialog", { name: "Confirm it's you" });
		await reauth.waitFor();
		await reauth.getByLabel("Password").fill(PASSWORD);
		await reauth.getByRole("button", { name: "Confirm with password" }).click();
		await reauth.waitFor({ state: "hidden" });
		await expect.poll(() => mine.page.locator("#flash").textContent()).toBe("Signed out Firefox on Windows.");
		await expect.poll(() => items.count()).toBe(1);
		expect(await items.first().locator(".badge").textContent()).toBe("This device");

		await other.page.reload();
		await other.page.waitForURL("**/sign-in");
		await mine.page.reload();
		await settingsReady(mine.page);
		mine.expectNoProblems();
		other.expectNoProblems();
		await Promise.all([mine.close(), other.close()]);
	});
});
