/** `latchkey dev` on a port another program holds: one plain sentence and exit code 1. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

const BIN = join(import.meta.dirname, "..", "..", "bin", "latchkey.js");

test("a busy port is reported as a sentence naming PORT, not a stack trace", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-port-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
  t.after(() => holder.close());
  const address = holder.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;

  const child = spawn(process.execPath, [BIN, "dev"], {
    env: {
      PATH: process.env.PATH ?? "",
      HOME: dir,
      PORT: String(port),
      LATCHKEY_DATABASE_URL: join(dir, "dev.sqlite"),
      LATCHKEY_SECRETS_FILE: join(dir, "secrets.json"),
      LATCHKEY_EMAIL_OUTBOX: join(dir, "outbox"),
      LATCHKEY_LOG_LEVEL: "silent",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  assert.equal(code, 1);
  assert.equal(stderr, `latchkey: PORT: 127.0.0.1:${port} is already in use; set PORT (or HOST) to listen elsewhere\n`);
});
