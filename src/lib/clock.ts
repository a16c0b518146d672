// The one source of time. Tests move it (vi.spyOn(clock, "now")) instead of
// sleeping; the Worker and the Durable Object both read it.
export const clock = {
	now(): number {
		return Date.now();
	},
};

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

export function iso(ms: number): string {
	return new Date(ms).toISOString();
}
