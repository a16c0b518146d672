import { vi } from "vitest";
import { clock } from "../../src/lib/clock";

/**
 * Freezes the Worker's clock (the Worker and its Durable Objects run in the
 * test isolate) and returns a function that moves it. Restore with
 * `vi.restoreAllMocks()` in afterEach.
 */
export function freezeClock(start = Date.now()): (ms: number) => void {
	const spy = vi.spyOn(clock, "now").mockReturnValue(start);
	return (ms) => {
		spy.mockReturnValue(ms);
	};
}
