// Not a browser test: the benchmark's process handling, in Node (which is what
// this suite runs in). `npm run bench` must end by itself once it has written
// its results.
import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "./worker";

/**
 * Runs bench/lib/processes.ts's helpers in a fresh Node, as the benchmark
 * does, and prints what is still open afterwards: anything left would keep
 * the finished benchmark running.
 */
const SCRIPT = `
import { runToCompletion, startProcess, stopProcess } from ${JSON.stringify(join(ROOT, "bench/lib/processes.ts"))};
// Bounded like the peer's npm ci (10 minutes) and wrangler's migrations (2 minutes).
await runToCompletion("a quick command", process.execPath, ["-e", ""], { cwd: process.cwd(), timeoutMs: 600_000 });
const server = startProcess("a server", process.execPath, ["-e", "setInterval(() => {}, 1000)"], { cwd: process.cwd() });
await stopProcess(server, 120_000);
console.log(JSON.stringify(process.getActiveResourcesInfo()));
`;

describe("the benchmark's child processes", () => {
	it("leave nothing behind that keeps Node running once they are done", async () => {
		const child = spawn(process.execPath, ["--input-type=module", "-e", SCRIPT], {
			cwd: ROOT,
			stdio: ["ignore", "pipe", "inherit"],
		});
		try {
			// The line it prints once the helpers are done, while it is still
			// running: a pending timer (the bound of a wait that is over) is listed
			// as "Timeout", and would keep it running until that bound.
			const line = await new Promise<string>((resolve, reject) => {
				let output = "";
				child.stdout.on("data", (chunk: Buffer) => {
					output += chunk.toString("utf8");
					if (output.includes("\n")) resolve(output.trim());
				});
				child.once("exit", (code) => reject(new Error(`exited with ${code} before printing: ${output}`)));
			});
			expect(JSON.parse(line)).not.toContain("Timeout");
			const [code] = child.exitCode !== null ? [child.exitCode] : await once(child, "exit");
			expect(code).toBe(0);
		} finally {
			if (child.exitCode === null) child.kill("SIGKILL");
		}
	});
});
