/**
 * The key of the per-client limits, from `CF-Connecting-IP`: the address
 * Cloudflare's edge saw, which the client cannot set (X-Forwarded-For is
 * whatever the client wrote and is never read). An IPv4 address is its own
 * key; an IPv6 one is keyed by its /64, since one subscriber is usually
 * given a whole /64 and could otherwise step through its addresses. Null
 * without the header: the request did not come through Cloudflare (tests,
 * local development), and there is no client to limit.
 */
export function clientKeyOf(header: string | undefined): string | null {
	const address = header?.trim().toLowerCase();
	if (!address) return null;
	if (!address.includes(":")) return `v4:${address}`;
	const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(address);
	if (mapped) return `v4:${mapped[1]}`;
	const [head = "", tail, ...rest] = address.split("::");
	if (rest.length > 0) return `raw:${address}`;
	const left = head ? head.split(":") : [];
	const right = tail ? tail.split(":") : [];
	const missing = 8 - left.length - right.length;
	if (missing < 0 || (tail === undefined && missing !== 0)) return `raw:${address}`;
	const groups = [...left, ...Array<string>(missing).fill("0"), ...right];
	const prefix = groups.slice(0, 4).map((group) => (Number.parseInt(group, 16) || 0).toString(16));
	return `v6:${prefix.join(":")}::/64`;
}
