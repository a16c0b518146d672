const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
	["year", 365.25 * 24 * 3600],
	["month", 30.44 * 24 * 3600],
	["week", 7 * 24 * 3600],
	["day", 24 * 3600],
	["hour", 3600],
	["minute", 60],
];

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** "just now", "5 minutes ago", "yesterday", "3 weeks ago". */
export function relativeTime(iso: string, now = Date.now()): string {
	const seconds = (Date.parse(iso) - now) / 1000;
	if (Math.abs(seconds) < 45) return "just now";
	for (const [unit, size] of UNITS) {
		if (Math.abs(seconds) >= size || unit === "minute") {
			return relative.format(Math.round(seconds / size), unit);
		}
	}
	return "just now";
}

/** A <time> element showing a relative time, with the exact date in its title. */
export function timeElement(iso: string): HTMLTimeElement {
	const element = document.createElement("time");
	element.dateTime = iso;
	element.title = absolute.format(new Date(iso));
	element.textContent = relativeTime(iso);
	return element;
}

/** Keeps every relative time on the page current. */
export function refreshTimes(root: ParentNode = document): void {
	for (const element of root.querySelectorAll("time[datetime]")) {
		if (element instanceof HTMLTimeElement) element.textContent = relativeTime(element.dateTime);
	}
}
