/**
 * Connections that cannot be held hostage, probed on a real `latchkey serve` process as an
 * attacker would: headers sent too slowly, a body sent too slowly, a header bomb, bytes that
 * are not HTTP, and thousands of pipelined requests from a client that never reads. Each time
 * the attacker's connection is closed within the stated window, the refusal is Zulip's envelope
 * with a request id, logged and counted, and a key check on another connection is answered
 * while the attack goes on.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request as httpRequest } from "node:http";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { MAX_REQUESTS_PER_SOCKET } from "../../src/http/client-errors.js";
import { basicAuth, call, type NodeProcess, nodeEnv, pollUntil, seedAnn, startNode } from "../cluster-helper.js";

const HEADERS_TIMEOUT_MS = 2000;
const REQUEST_TIMEOUT_MS = 3000;
/** The server checks deadlines every second; a second more covers a busy machine's scheduling. */
const SLACK_MS = 1000 + 1000;

interface Attacker {
  socket: Socket;
  received(): string;
  /** Resolves with the milliseconds from `since` to the close. */
  closedAfter(since: number): Promise<number>;
}

function attacker(port: number): Promise<Attacker> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let received = "";
    socket.on("data", (c: Buffer) => {
      received += c.toString("latin1");
    });
    const closed = new Promise<number>((done) => socket.on("close", () => done(Date.now())));
    socket.on("error", () => {});
    socket.once("connect", () =>
      resolve({ socket, received: () => received, closedAfter: async (since) => (await closed) - since }),
    );
    socket.once("error", reject);
  });
}

/** The JSON body and headers of the first answer in `raw`. */
function firstAnswer(raw: string): { status: number; headers: string; json: Record<string, unknown> } {
  const end = raw.indexOf("\r\n\r\n");
  const headers = raw.slice(0, end);
  return { status: Number(raw.slice(9, 12)), headers, json: JSON.parse(raw.slice(end + 4).split("\n")[0] as string) };
}

