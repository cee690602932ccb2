/** The Zulip import on SQLite (the default database); see zulip-export-suite.ts. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { importSuite } from "./zulip-export-suite.js";

importSuite("SQLite", async () => {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-import-db-"));
  return { url: join(dir, "latchkey.sqlite"), drop: async () => rmSync(dir, { recursive: true, force: true }) };
});
