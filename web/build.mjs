// Builds the web client from web/ into public/, which Workers static assets
// serve (see [assets] in wrangler.toml). Nothing comes from a CDN: the bundle
// includes @simplewebauthn/browser, and the API reference at /api/docs uses
// Swagger UI copied from swagger-ui-dist (static assets, not Worker code).
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

// What /api/docs loads (see src/routes/docs.ts); the page's own start-up
// script is web/src/api-docs.ts, built below.
const API_DOCS = "assets/api-docs";
const swaggerUi = join(root, "node_modules/swagger-ui-dist");
const swaggerFiles = ["swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE"];
await mkdir(join(out, API_DOCS), { recursive: true });
for (const file of swaggerFiles) await cp(join(swaggerUi, file), join(out, API_DOCS, file));
const result = await build({
	absWorkingDir: root,
	entryPoints: [
		{ in: "web/src/main.ts", out: "app" },
		{ in: "web/src/styles.css", out: "app" },
		{ in: "web/src/api-docs.ts", out: "api-docs/init" },
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
	...swaggerFiles.map((file) => join(API_DOCS, file)),
	...Object.keys(result.metafile.outputs).map((file) => relative(out, join(root, file))),
]);
for (const file of existing) {
	if (!expected.has(file)) await rm(join(out, file));
}
console.log(`web client built into public/ (${expected.size} files)`);
