// The direction of imports inside src/ (README, "How it is built"): each
// layer imports only itself and the layers listed for it, so a rule found in
// a lower layer never depends on how a higher one uses it. Part of
// `npm run check`; prints every import that goes the wrong way and exits 1.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";

const SRC = "src";

// From the bottom up. A layer may import those before it in its list.
const ALLOWED = {
	lib: [],
	webauthn: ["lib"],
	storage: ["lib"],
	directory: ["lib", "storage"],
	account: ["lib", "webauthn"],
	durable: ["lib", "webauthn", "account", "directory", "storage"],
	flows: ["lib", "webauthn", "account", "directory", "storage", "durable"],
	services: ["lib", "webauthn", "account", "directory", "storage", "durable", "flows"],
	http: ["lib", "webauthn", "account", "directory", "storage", "durable", "flows", "services"],
	routes: ["lib", "webauthn", "account", "directory", "storage", "durable", "flows", "services", "http"],
	// The entry points: the Worker, the app, the RPC entrypoint, the bindings' types.
	".": ["lib", "webauthn", "account", "directory", "storage", "durable", "flows", "services", "http", "routes"],
};

// Imports across layers that are there on purpose, each with its reason.
const EXCEPTIONS = {
	// A user made before the per-user design: the object reads the legacy D1 rows once (README, "Deploying").
	"account/legacy-import.ts -> storage": "the one-time take-over of a user's legacy D1 rows",
	// Every layer may name the Worker's bindings (a type only).
	"* -> ./env.ts": "the bindings' types",
};

function layerOf(file) {
	const rel = relative(SRC, file);
	const [first] = rel.split("/");
	return rel.includes("/") ? first : ".";
}

function* files(dir) {
	for (const entry of readdirSync(dir, { withFileTypes: true })) {
		const path = join(dir, entry.name);
		if (entry.isDirectory()) yield* files(path);
		else if (path.endsWith(".ts")) yield path;
	}
}

const problems = [];
for (const file of files(SRC)) {
	const from = layerOf(file);
	const text = readFileSync(file, "utf8");
	for (const match of text.matchAll(/from "(\.{1,2}\/[^"]+)"/g)) {
		const target = normalize(join(dirname(file), match[1]));
		const to = layerOf(`${target}.ts`);
		const rel = relative(SRC, file);
		if (to === from) continue;
		if (relative(SRC, `${target}.ts`) === "env.ts") continue;
		if (ALLOWED[from]?.includes(to)) continue;
		if (EXCEPTIONS[`${rel} -> ${to}`]) continue;
		problems.push(`${rel} (${from}) imports ${relative(SRC, target)} (${to})`);
	}
}
if (problems.length > 0) {
	console.error(`Imports that go the wrong way (scripts/check-layers.mjs):\n  ${problems.join("\n  ")}`);
	process.exit(1);
}
console.log("layers: every import of src/ goes downward");
