/**
 * Hostile requests for every endpoint, and what must hold for each answer: never a 5xx, always
 * Zulip's JSON envelope on /api and /json, and no database change from a rejected request.
 * New endpoints are covered by adding them to ENDPOINTS.
 */
import assert from "node:assert/strict";
import { METHODS } from "node:http";
import fc from "fast-check";
import type { LightMyRequestResponse } from "fastify";
import { sql } from "kysely";
import type { DatabaseHandle } from "../../src/store/database.js";
import { basic, PASSWORD, type TestServer } from "../helper.js";

type Method = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS";

/** Every method Node's HTTP parser accepts and hands to a route (CONNECT goes elsewhere). */
export const EVERY_METHOD = METHODS.filter((m) => m !== "CONNECT");

export interface EndpointUnderTest {
  path: string;
  /** Methods with a handler; every other method is answered 405 (or 404 when `unknown`). */
  methods: Method[];
  /** The parameters it reads: fuzzed most often. */
  params: string[];
  /** server_settings answers other methods with Django's plain 405 (docs/zulip-rules.md §3). */
  plain405?: boolean;
  /** Paths with no route at all. */
  unknown?: boolean;
}

/** Every endpoint under test. Add new ones here. */
export const ENDPOINTS: EndpointUnderTest[] = [
  { path: "/api/v1/fetch_api_key", methods: ["POST"], params: ["username", "password", "client"] },
  { path: "/api/v1/dev_fetch_api_key", methods: ["POST"], params: ["username", "client"] },
  { path: "/api/v1/dev_list_users", methods: ["GET", "HEAD"], params: [] },
  { path: "/api/v1/server_settings", methods: ["GET", "HEAD"], params: [], plain405: true },
  { path: "/api/v1/users/me", methods: ["GET", "HEAD"], params: [] },
  { path: "/api/v1/users/me/api_key/regenerate", methods: ["POST"], params: [] },
  { path: "/json/users/me/api_key/regenerate", methods: [], params: [], unknown: true },
  { path: "/api/v1/users/me/apns_device_token", methods: ["POST", "DELETE"], params: ["token", "appid"] },
  { path: "/api/v1/users/me/android_gcm_reg_id", methods: ["POST", "DELETE"], params: ["token"] },
  {
    path: "/api/v1/bots",
    methods: ["GET", "HEAD", "POST"],
    params: [
      "full_name",
      "short_name",
      "bot_type",
      "payload_url",
      "interface_type",
      "config_data",
      "default_sending_stream",
      "default_all_public_streams",
    ],
  },
  { path: "/api/v1/bots/1", methods: ["DELETE"], params: [] },
  { path: "/api/v1/bots/99999999999999999999", methods: ["DELETE"], params: [] },
  { path: "/api/v1/bots/1/api_key", methods: ["GET", "HEAD"], params: [] },
  { path: "/api/v1/bots/2/api_key/regenerate", methods: ["POST"], params: [] },
  { path: "/api/v1/bots/x/api_key", methods: [], params: [], unknown: true },
  { path: "/api/v1/users/2/reactivate", methods: ["POST"], params: [] },
  { path: "/api/v1/latchkey/api_key/last_use", methods: ["GET", "HEAD"], params: [] },
  { path: "/api/v1/no_such_endpoint", methods: [], params: ["api_key"], unknown: true },
  { path: "/json/fetch_api_key", methods: ["POST"], params: ["password"] },
  { path: "/json/bots", methods: ["GET", "HEAD", "POST"], params: ["full_name", "short_name", "bot_type", "payload_url"] },
  { path: "/json/bots/1", methods: ["DELETE"], params: [] },
  { path: "/json/bots/1/api_key", methods: ["GET", "HEAD"], params: [] },
  { path: "/json/bots/2/api_key/regenerate", methods: ["POST"], params: [] },
  { path: "/json/users/2/reactivate", methods: ["POST"], params: [] },
  { path: "/json/users/me", methods: [], params: [], unknown: true },
  // The web app's pages and forms: HTML answers, so only "never a 5xx" and "no database change" apply.
  {
    path: "/login/",
    methods: ["GET", "HEAD", "POST"],
    params: ["username", "password", "next", "mobile_flow_otp", "desktop_flow_otp", "_csrf"],
  },
  { path: "/accounts/login/dev/", methods: ["POST"], params: ["username", "next", "mobile_flow_otp", "_csrf"] },
  { path: "/accounts/logout/", methods: ["GET", "HEAD", "POST"], params: ["_csrf"] },
  { path: "/accounts/login/subdomain/0123456789abcdef0123456789abcdef", methods: ["GET", "HEAD"], params: [] },
  { path: "/accounts/password/reset/", methods: ["GET", "HEAD", "POST"], params: ["email", "_csrf"] },
  {
    path: "/accounts/password/reset/confirm/",
    methods: ["GET", "HEAD", "POST"],
    params: ["token", "new_password1", "new_password2", "_csrf"],
  },
  { path: "/settings/account", methods: ["GET", "HEAD"], params: [] },
  { path: "/settings/bots", methods: ["GET", "HEAD"], params: [] },
  { path: "/not-api/at-all", methods: [], params: [], unknown: true },
];

