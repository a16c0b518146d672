import { describe, expect, it } from "vitest";
import { addPasskey, dismissRecoveryCodes, openTab, screenshot, signUp, useBrowser } from "./helpers";

const browser = useBrowser();

/** The activity list's entries as the page shows them: what happened, and the meta line. */
function activityRows(page: import("playwright-core").Page) {
	return page.locator("#activity-list > li").evaluateAll((items) =>
		items.map((item) => ({
			title: item.querySelector(".item-title")?.textContent ?? "",
			meta: item.querySelector(".item-meta")?.textContent ?? "",
		})),
	);
}

describe("recent security activity", () => {
	it("shows the sign-up and the passkey added, newest first, with when and on what device", async () => {
		const tab = await openTab(browser());
		const { page } = tab;
		await tab.addAuthenticator({ synced: true });
		await signUp(page, "grace@example.com");
		await expect
			.poll(() => activityRows(page))
			.toEqual([{ title: "Account created", meta: "just now · Chrome on Linux" }]);

		await addPasskey(page, "Laptop");
		await dismissRecoveryCodes(page);
		// The page reads the log again after the change.
		await expect
			.poll(async () => (await activityRows(page)).map((row) => row.title))
			.toEqual(["Recovery codes created", "Passkey added", "Account created"]);
		expect((await activityRows(page)).every((row) => row.meta === "just now · Chrome on Linux")).toBe(true);
		const heading = page.getByRole("heading", { name: "Recent security activity" });
		expect(await heading.isVisible()).toBe(true);
		// An ordered list named by its heading, each entry's time exact in its title.
		expect(await page.getByRole("list", { name: "Recent security activity" }).getByRole("listitem").count()).toBe(3);
		expect(await page.locator("#activity-list time").first().getAttribute("title")).not.toBe("");

		// Still there on the next visit.
		await page.reload();
		await expect
			.poll(async () => (await activityRows(page)).map((row) => row.title))
			.toEqual(["Recovery codes created", "Passkey added", "Account created"]);
		await heading.scrollIntoViewIfNeeded();
		await screenshot(page, "security-activity");
	});
});