describe("connections", () => {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-conn-"));
  let node: NodeProcess;
  let key = "";
  const keyCheck = () => call(node.port, "/api/v1/users/me", { headers: basicAuth("ann@example.com", key) });

  before(async () => {
    const databaseUrl = join(dir, "latchkey.sqlite");
    key = await seedAnn(databaseUrl, join(dir, "secrets.json"), "Hostage", null);
    node = await startNode(
      nodeEnv(dir, {
        LATCHKEY_DATABASE_URL: databaseUrl,
        LATCHKEY_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
        LATCHKEY_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
        LATCHKEY_METRICS: "on",
        LATCHKEY_LOG_LEVEL: "info",
        // The pipelined requests below are many for one account.
        LATCHKEY_RATE_LIMIT_USER: "60:100000",
      }),
    );
  });
  after(async () => {
    await node.stop("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  /** Checks the refusal's envelope, its log line with the same request id, and that nothing else is owed. */
  function assertRefused(raw: string, status: number, msg: RegExp): string {
    const answer = firstAnswer(raw);
    assert.equal(answer.status, status, raw);
    const id = /^x-request-id: (.+)$/im.exec(answer.headers)?.[1];
    assert.ok(id, "the refusal carries x-request-id");
    assert.deepEqual(Object.keys(answer.json), ["result", "msg", "code", "request_id"]);
    assert.equal(answer.json.result, "error");
    assert.match(answer.json.msg as string, msg);
    assert.equal(answer.json.code, "BAD_REQUEST");
    assert.equal(answer.json.request_id, id);
    return id;
  }

  async function assertLogged(id: string, reason: string): Promise<void> {
    const logged = await pollUntil(
      () =>
        node
          .output()
          .split("\n")
          .some(
            (l) =>
              l.includes(`"reqId":"${id}"`) &&
              l.includes(`"reason":"${reason}"`) &&
              l.includes("request refused by the HTTP layer"),
          ),
      5000,
    );
    assert.ok(logged, `no log line for ${id}`);
  }

  test("headers sent too slowly: 408 in the envelope once the headers timeout passes, and the key check goes on", async () => {
    const a = await attacker(node.port);
    const started = Date.now();
    a.socket.write("GET /api/v1/users/me HTTP/1.1\r\nHost: testserver\r\n");
    const drip = setInterval(() => a.socket.writable && a.socket.write("X"), 300);
    try {
      assert.equal((await keyCheck()).status, 200);
      const ms = await a.closedAfter(started);
      assert.ok(ms >= HEADERS_TIMEOUT_MS - 100 && ms <= HEADERS_TIMEOUT_MS + SLACK_MS, `closed after ${ms} ms`);
    } finally {
      clearInterval(drip);
    }
    await assertLogged(assertRefused(a.received(), 408, /^Request timeout/), "timeout");
  });

  test("a body sent too slowly: 408 once the request timeout passes", async () => {
    const a = await attacker(node.port);
    const started = Date.now();
    a.socket.write(
      "POST /api/v1/fetch_api_key HTTP/1.1\r\nHost: testserver\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nusername=",
    );
    const drip = setInterval(() => a.socket.writable && a.socket.write("a"), 300);
    try {
      assert.equal((await keyCheck()).status, 200);
      const ms = await a.closedAfter(started);
      assert.ok(ms >= REQUEST_TIMEOUT_MS - 100 && ms <= REQUEST_TIMEOUT_MS + SLACK_MS, `closed after ${ms} ms`);
    } finally {
      clearInterval(drip);
    }
    await assertLogged(assertRefused(a.received(), 408, /^Request timeout/), "timeout");
  });

  test("a header bomb: 431 in the envelope, connection closed", async () => {
    const a = await attacker(node.port);
    const started = Date.now();
    a.socket.write(`GET /api/v1/users/me HTTP/1.1\r\nHost: testserver\r\nX-Bomb: ${"b".repeat(64 * 1024)}\r\n\r\n`);
    const ms = await a.closedAfter(started);
    assert.ok(ms <= SLACK_MS, `closed after ${ms} ms`);
    await assertLogged(assertRefused(a.received(), 431, /^Request header fields too large$/), "header_overflow");
  });

  test("bytes that are not HTTP: 400 in the envelope", async () => {
    const a = await attacker(node.port);
    a.socket.write("HELLO THERE\r\n\r\n");
    await a.closedAfter(Date.now());
    await assertLogged(assertRefused(a.received(), 400, /^Malformed HTTP request$/), "bad_request");
  });

  test("10,000 pipelined requests from a client that never reads: a bounded number answered, the connection closed, key checks go on", async () => {
    const a = await attacker(node.port);
    a.socket.pause();
    const request = `GET /api/v1/users/me HTTP/1.1\r\nHost: testserver\r\nAuthorization: ${basicAuth("ann@example.com", key).authorization}\r\n\r\n`;
    a.socket.write(request.repeat(10_000));
    const started = Date.now();
    // While the attacker's answers pile up unread, another client is served.
    for (let i = 0; i < 5; i++) assert.equal((await keyCheck()).status, 200);
    // The server gave up on the attacker at the first request past MAX_REQUESTS_PER_SOCKET:
    // the connection is closed, with no more than that many answers written.
    a.socket.resume();
    const ms = await a.closedAfter(started);
    assert.ok(ms <= 10_000, `closed after ${ms} ms`);
    const answers = a.received().split("HTTP/1.1 ").length - 1;
    assert.ok(answers <= MAX_REQUESTS_PER_SOCKET, `${answers} answers`);
    assert.doesNotMatch(a.received(), /HTTP\/1\.1 503/);
  });

  test("a keep-alive connection carries MAX_REQUESTS_PER_SOCKET requests, the last answer says Connection: close, the next goes on a new one", async () => {
    assert.equal(MAX_REQUESTS_PER_SOCKET, 1000, "the README and SECURITY.md say 1,000");
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const seen: { socket: Socket; connection: string | undefined; status: number }[] = [];
    for (let i = 0; i <= MAX_REQUESTS_PER_SOCKET; i++) {
      seen.push(
        await new Promise((resolve, reject) => {
          const req = httpRequest(
            { agent, host: "127.0.0.1", port: node.port, path: "/api/v1/users/me", headers: basicAuth("ann@example.com", key) },
            (res) => {
              const socket = res.socket;
              res.resume();
              res.on("end", () => resolve({ socket, connection: res.headers.connection, status: res.statusCode ?? 0 }));
            },
          );
          req.on("error", reject);
          req.end();
        }),
      );
    }
    agent.destroy();
    assert.ok(seen.every((s) => s.status === 200));
    const first = seen[0]?.socket;
    assert.equal(seen.slice(0, MAX_REQUESTS_PER_SOCKET).filter((s) => s.socket === first).length, MAX_REQUESTS_PER_SOCKET);
    assert.deepEqual(
      seen.slice(0, MAX_REQUESTS_PER_SOCKET - 1).filter((s) => s.connection !== "keep-alive"),
      [],
      "every answer before the last keeps the connection",
    );
    assert.equal(seen[MAX_REQUESTS_PER_SOCKET - 1]?.connection, "close");
    assert.notEqual(seen[MAX_REQUESTS_PER_SOCKET]?.socket, first);
  });

  test("every refusal is counted in /metrics by reason", async () => {
    const scraped = await call(node.port, "/metrics");
    for (const reason of ["timeout", "header_overflow", "bad_request", "too_many_requests"]) {
      const m = new RegExp(`^latchkey_http_rejected_total\\{reason="${reason}"\\} (\\d+)$`, "m").exec(scraped.body);
      assert.ok(m !== null && Number(m[1]) >= 1, `no count for ${reason}`);
    }
  });
});