const STANDARD_METHODS: Method[] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

export interface HostileRequest {
  endpoint: EndpointUnderTest;
  /** One of EVERY_METHOD. */
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: Buffer;
  /** The body is larger than the configured limit. */
  oversized?: boolean;
}

/** A counterexample short enough to read: bodies are cut to their first 200 bytes. */
function printable(request: HostileRequest): HostileRequest {
  const body = request.payload;
  const shown =
    body === undefined ? "" : ` body(${body.length} bytes)=${JSON.stringify(body.subarray(0, 200).toString("latin1"))}`;
  const text = `${request.method} ${request.url.slice(0, 300)} ${JSON.stringify(request.headers).slice(0, 400)}${shown}`;
  return Object.assign(request, { [fc.toStringMethod]: () => text });
}

const hex = (n: number) => "0123456789abcdef".repeat(Math.ceil(n / 16)).slice(0, n);

/** Values that have broken servers before: empty, NUL, invalid UTF-16, huge, typed-looking, OTP-like. */
const hostileValue: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      "",
      " ",
      "\u0000",
      "iago@zulip.com",
      "IAGO@ZULIP.COM",
      "iago@zulip.com\u0000",
      "hamlet@zulip.com",
      "nobody@zulip.com",
      PASSWORD,
      "\ud800",
      "\udfff\ud800",
      "%ff",
      "%00",
      "a".repeat(5000),
      "1e309",
      "-1",
      "true",
      "null",
      "[1,2]",
      '{"a":1}',
      hex(64),
      hex(63),
      hex(65),
      `${hex(63)}g`,
      hex(64).toUpperCase(),
      "../../etc/passwd",
      "<script>alert(1)</script>",
      "' OR 1=1 --",
    ),
  },
);

const paramName = (endpoint: EndpointUnderTest): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 4, arbitrary: endpoint.params.length > 0 ? fc.constantFrom(...endpoint.params) : fc.constant("client") },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        "username",
        "password",
        "username[]",
        "password[0]",
        "__proto__",
        "constructor",
        "mobile_flow_otp",
        "desktop_flow_otp",
        "otp",
        "api_key",
        "client",
        "token",
        "appid",
        "full_name",
        "short_name",
        "bot_type",
      ),
    },
    { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 12 }) },
  );

/** Parameters as name/value pairs; repeated names are allowed, as in a real form. */
const paramsFor = (endpoint: EndpointUnderTest) => fc.array(fc.tuple(paramName(endpoint), hostileValue), { maxLength: 6 });

/** Lone surrogates cannot be percent-encoded; raw invalid bytes are sent by other generators. */
function wellFormed(text: string): string {
  return text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, "\ufffd");
}

