/**
 * The layers point down (cli → server → app → web → http → domain ← store, auth, mail) and no
 * import cycle exists: dependency-cruiser checks src/ against .dependency-cruiser.cjs. The rules
 * are also shown to fire, on a scratch tree that breaks each of them.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "../..");
const CRUISER = join(ROOT, "node_modules/dependency-cruiser/bin/dependency-cruise.mjs");
const CONFIG = join(ROOT, ".dependency-cruiser.cjs");

interface Violation {
  rule: { name: string };
  from: string;
  to: string;
}

async function violationsIn(cwd: string): Promise<Violation[]> {
  const { stdout } = await run(process.execPath, [CRUISER, "src", "--config", CONFIG, "--output-type", "json"], {
    cwd,
    maxBuffer: 64 * 1024 * 1024,
  });
  return (JSON.parse(stdout) as { summary: { violations: Violation[] } }).summary.violations;
}

describe("layers", { timeout: 120_000 }, () => {
  test("src/ has no import cycle and no import against the layers", async () => {
    const violations = await violationsIn(ROOT);
    assert.deepEqual(
      violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`),
      [],
    );
  });

  test("each rule fires on a tree that breaks it", async () => {
    const scratch = mkdtempSync(join(tmpdir(), "latchkey-layers-"));
    try {
      const files: Record<string, string> = {
        "tsconfig.json": JSON.stringify({ compilerOptions: { module: "NodeNext", moduleResolution: "NodeNext" } }),
        "src/domain/rule.ts":
          'import { route } from "../http/route.js";\nimport { load } from "../store/load.js";\nexport const rule = [route, load];\n',
        "src/http/route.ts": 'import { page } from "../web/page.js";\nexport const route = page;\n',
        "src/web/page.ts": "export const page = 1;\n",
        "src/store/load.ts": 'import { handler } from "../http/handler.js";\nexport const load = handler;\n',
        "src/http/handler.ts": "export const handler = 2;\n",
        "src/one.ts": 'import { two } from "./two.js";\nexport const one = two;\n',
        "src/two.ts": 'import { one } from "./one.js";\nexport const two = () => one;\n',
      };
      for (const [path, text] of Object.entries(files)) {
        mkdirSync(dirname(join(scratch, path)), { recursive: true });
        writeFileSync(join(scratch, path), text);
      }
      const found = new Set((await violationsIn(scratch)).map((v) => `${v.rule.name}: ${v.from} → ${v.to}`));
      for (const expected of [
        "domain-points-down: src/domain/rule.ts → src/http/route.ts",
        "domain-points-down: src/domain/rule.ts → src/store/load.ts",
        "http-below-web: src/http/route.ts → src/web/page.ts",
        "adapters-below-http: src/store/load.ts → src/http/handler.ts",
        "no-circular: src/one.ts → src/two.ts",
      ]) {
        assert.ok(found.has(expected), `expected ${expected}; found ${[...found].join("; ")}`);
      }
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
});
