/**
 * Better Auth 1.7.6 with its passkey and two-factor plugins, configured as
 * the Node peer (bench/peer/server.ts) is, on D1: the binding is passed as it
 * is and Better Auth uses its built-in D1 dialect (no transactions on D1).
 */
import type { D1Database as BetterAuthD1 } from "@better-auth/core";
import { passkey } from "@better-auth/passkey";
import { type BetterAuthOptions, betterAuth } from "better-auth";
import { twoFactor } from "better-auth/plugins/two-factor";

export interface Env {
	DB: D1Database;
	/** The origin the ceremonies are bound to (`--var ORIGIN:http://localhost:<port>`). */
	ORIGIN: string;
}

export function authOptions(origin: string, database: BetterAuthD1) {
	return {
		appName: "passkey-edge bench peer (Worker)",
		baseURL: origin,
		// A fixed local secret: this Worker lives only for one benchmark run on 127.0.0.1.
		secret: "bench-peer-secret-0123456789abcdefghijklmnopqrstuvwxyz",
		database,
		emailAndPassword: { enabled: true },
		// OFF for the benchmark, as on the Node peer: the load comes from one address.
		rateLimit: { enabled: false },
		telemetry: { enabled: false },
		trustedOrigins: [origin],
		plugins: [
			twoFactor({ issuer: "passkey-edge-bench" }),
			passkey({ rpID: "localhost", rpName: "passkey-edge bench peer", origin }),
		],
		logger: { level: "error" as const },
	} satisfies BetterAuthOptions;
}

export function buildAuth(origin: string, database: BetterAuthD1) {
	return betterAuth(authOptions(origin, database));
}

export type Auth = ReturnType<typeof buildAuth>;

export function health(): Response {
	return new Response('{"success":true}', { headers: { "content-type": "application/json" } });
}