function urlencode(pairs: [string, string][]): string {
  return pairs.map(([k, v]) => `${encodeURIComponent(wellFormed(k))}=${encodeURIComponent(wellFormed(v))}`).join("&");
}

function multipart(pairs: [string, string][], boundary: string, asFiles: boolean): Buffer {
  const parts = pairs.map(([k, v]) => {
    const name = k.replace(/["\r\n]/g, "_");
    const disposition = asFiles ? `form-data; name="${name}"; filename="f.txt"` : `form-data; name="${name}"`;
    return Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n\r\n`),
      Buffer.from(v, "utf8"),
      Buffer.from("\r\n"),
    ]);
  });
  return Buffer.concat([...parts, Buffer.from(`--${boundary}--\r\n`)]);
}

const rawBytes = fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a));

/** Bytes that are not valid UTF-8 (lone continuation bytes, overlongs, surrogates, NULs). */
const invalidUtf8 = fc
  .array(fc.constantFrom([0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0x80], [0x00], [0xe2, 0x82], [0x25, 0x66, 0x66]), {
    minLength: 1,
    maxLength: 8,
  })
  .map((chunks) => Buffer.from(chunks.flat()));

type Body = { contentType: string | null; payload?: Buffer; query?: string };

const bodyFor = (endpoint: EndpointUnderTest): fc.Arbitrary<Body> =>
  fc.oneof(
    paramsFor(endpoint).map((p) => ({ contentType: "application/x-www-form-urlencoded", payload: Buffer.from(urlencode(p)) })),
    fc.tuple(paramsFor(endpoint), fc.constantFrom("utf-8", "latin1", "utf-16", "bogus", "")).map(([p, charset]) => ({
      contentType: `application/x-www-form-urlencoded; charset=${charset}`,
      payload: Buffer.from(urlencode(p)),
    })),
    fc.tuple(paramsFor(endpoint), invalidUtf8).map(([p, bad]) => ({
      contentType: "application/x-www-form-urlencoded",
      payload: Buffer.concat([Buffer.from(`${urlencode(p)}&username=`), bad, Buffer.from("&password="), bad]),
    })),
    fc.tuple(paramsFor(endpoint), fc.boolean()).map(([p, asFiles]) => ({
      contentType: "multipart/form-data; boundary=XyZ123",
      payload: multipart(p, "XyZ123", asFiles),
    })),
    fc.tuple(paramsFor(endpoint), invalidUtf8).map(([p, bad]) => ({
      contentType: "multipart/form-data; boundary=XyZ123",
      payload: Buffer.concat([multipart(p, "XyZ123", false).subarray(0, -4), bad]),
    })),
    fc
      .tuple(
        paramsFor(endpoint),
        fc.constantFrom("multipart/form-data", "multipart/form-data; boundary=", "multipart/mixed; boundary=a"),
      )
      .map(([p, contentType]) => ({ contentType, payload: multipart(p, "XyZ123", false) })),
    fc
      .tuple(rawBytes, fc.constantFrom("multipart/form-data; boundary=XyZ123", "application/x-www-form-urlencoded"))
      .map(([payload, contentType]) => ({ contentType, payload })),
    paramsFor(endpoint).map((p) => ({
      contentType: "application/json",
      payload: Buffer.from(JSON.stringify(Object.fromEntries(p))),
    })),
    rawBytes.map((payload) => ({ contentType: "application/json", payload })),
    fc
      .tuple(rawBytes, fc.constantFrom("text/plain", "application/octet-stream", "image/png", "*/*", ";;;", "x"))
      .map(([payload, contentType]) => ({ contentType, payload })),
    rawBytes.map((payload) => ({ contentType: null, payload })),
    paramsFor(endpoint).map((p) => ({ contentType: null, query: urlencode(p) })),
    fc.tuple(paramsFor(endpoint), invalidUtf8).map(([p, bad]) => ({
      contentType: null,
      // Raw escapes of invalid UTF-8 and bare percent signs in the query string.
      query: `${urlencode(p)}&username=${[...bad].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("")}&password=%&x=%zz`,
    })),
  );

/** Authorization headers, well-formed and not. */
const authorizationFor = (server: TestServer): fc.Arbitrary<string | null> => {
  const key = server.keys.get(server.iago.id) as string;
  const b64 = (bytes: Buffer) => bytes.toString("base64");
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant(null) },
    { weight: 2, arbitrary: fc.constant(basic("iago@zulip.com", key)) },
    {
      weight: 4,
      arbitrary: fc.oneof(
        fc.constantFrom(
          "Basic",
          "Basic ",
          "Basic    ",
          "basic =",
          "Basic ====",
          "Basic a",
          "Basic !!!!",
          "Bearer abc",
          "Digest a=b",
          `Basic ${b64(Buffer.from("nocolon"))}`,
          `Basic ${b64(Buffer.from("a:b:c"))}`,
          `Basic ${b64(Buffer.from(`iago@zulip.com:${key}\u0000`))}`,
          `Basic ${b64(Buffer.from([0x69, 0x3a, 0xff, 0xfe]))}`,
          `Basic ${b64(Buffer.from(`iago@zulip.com:${"x".repeat(10_000)}`))}`,
          `Basic ${b64(Buffer.from(`:${key}`))}`,
          `Basic ${b64(Buffer.from(`iago@zulip.com:${key.toLowerCase()}`))}`,
          `Basic ${b64(Buffer.from(`hamlet@zulip.com:${key}`))}`,
          `Basic ${b64(Buffer.from(`iago@zulip.com:${key}`)).replace(/=/g, "")}`,
          `Basic ${b64(Buffer.from(`iago@zulip.com:${key}`))} extra`,
        ),
        fc.string({ maxLength: 60 }).map((s) => `Basic ${s}`),
        rawBytes.map((bytes) => `Basic ${b64(bytes)}`),
        fc
          .tuple(fc.string({ maxLength: 20 }), fc.string({ maxLength: 40 }))
          .map(([u, p]) => `Basic ${b64(Buffer.from(`${u}:${p}`))}`),
        fc.string({ maxLength: 60 }),
      ),
    },
  );
};

/** Header values Node's HTTP parser would let through (no control characters but tab). */
function headerSafe(value: string): string {
  return [...value].map((ch) => (/[\t\x20-\x7e\x80-\xff]/.test(ch) ? ch : "?")).join("");
}

const pathVariant = (endpoint: EndpointUnderTest): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.constant(endpoint.path) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        `${endpoint.path}/`,
        endpoint.path.replace(/\//g, "//"),
        endpoint.path.toUpperCase(),
        `${endpoint.path}%00`,
        `${endpoint.path}%ff`,
        `${endpoint.path}%`,
        `${endpoint.path}/..`,
        `${endpoint.path}/%2e%2e/%2e%2e`,
        `${endpoint.path};jsessionid=1`,
        `${endpoint.path}#frag`,
      ),
    },
  );

/** A random hostile request to a random endpoint. */
export function hostileRequest(server: TestServer): fc.Arbitrary<HostileRequest> {
  return fc.constantFrom(...ENDPOINTS).chain((endpoint) =>
    fc
      .record({
        method: fc.oneof(
          {
            weight: 3,
            arbitrary: endpoint.methods.length > 0 ? fc.constantFrom(...endpoint.methods) : fc.constant<Method>("GET"),
          },
          { weight: 1, arbitrary: fc.constantFrom(...STANDARD_METHODS) },
        ),
        path: pathVariant(endpoint),
        body: bodyFor(endpoint),
        authorization: authorizationFor(server),
        host: fc.constantFrom(
          "testserver",
          "testserver:9991",
          "TESTSERVER",
          "nosuch.testserver",
          "",
          "a..b",
          "x\u00ff.testserver",
          "nul\u0000.testserver",
        ),
        userAgent: fc.option(fc.string({ maxLength: 40 }), { nil: undefined }),
        forwardedFor: fc.option(fc.constantFrom("203.0.113.1", "::1", "not-an-ip", "1.2.3.4, 5.6.7.8", ""), { nil: undefined }),
        gzip: fc.boolean(),
      })
      .map(({ method, path, body, authorization, host, userAgent, forwardedFor, gzip }) => {
        const headers: Record<string, string> = { host };
        if (body.contentType !== null) headers["content-type"] = body.contentType;
        if (authorization !== null) headers.authorization = headerSafe(authorization);
        if (userAgent !== undefined) headers["user-agent"] = headerSafe(userAgent);
        if (forwardedFor !== undefined) headers["x-forwarded-for"] = forwardedFor;
        if (gzip) headers["content-encoding"] = "gzip";
        const url = body.query === undefined ? path : `${path}?${body.query}`;
        const request: HostileRequest = { endpoint, method, url, headers };
        if (body.payload !== undefined) request.payload = body.payload;
        return printable(request);
      }),
  );
}

/** Bodies just over the limit, with every body encoding; and passwords over 4096 bytes. */
export function oversizedRequest(server: TestServer, bodyLimit: number): fc.Arbitrary<HostileRequest> {
  const endpoints = ENDPOINTS.filter((e) => !e.unknown);
  return fc
    .record({
      endpoint: fc.constantFrom(...endpoints),
      method: fc.constantFrom<Method>("POST", "PUT", "PATCH", "DELETE"),
      extra: fc.integer({ min: 1, max: 2048 }),
      contentType: fc.constantFrom(
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=XyZ123",
        "application/json",
        "text/plain",
      ),
      authorization: authorizationFor(server),
    })
    .map(({ endpoint, method, extra, contentType, authorization }) => {
      const password = "p".repeat(bodyLimit + extra);
      const pairs: [string, string][] = [
        ["username", "iago@zulip.com"],
        ["password", password],
      ];
      const payload = contentType.startsWith("multipart")
        ? multipart(pairs, "XyZ123", false)
        : Buffer.from(contentType === "application/json" ? JSON.stringify({ password }) : urlencode(pairs));
      const headers: Record<string, string> = { host: "testserver", "content-type": contentType };
      if (authorization !== null) headers.authorization = headerSafe(authorization);
      return printable({ endpoint, method, url: endpoint.path, headers, payload, oversized: true });
    });
}

/** Passwords over the 4096-byte cap but inside the body limit: refused with no hashing at all. */
export function oversizedPassword(bodyLimit: number): fc.Arbitrary<HostileRequest> {
  return fc
    .record({
      length: fc.integer({ min: 4097, max: Math.max(4097, bodyLimit - 200) }),
      char: fc.constantFrom("p", "é", "€", "\u0000", "😀"),
      username: fc.constantFrom("iago@zulip.com", "nobody@zulip.com", "Iago@Zulip.com"),
      contentType: fc.constantFrom("application/x-www-form-urlencoded", "multipart/form-data; boundary=XyZ123"),
    })
    .map(({ length, char, username, contentType }) => {
      const password = char.repeat(Math.ceil(length / Buffer.byteLength(char)));
      const pairs: [string, string][] = [
        ["username", username],
        ["password", password],
      ];
      const payload = contentType.startsWith("multipart") ? multipart(pairs, "XyZ123", false) : Buffer.from(urlencode(pairs));
      const endpoint = ENDPOINTS[0] as EndpointUnderTest;
      return printable({
        endpoint,
        method: "POST" as Method,
        url: endpoint.path,
        headers: { host: "testserver", "content-type": contentType },
        payload,
      });
    });
}

/** Every row of every table, in a stable order: what "no database change" is checked against. */
export async function snapshotDatabase(database: DatabaseHandle): Promise<string> {
  const tables =
    database.dialect === "sqlite"
      ? await sql<{ name: string }>`select name from sqlite_master where type = 'table' order by name`.execute(database.db)
      : await sql<{ name: string }>`select table_name as name from information_schema.tables
          where table_schema = current_schema() order by table_name`.execute(database.db);
  const out: Record<string, unknown[]> = {};
  for (const { name } of tables.rows) {
    // A key's last use is recorded whatever the answer, in the background: a refused request
    // that carried a valid key still used it.
    if (name === "api_key_last_use") continue;
    const rows = await sql<Record<string, unknown>>`select * from ${sql.table(name)}`.execute(database.db);
    out[name] = rows.rows.map((row) => JSON.stringify(row)).sort();
  }
  return JSON.stringify(out);
}

/** What must hold for the answer to any hostile request. */
export function checkAnswer(request: HostileRequest, res: LightMyRequestResponse): void {
  const where = `${request.method} ${request.url}`;
  assert.ok(res.statusCode < 500, `${where.slice(0, 300)} answered ${res.statusCode}: ${res.body.slice(0, 200)}`);
  if (request.oversized) {
    assert.equal(res.statusCode, 413, `${where}: an oversized body must be refused as too large`);
    assert.equal((res.json() as { code?: string }).code, "REQUEST_TOO_LARGE");
  }
  // The path the server routes: inject() resolves dot segments (`%2e%2e` too) as a URL parser
  // does, so `/json/%2e%2e` reaches `/`, which is a page, not an API path.
  const raw = (request.url.split(/[?#]/, 1)[0] as string).replace(/\/{2,}/g, "/");
  let path = raw;
  try {
    path = new URL(raw, "http://testserver").pathname.replace(/\/{2,}/g, "/");
  } catch {
    // Unparseable: the server reads the raw path.
  }
  if (!/^\/(api|json)(\/|$)/i.test(path)) return;
  if (request.method === "HEAD") return;
  if (res.statusCode === 405 && request.endpoint.plain405) {
    assert.equal(res.body, "", where);
    return;
  }
  assert.match(String(res.headers["content-type"]), /^application\/json/, `${where}: ${res.statusCode} is not JSON`);
  const body = res.json() as Record<string, unknown>;
  assert.ok(body.result === "success" || body.result === "error", `${where}: no result in ${res.body}`);
  assert.equal(typeof body.msg, "string", `${where}: no msg in ${res.body}`);
  if (body.result === "error" && res.statusCode !== 405)
    assert.equal(typeof body.code, "string", `${where}: no code in ${res.body}`);
  if (body.result === "success") assert.ok(res.statusCode >= 200 && res.statusCode < 300, where);
  else assert.ok(res.statusCode >= 400, where);
}

/**
 * Puts the test accounts' original keys back after a successful regeneration, so that the
 * requests generated with them keep reaching the endpoints behind authentication.
 */
async function restoreKeys(server: TestServer): Promise<void> {
  for (const [userId, key] of server.keys) {
    await server.ctx.stores.users.replaceApiKey(userId, server.ctx.vault.seal(key));
    server.ctx.keyCache.invalidate({ kind: "user", userId });
  }
}

/**
 * Sends `request`, checks the answer and, for a rejected request, that the database did not
 * change. Returns the snapshot to compare the next request with.
 */
export async function sendAndCheck(server: TestServer, request: HostileRequest, before: string): Promise<string> {
  // A little time passes between requests, so the throttles (5 per 30 min, 100 a minute per
  // address) never refuse one and every request reaches the code under test.
  server.clock.advance(400);
  const options = { method: request.method, url: request.url, headers: request.headers, remoteAddress: "198.51.100.9" };
  const res = await server.app.inject(request.payload === undefined ? options : { ...options, payload: request.payload });
  checkAnswer(request, res);
  if (res.statusCode === 200 && /api_key\/regenerate/.test(request.url)) await restoreKeys(server);
  const after = await snapshotDatabase(server.database);
  if (res.statusCode >= 400) assert.equal(after, before, `${request.method} ${request.url} was refused but changed the database`);
  return after;
}
