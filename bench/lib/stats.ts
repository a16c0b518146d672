/** Nearest-rank percentile of an ascending array; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
	if (sorted.length === 0) return Number.NaN;
	const rank = Math.ceil((p / 100) * sorted.length);
	return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? Number.NaN;
}

export function median(values: readonly number[]): number {
	return percentile(
		[...values].sort((a, b) => a - b),
		50,
	);
}

export interface LatencySummary {
	count: number;
	p50: number;
	p99: number;
	mean: number;
	max: number;
}

export function summarize(values: readonly number[]): LatencySummary {
	const sorted = [...values].sort((a, b) => a - b);
	const sum = sorted.reduce((total, value) => total + value, 0);
	return {
		count: sorted.length,
		p50: percentile(sorted, 50),
		p99: percentile(sorted, 99),
		mean: sorted.length ? sum / sorted.length : Number.NaN,
		max: sorted.at(-1) ?? Number.NaN,
	};
}

export function round(value: number, digits = 1): number {
	if (!Number.isFinite(value)) return value;
	const factor = 10 ** digits;
	return Math.round(value * factor) / factor;
}
