/**
 * The production recipe in deploy/, run as shipped: two nodes started with the systemd unit's
 * commands and its environment file (deploy/latchkey@.service, deploy/latchkey.env) on one
 * PostgreSQL and one Redis, behind Debian's nginx with deploy/nginx-latchkey.conf (TLS with a
 * throwaway certificate). Only ports, paths and the database and Redis addresses are changed.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import {
  type Answer,
  BIN,
  basicAuth,
  call,
  freePort,
  type NodeProcess,
  seedAnn,
  startNode,
  startRedisServer,
} from "./cluster-helper.js";
import { freshPostgresUrl } from "./helper.js";
import { startNginx } from "./nginx-helper.js";

const DEPLOY = join(import.meta.dirname, "..", "deploy");
const ROOT = join(import.meta.dirname, "..");

/** `KEY=value` lines of an environment file (comments and blank lines skipped). */
function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m !== null) env[m[1] as string] = m[2] as string;
  }
  return env;
}

/** The values of `key=` lines in the unit's [Service] section. */
function unitValues(unit: string, key: string): string[] {
  return unit
    .split("\n")
    .filter((l) => l.startsWith(`${key}=`))
    .map((l) => l.slice(key.length + 1));
}

function viaNginx(port: number, path: string, headers: Record<string, string> = {}, method = "GET"): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: "127.0.0.1",
        port,
        path,
        method,
        servername: "chat.example.com",
        rejectUnauthorized: false,
        agent: false,
        headers: { host: "chat.example.com", ...headers },
      },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => {
          body += c.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

const postgres = await freshPostgresUrl();
if (postgres !== null) {
  describe("deploy recipe", () => {
    const dir = mkdtempSync(join(tmpdir(), "latchkey-deploy-"));
    after(async () => {
      await postgres.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    test("two nodes from the systemd unit behind nginx: TLS, both nodes serve, the client's address is nginx's word, failover", async (t) => {
      const unit = readFileSync(join(DEPLOY, "latchkey@.service"), "utf8");
      assert.deepEqual(unitValues(unit, "EnvironmentFile"), ["/etc/latchkey/latchkey.env"]);
      assert.deepEqual(unitValues(unit, "Environment"), ["PORT=%i"]);
      const [pre] = unitValues(unit, "ExecStartPre");
      const [start] = unitValues(unit, "ExecStart");
      const argv = (line: string | undefined) => {
        const [node, ...args] = (line ?? "").split(" ");
        assert.equal(node, "/usr/bin/node");
        assert.equal(args[0], "bin/latchkey.js");
        return [join(ROOT, args[0] as string), ...args.slice(1)];
      };
      const redis = await startRedisServer();
      t.after(() => redis.stop());
      const shipped = parseEnvFile(readFileSync(join(DEPLOY, "latchkey.env"), "utf8"));
      const env: Record<string, string> = {
        PATH: process.env.PATH ?? "",
        HOME: dir,
        ...shipped,
        // This machine's database, Redis and files instead of the example's.
        LATCHKEY_DATABASE_URL: postgres.url,
        LATCHKEY_REDIS_URL: redis.url,
        LATCHKEY_SECRETS_FILE: join(dir, "secrets.json"),
        LATCHKEY_EMAIL_OUTBOX: join(dir, "outbox"),
        LATCHKEY_ARGON2_MEMORY_KIB: "19456",
        LATCHKEY_ARGON2_PARALLELISM: "1",
      };
      assert.equal(shipped.LATCHKEY_TRUSTED_PROXIES, "loopback");
      assert.equal(shipped.HOST, "127.0.0.1");

      // ExecStartPre, then ExecStart for two instances.
      const migrated = spawnSync(process.execPath, argv(pre), { cwd: ROOT, env: { ...env, PORT: "0" }, encoding: "utf8" });
      assert.equal(migrated.status, 0, migrated.stderr);
      assert.match(migrated.stdout, /^(Applied|Nothing to apply|The database is up to date)/m);
      assert.equal(argv(start)[0], BIN);
      const ports = [await freePort(), await freePort()];
      const nodes: NodeProcess[] = [];
      for (const port of ports) nodes.push(await startNode({ ...env, PORT: String(port) }, argv(start).slice(1)));
      t.after(async () => {
        for (const n of nodes) await n.stop("SIGKILL");
      });
      assert.deepEqual(
        nodes.map((n) => n.port),
        ports,
      );

      const apiKey = await seedAnn(postgres.url, env.LATCHKEY_SECRETS_FILE as string, "Deployed", null);

      const nginx = await startNginx({ upstreams: ports, dir: join(dir, "nginx") });
      t.after(() => nginx.stop());
      const auth = basicAuth("ann@example.com", apiKey);

      const settings = await viaNginx(nginx.port, "/api/v1/server_settings");
      assert.equal(settings.status, 200, nginx.errors());
      assert.equal(settings.json().realm_url, "https://chat.example.com");

      // Both nodes answer through nginx (request ids start with a per-process prefix).
      const prefixes = new Set<string>();
      for (let i = 0; i < 8; i++) {
        const me = await viaNginx(nginx.port, "/api/v1/users/me", auth);
        assert.equal(me.status, 200);
        prefixes.add(String(me.headers["x-request-id"]).split("-")[0] as string);
      }
      assert.equal(prefixes.size, 2, "nginx spreads requests over both nodes");

      // A client's own X-Forwarded-For is replaced by nginx with its real address.
      const lastUse = await viaNginx(nginx.port, "/api/v1/latchkey/api_key/last_use", {
        ...auth,
        "x-forwarded-for": "203.0.113.9",
      });
      assert.equal((lastUse.json().last_use as { ip: string }).ip, "127.0.0.1");
      assert.equal((await viaNginx(nginx.port, "/metrics")).status, 404);

      // A key regenerated through nginx is refused by both nodes.
      const regenerated = await viaNginx(nginx.port, "/api/v1/users/me/api_key/regenerate", auth, "POST");
      assert.equal(regenerated.status, 200);
      for (const port of ports) {
        let status = 0;
        for (let i = 0; i < 40 && status !== 401; i++) {
          status = (await call(port, "/api/v1/users/me", { headers: { ...auth, host: "chat.example.com" } })).status;
          if (status !== 401) await new Promise((r) => setTimeout(r, 50));
        }
        assert.equal(status, 401);
      }

      // One node stops (as `systemctl stop` does): nginx sends everything to the other.
      const newAuth = basicAuth("ann@example.com", regenerated.json().api_key as string);
      assert.equal(await nodes[0]?.stop("SIGTERM"), 0);
      for (let i = 0; i < 6; i++) assert.equal((await viaNginx(nginx.port, "/api/v1/users/me", newAuth)).status, 200);
    });
  });
}
