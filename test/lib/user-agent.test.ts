import { describe, expect, it } from "vitest";
import { countryOf, describeDevice, UNKNOWN_DEVICE } from "../../src/lib/user-agent";

// The session list's device: a browser and an OS from fixed lists, nothing
// else of the User-Agent (no version, no model, none of the client's text).

const AGENTS: [string, string][] = [
	[
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Chrome on macOS",
	],
	[
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
		"Safari on macOS",
	],
	[
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
		"Safari on iOS",
	],
	[
		"Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
		"Safari on iOS",
	],
	[
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
		"Chrome on iOS",
	],
	[
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/133.0 Mobile/15E148 Safari/605.1.15",
		"Firefox on iOS",
	],
	["Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Windows"],
	[
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
		"Edge on Windows",
	],
	[
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/116.0.0.0",
		"Opera on Windows",
	],
	[
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
		"Chrome on Android",
	],
	[
		"Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
		"Samsung Internet on Android",
	],
	[
		"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Chrome on ChromeOS",
	],
	["Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Linux"],
	[
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
		"Chrome on Linux",
	],
	// An app names itself as it likes; the OS is what can be recognised.
	["MyApp/2.3 (iPhone; iOS 17.5; Scale/3.00)", "iOS"],
	["Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/AP2A)", "Android"],
	["okhttp/4.12.0", UNKNOWN_DEVICE],
	["curl/8.5.0", UNKNOWN_DEVICE],
	["python-requests/2.32.3", UNKNOWN_DEVICE],
	["", UNKNOWN_DEVICE],
];

describe("describeDevice", () => {
	it.each(AGENTS)("%s → %s", (agent, device) => {
		expect(describeDevice(agent)).toBe(device);
	});

	it("says Unknown device without a User-Agent", () => {
		expect(describeDevice(undefined)).toBe(UNKNOWN_DEVICE);
		expect(describeDevice(null)).toBe(UNKNOWN_DEVICE);
	});

	it("never returns the client's own text: only names from its lists", () => {
		const browsers = ["Edge", "Opera", "Samsung Internet", "Firefox", "Chrome", "Safari"];
		const systems = ["iOS", "Android", "ChromeOS", "Windows", "macOS", "Linux"];
		const allowed = new Set([
			UNKNOWN_DEVICE,
			...browsers,
			...systems,
			...browsers.flatMap((browser) => systems.map((system) => `${browser} on ${system}`)),
		]);
		for (const agent of [
			"<script>alert(1)</script>",
			"Chrome/1 <img src=x onerror=alert(1)> (Windows)",
			"Mozilla/5.0 (Windows NT 10.0) Evil/1.0 Safari/1",
			"Linux\u0000; DROP TABLE sessions; --",
		]) {
			expect(allowed, agent).toContain(describeDevice(agent));
		}
		expect(describeDevice("Chrome/1 <img src=x onerror=alert(1)> (Windows)")).toBe("Chrome on Windows");
		// A name past the first 512 characters is not read.
		expect(describeDevice(`${"A".repeat(100_000)} Firefox/1`)).toBe(UNKNOWN_DEVICE);
	});
});

describe("countryOf", () => {
	it("takes Cloudflare's two-letter country code", () => {
		expect(countryOf({ country: "DE" })).toBe("DE");
		expect(countryOf({ country: "T1" })).toBe("T1");
	});

	it("is null when Cloudflare did not say, could not tell, or said something that is not a code", () => {
		expect(countryOf(undefined)).toBeNull();
		expect(countryOf({})).toBeNull();
		expect(countryOf({ country: "XX" })).toBeNull();
		expect(countryOf({ country: "de" })).toBeNull();
		expect(countryOf({ country: "DEU" })).toBeNull();
		expect(countryOf({ country: 49 })).toBeNull();
		expect(countryOf({ country: "<b>" })).toBeNull();
	});
});
