/**
 * The requests of the clients that cannot run here (zulip-terminal with python-requests,
 * python-zulip-api, zulip-flutter) re-created byte for byte from their source and sent over real
 * HTTP, as docs/clients.md describes them; curl as itself, the real binary. The fields each
 * client reads are checked for presence and type.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { createAccount, setAccountActive, setRealmDeactivated } from "../../src/domain/accounts.js";
import { PASSWORD } from "../helper.js";
import { assertFlutterFields } from "./client-shapes.js";
import { type RealServer, startRealServer } from "./real-server.js";

const runFile = promisify(execFile);

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  body: Record<string, unknown>;
}

/**
 * Runs the real curl binary (`-sS -i`) and reads its answer: the last status line and headers
 * (after any 100 Continue) and the JSON body.
 */
async function runCurl(args: string[]): Promise<Answer> {
  let stdout: string;
  try {
    ({ stdout } = await runFile("curl", ["-sS", "-i", "--max-time", "30", ...args], { maxBuffer: 1024 * 1024 }));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT")
      throw new Error("these tests run the curl binary: install curl (Debian package curl)");
    throw err;
  }
  let rest = stdout;
  let head = "";
  do {
    const end = rest.indexOf("\r\n\r\n");
    head = rest.slice(0, end);
    rest = rest.slice(end + 4);
  } while (/^HTTP\/[\d.]+ 100\b/.test(head));
  const [statusLine = "", ...lines] = head.split("\r\n");
  const headers: IncomingHttpHeaders = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const status = Number(statusLine.split(" ")[1]);
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(rest) as Record<string, unknown>;
  } catch {
    // Not JSON: the assertions on status and text say what it was.
  }
  return { status, headers, text: rest, body };
}

/** Sends exactly these headers (Host and Content-Length aside) and reads the whole answer. */
function send(url: string, method: string, headers: Record<string, string>, body?: string | Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(body);
    const all: Record<string, string> = { ...headers };
    if (payload !== undefined) all["content-length"] = String(payload.length);
    const req = httpRequest(url, { method, headers: all, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let parsed: Record<string, unknown> = {};
        if (text !== "") parsed = JSON.parse(text) as Record<string, unknown>;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body: parsed });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(payload);
  });
}

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");

