// The Worker's size budget: builds the bundle exactly as `wrangler deploy`
// would (`--dry-run --outdir`), gzips every module it would upload, prints the
// sizes and exits non-zero past the budget. Part of `npm test`, so a change
// that pushes the bundle past the budget fails the test command.
//
// Usage: node scripts/bundle-size.mjs [--json] [--budget-kib 300]
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const BUDGET_KIB_DEFAULT = 300;
// Cloudflare's own limit for a Worker on the free plan (compressed), for context.
const FREE_PLAN_LIMIT_KIB = 3 * 1024;

const root = new URL("..", import.meta.url).pathname;
const args = process.argv.slice(2);
const asJson = args.includes("--json");
const budgetIndex = args.indexOf("--budget-kib");
const budgetKib = budgetIndex >= 0 ? Number(args[budgetIndex + 1]) : BUDGET_KIB_DEFAULT;

// wrangler needs Node >= 22.12: use the project's own Node (the `node`
// devDependency) even when this script was started by an older system node.
const projectNode = join(root, "node_modules", ".bin", "node");
const nodeBinary = existsSync(projectNode) ? projectNode : process.execPath;
const wrangler = join(root, "node_modules", "wrangler", "bin", "wrangler.js");

const outdir = mkdtempSync(join(tmpdir(), "passkey-edge-bundle-"));
try {
	const build = spawnSync(nodeBinary, [wrangler, "deploy", "--dry-run", "--outdir", outdir], {
		cwd: root,
		encoding: "utf8",
		env: { ...process.env, WRANGLER_SEND_METRICS: "false", FORCE_COLOR: "0", NO_COLOR: "1" },
		timeout: 180_000,
	});
	if (build.status !== 0) {
		console.error(build.stdout, build.stderr);
		console.error("bundle-size: `wrangler deploy --dry-run` failed");
		process.exit(2);
	}
	const wranglerLine = /Total Upload:\s*([\d.]+) KiB \/ gzip:\s*([\d.]+) KiB/.exec(build.stdout);

	// Every module wrangler would upload: the entry and any extra modules, not source maps.
	const modules = readdirSync(outdir, { recursive: true })
		.map(String)
		.filter((file) => !file.endsWith(".map") && file !== "README.md" && statSync(join(outdir, file)).isFile());
	const sizes = modules.map((file) => {
		const bytes = readFileSync(join(outdir, file));
		return { file, bytes: bytes.length, gzipBytes: gzipSync(bytes, { level: 9 }).length };
	});
	const rawBytes = sizes.reduce((sum, m) => sum + m.bytes, 0);
	const gzipBytes = sizes.reduce((sum, m) => sum + m.gzipBytes, 0);
	const gzipKib = gzipBytes / 1024;
	// Judge by the larger of our own gzip and the figure wrangler itself reports.
	const wranglerGzipKib = wranglerLine ? Number(wranglerLine[2]) : null;
	const judgedKib = Math.max(gzipKib, wranglerGzipKib ?? 0);
	const withinBudget = judgedKib < budgetKib;
	const result = {
		modules: sizes,
		rawKib: Math.round((rawBytes / 1024) * 100) / 100,
		gzipKib: Math.round(gzipKib * 100) / 100,
		wranglerGzipKib,
		budgetKib,
		freePlanLimitKib: FREE_PLAN_LIMIT_KIB,
		withinBudget,
	};
	if (asJson) {
		console.log(JSON.stringify(result));
	} else {
		for (const m of sizes) {
			console.log(`bundle: ${m.file}: ${(m.bytes / 1024).toFixed(1)} KiB, gzip ${(m.gzipBytes / 1024).toFixed(1)} KiB`);
		}
		console.log(
			`bundle: total ${result.rawKib} KiB, gzip ${result.gzipKib} KiB` +
				(wranglerGzipKib !== null ? ` (wrangler reports gzip ${wranglerGzipKib} KiB)` : "") +
				`; budget ${budgetKib} KiB gzip; free-plan limit ${FREE_PLAN_LIMIT_KIB} KiB`,
		);
		console.log(
			withinBudget ? "bundle: within budget" : `bundle: OVER BUDGET by ${(judgedKib - budgetKib).toFixed(1)} KiB`,
		);
	}
	process.exitCode = withinBudget ? 0 : 1;
} finally {
	rmSync(outdir, { recursive: true, force: true });
}
