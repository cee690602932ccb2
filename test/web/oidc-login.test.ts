/**
 * OpenID Connect login through app.inject(): what `server_settings` and the login page list
 * (Zulip's exact entry with one provider, `oidc:<name>` with several, organizations' own
 * choices), the checks before the browser leaves for the provider, a provider whose settings
 * are wrong, and `LATCHKEY_OIDC_IDPS` refused at boot when it is wrong. The flows themselves run
 * in Chromium against a real provider (oidc-browser.test.ts).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import type { LightMyRequestResponse } from "fastify";
import { parseOidcIdps } from "../../src/auth/oidc-config.js";
import { loadConfig } from "../../src/config.js";
import { createAccount, createRealm, setRealmAuthMethods } from "../../src/domain/accounts.js";
import { otpDecryptApiKey } from "../../src/domain/otp.js";
import { ConfigError } from "../../src/env.js";
import { createLogger } from "../../src/logging.js";
import { json, makeTestServer, memoryLog, type TestServer } from "../helper.js";
import { signInAtProvider, startTestIdp } from "./oidc-idp.js";
import { InjectBrowser } from "./web-helper.js";

function idps(entries: Record<string, Record<string, unknown>>): Record<string, string> {
  const full = Object.fromEntries(
    Object.entries(entries).map(([name, e]) => [
      name,
      { oidc_url: "https://idp.example.com", client_id: "latchkey", secret: "s3cret", ...e },
    ]),
  );
  return { LATCHKEY_OIDC_IDPS: JSON.stringify(full) };
}

function get(server: TestServer, url: string, host = "testserver"): Promise<LightMyRequestResponse> {
  return server.app.inject({ method: "GET", url, headers: { host } });
}

async function serverSettings(server: TestServer, host = "testserver"): Promise<Record<string, unknown>> {
  const res = await get(server, "/api/v1/server_settings", host);
  assert.equal(res.statusCode, 200, res.body);
  return json(res);
}

test("one provider: server_settings lists exactly Zulip's oidc:oidc entry and authentication_methods['openid connect']", async (t) => {
  const server = await makeTestServer({
    env: idps({ keycloak: { display_name: "Keycloak", display_icon: "/static/favicon.svg" } }),
  });
  t.after(() => server.close());
  const body = await serverSettings(server);
  assert.deepEqual(body.external_authentication_methods, [
    {
      name: "oidc:oidc",
      display_name: "Keycloak",
      display_icon: "/static/favicon.svg",
      login_url: "/accounts/login/social/oidc",
      signup_url: "/accounts/register/social/oidc",
    },
  ]);
  assert.equal((body.authentication_methods as Record<string, boolean>)["openid connect"], true);
  // Zulip's default display name, and no icon.
  const plain = await makeTestServer({ env: idps({ corp: {} }) });
  t.after(() => plain.close());
  assert.deepEqual((await serverSettings(plain)).external_authentication_methods, [
    {
      name: "oidc:oidc",
      display_name: "OIDC",
      display_icon: null,
      login_url: "/accounts/login/social/oidc",
      signup_url: "/accounts/register/social/oidc",
    },
  ]);
});

test("no provider, or the organization switched it off: an empty list and 'openid connect' false", async (t) => {
  const none = await makeTestServer();
  t.after(() => none.close());
  const body = await serverSettings(none);
  assert.deepEqual(body.external_authentication_methods, []);
  assert.equal((body.authentication_methods as Record<string, boolean>)["openid connect"], false);

  const server = await makeTestServer({ env: idps({ corp: {} }) });
  t.after(() => server.close());
  await setRealmAuthMethods(server.ctx, server.realm.id, { oidc: false });
  const off = await serverSettings(server);
  assert.deepEqual(off.external_authentication_methods, []);
  assert.equal((off.authentication_methods as Record<string, boolean>)["openid connect"], false);
  const page = await get(server, "/login/");
  assert.doesNotMatch(page.body, /Log in with/);
  const start = await get(server, "/accounts/login/social/oidc");
  assert.equal(start.statusCode, 403);
  assert.match(start.body, /Logging in with OIDC is not enabled for this organization\./);
});

test("several providers: oidc:<name> at /accounts/login/social/oidc/<name>, each organization its own, in the order configured", async (t) => {
  const server = await makeTestServer({
    env: idps({
      google: { display_name: "Google" },
      keycloak: { display_name: "Keycloak", limit_to_subdomains: ["sales"] },
      okta: { display_name: "Okta", limit_to_subdomains: ["", "sales"] },
    }),
  });
  t.after(() => server.close());
  await createRealm(server.ctx, { subdomain: "sales", name: "Sales" });
  await createRealm(server.ctx, { subdomain: "lab", name: "Lab" });
  const names = async (host: string) =>
    ((await serverSettings(server, host)).external_authentication_methods as { name: string }[]).map((m) => m.name);
  assert.deepEqual(await names("testserver"), ["oidc:google", "oidc:okta"]);
  assert.deepEqual(await names("sales.testserver"), ["oidc:google", "oidc:keycloak", "oidc:okta"]);
  assert.deepEqual(await names("lab.testserver"), ["oidc:google"]);
  const sales = (await serverSettings(server, "sales.testserver")).external_authentication_methods as Record<string, unknown>[];
  assert.deepEqual(sales[1], {
    name: "oidc:keycloak",
    display_name: "Keycloak",
    display_icon: null,
    login_url: "/accounts/login/social/oidc/keycloak",
    signup_url: "/accounts/register/social/oidc/keycloak",
  });

  // The login page has the same buttons, as links that carry the app flow and next along.
  const otp = randomBytes(32).toString("hex");
  const page = await get(server, `/login/?mobile_flow_otp=${otp}&next=/settings/bots`, "sales.testserver");
  const links = [...page.body.matchAll(/<a class="button secondary sso-button" id="([^"]+)" href="([^"]+)">([^<]*)<\/a>/g)].map(
    (m) => [m[1], (m[2] as string).replace(/&amp;/g, "&"), m[3]],
  );
  assert.deepEqual(links, [
    [
      "login_auth_button_oidc:google",
      `/accounts/login/social/oidc/google?next=%2Fsettings%2Fbots&mobile_flow_otp=${otp}`,
      "Log in with Google",
    ],
    [
      "login_auth_button_oidc:keycloak",
      `/accounts/login/social/oidc/keycloak?next=%2Fsettings%2Fbots&mobile_flow_otp=${otp}`,
      "Log in with Keycloak",
    ],
    [
      "login_auth_button_oidc:okta",
      `/accounts/login/social/oidc/okta?next=%2Fsettings%2Fbots&mobile_flow_otp=${otp}`,
      "Log in with Okta",
    ],
  ]);

  // Without a name, with several providers: which one is meant is unknown.
  const unnamed = await get(server, "/accounts/login/social/oidc", "sales.testserver");
  assert.equal(unnamed.statusCode, 404);
  assert.match(unnamed.body, /Unknown identity provider/);
  // A provider that does not serve the organization.
  const foreign = await get(server, "/accounts/login/social/oidc/keycloak", "lab.testserver");
  assert.equal(foreign.statusCode, 403);
  assert.match(foreign.body, /Logging in with Keycloak is not enabled for this organization\./);
  const unknown = await get(server, "/accounts/login/social/oidc/nope", "sales.testserver");
  assert.equal(unknown.statusCode, 404);
  assert.match(unknown.body, /There is no identity provider “nope” here\./);
});

test("the first step checks the app flow, then sends the browser to the root host with the flow and next", async (t) => {
  const server = await makeTestServer({ env: idps({ corp: {} }) });
  t.after(() => server.close());
  await createRealm(server.ctx, { subdomain: "sales", name: "Sales" });
  const otp = randomBytes(32).toString("hex");
  const start = await get(server, `/accounts/login/social/oidc?mobile_flow_otp=${otp}&next=/settings/bots`, "sales.testserver");
  assert.equal(start.statusCode, 302);
  const location = new URL(start.headers.location as string);
  assert.equal(`${location.origin}${location.pathname}`, "http://testserver/login/oidc/");
  assert.deepEqual(Object.fromEntries(location.searchParams), {
    subdomain: "sales",
    idp: "corp",
    is_signup: "0",
    next: "/settings/bots",
    mobile_flow_otp: otp,
  });
  const signup = await get(server, `/accounts/register/social/oidc?desktop_flow_otp=${otp}`);
  assert.equal(new URL(signup.headers.location as string).searchParams.get("is_signup"), "1");
  assert.equal(new URL(signup.headers.location as string).searchParams.get("desktop_flow_otp"), otp);

  for (const query of ["mobile_flow_otp=1234", `desktop_flow_otp=${"z".repeat(64)}`]) {
    const bad = await get(server, `/accounts/login/social/oidc?${query}`);
    assert.equal(bad.statusCode, 400);
    assert.match(bad.body, /Invalid OTP/);
  }
  const both = await get(server, `/accounts/login/social/oidc?mobile_flow_otp=${otp}&desktop_flow_otp=${otp}`);
  assert.equal(both.statusCode, 400);
  assert.match(both.body, /Can&#39;t use both mobile_flow_otp and desktop_flow_otp together\./);
  const nowhere = await get(server, "/accounts/login/social/oidc", "nowhere.testserver");
  assert.equal(nowhere.statusCode, 404);
  // The second step checks again (its URL can be typed) and belongs on the root host.
  const typed = await get(server, `/login/oidc/?subdomain=sales&idp=corp&mobile_flow_otp=12`);
  assert.equal(typed.statusCode, 400);
  const missing = await get(server, "/login/oidc/?subdomain=nope&idp=corp");
  assert.equal(missing.statusCode, 404);
  const elsewhere = await get(server, "/login/oidc/?subdomain=sales&idp=corp", "sales.testserver");
  assert.equal(elsewhere.statusCode, 302);
  assert.equal(elsewhere.headers.location, "http://testserver/login/oidc/?subdomain=sales&idp=corp");
  // An answer without this browser's state cookie.
  const answer = await get(server, "/complete/oidc/?code=abc&state=def");
  assert.equal(answer.statusCode, 400);
  assert.match(answer.body, /Login expired/);
});

test("a provider whose oidc_url is wrong: a page saying it is not set up, an error in the log, never a 500", async (t) => {
  const idp = await startTestIdp({ redirectUris: ["http://testserver/complete/oidc/"], people: [] });
  t.after(() => idp.stop());
  const { stream, records: lines } = memoryLog();
  const server = await makeTestServer({
    env: {
      LATCHKEY_OIDC_IDPS: JSON.stringify({
        corp: { oidc_url: `${idp.issuer}/wrong`, client_id: idp.clientId, secret: idp.secret },
      }),
    },
    logger: createLogger("info", stream),
  });
  t.after(() => server.close());
  const res = await get(server, "/login/oidc/?subdomain=&idp=corp");
  assert.equal(res.statusCode, 502);
  assert.match(res.body, /Logging in with OIDC is not set up correctly/);
  assert.match(res.body, new RegExp(`quote request ${String(res.headers["x-request-id"])}`));
  const logged = lines.find((l) => l.msg === "identity provider misconfigured");
  assert.ok(logged, "an error line names the problem");
  assert.equal(logged.level, 50);
  assert.equal(logged.reqId, res.headers["x-request-id"]);
  assert.equal(logged.issuer, `${idp.issuer}/wrong`);
  // The right address works (discovery, then the provider's page).
  const good = await makeTestServer({
    env: { LATCHKEY_OIDC_IDPS: JSON.stringify({ corp: { oidc_url: idp.issuer, client_id: idp.clientId, secret: idp.secret } }) },
  });
  t.after(() => good.close());
  const started = await get(good, "/login/oidc/?subdomain=&idp=corp");
  assert.equal(started.statusCode, 302);
  const to = new URL(started.headers.location as string);
  assert.equal(`${to.origin}${to.pathname}`, `${idp.issuer}/auth`);
  assert.equal(to.searchParams.get("redirect_uri"), "http://testserver/complete/oidc/");
  assert.equal(to.searchParams.get("code_challenge_method"), "S256");
  assert.equal(to.searchParams.get("scope"), "openid profile email");
  assert.match(to.searchParams.get("nonce") ?? "", /^[A-Za-z0-9_-]{43}$/);
  const cookie = ([] as string[]).concat(started.headers["set-cookie"] ?? []).find((c) => c.startsWith("oidc_state="));
  assert.ok(cookie);
  assert.equal(cookie.split(";")[0], `oidc_state=${to.searchParams.get("state")}`);
  assert.match(cookie, /Path=\/complete\/oidc\//);
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Lax/);
});

test("a provider answering 5xx: 'Login unavailable, not answering', a warning in the log, tried again only after 30 seconds", async (t) => {
  let asked = 0;
  const broken = createServer((_req, res) => {
    asked++;
    res.writeHead(503, { "content-type": "text/plain" }).end("maintenance");
  });
  await new Promise<void>((resolve) => broken.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => broken.close(() => resolve())));
  const issuer = `http://127.0.0.1:${(broken.address() as AddressInfo).port}`;
  const { stream, records: lines } = memoryLog();
  const server = await makeTestServer({
    env: {
      LATCHKEY_OIDC_IDPS: JSON.stringify({ corp: { display_name: "Corp", oidc_url: issuer, client_id: "c", secret: "s" } }),
    },
    logger: createLogger("info", stream),
  });
  t.after(() => server.close());
  const res = await get(server, "/login/oidc/?subdomain=&idp=corp");
  assert.equal(res.statusCode, 503);
  assert.match(res.body, /Corp is not answering, so you cannot log in with it right now\./);
  assert.ok(lines.some((l) => l.msg === "identity provider unavailable" && l.level === 40));
  assert.equal(asked, 1);
  assert.equal((await get(server, "/login/oidc/?subdomain=&idp=corp")).statusCode, 503);
  assert.equal(asked, 1, "within 30 seconds the failure stands without asking again");
  server.clock.advance(30);
  assert.equal((await get(server, "/login/oidc/?subdomain=&idp=corp")).statusCode, 503);
  assert.equal(asked, 2);
});

test("with LATCHKEY_REALM_HOSTS the answer at the root host hands the browser to the organization's own host, and the app gets that URL", async (t) => {
  const idp = await startTestIdp({
    redirectUris: ["http://testserver/complete/oidc/"],
    people: [{ username: "regan", password: "idp-regan", email: "regan@lear.example", emailVerified: true }],
  });
  t.after(() => idp.stop());
  const server = await makeTestServer({
    env: {
      LATCHKEY_REALM_HOSTS: "lear=chat.lear.example",
      LATCHKEY_OIDC_IDPS: JSON.stringify({ corp: { oidc_url: idp.issuer, client_id: idp.clientId, secret: idp.secret } }),
    },
  });
  t.after(() => server.close());
  const lear = await createRealm(server.ctx, { subdomain: "lear", name: "Lear" });
  const { user: regan, apiKey } = await createAccount(server.ctx, {
    realmId: lear.id,
    email: "regan@lear.example",
    fullName: "Regan",
    password: null,
  });
  const settings = await serverSettings(server, "chat.lear.example");
  assert.equal(
    (settings.external_authentication_methods as { login_url: string }[])[0]?.login_url,
    "/accounts/login/social/oidc",
  );

  /** One login started on `host`, through the provider, back at the root host. */
  async function through(host: string, query: string): Promise<{ answer: LightMyRequestResponse; root: InjectBrowser }> {
    const start = await get(server, `/accounts/login/social/oidc${query}`, host);
    assert.equal(start.statusCode, 302);
    const begin = new URL(start.headers.location as string);
    assert.equal(begin.origin, "http://testserver", "the login continues on the root host");
    const root = new InjectBrowser(server.app, "testserver");
    const toProvider = await root.get(`${begin.pathname}${begin.search}`);
    assert.equal(toProvider.statusCode, 302);
    const back = new URL(
      await signInAtProvider(String(toProvider.headers.location), "regan", "idp-regan", "http://testserver/complete/oidc/"),
    );
    return { answer: await root.get(`${back.pathname}${back.search}`), root };
  }

  for (const host of ["chat.lear.example", "lear.testserver"]) {
    const { answer } = await through(host, "?next=/settings/bots");
    assert.equal(answer.statusCode, 302);
    const handoff = new URL(answer.headers.location as string);
    assert.equal(handoff.origin, "http://chat.lear.example", `started on ${host}`);
    assert.match(handoff.pathname, /^\/accounts\/login\/subdomain\/[A-Za-z0-9]{32}$/);
    assert.equal(handoff.searchParams.get("next"), "/settings/bots");
    const org = new InjectBrowser(server.app, "chat.lear.example");
    const landed = await org.get(`${handoff.pathname}${handoff.search}`);
    assert.equal(landed.statusCode, 302);
    assert.equal(landed.headers.location, "/settings/bots");
    assert.match((await org.get("/settings/bots")).body, /Regan/);
  }

  const otp = randomBytes(32).toString("hex");
  const { answer: mobile } = await through("lear.testserver", `?mobile_flow_otp=${otp}`);
  const zulip = new URL(mobile.headers.location as string);
  assert.equal(zulip.protocol, "zulip:");
  assert.equal(zulip.searchParams.get("realm"), "http://chat.lear.example");
  assert.equal(zulip.searchParams.get("user_id"), String(regan.id));
  assert.equal(otpDecryptApiKey(zulip.searchParams.get("otp_encrypted_api_key") as string, otp), apiKey);
});

