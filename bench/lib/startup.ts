/**
 * The Worker's start-up cost as Cloudflare limits it (1 s to parse and run the
 * global scope): `wrangler check startup` profiles the bundle's start-up in
 * local workerd; this reads its .cpuprofile.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { wrangler } from "./servers.ts";

export interface StartupProfile {
	/** Sampled time in the profile window, ms. */
	sampledMs: number;
	/** Not idle: V8's parse/compile ("(program)"), JavaScript and GC, ms. */
	activeMs: number;
	programMs: number;
	javascriptMs: number;
	gcMs: number;
	samples: number;
}

interface CpuProfile {
	nodes: { id: number; callFrame: { functionName: string } }[];
	samples: number[];
	timeDeltas: number[];
}

export async function profileStartup(scratchDir: string): Promise<StartupProfile> {
	const outfile = join(scratchDir, "worker-startup.cpuprofile");
	await wrangler(["check", "startup", "--outfile", outfile], 180_000);
	const profile = JSON.parse(readFileSync(outfile, "utf8")) as CpuProfile;
	const names = new Map(profile.nodes.map((node) => [node.id, node.callFrame.functionName]));
	let idle = 0;
	let program = 0;
	let gc = 0;
	let total = 0;
	profile.samples.forEach((id, i) => {
		const ms = (profile.timeDeltas[i] ?? 0) / 1000;
		total += ms;
		const name = names.get(id);
		if (name === "(idle)") idle += ms;
		else if (name === "(program)") program += ms;
		else if (name === "(garbage collector)") gc += ms;
	});
	const active = total - idle;
	return {
		sampledMs: total,
		activeMs: active,
		programMs: program,
		javascriptMs: active - program - gc,
		gcMs: gc,
		samples: profile.samples.length,
	};
}
