import { afterEach, beforeEach } from "vitest";
import { captureMetrics, type RecordedPoint, stopCapturingMetrics } from "../../src/lib/metrics";

/**
 * Records the metric points of each test of the calling file, a fresh list
 * per test (call it at the top level of the file).
 */
export function captureMetricsPerTest() {
	let points: RecordedPoint[] = [];
	beforeEach(() => {
		points = captureMetrics();
	});
	afterEach(() => {
		stopCapturingMetrics();
	});
	return {
		points: () => points,
		/** The reasons of one event's points, or of every failure when no event is named. */
		failureReasons: (event?: string): string[] =>
			points
				.filter((p) => (event === undefined ? p.blobs[1] === "failure" : p.indexes[0] === event))
				.map((p) => p.blobs[2] ?? ""),
	};
}
