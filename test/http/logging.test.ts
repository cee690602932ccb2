/**
 * No secret in any log line, and a request id on every line and every 500. The server's own
 * logger settings (loggerOptions) write to memory while a full run of flows goes by.
 */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import type { InjectOptions } from "fastify";
import { buildApp, loggerOptions, redactUrl } from "../../src/app.js";
import { createContext } from "../../src/context.js";
import { createAccount, createRealm } from "../../src/domain/directory.js";
import { ROLE } from "../../src/domain/model.js";
import { generateSecrets } from "../../src/secrets.js";
import { connectLogging } from "../../src/server.js";
import { openDatabase } from "../../src/store/database.js";
import { basic, CountingHasher, form, ManualClock, PASSWORD, testConfig } from "../helper.js";

function memoryLog(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  let pending = "";
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      pending += chunk.toString("utf8");
      const parts = pending.split("\n");
      pending = parts.pop() ?? "";
      lines.push(...parts.filter((l) => l !== ""));
      done();
    },
  });
  return { stream, lines };
}

test("a full run of flows logs no password, API key or server secret, and every line has its request id", async (t) => {
  const config = testConfig("development");
  const database = await openDatabase(":memory:");
  const secrets = generateSecrets();
  const { stream, lines } = memoryLog();
  const ctx = createContext({ config, database, secrets, hasher: new CountingHasher(), clock: new ManualClock() });
  const app = await buildApp({ config, ctx, logger: { ...(loggerOptions("trace") as object), stream } });
  connectLogging(app, ctx);
  t.after(async () => {
    await app.close();
    await database.close();
  });
  // A route that exists only here, to force an unexpected error.
  app.get("/api/v1/test-only/crash", async () => {
    throw new Error("database exploded");
  });

  const realm = await createRealm(ctx, { subdomain: "", name: "Zulip Dev" });
  const iago = await createAccount(ctx, {
    realmId: realm.id,
    email: "iago@zulip.com",
    fullName: "Iago",
    role: ROLE.administrator,
    password: PASSWORD,
  });
  const hamlet = await createAccount(ctx, {
    realmId: realm.id,
    email: "hamlet@zulip.com",
    fullName: "Hamlet",
    password: PASSWORD,
  });
  const secretsInPlay = new Set<string>([PASSWORD, encodeURIComponent(PASSWORD), iago.apiKey, hamlet.apiKey]);
  for (const value of Object.values(secrets)) {
    secretsInPlay.add(value.toString("base64"));
    secretsInPlay.add(value.toString("hex"));
  }
  const queryPasswords = ["QueryPassw0rd-1", "QueryPassw0rd-2", "QueryPassw0rd-3", "QueryPassw0rd-4", "QueryPassw0rd-5"];
  for (const p of queryPasswords) secretsInPlay.add(p);
  const requestIds: string[] = [];
  const send = async (options: InjectOptions) => {
    const res = await app.inject(options);
    requestIds.push(res.headers["x-request-id"] as string);
    return res;
  };

  // Logins: right, wrong, in the body and in the query string (however the name is spelled).
  const login = await send({
    method: "POST",
    url: "/api/v1/fetch_api_key",
    ...form({ username: "iago@zulip.com", password: PASSWORD }),
  });
  assert.equal(login.statusCode, 200);
  await send({ method: "POST", url: "/api/v1/fetch_api_key", ...form({ username: "iago@zulip.com", password: `${PASSWORD}x` }) });
  secretsInPlay.add(`${PASSWORD}x`);
  await send({ method: "POST", url: `/api/v1/fetch_api_key?username=hamlet%40zulip.com&password=${queryPasswords[0]}` });
  await send({ method: "POST", url: `/api/v1/fetch_api_key?username=hamlet%40zulip.com&pass%77ord=${queryPasswords[1]}` });
  await send({ method: "POST", url: `/api/v1/fetch_api_key?username=hamlet%40zulip.com&PASSWORD=${queryPasswords[2]}` });
  await send({ method: "POST", url: `/api/v1/fetch_api_key?password[]=${queryPasswords[3]}&username=x` });
  await send({ method: "POST", url: `/api/v1/fetch_api_key?username=x&password=${queryPasswords[4]}#frag` });
  await send({
    method: "POST",
    url: "/api/v1/fetch_api_key",
    headers: { "content-type": "application/json" },
    payload: JSON.stringify({ password: PASSWORD }),
  });
  await send({
    method: "POST",
    url: "/api/v1/fetch_api_key",
    headers: { "content-type": "multipart/form-data" },
    payload: `password=${PASSWORD}`,
  });
  await send({
    method: "POST",
    url: "/api/v1/fetch_api_key",
    ...form({ username: "iago@zulip.com", password: "p".repeat(2_000_000) }),
  });
  // Key use: good and bad Basic credentials, a key in the query string.
  assert.equal(
    (await send({ method: "GET", url: "/api/v1/users/me", headers: { authorization: basic("iago@zulip.com", iago.apiKey) } }))
      .statusCode,
    200,
  );
  await send({ method: "GET", url: "/api/v1/users/me", headers: { authorization: basic("iago@zulip.com", hamlet.apiKey) } });
  await send({ method: "GET", url: "/api/v1/users/me", headers: { authorization: `Basic ${PASSWORD}` } });
  await send({ method: "GET", url: `/api/v1/users/me?api_key=${iago.apiKey}` });
  await send({ method: "GET", url: `/api/v1/external/test?api_key=${hamlet.apiKey}&stream=x` });
  const dev = await send({ method: "POST", url: "/api/v1/dev_fetch_api_key", ...form({ username: "hamlet@zulip.com" }) });
  assert.equal(dev.statusCode, 200);
  await send({ method: "GET", url: "/api/v1/server_settings" });
  await send({ method: "GET", url: `/api/v1/%zz?password=${PASSWORD}` });

  const crash = await send({ method: "GET", url: "/api/v1/test-only/crash" });
  assert.equal(crash.statusCode, 500);
  const crashBody = crash.json() as Record<string, unknown>;
  assert.deepEqual(crashBody, { result: "error", msg: "Internal server error", request_id: crash.headers["x-request-id"] });
  assert.doesNotMatch(crash.body, /exploded/);

  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(lines.length > 40, `only ${lines.length} log lines`);
  const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  for (const secret of secretsInPlay) {
    const leaking = lines.find((line) => line.includes(secret));
    assert.equal(leaking, undefined, `a log line holds a secret: ${leaking}`);
  }
  for (const entry of parsed) assert.equal(typeof entry.reqId, "string", `no request id on ${JSON.stringify(entry)}`);
  // Every request's lines carry its id; the login record and the 500 are tied to theirs.
  for (const id of requestIds)
    assert.ok(
      parsed.some((e) => e.reqId === id),
      `no line for request ${id}`,
    );
  const fetched = parsed.find((e) => e.msg === "api key fetched");
  assert.equal(fetched?.reqId, login.headers["x-request-id"]);
  const unhandled = parsed.find((e) => e.msg === "unhandled error");
  assert.equal(unhandled?.reqId, crash.headers["x-request-id"]);
  assert.equal(unhandled?.level, 50);
});

test("redactUrl masks every spelling of a secret parameter the server would read", () => {
  assert.equal(redactUrl("/a?username=x&password=s3cret"), "/a?username=x&password=[redacted]");
  assert.equal(redactUrl("/a?pass%77ord=s3cret&b=1"), "/a?pass%77ord=[redacted]&b=1");
  assert.equal(
    redactUrl("/a?PASSWORD=s&Api_Key=k&password[]=p"),
    "/a?PASSWORD=[redacted]&Api_Key=[redacted]&password[]=[redacted]",
  );
  assert.equal(redactUrl("/a?x=1&password+=s"), "/a?x=1&password+=[redacted]");
  assert.equal(redactUrl("/a?%zz=1&otp=abc#password=frag"), "/a?%zz=1&otp=[redacted]");
  assert.equal(
    redactUrl("/a?mobile_flow_otp=1&desktop_flow_otp=2&token=3&key=4"),
    "/a?mobile_flow_otp=[redacted]&desktop_flow_otp=[redacted]&token=[redacted]&key=[redacted]",
  );
  assert.equal(redactUrl("/no/query"), "/no/query");
  assert.equal(redactUrl("/a?password"), "/a?password=[redacted]");
});
