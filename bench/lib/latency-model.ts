/**
 * A production latency model of the passkey ceremonies (issue 15, item 7):
 * the network waits one ceremony costs a user, from its HTTP requests and
 * its storage round trips, each times a round-trip time (RTT), for a user
 * near the database and a user far from it. CPU is left out (the local
 * figures give it); so are TLS and connection set-up (a warm connection).
 *
 * The designs:
 * - a Worker runs at the Cloudflare location nearest the user, so each HTTP
 *   request costs one user → edge round trip, near or far;
 * - D1 without read replication (the Sessions API) runs every query on its
 *   one primary (developers.cloudflare.com/d1/best-practices/read-replication/):
 *   each D1 round trip costs the Worker → primary RTT;
 * - a Durable Object is created near the request that first used it, and
 *   stays there (developers.cloudflare.com/durable-objects/reference/data-location/):
 *   a user's own object is near that user;
 * - the Node peer is one server in one region with SQLite in its process:
 *   its storage costs no network, but every HTTP request crosses the distance
 *   from the user to that region.
 */
import {
	betterAuthCeremonyTrips,
	type CeremonyTrips,
	oursCeremonyTrips,
	PASSKEY_CEREMONIES,
	type PasskeyCeremony,
} from "./round-trips.ts";

export interface Rtts {
	/** User → the nearest Cloudflare location (a Worker). */
	userToEdgeMs: number;
	/** Worker → the user's Durable Object. */
	durableObjectMs: number;
	/** Worker (or Durable Object) → the D1 primary. */
	d1PrimaryMs: number;
	/** User → the region of a single-region server (the Node peer). */
	userToOriginMs: number;
}

export interface Placement {
	name: string;
	what: string;
	rtts: Rtts;
}

/**
 * Assumptions: 5 ms to anything in the user's own metro, 150 ms across an
 * ocean (the example; Sydney ↔ Virginia is nearer 200 ms, which would
 * scale every far figure by 4/3).
 */
export const PLACEMENTS: Placement[] = [
	{
		name: "near",
		what: "user in the region of the D1 primary and of the Node server",
		rtts: { userToEdgeMs: 5, durableObjectMs: 5, d1PrimaryMs: 5, userToOriginMs: 5 },
	},
	{
		name: "far",
		what: "user an ocean away from them (e.g. Sydney, with the primary in Virginia)",
		rtts: { userToEdgeMs: 5, durableObjectMs: 5, d1PrimaryMs: 150, userToOriginMs: 150 },
	},
];

export interface ModelSystem {
	system: string;
	/** How each round trip is priced. */
	design: "worker" | "single-region server";
	trips: Record<PasskeyCeremony, CeremonyTrips>;
}

/** The systems of the model: ours (its counted round trips), Better Auth as a Worker and on Node. */
export function modelSystems(betterAuthCounted: Record<string, number> | null): ModelSystem[] {
	const each = (f: (c: PasskeyCeremony) => CeremonyTrips) =>
		Object.fromEntries(PASSKEY_CEREMONIES.map((c) => [c, f(c)])) as Record<PasskeyCeremony, CeremonyTrips>;
	const betterAuth = each((c) => betterAuthCeremonyTrips(c, betterAuthCounted));
	return [
		{
			system: "ours (each user's Durable Object; D1 a directory)",
			design: "worker",
			trips: each(oursCeremonyTrips),
		},
		{ system: "Better Auth Worker (D1)", design: "worker", trips: betterAuth },
		{
			system: "Better Auth Node (in-process SQLite)",
			design: "single-region server",
			// The same library's statements, run in its own process: no network round trip.
			trips: each((c) => ({ ...betterAuth[c], d1: 0, source: "in-process SQLite: no storage round trip" })),
		},
	];
}

/** Milliseconds of network waits for one ceremony. */
export function ceremonyLatencyMs(design: ModelSystem["design"], trips: CeremonyTrips, rtts: Rtts): number {
	if (design === "single-region server") return trips.httpRequests * rtts.userToOriginMs;
	return (
		trips.httpRequests * rtts.userToEdgeMs + trips.d1 * rtts.d1PrimaryMs + trips.durableObject * rtts.durableObjectMs
	);
}

export interface ModelRow {
	system: string;
	ceremony: PasskeyCeremony;
	httpRequests: number;
	d1: number;
	durableObject: number;
	/** Milliseconds per placement name. */
	latencyMs: Record<string, number>;
}

export function latencyModel(systems: ModelSystem[], placements: Placement[] = PLACEMENTS): ModelRow[] {
	return systems.flatMap((s) =>
		PASSKEY_CEREMONIES.map((ceremony) => {
			const trips = s.trips[ceremony];
			return {
				system: s.system,
				ceremony,
				httpRequests: trips.httpRequests,
				d1: trips.d1,
				durableObject: trips.durableObject,
				latencyMs: Object.fromEntries(placements.map((p) => [p.name, ceremonyLatencyMs(s.design, trips, p.rtts)])),
			};
		}),
	);
}
