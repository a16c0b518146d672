// A coarse description of the device a session was created on, for the
// user's session list: a browser and an operating system, each from a fixed
// list, never a version or a model. Only these names are ever stored, not the
// User-Agent itself: it is whatever the client wrote, it identifies more than
// a person needs to recognise their own device, and nothing a client sends
// reaches the security page as text.

export const UNKNOWN_DEVICE = "Unknown device";

// Longer than any real User-Agent; a longer header is cut, not parsed whole.
const MAX_USER_AGENT = 512;

// Order matters: Edge, Opera and Samsung Internet also say "Chrome", and
// Chrome also says "Safari"; the iOS browsers name themselves apart.
const BROWSERS: readonly [RegExp, string][] = [
	[/\b(?:Edg|EdgA|EdgiOS|Edge)\//, "Edge"],
	[/\b(?:OPR|OPT|Opera)\//, "Opera"],
	[/\bSamsungBrowser\//, "Samsung Internet"],
	[/\b(?:Firefox|FxiOS)\//, "Firefox"],
	[/\b(?:Chrome|CriOS|HeadlessChrome|Chromium)\//, "Chrome"],
	[/\bVersion\/[\d.]+.*\bSafari\//, "Safari"],
];

// iOS says "like Mac OS X", Android and ChromeOS say "Linux": they come first.
const SYSTEMS: readonly [RegExp, string][] = [
	[/\b(?:iPhone|iPad|iPod)\b/, "iOS"],
	[/\bAndroid\b/, "Android"],
	[/\bCrOS\b/, "ChromeOS"],
	[/\bWindows\b/, "Windows"],
	[/\b(?:Macintosh|Mac OS X)\b/, "macOS"],
	[/\bLinux\b/, "Linux"],
];

function firstMatch(text: string, table: readonly [RegExp, string][]): string | null {
	for (const [pattern, name] of table) if (pattern.test(text)) return name;
	return null;
}

/** "Chrome on macOS", "Firefox", "Android", or "Unknown device": from the names above only. */
export function describeDevice(userAgent: string | undefined | null): string {
	const text = (userAgent ?? "").slice(0, MAX_USER_AGENT);
	const browser = firstMatch(text, BROWSERS);
	const system = firstMatch(text, SYSTEMS);
	if (browser && system) return `${browser} on ${system}`;
	return browser ?? system ?? UNKNOWN_DEVICE;
}

/**
 * The country Cloudflare's edge placed the request in (`request.cf.country`,
 * ISO 3166-1 alpha-2, or `T1` for Tor), or null: absent off Cloudflare and
 * when the edge could not tell (`XX`). Anything else is not a country code
 * and is dropped.
 */
export function countryOf(cf: unknown): string | null {
	const country = typeof cf === "object" && cf !== null ? (cf as { country?: unknown }).country : undefined;
	if (typeof country !== "string" || !/^[A-Z][A-Z0-9]$/.test(country) || country === "XX") return null;
	return country;
}
