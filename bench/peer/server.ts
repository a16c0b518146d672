/**
 * The benchmark's peer: Better Auth 1.7.6 with its passkey and two-factor
 * plugins, on Node's own SQLite (node:sqlite, which Better Auth's Kysely
 * adapter accepts as a `DatabaseSync`), served by @hono/node-server.
 *
 * Usage: node server.ts --port 8791 --db /tmp/x/peer.sqlite
 * Prints one line `READY <port>` when it listens. Listens on 127.0.0.1 only.
 */
import { DatabaseSync } from "node:sqlite";
import { parseArgs } from "node:util";
import { passkey } from "@better-auth/passkey";
import { serve } from "@hono/node-server";
import { type BetterAuthOptions, betterAuth } from "better-auth";
import { getMigrations } from "better-auth/db/migration";
import { twoFactor } from "better-auth/plugins/two-factor";
import { Hono } from "hono";

const { values } = parseArgs({
	options: {
		port: { type: "string", default: "8791" },
		db: { type: "string" },
	},
});
const port = Number(values.port);
if (!values.db) throw new Error("--db <path> is required");
const origin = `http://localhost:${port}`;

const database = new DatabaseSync(values.db);
// What a careful operator of a file-backed SQLite server sets; it only helps the peer.
database.exec("PRAGMA journal_mode = WAL;");

const options = {
	appName: "passkey-edge bench peer",
	baseURL: origin,
	// A fixed local secret: this server lives only for one benchmark run on 127.0.0.1.
	secret: "bench-peer-secret-0123456789abcdefghijklmnopqrstuvwxyz",
	database,
	emailAndPassword: { enabled: true },
	// OFF for the benchmark: the load comes from one address and would be
	// throttled (Better Auth turns it on by default only in production).
	rateLimit: { enabled: false },
	telemetry: { enabled: false },
	trustedOrigins: [origin],
	plugins: [
		twoFactor({ issuer: "passkey-edge-bench" }),
		passkey({ rpID: "localhost", rpName: "passkey-edge bench peer", origin }),
	],
	logger: { level: "error" as const },
} satisfies BetterAuthOptions;

// The tables first, so that Better Auth's start-up schema check finds them.
const { runMigrations } = await getMigrations(options);
await runMigrations();
export const auth = betterAuth(options);

const app = new Hono();
app.get("/health", (c) => c.json({ success: true }));
app.on(["GET", "POST"], "/api/auth/*", (c) => auth.handler(c.req.raw));

const server = serve({ fetch: app.fetch, port, hostname: "127.0.0.1" }, (info) => {
	console.log(`READY ${info.port}`);
});

function stop() {
	server.close(() => {
		database.close();
		process.exit(0);
	});
	// Keep-alive connections could hold close() open; the benchmark is done with them.
	setTimeout(() => process.exit(0), 2000).unref();
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
