/**
 * The test command's first step, scripts/system-packages.sh: with nothing missing it does nothing;
 * where packages are missing and it cannot install them (no apt-get, or not root), it names them
 * and the command to install them in one line, and fails.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

const SCRIPT = join(import.meta.dirname, "..", "..", "scripts", "system-packages.sh");

test("with every package present it exits 0 and prints nothing", () => {
  const run = spawnSync("bash", [SCRIPT], { encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout, "");
  assert.equal(run.stderr, "");
});

test("where it cannot install, it names what is missing and how to install it, in one line", (t) => {
  // A PATH with only what the script needs to run, so curl, openssl, ldapadd and apt-get are all absent.
  const bin = mkdtempSync(join(tmpdir(), "latchkey-path-"));
  t.after(() => rmSync(bin, { recursive: true, force: true }));
  for (const tool of ["id", "pgrep"]) {
    const found = spawnSync("bash", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout.trim();
    if (found !== "") symlinkSync(found, join(bin, tool));
  }
  const run = spawnSync("/bin/bash", [SCRIPT], { encoding: "utf8", env: { PATH: bin } });
  assert.equal(run.status, 1);
  const lines = run.stderr.trim().split("\n");
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0] as string, /^The tests need these Debian packages: curl openssl ldap-utils/);
  assert.match(lines[0] as string, /Install them with: sudo apt-get install curl openssl ldap-utils/);
});
