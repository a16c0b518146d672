// Builds the web client from web/ into public/, which Workers static assets
// serve (see [assets] in wrangler.toml). Nothing comes from a CDN: the bundle
// includes @simplewebauthn/browser.
import { cp, mkdir, readdir, rm } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = join(root, "public");

async function filesUnder(dir) {
	const entries = await readdir(dir, { withFileTypes: true, recursive: true });
	return entries.filter((entry) => entry.isFile()).map((entry) => relative(dir, join(entry.parentPath, entry.name)));
}

await mkdir(out, { recursive: true });
const existing = await filesUnder(out);

// Files are overwritten in place, not after emptying the directory, so that a
// `wrangler dev` already serving public/ never finds it missing.
await cp(join(root, "web/pages"), out, { recursive: true });
await cp(join(root, "web/static"), out, { recursive: true });
const result = await build({
	absWorkingDir: root,
	entryPoints: [
		{ in: "web/src/main.ts", out: "app" },
		{ in: "web/src/styles.css", out: "app" },
	],
	outdir: join(out, "assets"),
	bundle: true,
	format: "esm",
	target: ["es2022", "chrome111", "safari16", "firefox119"],
	minify: true,
	sourcemap: "linked",
	legalComments: "none",
	metafile: true,
	logLevel: "warning",
});

const expected = new Set([
	...(await filesUnder(join(root, "web/pages"))),
	...(await filesUnder(join(root, "web/static"))),
	...Object.keys(result.metafile.outputs).map((file) => relative(out, join(root, file))),
]);
for (const file of existing) {
	if (!expected.has(file)) await rm(join(out, file));
}
console.log(`web client built into public/ (${expected.size} files)`);
