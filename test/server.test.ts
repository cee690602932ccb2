/**
 * The real `latchkey serve` process: metrics on a port of their own, and a graceful drain on
 * SIGTERM (a login in flight is answered, new connections are refused, the process exits 0).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { call, freePort, nodeEnv, pollUntil, seedAnn, startNode } from "./cluster-helper.js";
import { testConfig } from "./helper.js";

const PASSWORD = "Drain-Passw0rd-7";

describe("serve", () => {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-serve-"));
  const databaseUrl = join(dir, "latchkey.sqlite");
  before(async () => {
    await seedAnn(
      databaseUrl,
      join(dir, "secrets.json"),
      "Drain",
      PASSWORD,
      testConfig("production", { LATCHKEY_ARGON2_MEMORY_KIB: "19456", LATCHKEY_ARGON2_PARALLELISM: "1" }),
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("metrics on LATCHKEY_METRICS_PORT, not on the main port", async () => {
    const metricsPort = await freePort();
    const node = await startNode(
      nodeEnv(dir, { LATCHKEY_DATABASE_URL: databaseUrl, LATCHKEY_METRICS_PORT: String(metricsPort) }),
    );
    try {
      assert.equal((await call(node.port, "/api/v1/server_settings")).status, 200);
      const login = await call(node.port, "/api/v1/fetch_api_key", {
        method: "POST",
        body: new URLSearchParams({ username: "ann@example.com", password: PASSWORD }).toString(),
      });
      assert.equal(login.status, 200);
      const scraped = await call(metricsPort, "/metrics");
      assert.equal(scraped.status, 200);
      assert.match(
        scraped.body,
        /^latchkey_http_request_duration_seconds_count\{route="\/api\/v1\/server_settings",method="GET",status="200"\} 1$/m,
      );
      assert.match(scraped.body, /^latchkey_process_resident_memory_bytes \d+/m);
      // The login's password check: its wait for a thread, Argon2's time, the queue now empty.
      assert.match(scraped.body, /^latchkey_hash_queue_wait_seconds_count 1$/m);
      assert.match(scraped.body, /^latchkey_argon2_seconds_count [12]$/m);
      assert.match(scraped.body, /^latchkey_hash_queue_depth\{state="queued"\} 0$/m);
      assert.match(scraped.body, /^latchkey_hash_queue_refused_total 0$/m);
      assert.match(scraped.body, /^latchkey_logins_total\{source="api",outcome="success"\} 1$/m);
      assert.equal((await call(node.port, "/metrics")).status, 404);
    } finally {
      await node.stop("SIGKILL");
    }
  });

  test("SIGTERM drains: a login in flight is answered, new connections are refused, the process exits 0", async () => {
    const node = await startNode(nodeEnv(dir, { LATCHKEY_DATABASE_URL: databaseUrl }));
    const body = new URLSearchParams({ username: "ann@example.com", password: PASSWORD }).toString();
    const socket = connect(node.port, "127.0.0.1");
    let received = "";
    socket.on("data", (c: Buffer) => {
      received += c.toString();
    });
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    // The headers and half the body; `Expect: 100-continue` makes the server say it has the request.
    socket.write(
      `POST /api/v1/fetch_api_key HTTP/1.1\r\nHost: testserver\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
        `Content-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`,
    );
    assert.ok(await pollUntil(() => received.startsWith("HTTP/1.1 100 Continue"), 10_000), "the server has the request");
    socket.write(body.slice(0, 10));

    const exited = node.stop("SIGTERM");
    const refused = await pollUntil(
      () =>
        new Promise<boolean>((resolve) => {
          const probe = connect(node.port, "127.0.0.1");
          probe.on("connect", () => {
            probe.destroy();
            resolve(false);
          });
          probe.on("error", (err: NodeJS.ErrnoException) => resolve(err.code === "ECONNREFUSED"));
        }),
      10_000,
    );
    assert.ok(refused, "new connections are refused once draining starts");
    assert.equal(node.child.exitCode, null, "the server waits for the request in flight");

    socket.write(body.slice(10));
    await closed;
    const answer = received.slice(received.indexOf("\r\n\r\n") + 4);
    assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
    const json = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4)) as { result: string; api_key: string };
    assert.equal(json.result, "success");
    assert.match(json.api_key, /^[A-Za-z0-9]{32}$/);
    assert.equal(await exited, 0, node.output());
  });
});
