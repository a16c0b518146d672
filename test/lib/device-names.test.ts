import { describe, expect, it } from "vitest";
import { describeDevice, UNKNOWN_DEVICE } from "../../src/lib/user-agent";

// Browser and OS only, in fixed words: never a version, a model, nor any of the header's own text.
const CASES: [string, string][] = [
	[
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Chrome on macOS",
	],
	[
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
		"Safari on macOS",
	],
	[
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
		"Safari on iOS",
	],
	[
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
		"Chrome on iOS",
	],
	[
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
		"Edge on Windows",
	],
	["Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Windows"],
	["Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Linux"],
	[
		"Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
		"Samsung Internet on Android",
	],
	[
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
		"Chrome on Android",
	],
	[
		"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Chrome on ChromeOS",
	],
	[
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/115.0.0.0",
		"Opera on Windows",
	],
	[
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36",
		"Chrome on Linux",
	],
	["okhttp/4.12.0", UNKNOWN_DEVICE],
	["python-requests/2.32.3", UNKNOWN_DEVICE],
	["", UNKNOWN_DEVICE],
];

describe("describeDevice", () => {
	it.each(CASES)("%s → %s", (userAgent, expected) => {
		expect(describeDevice(userAgent)).toBe(expected);
	});

	it("says Unknown device without a header", () => {
		expect(describeDevice(undefined)).toBe(UNKNOWN_DEVICE);
		expect(describeDevice(null)).toBe(UNKNOWN_DEVICE);
	});

	it("says what it knows when only one half is there", () => {
		expect(describeDevice("MyBank/3.2 (iPhone; iOS 18.1; Scale/3.00)")).toBe("iOS");
	});

	it("never repeats the header's own text, and reads only its start", () => {
		const hostile = `Mozilla/5.0 <script>alert(1)</script> ${"A".repeat(100_000)} Chrome/1 Windows`;
		expect(describeDevice(hostile)).toBe(UNKNOWN_DEVICE);
		expect(describeDevice("Chrome/1 (Windows) ada@example.com")).toBe("Chrome on Windows");
	});
});
