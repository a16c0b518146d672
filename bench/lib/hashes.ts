/**
 * The password hashes alone, on this CPU, for context: our 100,000-iteration
 * PBKDF2-SHA-256 (what the Worker runs in WebCrypto) and Better Auth's scrypt
 * (N=16384, r=16, p=1, 64 bytes). Node's OpenSSL, one at a time.
 */
import { scrypt } from "node:crypto";
import { summarize } from "./stats.ts";

export interface HashCost {
	name: string;
	p50Ms: number;
	runs: number;
}

async function pbkdf2Once(): Promise<void> {
	const key = await crypto.subtle.importKey("raw", new TextEncoder().encode("password"), "PBKDF2", false, [
		"deriveBits",
	]);
	await crypto.subtle.deriveBits(
		{ name: "PBKDF2", hash: "SHA-256", salt: new Uint8Array(16), iterations: 100_000 },
		key,
		256,
	);
}

function scryptOnce(): Promise<void> {
	return new Promise((resolve, reject) =>
		scrypt("password", "0123456789abcdef", 64, { N: 16384, r: 16, p: 1, maxmem: 128 * 16384 * 16 * 2 }, (error) =>
			error ? reject(error) : resolve(),
		),
	);
}

async function time(name: string, runs: number, once: () => Promise<void>): Promise<HashCost> {
	const samples: number[] = [];
	for (let i = 0; i < runs; i++) {
		const start = performance.now();
		await once();
		samples.push(performance.now() - start);
	}
	return { name, p50Ms: summarize(samples).p50, runs };
}

export async function measureHashes(runs = 7): Promise<HashCost[]> {
	return [
		await time("PBKDF2-SHA-256, 100,000 iterations (ours)", runs, pbkdf2Once),
		await time("scrypt N=16384 r=16 p=1 (Better Auth)", runs, scryptOnce),
	];
}
