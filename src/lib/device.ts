// A coarse description of a device from its User-Agent: browser and OS, no
// versions, no model, nothing that narrows a person down further ("Chrome on
// macOS"). The result is built only from the fixed names below, never from
// the header's own text, so whatever a client sends cannot end up in a log.

export const UNKNOWN_DEVICE = "Unknown device";

// Longer User-Agents exist only to attack parsers; the names are near the start.
const MAX_LENGTH = 512;

// Order matters: Edge and Opera say "Chrome" too, Chrome says "Safari",
// and iOS browsers are all Safari underneath but name themselves.
const BROWSERS: readonly [RegExp, string][] = [
	[/\bEdgA?\/|\bEdgiOS\//, "Edge"],
	[/\bOPR\/|\bOPiOS\//, "Opera"],
	[/\bSamsungBrowser\//, "Samsung Internet"],
	[/\bFirefox\/|\bFxiOS\//, "Firefox"],
	[/\b(?:Headless)?Chrome\/|\bCriOS\/|\bChromium\//, "Chrome"],
	[/\bVersion\/[\d.]+ (?:Mobile\/\S+ )?Safari\//, "Safari"],
];

const SYSTEMS: readonly [RegExp, string][] = [
	[/\biPhone\b|\biPad\b|\biPod\b/, "iOS"],
	[/\bAndroid\b/, "Android"],
	[/\bCrOS\b/, "ChromeOS"],
	[/\bWindows\b/, "Windows"],
	[/\bMacintosh\b|\bMac OS X\b/, "macOS"],
	[/\bLinux\b/, "Linux"],
];

function first(list: readonly [RegExp, string][], text: string): string | null {
	for (const [pattern, name] of list) if (pattern.test(text)) return name;
	return null;
}

/** "Chrome on macOS", "Safari on iOS", "Firefox", "Android", or "Unknown device". */
export function describeDevice(userAgent: string | null | undefined): string {
	const text = (userAgent ?? "").slice(0, MAX_LENGTH);
	const browser = first(BROWSERS, text);
	const system = first(SYSTEMS, text);
	if (browser && system) return `${browser} on ${system}`;
	return browser ?? system ?? UNKNOWN_DEVICE;
}
