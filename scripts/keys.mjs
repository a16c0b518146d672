// The access tokens' signing keys (the secret TOKEN_SIGNING_KEYS, a JWK Set
// of private P-256 keys; the first signs, every one is published).
//
//   npm run keys -- new              prints a fresh set of one key
//   npm run keys -- rotate           prints the set of .dev.vars with a new key first
//   npm run keys -- rotate < set     the same for a set read from stdin
//   npm run keys -- rotate --keep 2  keeps at most 2 old keys (default: all)
//
// Rotating in production: put the printed set with
// `wrangler secret put TOKEN_SIGNING_KEYS`; the old key stays published, so
// tokens it signed keep verifying until they expire (at most 15 minutes).
// Remove it at a later rotation with --keep. Nothing is written to disk.
import { webcrypto } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";

/** A new private P-256 key as a JWK, with a kid from the date and random bits. */
export async function newSigningKey(now = new Date()) {
	const pair = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
	const { kty, crv, x, y, d } = await webcrypto.subtle.exportKey("jwk", pair.privateKey);
	const random = Buffer.from(webcrypto.getRandomValues(new Uint8Array(6))).toString("base64url");
	return { kty, crv, x, y, d, kid: `${now.toISOString().slice(0, 10)}-${random}`, alg: "ES256" };
}

/** The set with a new key first; `keep` old keys at most. */
export async function rotate(set, keep = Number.POSITIVE_INFINITY) {
	if (!Array.isArray(set?.keys)) throw new Error('the current set is not a JWK Set ({"keys": [...]})');
	return { keys: [await newSigningKey(), ...set.keys.slice(0, keep)] };
}

/** TOKEN_SIGNING_KEYS=... from a .dev.vars file (one line, JSON), or null. */
export function readDevVarsKeys(text) {
	const line = text.split("\n").find((l) => l.startsWith("TOKEN_SIGNING_KEYS="));
	if (!line) return null;
	let value = line.slice("TOKEN_SIGNING_KEYS=".length).trim();
	if (value.startsWith("'") && value.endsWith("'")) value = value.slice(1, -1);
	return JSON.parse(value);
}

async function readStdin() {
	const chunks = [];
	for await (const chunk of process.stdin) chunks.push(chunk);
	return Buffer.concat(chunks).toString("utf8");
}

async function main() {
	const [command, ...rest] = process.argv.slice(2);
	const keepIndex = rest.indexOf("--keep");
	const keep = keepIndex >= 0 ? Number(rest[keepIndex + 1]) : Number.POSITIVE_INFINITY;
	if (command === "new") {
		console.log(JSON.stringify({ keys: [await newSigningKey()] }));
	} else if (command === "rotate") {
		let current;
		if (!process.stdin.isTTY) {
			const input = (await readStdin()).trim();
			if (input) current = JSON.parse(input);
		}
		if (!current) {
			const devVars = new URL("../.dev.vars", import.meta.url);
			current = existsSync(devVars) ? readDevVarsKeys(readFileSync(devVars, "utf8")) : null;
			if (!current) throw new Error("no key set on stdin and none in .dev.vars");
		}
		console.log(JSON.stringify(await rotate(current, keep)));
	} else {
		console.error("usage: npm run keys -- new | rotate [--keep N] [< current-set.json]");
		process.exitCode = 2;
	}
}

if (import.meta.url === `file://${process.argv[1]}`) {
	main().catch((error) => {
		console.error(`keys: ${error.message}`);
		process.exitCode = 1;
	});
}
