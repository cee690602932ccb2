/**
 * `latchkey serve --workers 2`: two processes on one port, as separate nodes on one database
 * (SQLite here). A key revoked through one worker is refused by every worker at once; a
 * worker that dies is replaced; the password hashes of all workers share one bound.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type Answer, basicAuth, call, type NodeProcess, nodeEnv, pollUntil, seedAnn, startNode } from "./cluster-helper.js";
import { testConfig } from "./helper.js";

const PASSWORD = "Workers-Passw0rd-3";

/** The worker that answered: request ids start with a per-process prefix. */
const workerOf = (a: Answer) => String(a.headers["x-request-id"]).split("-")[0] as string;

describe("serve --workers", () => {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-workers-"));
  const databaseUrl = join(dir, "latchkey.sqlite");
  let server: NodeProcess;
  let key = "";

  before(async () => {
    key = await seedAnn(
      databaseUrl,
      join(dir, "secrets.json"),
      "Workers",
      PASSWORD,
      testConfig("production", { LATCHKEY_ARGON2_MEMORY_KIB: "19456", LATCHKEY_ARGON2_PARALLELISM: "1" }),
    );
    server = await startNode(
      nodeEnv(dir, {
        LATCHKEY_DATABASE_URL: databaseUrl,
        LATCHKEY_METRICS: "on",
        LATCHKEY_HASH_CONCURRENCY: "1",
        LATCHKEY_ARGON2_TIME_COST: "4",
        LATCHKEY_RATE_LIMIT_AUTH: "3600:100",
        LATCHKEY_RATE_LIMIT_IP: "1:100000",
      }),
      ["serve", "--workers", "2"],
    );
  });
  after(async () => {
    await server.stop("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  const me = (k: string) => call(server.port, "/api/v1/users/me", { headers: basicAuth("ann@example.com", k) });

  test("one port, two workers; a key revoked through one is refused by both at once", async () => {
    assert.match(server.output(), /^Latchkey listening on 127\.0\.0\.1:\d+ with 2 workers \(pids \d+, \d+\)$/m);
    // Each worker caches the key (two answers each).
    const served = new Map<string, number>();
    for (let i = 0; i < 40 && ([...served.values()].filter((n) => n >= 2).length < 2 || served.size < 2); i++) {
      const answer = await me(key);
      assert.equal(answer.status, 200);
      served.set(workerOf(answer), (served.get(workerOf(answer)) ?? 0) + 1);
    }
    assert.equal(served.size, 2, "both workers answered");

    const regenerated = await call(server.port, "/api/v1/users/me/api_key/regenerate", {
      method: "POST",
      headers: basicAuth("ann@example.com", key),
    });
    assert.equal(regenerated.status, 200);
    const refusedBy = new Set<string>();
    for (let i = 0; i < 40 && refusedBy.size < 2; i++) {
      const answer = await me(key);
      assert.equal(answer.status, 401, `worker ${workerOf(answer)} still accepted the old key`);
      refusedBy.add(workerOf(answer));
    }
    assert.equal(refusedBy.size, 2, "both workers refused the old key");
    key = regenerated.json().api_key as string;
  });

  test("the password hashes of both workers share one bound (LATCHKEY_HASH_CONCURRENCY=1)", async () => {
    let maxRunning = 0;
    let maxBusy = 0;
    let storming = true;
    const sample = (async () => {
      while (storming) {
        const page = (await call(server.port, "/metrics")).body;
        const running = Number(/^latchkey_hash_queue_depth\{state="running"\} (\d+)$/m.exec(page)?.[1] ?? 0);
        const queued = Number(/^latchkey_hash_queue_depth\{state="queued"\} (\d+)$/m.exec(page)?.[1] ?? 0);
        maxRunning = Math.max(maxRunning, running);
        maxBusy = Math.max(maxBusy, running + queued);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const login = () =>
      call(server.port, "/api/v1/fetch_api_key", {
        method: "POST",
        body: new URLSearchParams({ username: "ann@example.com", password: PASSWORD }).toString(),
        timeoutMs: 60_000,
      });
    const answers = await Promise.all(Array.from({ length: 6 }, login));
    storming = false;
    await sample;
    for (const a of answers) assert.equal(a.status, 200, a.body);
    assert.equal(new Set(answers.map(workerOf)).size, 2, "both workers took logins");
    assert.ok(maxBusy >= 2, `the logins overlapped (at most ${maxBusy} seen at once)`);
    assert.equal(maxRunning, 1, "never more than one hash ran on the machine");
  });

  test("a worker that dies is replaced", async () => {
    const pids = /with 2 workers \(pids (\d+), (\d+)\)/.exec(server.output());
    assert.ok(pids);
    const victim = Number(pids[1]);
    process.kill(victim, "SIGKILL");
    const replaced = await pollUntil(
      () => new RegExp(`^Worker ${victim} stopped \\(SIGKILL\\); started worker \\d+$`, "m").test(server.output()),
      30_000,
    );
    assert.ok(replaced, server.output());
    const prefixes = new Set<string>();
    const both = await pollUntil(async () => {
      const answer = await me(key);
      assert.equal(answer.status, 200);
      prefixes.add(workerOf(answer));
      return prefixes.size >= 2;
    }, 30_000);
    assert.ok(both, "two workers answer again");
  });
});
