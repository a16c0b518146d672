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

// Operator policy (issue 16, item 5): with REQUIRE_SECOND_FACTOR=true a
// password sign-in (or sign-up) of an account without a passkey or TOTP gets
// a session that can only add one. The web client walks the person through
// it: the security page in set-up mode. The shared Worker runs with the
// policy off (the default), so this file starts its own with it on.

const browser = useBrowser();
const baseUrl = useOwnWorker({ REQUIRE_SECOND_FACTOR: "true" });

describe("a second factor required by the operator", () => {
	it("walks a password user through adding a passkey; the next sign-in asks for it", async () => {
		const tab = await openTab(browser(), { baseUrl: baseUrl() });
		const { page } = tab;
		await tab.addAuthenticator();
		const email = "grace@example.com";
		const setupCard = page.getByRole("region", { name: "Set up a second factor to continue" });
		const sessionsHeading = page.getByRole("heading", { name: "Sessions" });

		// A password sign-up lands in set-up mode: the explanation, a passkey or the app, nothing else.
		await signUp(page, email);
		await setupCard.waitFor();
		expect(await page.getByRole("button", { name: "Add passkey" }).isVisible()).toBe(true);
		expect(await page.getByRole("button", { name: "Set up", exact: true }).isVisible()).toBe(true);
		expect(await sessionsHeading.isVisible()).toBe(false);
		expect(await page.getByRole("heading", { name: "Recovery codes" }).isVisible()).toBe(false);
		expect(await page.getByRole("alert").filter({ visible: true }).count()).toBe(0);
		expect(await page.title()).toBe("Set up a second factor · passkey-edge");
		const session = await page.request.get("/api/auth/session/");
		expect((await session.json()).session.level).toBe("setup_required");
		await screenshot(page, "second-factor-required");

		// Signing out works; a password sign-in comes back to the same place.
		await signOut(page);
		await submitPassword(page, email);
		await settingsReady(page);
		await setupCard.waitFor();

		// Adding the passkey makes the session full (a new cookie): the whole page is back.
		const codes = await addPasskey(page, "Laptop");
		expect(codes).toHaveLength(10);
		await setupCard.waitFor({ state: "hidden" });
		await sessionsHeading.waitFor();
		const upgraded = await page.request.get("/api/auth/session/");
		expect((await upgraded.json()).session).toMatchObject({ level: "full", methods: ["webauthn", "recovery_codes"] });
		await dismissRecoveryCodes(page);

		// From now on a password sign-in asks for the passkey, as for anyone with one. The sign-in
		// page's own session check is slow here: its answer (401, as the server gave it before the
		// sign-in) arrives after the person signed in, and must not take them back to the password step.
		let release = () => {};
		const held = new Promise<void>((resolve) => {
			release = resolve;
		});
		await page.route("**/api/auth/session/", async (route) => {
			await held;
			await route.fulfill({
				status: 401,
				contentType: "application/json",
				body: JSON.stringify({ success: false, code: "not_authenticated", message: "Sign in first." }),
			});
		});
		await signOut(page);
		await submitPassword(page, email);
		await secondFactorHeading(page).waitFor();
		const checked = page.waitForResponse((response) => response.url().endsWith("/api/auth/session/"));
		release();
		expect((await checked).status()).toBe(401);
		await page.unroute("**/api/auth/session/");
		// The page has handled that answer once the autofill it would restart has had a turn; the step stays.
		await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0))));
		expect(await secondFactorHeading(page).isVisible()).toBe(true);
		await page.getByRole("button", { name: "Use passkey" }).click();
		await settingsReady(page);
		await sessionsHeading.waitFor();
		expect(await setupCard.isVisible()).toBe(false);
		tab.expectNoProblems();
		await tab.close();
	});
});
