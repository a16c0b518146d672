/**
 * `npm run example:django`: the Django example's unit tests (Django's test
 * runner, tokens signed by the tests themselves), then its end-to-end checks
 * against the real Worker (e2e.ts), then one closing line for the CI to
 * count: "N passed, N failed".
 *
 * Needs Debian's python3-django, python3-jwt and python3-cryptography
 * (PASSKEY_EDGE_PYTHON, default /usr/bin/python3). Run by Node's built-in
 * type stripping, as scripts/demo.ts is.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EXAMPLE_DIR, PYTHON, runEndToEnd, type Tally } from "./e2e.ts";

async function runUnitTests(): Promise<Tally> {
	const dir = await mkdtemp(join(tmpdir(), "passkey-edge-django-"));
	const report = join(dir, "report.json");
	try {
		const code = await new Promise<number | null>((resolve) => {
			const child = spawn(PYTHON, ["manage.py", "test", "--verbosity", "2"], {
				cwd: EXAMPLE_DIR,
				env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1", PASSKEY_EDGE_TEST_REPORT: report },
				stdio: "inherit",
			});
			child.once("error", (error) => {
				console.error(`unit: cannot run ${PYTHON}: ${error.message}`);
				resolve(null);
			});
			child.once("exit", (exitCode) => resolve(exitCode));
		});
		const counts = JSON.parse(await readFile(report, "utf8").catch(() => "null")) as Tally | null;
		if (counts === null) {
			// Django stopped before running its tests (an import error, no Django): one failure.
			console.error(`unit: no report from the Django tests (exit ${code})`);
			return { passed: 0, failed: 1 };
		}
		return { passed: counts.passed, failed: counts.failed + (code === 0 || counts.failed > 0 ? 0 : 1) };
	} finally {
		await rm(dir, { recursive: true, force: true });
	}
}

const unit = await runUnitTests();
console.log(`\nDjango unit tests: ${unit.passed} passed, ${unit.failed} failed\n`);
const e2e = await runEndToEnd();
console.log(`\nend-to-end against the Worker: ${e2e.passed} passed, ${e2e.failed} failed`);
const passed = unit.passed + e2e.passed;
const failed = unit.failed + e2e.failed;
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
