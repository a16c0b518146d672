import { describe, expect, inject, it } from "vitest";
import { openTab, PASSWORD, screenshot, useBrowser } from "./helpers";

const browser = useBrowser();

describe("the API reference at /api/docs", () => {
	it("renders every route offline under a strict Content-Security-Policy, and tries one with the session cookie", async () => {
		const tab = await openTab(browser());
		const { page, context } = tab;
		const origin = new URL(inject("baseUrl")).origin;
		// Offline: anything that would leave the Worker's origin is cut and remembered.
		const elsewhere: string[] = [];
		await context.route("**/*", async (route) => {
			if (new URL(route.request().url()).origin === origin) return route.continue();
			elsewhere.push(route.request().url());
			return route.abort("internetdisconnected");
		});

		const response = await page.goto("/api/docs");
		expect(response?.status()).toBe(200);
		const csp = response?.headers()["content-security-policy"] ?? "";
		expect(csp).toContain("script-src 'self'");
		expect(csp).toContain("style-src 'self'");
		expect(csp).toContain("frame-ancestors 'none'");
		expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
		expect(response?.headers()["x-frame-options"]).toBe("DENY");

		await page.getByRole("heading", { name: /passkey-edge/ }).waitFor();
		// One block per operation of the document the Worker serves (the
		// workerd suite holds that document to API.md's routes).
		const document = (await (await fetch(`${origin}/api/openapi.json`)).json()) as {
			paths: Record<string, Record<string, unknown>>;
		};
		const operations = Object.values(document.paths).flatMap((item) =>
			Object.keys(item).filter((key) => ["get", "post", "put", "patch", "delete"].includes(key)),
		).length;
		expect(operations).toBeGreaterThanOrEqual(32);
		await expect.poll(() => page.locator(".opblock").count()).toBe(operations);
		for (const tag of ["Accounts", "Passkeys", "Authenticator app", "Recovery codes", "Other"]) {
			await page.locator(".opblock-tag", { hasText: tag }).first().waitFor();
		}

		// A browser session (cookie), then "Try it out" on GET /api/auth/session.
		const email = `docs-${Date.now()}@example.com`;
		const signup = await page.request.post("/api/auth/signup/", {
			data: { email, password: PASSWORD },
			headers: { Origin: origin },
		});
		expect(signup.status()).toBe(201);
		const operation = page.locator("#operations-Accounts-get_api_auth_session");
		await operation.locator(".opblock-summary").click();
		await operation.getByRole("button", { name: "Try it out" }).click();
		await operation.getByRole("button", { name: "Execute" }).click();
		const live = operation.locator(".live-responses-table");
		await live.locator(".response-col_status", { hasText: "200" }).waitFor();
		expect(await live.textContent()).toContain(email);

		await screenshot(page, "api-docs");
		expect(elsewhere).toEqual([]);
		tab.expectNoProblems();
		await tab.close();
	});

	it("serves its script and styles from this origin, with the assets' own headers", async () => {
		const tab = await openTab(browser());
		for (const asset of ["swagger-ui-bundle.js", "swagger-ui.css", "init.js"]) {
			const response = await tab.page.request.get(`/assets/api-docs/${asset}`);
			expect(response.status(), asset).toBe(200);
			expect(response.headers()["x-content-type-options"]).toBe("nosniff");
			expect(response.headers()["content-type"]).toMatch(asset.endsWith(".css") ? /text\/css/ : /javascript/);
		}
		await tab.close();
	});
});
