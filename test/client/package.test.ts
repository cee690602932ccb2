/**
 * The client as a user of the package gets it: `npm pack` (which builds), the tarball installed
 * into a scratch project, and `latchkey/client` imported there by plain `node`, with no
 * TypeScript loader, calling a live server.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { startRealServer } from "../clients/real-server.js";

const npm = process.platform === "win32" ? "npm.cmd" : "npm";
const run = promisify(execFile);

test("the packed tarball installs elsewhere, and plain node imports latchkey/client and calls a server", async () => {
  const scratch = mkdtempSync(join(tmpdir(), "latchkey-pack-"));
  const server = await startRealServer();
  try {
    await run(npm, ["pack", "--pack-destination", scratch], { maxBuffer: 16 * 1024 * 1024 });
    const tarball = readdirSync(scratch).find((name) => name.endsWith(".tgz"));
    assert.ok(tarball, "npm pack wrote no tarball");

    const project = join(scratch, "project");
    mkdirSync(project);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "scratch", private: true, type: "module" }));
    // Install scripts are not needed by the client (they build the server's native modules).
    await run(npm, ["install", "--prefer-offline", "--ignore-scripts", "--no-audit", "--no-fund", join(scratch, tarball)], {
      cwd: project,
      maxBuffer: 16 * 1024 * 1024,
    });

    const installed = join(project, "node_modules", "latchkey");
    const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as {
      exports: Record<string, { types: string; default: string }>;
    };
    const client = manifest.exports["./client"];
    assert.ok(client, "no ./client export");
    assert.ok(existsSync(join(installed, client.types)), `${client.types} is not in the package`);
    assert.ok(existsSync(join(installed, client.default)), `${client.default} is not in the package`);
    assert.match(readFileSync(join(installed, client.types), "utf8"), /export declare function createClient/);

    writeFileSync(
      join(project, "main.js"),
      `import { createClient, ZulipApiError } from "latchkey/client";
const client = createClient({ site: process.argv[2] });
const settings = await client.getServerSettings();
let refused;
try {
  await client.fetchApiKey({ username: "iago@zulip.com", password: "wrong" });
} catch (err) {
  refused = err instanceof ZulipApiError ? [err.status, err.code] : String(err);
}
console.log(JSON.stringify({ realm_uri: settings.realm_uri, site: client.site, refused }));
`,
    );
    const host = server.url.replace(/^http:\/\//, "");
    // Asynchronously: the server that answers it runs in this process. No TypeScript loader is passed on.
    const { stdout: out } = await run(process.execPath, ["main.js", host], { cwd: project, env: { PATH: process.env.PATH } });
    assert.deepEqual(JSON.parse(out), {
      realm_uri: server.url,
      site: server.url,
      refused: [401, "AUTHENTICATION_FAILED"],
    });
  } finally {
    await server.close();
    rmSync(scratch, { recursive: true, force: true });
  }
});
