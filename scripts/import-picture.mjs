// Prints which layers of src/ import which (counts of import edges), the modules most imported,
// and the import cycles, from dependency-cruiser's JSON. Usage: node scripts/import-picture.mjs
import { execFileSync } from "node:child_process";

const out = execFileSync(
  process.execPath,
  [
    "node_modules/dependency-cruiser/bin/dependency-cruise.mjs",
    "src",
    "--config",
    ".dependency-cruiser.cjs",
    "--output-type",
    "json",
  ],
  { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, stdio: ["ignore", "pipe", "ignore"] },
);
const { modules, summary } = JSON.parse(out);

/** src/domain/x.ts → domain; src/app.ts → app. */
const layerOf = (path) => {
  const m = /^src\/([^/]+)\//.exec(path);
  return m ? m[1] : path.replace(/^src\//, "").replace(/\.ts$/, "");
};
const ours = modules.filter((m) => m.source.startsWith("src/"));
const edges = new Map();
const fanIn = new Map();
for (const m of ours) {
  for (const d of m.dependencies) {
    if (!d.resolved.startsWith("src/")) continue;
    const key = `${layerOf(m.source)} → ${layerOf(d.resolved)}`;
    edges.set(key, (edges.get(key) ?? 0) + 1);
    fanIn.set(d.resolved, (fanIn.get(d.resolved) ?? 0) + 1);
  }
}
console.log(`${ours.length} modules under src/, ${[...edges.values()].reduce((a, b) => a + b, 0)} imports between them\n`);
console.log("imports between layers (from → to: count)");
for (const [key, count] of [...edges].filter(([k]) => k.split(" → ")[0] !== k.split(" → ")[1]).sort()) {
  console.log(`  ${key}: ${count}`);
}
console.log("\nmost imported modules");
for (const [path, count] of [...fanIn].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log(`  ${path}: ${count}`);
console.log(`\nrule violations: ${summary.violations.length}`);
for (const v of summary.violations)
  console.log(`  ${v.rule.name}: ${v.from} → ${v.to}${v.cycle ? ` (cycle ${v.cycle.map((c) => c.name ?? c).join(" → ")})` : ""}`);