/** application/x-www-form-urlencoded as python-requests and Dart's http encode it. */
function urlencoded(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

const PYTHON_REQUESTS = {
  "user-agent": "python-requests/2.31.0",
  "accept-encoding": "gzip, deflate",
  accept: "*/*",
  connection: "keep-alive",
};
const FLUTTER_UA = "ZulipFlutter/30.0.274+274 (Android 14)";
const PYTHON_API_UA = "ZulipPython/0.9.1 (Debian GNU/Linux; 12)";
const TERMINAL_UA = "ZulipTerminal/0.7.0+git Linux (Debian 12)";

let server: RealServer;
before(async () => {
  server = await startRealServer();
});
describe("request-shapes", () => {
  after(() => server.close());

  function assertJsonError(res: Answer, status: number): void {
    assert.equal(res.status, status, res.text);
    assert.match(String(res.headers["content-type"]), /^application\/json/);
    assert.equal(res.body.result, "error");
    assert.equal(typeof res.body.msg, "string");
    assert.equal(typeof res.body.code, "string");
  }

  test("zulip-terminal: server_settings without auth, urlencoded fetch_api_key at realm_uri, then Basic with the email as typed", async () => {
    const settings = await send(`${server.url}/api/v1/server_settings`, "GET", PYTHON_REQUESTS);
    assert.equal(settings.status, 200);
    // The three fields it reads, all required.
    assert.equal(settings.body.realm_uri, server.url);
    assert.equal(typeof settings.body.require_email_format_usernames, "boolean");
    assert.equal(typeof settings.body.email_auth_enabled, "boolean");

    const realmUri = settings.body.realm_uri as string;
    const login = await send(
      `${realmUri}/api/v1/fetch_api_key`,
      "POST",
      { ...PYTHON_REQUESTS, "content-type": "application/x-www-form-urlencoded" },
      urlencoded({ username: "Iago@Zulip.com", password: PASSWORD }),
    );
    assert.equal(login.status, 200, login.text);
    const apiKey = String(login.body.api_key);
    assert.match(apiKey, /^[A-Za-z0-9]{32}$/);

    // A wrong password is anything but 200 (it only checks the status).
    const wrong = await send(
      `${realmUri}/api/v1/fetch_api_key`,
      "POST",
      { ...PYTHON_REQUESTS, "content-type": "application/x-www-form-urlencoded" },
      urlencoded({ username: "hamlet@zulip.com", password: "wrong" }),
    );
    assert.notEqual(wrong.status, 200);

    // Later runs: python-zulip-api with the zuliprc's email (as typed) and key.
    const auth = { authorization: `Basic ${b64(`Iago@Zulip.com:${apiKey}`)}`, "user-agent": TERMINAL_UA, accept: "*/*" };
    const again = await send(`${realmUri}/api/v1/server_settings`, "GET", auth);
    assert.equal(again.status, 200);
    assert.ok((again.body.zulip_feature_level as number) >= 30);
    const me = await send(`${realmUri}/api/v1/users/me`, "GET", auth);
    assert.equal(me.status, 200);
    assert.equal(me.body.user_id, server.iago.id);
  });

  test("python-zulip-api: server_settings with a Basic header, right or wrong, always has zulip_version", async () => {
    for (const key of [server.keys.get(server.iago.id) as string, "wrongwrongwrongwrongwrongwrong12", "short"]) {
      const res = await send(`${server.url}/api/v1/server_settings`, "GET", {
        "user-agent": PYTHON_API_UA,
        "accept-encoding": "gzip, deflate",
        accept: "*/*",
        connection: "keep-alive",
        authorization: `Basic ${b64(`iago@zulip.com:${key}`)}`,
      });
      assert.equal(res.status, 200);
      assert.equal(typeof res.body.zulip_version, "string");
      assert.equal(typeof res.body.zulip_feature_level, "number");
    }
    // Its errors are JSON bodies whatever the status.
    const bad = await send(`${server.url}/api/v1/users/me`, "GET", {
      "user-agent": PYTHON_API_UA,
      authorization: `Basic ${b64("iago@zulip.com:wrongwrongwrongwrongwrongwrong12")}`,
    });
    assertJsonError(bad, 401);
  });

  test("zulip-flutter: the typed server_settings, urlencoded; charset=utf-8 login, Basic with the returned email", async (t) => {
    const settings = await send(`${server.url}/api/v1/server_settings`, "GET", {
      "user-agent": FLUTTER_UA,
      "accept-encoding": "gzip",
    });
    assert.equal(settings.status, 200);
    assertFlutterFields(settings.body);
    assert.equal(settings.body.zulip_feature_level, 371);
    assert.equal(settings.body.zulip_version, "10.0");
    assert.equal(settings.body.zulip_merge_base, "10.0");
    assert.equal(settings.body.email_auth_enabled, true);
    assert.equal(settings.body.require_email_format_usernames, true);
    assert.deepEqual(settings.body.external_authentication_methods, []);
    // The password form shows when email or LDAP login is on.
    assert.ok(settings.body.email_auth_enabled === true || (settings.body.authentication_methods as { ldap: boolean }).ldap);

    // A non-ASCII password, sent as raw UTF-8 in the form.
    const password = "Pässwörd-Ünïcode-✓-42";
    const { user } = await createAccount(server.ctx, {
      realmId: server.realm.id,
      email: "Cordelia@Zulip.com",
      fullName: "Cordelia",
      password,
    });
    t.after(() => setAccountActive(server.ctx, user.id, false));
    const realmUri = new URL(settings.body.realm_uri as string);
    const login = await send(
      new URL("/api/v1/fetch_api_key", realmUri).toString(),
      "POST",
      { "user-agent": FLUTTER_UA, "content-type": "application/x-www-form-urlencoded; charset=utf-8", "accept-encoding": "gzip" },
      urlencoded({ username: "cordelia@zulip.com", password }),
    );
    assert.equal(login.status, 200, login.text);
    assert.equal(typeof login.body.api_key, "string");
    assert.match(login.body.api_key as string, /^[A-Za-z0-9]{32}$/);
    // The server-returned email is what Flutter stores and authenticates with from then on.
    assert.equal(login.body.email, "Cordelia@Zulip.com");
    assert.ok(Number.isInteger(login.body.user_id));
    assert.equal(login.body.user_id, user.id);

    const auth = `Basic ${b64(`${login.body.email}:${login.body.api_key}`)}`;
    const me = await send(`${server.url}/api/v1/users/me`, "GET", { "user-agent": FLUTTER_UA, authorization: auth });
    assert.equal(me.status, 200);
    assert.equal(me.body.user_id, user.id);

    // Failed logins are 4xx with result/msg/code, which the app shows as "The server said: <msg>".
    const failed = await send(
      `${server.url}/api/v1/fetch_api_key`,
      "POST",
      { "user-agent": FLUTTER_UA, "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
      urlencoded({ username: "cordelia@zulip.com", password: "nope" }),
    );
    assertJsonError(failed, 401);
    assert.equal(failed.body.code, "AUTHENTICATION_FAILED");

    // After login it registers an event queue; a wrong key there must be 401 (the app logs out).
    const register = await send(
      `${server.url}/api/v1/register`,
      "POST",
      {
        "user-agent": FLUTTER_UA,
        "content-type": "application/x-www-form-urlencoded; charset=utf-8",
        authorization: `Basic ${b64(`${login.body.email}:wrongwrongwrongwrongwrongwrong12`)}`,
      },
      urlencoded({ apply_markdown: "true", slim_presence: "true" }),
    );
    assertJsonError(register, 401);
    assert.equal(register.body.code, "UNAUTHORIZED");
  });

  test("zulip-js's wire format: multipart with no space before boundary, node-fetch's headers", async () => {
    const boundary = `--------------------------${"0123456789abcdef01234567"}`;
    const body = [
      `--${boundary}\r\nContent-Disposition: form-data; name="username"\r\n\r\niago@zulip.com\r\n`,
      `--${boundary}\r\nContent-Disposition: form-data; name="password"\r\n\r\n${PASSWORD}\r\n`,
      `--${boundary}--\r\n`,
    ].join("");
    const res = await send(
      `${server.url}/api/v1/fetch_api_key`,
      "POST",
      {
        "content-type": `multipart/form-data;boundary=${boundary}`,
        accept: "*/*",
        "user-agent": "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)",
        "accept-encoding": "gzip,deflate",
        connection: "keep-alive",
      },
      body,
    );
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.api_key, server.keys.get(server.iago.id));
  });

  test("curl: the real curl binary with --data-urlencode, -F and -u, and what every answer looks like", async () => {
    const settings = await runCurl([`${server.url}/api/v1/server_settings`]);
    assert.equal(settings.status, 200);
    assert.match(String(settings.headers["content-type"]), /^application\/json/);
    assertFlutterFields(settings.body);
    // A wrong Basic header changes nothing on an unauthenticated endpoint.
    const withWrongKey = await runCurl([
      "-u",
      "iago@zulip.com:wrongwrongwrongwrongwrongwrong12",
      `${server.url}/api/v1/server_settings`,
    ]);
    assert.equal(withWrongKey.status, 200);
    // The Zulip documentation's own example.
    const urlencodedLogin = await runCurl([
      "-X",
      "POST",
      `${server.url}/api/v1/fetch_api_key`,
      "--data-urlencode",
      "username=iago@zulip.com",
      "--data-urlencode",
      `password=${PASSWORD}`,
    ]);
    assert.equal(urlencodedLogin.status, 200, urlencodedLogin.text);
    assert.match(urlencodedLogin.body.api_key as string, /^[A-Za-z0-9]{32}$/);
    assert.equal(urlencodedLogin.body.email, "iago@zulip.com");
    assert.ok(Number.isInteger(urlencodedLogin.body.user_id));
    // multipart/form-data, as curl -F writes it.
    const multipartLogin = await runCurl([
      `${server.url}/api/v1/fetch_api_key`,
      "-F",
      "username=iago@zulip.com",
      "-F",
      `password=${PASSWORD}`,
    ]);
    assert.equal(multipartLogin.status, 200, multipartLogin.text);
    assert.equal(multipartLogin.body.api_key, urlencodedLogin.body.api_key);
    const missing = await runCurl([`${server.url}/api/v1/fetch_api_key`, "--data-urlencode", "username=iago@zulip.com"]);
    assertJsonError(missing, 400);
    assert.deepEqual(missing.body, {
      result: "error",
      msg: "Missing 'password' argument",
      code: "REQUEST_VARIABLE_MISSING",
      var_name: "password",
    });
    const key = urlencodedLogin.body.api_key as string;
    const me = await runCurl(["-u", `iago@zulip.com:${key}`, `${server.url}/api/v1/users/me`]);
    assert.equal(me.status, 200);
    assert.equal(me.body.email, "iago@zulip.com");
    const anonymous = await runCurl([`${server.url}/api/v1/users/me`]);
    assertJsonError(anonymous, 401);
    assert.equal(anonymous.body.code, "UNAUTHORIZED");
    assert.equal(anonymous.headers["www-authenticate"], 'Basic realm="zulip"');
    const malformed = await runCurl(["-u", "iago@zulip.com:x", `${server.url}/api/v1/users/me`]);
    assertJsonError(malformed, 401);
    assert.equal(malformed.body.msg, "Malformed API key");
    const unknownPath = await runCurl([`${server.url}/api/v1/no/such/endpoint`]);
    assertJsonError(unknownPath, 404);
  });

  test("rate limiting as Flutter sees it: 429 with RATE_LIMIT_HIT and Retry-After", async () => {
    const attempt = () =>
      send(
        `${server.url}/api/v1/fetch_api_key`,
        "POST",
        { "user-agent": FLUTTER_UA, "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
        urlencoded({ username: "ratelimited@zulip.com", password: "nope" }),
      );
    for (let i = 0; i < 5; i++) assert.equal((await attempt()).status, 401);
    const limited = await attempt();
    assertJsonError(limited, 429);
    assert.equal(limited.body.code, "RATE_LIMIT_HIT");
    assert.equal(typeof limited.body["retry-after"], "number");
    assert.equal(limited.headers["retry-after"], String(limited.body["retry-after"]));
    for (const h of ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"])
      assert.match(String(limited.headers[h]), /^\d+$/);
  });

  test("deactivated user and organization, as the login screens see them", async () => {
    await setAccountActive(server.ctx, server.hamlet.id, false);
    const form = { "content-type": "application/x-www-form-urlencoded; charset=utf-8", "user-agent": FLUTTER_UA };
    const user = await send(
      `${server.url}/api/v1/fetch_api_key`,
      "POST",
      form,
      urlencoded({ username: "hamlet@zulip.com", password: PASSWORD }),
    );
    assertJsonError(user, 401);
    assert.equal(user.body.code, "USER_DEACTIVATED");
    await setRealmDeactivated(server.ctx, server.realm.id, true);
    try {
      const realm = await send(
        `${server.url}/api/v1/fetch_api_key`,
        "POST",
        form,
        urlencoded({ username: "iago@zulip.com", password: PASSWORD }),
      );
      assertJsonError(realm, 401);
      assert.equal(realm.body.code, "REALM_DEACTIVATED");
    } finally {
      await setRealmDeactivated(server.ctx, server.realm.id, false);
      await setAccountActive(server.ctx, server.hamlet.id, true);
    }
  });
});
