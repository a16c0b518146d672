/**
 * Re-renders bench/results/latest.md from bench/results/latest.json, without
 * running anything: `node bench/render.ts [results.json]`.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Results, toMarkdown } from "./lib/report.ts";
import { ROOT } from "./lib/servers.ts";

const source = process.argv[2] ?? join(ROOT, "bench", "results", "latest.json");
const results = JSON.parse(readFileSync(source, "utf8")) as Results;
const target = source.replace(/\.json$/, ".md");
writeFileSync(target, toMarkdown(results));
console.log(`wrote ${target}`);
