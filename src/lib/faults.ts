// Messages D1 and Durable Objects give when they are unavailable for a
// moment (as opposed to a bug in a query, which stays a 500). From
// Cloudflare's lists of D1_ERRORs and Durable Object errors whose recommended
// action is to retry.
const TRANSIENT = new RegExp(
	[
		"network connection lost",
		"overloaded",
		"too many requests queued",
		"too much load",
		"timed out",
		"exceeded timeout",
		"storage caused object to be reset",
		"reset because its code was updated",
		"code has been updated, this version can no longer access storage",
		"internal error in durable object storage",
		"transient issue on remote node",
		"cannot resolve d1 db",
	].join("|"),
	"i",
);

/** drizzle wraps a failed statement as "Failed query: <sql>\nparams: <values>"; the reason is its cause. */
const DRIZZLE_WRAPPER = /^Failed query: /;

function chainOf(error: unknown): Error[] {
	const chain: Error[] = [];
	for (let current: unknown = error; current instanceof Error && chain.length < 10; current = current.cause) {
		chain.push(current);
	}
	return chain;
}

/**
 * Whether an error means a storage dependency (D1 or the Durable Object) is
 * unavailable, so the client should retry: 503 with Retry-After. Only the
 * platform's own flags and messages count: drizzle's wrapper message holds
 * the statement and its values, which could say anything.
 */
export function isUnavailable(error: unknown): boolean {
	return chainOf(error).some((current) => {
		const flags = current as Error & { retryable?: boolean; overloaded?: boolean };
		if (flags.retryable === true || flags.overloaded === true) return true;
		return !DRIZZLE_WRAPPER.test(current.message) && TRANSIENT.test(current.message);
	});
}

/**
 * One line about an error that is safe to log: each message of its cause
 * chain, with drizzle's statement kept but its values (password hashes,
 * recovery-code hashes, ciphertexts) left out.
 */
export function describeError(error: unknown): string {
	const chain = chainOf(error);
	if (chain.length === 0) return String(error);
	return chain
		.map((current) => {
			const message = DRIZZLE_WRAPPER.test(current.message)
				? (current.message.split("\nparams:")[0] ?? current.message)
				: current.message;
			return `${current.name}: ${message}`;
		})
		.join(" <- ");
}

/**
 * An error about to leave a Durable Object method. Only the message crosses
 * RPC reliably (not `cause`, not drizzle's fields), so the message becomes
 * the safe description and a storage outage stays recognizable as one.
 */
export function errorForRpc(error: unknown): Error {
	if (!(error instanceof Error)) return new Error(String(error));
	const crossing = new Error(describeError(error));
	if (isUnavailable(error)) Object.assign(crossing, { retryable: true });
	return crossing;
}
