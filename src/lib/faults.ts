// Messages D1 and Durable Objects give when they are unavailable for a
// moment (as opposed to a bug in a query, which stays a 500).
const TRANSIENT =
	/network connection lost|overloaded|timed out|timeout|storage caused object to be reset|durable object reset|internal error in durable object storage|cannot resolve d1 db|too many requests queued/i;

/**
 * Whether an error means a storage dependency (D1 or the Durable Object) is
 * unavailable, so the client should retry: 503 with Retry-After.
 */
export function isUnavailable(error: unknown): boolean {
	for (let current: unknown = error; current instanceof Error; current = current.cause) {
		const flags = current as Error & { retryable?: boolean; overloaded?: boolean };
		if (flags.retryable === true || flags.overloaded === true) return true;
		if (TRANSIENT.test(current.message)) return true;
	}
	return false;
}
