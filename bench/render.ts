/**
 * Re-renders bench/results/latest.md from bench/results/latest.json, without
 * running anything: `node bench/render.ts [results.json]`.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Results, ratios, toMarkdown } from "./lib/report.ts";
import { ROOT } from "./lib/servers.ts";

const source = process.argv[2] ?? join(ROOT, "bench", "results", "latest.json");
const results = JSON.parse(readFileSync(source, "utf8")) as Results;
// Ratios are derived from the cells: recomputing them gives results written
// before a field of theirs existed (the per-round spread) that field too.
results.ratios = ratios(results.aggregates, results.cells);
const target = source.replace(/\.json$/, ".md");
writeFileSync(target, toMarkdown(results));
console.log(`wrote ${target}`);
