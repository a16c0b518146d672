import type { ClientDataJSON } from "@simplewebauthn/server/helpers";

/**
 * Ceremonies are same-origin only (API.md: `crossOrigin: true` is refused).
 * The client data is JSON a client may write as it likes, so "not true" is
 * not enough: `"true"`, `1` or `{}` are truthy to @simplewebauthn/server and
 * would have us half-believe an embedded ceremony. Only an absent member or
 * the JSON `false` passes. `topOrigin` describes the page embedding a
 * cross-origin ceremony; on a same-origin one it has no meaning, so its
 * presence alone is refused rather than ignored.
 */
export function isSameOriginCeremony(clientData: ClientDataJSON): boolean {
	const data = clientData as unknown as Record<string, unknown>;
	const crossOrigin = data.crossOrigin;
	if (crossOrigin !== undefined && crossOrigin !== false) return false;
	return !Object.hasOwn(data, "topOrigin");
}