test("LATCHKEY_OIDC_IDPS is checked at boot: each mistake stops the server with a message naming the variable", () => {
  const ok = { oidc_url: "https://idp.example.com/realms/acme/", client_id: "latchkey", secret: "s" };
  const bad: [unknown, RegExp][] = [
    ["{", /not valid JSON/],
    [["x"], /expected a JSON object of providers/],
    [{ "Bad Name": ok }, /provider name "Bad Name"/],
    [{ corp: "x" }, /"corp" must be an object/],
    [{ corp: { ...ok, oidc_url: undefined } }, /"oidc_url" must be a non-empty string/],
    [{ corp: { ...ok, client_id: "" } }, /"client_id" must be a non-empty string/],
    [{ corp: { ...ok, secret: 5 } }, /"secret" must be a non-empty string/],
    [{ corp: { ...ok, oidc_url: "idp.example.com" } }, /"oidc_url" is not a URL/],
    [{ corp: { ...ok, oidc_url: "http://idp.example.com" } }, /must be an https:\/\/ URL \(http:\/\/ only for localhost\)/],
    [{ corp: { ...ok, oidc_url: "https://idp.example.com/?x=1" } }, /must not have a query or fragment/],
    [{ corp: { ...ok, auto_signup: "yes" } }, /"auto_signup" must be true or false/],
    [{ corp: { ...ok, display_name: "" } }, /"display_name" must be a non-empty string/],
    [{ corp: { ...ok, display_icon: 3 } }, /"display_icon" must be a string or null/],
    [{ corp: { ...ok, limit_to_subdomains: "sales" } }, /"limit_to_subdomains" must be a list of subdomains/],
    [{ corp: { ...ok, limit_to_subdomains: ["Sales"] } }, /"limit_to_subdomains" must be a list of subdomains/],
    [{ corp: { ...ok, client_secret: "s" } }, /unknown key "client_secret"/],
  ];
  for (const [value, message] of bad) {
    const raw = typeof value === "string" ? value : JSON.stringify(value);
    assert.throws(
      () => parseOidcIdps({ LATCHKEY_OIDC_IDPS: raw }),
      (err: unknown) => err instanceof ConfigError && err.variable === "LATCHKEY_OIDC_IDPS" && message.test(err.message),
      raw,
    );
  }
  // loadConfig stops at it too.
  assert.throws(() => loadConfig("production", { LATCHKEY_OIDC_IDPS: "{" }), /^ConfigError: LATCHKEY_OIDC_IDPS: /);
  assert.throws(() => loadConfig("production", { LATCHKEY_JWT_AUTH_KEYS: "{" }), /^ConfigError: LATCHKEY_JWT_AUTH_KEYS: /);

  const [idp] = parseOidcIdps({ LATCHKEY_OIDC_IDPS: JSON.stringify({ corp: ok }) });
  assert.deepEqual(idp, {
    name: "corp",
    displayName: "OIDC",
    displayIcon: null,
    issuer: "https://idp.example.com/realms/acme/",
    clientId: "latchkey",
    secret: "s",
    autoSignup: false,
    limitToSubdomains: null,
  });
  assert.equal(
    parseOidcIdps({ LATCHKEY_OIDC_IDPS: JSON.stringify({ l: { ...ok, oidc_url: "http://localhost:8080/x" } }) })[0]?.issuer,
    "http://localhost:8080/x",
  );
  assert.deepEqual(parseOidcIdps({}), []);
});
