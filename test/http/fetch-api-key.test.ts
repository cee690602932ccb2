/**
 * `POST /api/v1/fetch_api_key` (docs/zulip-rules.md §1): every row of the error table with its exact status,
 * code, msg and var_name; the three ways parameters arrive; the order of checks;
 * `ignored_parameters_unsupported`; case-insensitive matching; and the per-username throttle
 * of §4.5 on a hand-moved clock.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { LightMyRequestResponse } from "fastify";
import { makeDjangoPbkdf2 } from "../../src/auth/password-hasher.js";
import {
  createAccount,
  createRealm,
  setAccountActive,
  setPassword,
  setRealmAuthMethods,
  setRealmDeactivated,
} from "../../src/domain/accounts.js";
import { generateApiKey } from "../../src/domain/api-key.js";
import { basic, form, json, makeTestServer, PASSWORD, type TestServer } from "../helper.js";

const URL = "/api/v1/fetch_api_key";

function login(server: TestServer, fields: Record<string, string>, host = "testserver"): Promise<LightMyRequestResponse> {
  const { payload, headers } = form(fields);
  return server.app.inject({ method: "POST", url: URL, payload, headers: { ...headers, host } });
}

/** A multipart/form-data body as form-data (zulip-js) writes it. */
function multipart(fields: Record<string, string>, boundary = "--------------------------123456789012345678901234") {
  const parts = Object.entries(fields).map(
    ([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`,
  );
  return {
    payload: `${parts.join("")}--${boundary}--\r\n`,
    headers: { "content-type": `multipart/form-data;boundary=${boundary}` },
  };
}

function assertError(res: LightMyRequestResponse, status: number, body: Record<string, unknown>): void {
  assert.equal(res.statusCode, status, res.body);
  assert.match(String(res.headers["content-type"]), /^application\/json/);
  assert.deepEqual(json(res), { result: "error", ...body });
}

const FAILED = { code: "AUTHENTICATION_FAILED", msg: "Your username or password is incorrect" };

function assertSuccess(server: TestServer, res: LightMyRequestResponse, user = server.iago): Record<string, unknown> {
  assert.equal(res.statusCode, 200, res.body);
  const body = json(res);
  assert.deepEqual(body, {
    result: "success",
    msg: "",
    api_key: server.keys.get(user.id),
    email: user.deliveryEmail,
    user_id: user.id,
  });
  assert.match(body.api_key as string, /^[A-Za-z0-9]{32}$/);
  return body;
}

test("success: 200 with api_key, the delivery email and user_id, for urlencoded, multipart and query-string parameters", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  assertSuccess(server, await login(server, { username: "iago@zulip.com", password: PASSWORD }));

  const mp = multipart({ username: "hamlet@zulip.com", password: PASSWORD });
  assertSuccess(server, await server.app.inject({ method: "POST", url: URL, ...mp }), server.hamlet);

  const query = new URLSearchParams({ username: "iago@zulip.com", password: PASSWORD });
  assertSuccess(server, await server.app.inject({ method: "POST", url: `${URL}?${query}` }));
  // A body of another type is read and ignored; the query string still supplies the parameters.
  assertSuccess(
    server,
    await server.app.inject({
      method: "POST",
      url: `${URL}?${query}`,
      headers: { "content-type": "application/json" },
      payload: "{}",
    }),
  );
});

test("passwords with form metacharacters and non-ASCII survive every encoding", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const password = "a+b c&d=e%f;g\u00e9\u{1F600}";
  await setPassword(server.ctx, server.iago, password);
  const fields = { username: "iago@zulip.com", password };
  assertSuccess(server, await login(server, fields));
  assertSuccess(server, await server.app.inject({ method: "POST", url: URL, ...multipart(fields) }));
  assertSuccess(server, await server.app.inject({ method: "POST", url: `${URL}?${new URLSearchParams(fields)}` }));
  const percent = `username=iago%40zulip.com&password=${encodeURIComponent(password)}`;
  assertSuccess(
    server,
    await server.app.inject({
      method: "POST",
      url: URL,
      payload: percent,
      headers: { "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
    }),
  );
  // "+" is a space in a form: the literal password with "+" must be percent-encoded.
  const raw = await server.app.inject({
    method: "POST",
    url: URL,
    payload: `username=iago%40zulip.com&password=${password}`,
    headers: { "content-type": "application/x-www-form-urlencoded" },
  });
  assertError(raw, 401, FAILED);
});

test("the body wins over the query string when both carry a parameter", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const wrongInQuery = `${URL}?${new URLSearchParams({ username: "hamlet@zulip.com", password: "wrong" })}`;
  const { payload, headers } = form({ username: "iago@zulip.com", password: PASSWORD });
  assertSuccess(server, await server.app.inject({ method: "POST", url: wrongInQuery, payload, headers }));

  const mp = multipart({ password: "wrong" });
  const goodInQuery = `${URL}?${new URLSearchParams({ username: "iago@zulip.com", password: PASSWORD })}`;
  assertError(await server.app.inject({ method: "POST", url: goodInQuery, ...mp }), 401, FAILED);
});

test("every row of the §1 error table, with exact status, code and msg", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const { ctx, realm } = server;

  // Missing parameters, in declared order: username first, then password.
  assertError(await login(server, {}), 400, {
    msg: "Missing 'username' argument",
    code: "REQUEST_VARIABLE_MISSING",
    var_name: "username",
  });
  assertError(await login(server, { password: PASSWORD }), 400, {
    msg: "Missing 'username' argument",
    code: "REQUEST_VARIABLE_MISSING",
    var_name: "username",
  });
  assertError(await login(server, { username: "iago@zulip.com" }), 400, {
    msg: "Missing 'password' argument",
    code: "REQUEST_VARIABLE_MISSING",
    var_name: "password",
  });

  // No organization at the host.
  assertError(await login(server, { username: "iago@zulip.com", password: PASSWORD }, "nowhere.testserver"), 404, {
    msg: "Invalid subdomain",
    code: "NONEXISTENT_SUBDOMAIN",
  });

  // Email syntax (no LDAP configured).
  for (const username of ["not-an-email", "", "iago@", "@zulip.com", "iago zulip.com"]) {
    assertError(await login(server, { username, password: PASSWORD }), 400, {
      msg: "Enter a valid email address.",
      code: "BAD_REQUEST",
    });
  }

  // Anything else: wrong password, empty password, no such user.
  assertError(await login(server, { username: "iago@zulip.com", password: "wrong" }), 401, FAILED);
  assertError(await login(server, { username: "iago@zulip.com", password: "" }), 401, FAILED);
  assertError(await login(server, { username: "nobody@zulip.com", password: PASSWORD }), 401, FAILED);

  // A user who exists only in another organization: the late-2025 answer.
  const other = await createRealm(ctx, { subdomain: "other", name: "Other" });
  await createAccount(ctx, { realmId: other.id, email: "desdemona@zulip.com", fullName: "Desdemona", password: PASSWORD });
  assertError(await login(server, { username: "desdemona@zulip.com", password: PASSWORD }), 401, FAILED);
  assert.equal(
    (await login(server, { username: "desdemona@zulip.com", password: PASSWORD }, "other.testserver")).statusCode,
    200,
  );

  // Deactivated user: even with a wrong password.
  const deactivated = { code: "USER_DEACTIVATED", msg: "Account is deactivated" };
  await setAccountActive(ctx, server.hamlet.id, false);
  assertError(await login(server, { username: "hamlet@zulip.com", password: PASSWORD }), 401, deactivated);
  assertError(await login(server, { username: "hamlet@zulip.com", password: "wrong" }), 401, deactivated);

  // Deactivated organization: same, and it is checked before the user is.
  await setRealmDeactivated(ctx, realm.id, true);
  const realmGone = { code: "REALM_DEACTIVATED", msg: "This organization has been deactivated" };
  assertError(await login(server, { username: "iago@zulip.com", password: PASSWORD }), 401, realmGone);
  assertError(await login(server, { username: "iago@zulip.com", password: "wrong" }), 401, realmGone);
  // A deactivated user in a deactivated organization: common_get_active_user looks at the
  // organization first, so only inactive_realm is flagged.
  assertError(await login(server, { username: "hamlet@zulip.com", password: PASSWORD }), 401, realmGone);
  await setRealmDeactivated(ctx, realm.id, false);

  // Password authentication disabled: neither email nor LDAP login is on.
  await setRealmAuthMethods(ctx, realm.id, { email: false });
  assertError(await login(server, { username: "iago@zulip.com", password: PASSWORD }), 401, {
    code: "PASSWORD_AUTH_DISABLED",
    msg: "Password authentication is disabled in this organization",
  });
  await setRealmAuthMethods(ctx, realm.id, { email: true });

  // An imported password that is too weak to carry forward.
  const weak = await createAccount(ctx, { realmId: realm.id, email: "weak@zulip.com", fullName: "Weak", password: null });
  await ctx.stores.users.update(weak.user.id, { passwordHash: await makeDjangoPbkdf2("abc", "saltsalt", 1000) });
  assertError(await login(server, { username: "weak@zulip.com", password: "abc" }), 401, {
    code: "PASSWORD_RESET_REQUIRED",
    msg: "Your password has been disabled and needs to be reset",
  });
  // The wrong password for that account is the generic failure.
  assertError(await login(server, { username: "weak@zulip.com", password: "abd" }), 401, FAILED);

  // An account without a usable password.
  assertError(await login(server, { username: "weak@zulip.com", password: "" }), 401, FAILED);
});

test("405 for every other method, with allowed_methods and no code", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  for (const method of ["GET", "PUT", "PATCH", "DELETE"] as const) {
    const res = await server.app.inject({ method, url: `${URL}?username=iago@zulip.com&password=${PASSWORD}` });
    assertError(res, 405, { msg: "Method Not Allowed", allowed_methods: ["POST"] });
  }
  // /json/fetch_api_key is not this view: it is the web app's session view (§7.4).
  const web = await server.app.inject({ method: "POST", url: "/json/fetch_api_key" });
  assert.equal(web.statusCode, 401);
  assert.equal(web.headers["www-authenticate"], 'Session realm="zulip"');
});

test("the order of checks: method, parameters, organization, email syntax, throttle, credentials", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  // Method before parameters.
  assert.equal((await server.app.inject({ method: "GET", url: URL })).statusCode, 405);
  // Parameters before the organization.
  assertError(await login(server, { username: "iago@zulip.com" }, "nowhere.testserver"), 400, {
    msg: "Missing 'password' argument",
    code: "REQUEST_VARIABLE_MISSING",
    var_name: "password",
  });
  // The organization before the email syntax.
  assert.equal((await login(server, { username: "nonsense", password: "x" }, "nowhere.testserver")).statusCode, 404);
  // Email syntax before the throttle: bad syntax never uses up attempts.
  for (let i = 0; i < 10; i++) assert.equal((await login(server, { username: "iago", password: "x" })).statusCode, 400);
  assertSuccess(server, await login(server, { username: "iago@zulip.com", password: PASSWORD }));
  // The throttle before the credentials: once over, even the right password is refused.
  for (let i = 0; i < 5; i++) {
    assert.equal((await login(server, { username: "hamlet@zulip.com", password: "wrong" })).statusCode, 401);
  }
  assert.equal((await login(server, { username: "hamlet@zulip.com", password: PASSWORD })).statusCode, 429);
  // The hasher was not asked about the refused attempt.
  const work = server.hasher.work;
  await login(server, { username: "hamlet@zulip.com", password: PASSWORD });
  assert.equal(server.hasher.work, work);
});

test("ignored_parameters_unsupported: sorted unread names from body and query, only on success, never for client", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const res = await login(server, { username: "iago@zulip.com", password: PASSWORD, foo: "1", bar: "2", client: "test" });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(json(res).ignored_parameters_unsupported, ["bar", "foo"]);

  const { payload, headers } = form({ username: "iago@zulip.com", password: PASSWORD, zeta: "1" });
  const both = await server.app.inject({ method: "POST", url: `${URL}?alpha=1&username=x`, payload, headers });
  assert.equal(both.statusCode, 200);
  assert.deepEqual(json(both).ignored_parameters_unsupported, ["alpha", "zeta"]);

  const mp = multipart({ username: "iago@zulip.com", password: PASSWORD, extra: "x" });
  assert.deepEqual(json(await server.app.inject({ method: "POST", url: URL, ...mp })).ignored_parameters_unsupported, ["extra"]);

  // Absent when everything was read, and never on errors.
  assert.equal(
    "ignored_parameters_unsupported" in json(await login(server, { username: "iago@zulip.com", password: PASSWORD })),
    false,
  );
  const failed = await login(server, { username: "iago@zulip.com", password: "wrong", foo: "1" });
  assertError(failed, 401, FAILED);
});

test("usernames match the delivery email case-insensitively and with surrounding whitespace stripped", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  for (const username of ["IAGO@ZULIP.COM", "Iago@Zulip.com", "iago@zulip.COM"]) {
    assertSuccess(server, await login(server, { username, password: PASSWORD }));
  }
  // Django's validate_email runs on the raw value first, and refuses surrounding whitespace.
  assertError(await login(server, { username: " iago@zulip.com ", password: PASSWORD }), 400, {
    msg: "Enter a valid email address.",
    code: "BAD_REQUEST",
  });
  // The returned email is the stored one, not what was typed.
  assert.equal(json(await login(server, { username: "IAGO@zulip.com", password: PASSWORD })).email, "iago@zulip.com");
  // Passwords are not case-insensitive.
  assertError(await login(server, { username: "iago@zulip.com", password: PASSWORD.toUpperCase() }), 401, FAILED);
});

test("§4.5: 5 attempts per 30 minutes per account; the 429 shape and headers; success clears", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const start = server.clock.now() / 1000;
  for (let i = 1; i <= 5; i++) {
    server.clock.advance(60);
    const res = await login(server, { username: "iago@zulip.com", password: "wrong" });
    assertError(res, 401, FAILED);
    assert.equal(res.headers["x-ratelimit-limit"], "5");
    assert.equal(res.headers["x-ratelimit-remaining"], String(5 - i));
  }
  // The sixth, 4 minutes after the first: the first attempt frees up at start + 60 + 1800.
  const limited = await login(server, { username: "iago@zulip.com", password: PASSWORD });
  const secondsLeft = start + 60 + 1800 - server.clock.now() / 1000;
  assert.equal(secondsLeft, 1560);
  assertError(limited, 429, { msg: "API usage exceeded rate limit", code: "RATE_LIMIT_HIT", "retry-after": secondsLeft });
  assert.equal(limited.headers["retry-after"], String(secondsLeft));
  assert.equal(limited.headers["x-ratelimit-limit"], "5");
  assert.equal(limited.headers["x-ratelimit-remaining"], "0");
  assert.equal(limited.headers["x-ratelimit-reset"], String(Math.floor(start + 60 + 1800)));

  // Another spelling of the same account shares its budget (Zulip keys on the string as typed;
  // Latchkey on the account).
  assert.equal((await login(server, { username: "IAGO@zulip.com", password: PASSWORD })).statusCode, 429);
  // Another user is unaffected.
  assertSuccess(server, await login(server, { username: "hamlet@zulip.com", password: PASSWORD }), server.hamlet);

  // Fractional retry-after when the clock is between seconds.
  server.clock.ms += 500;
  const fractional = await login(server, { username: "iago@zulip.com", password: PASSWORD });
  assert.equal(fractional.statusCode, 429);
  assert.equal(json(fractional)["retry-after"], 1559.5);
  assert.equal(fractional.headers["retry-after"], "1559.5");

  // Once the oldest attempt leaves the window, one more attempt is allowed, and a success clears.
  server.clock.advance(1559);
  assert.equal((await login(server, { username: "iago@zulip.com", password: PASSWORD })).statusCode, 429);
  server.clock.advance(1);
  assertSuccess(server, await login(server, { username: "iago@zulip.com", password: PASSWORD }));
  for (let i = 0; i < 4; i++) assertError(await login(server, { username: "iago@zulip.com", password: "wrong" }), 401, FAILED);
  assertSuccess(server, await login(server, { username: "iago@zulip.com", password: PASSWORD }));
  const afterClear = await login(server, { username: "iago@zulip.com", password: "wrong" });
  assertError(afterClear, 401, FAILED);
  assert.equal(afterClear.headers["x-ratelimit-remaining"], "4");
});

test("eight spellings of one account share one budget: 429 RATE_LIMIT_HIT after the configured five", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  // Spellings the account lookup folds together.
  const spellings = [
    "hamlet@zulip.com",
    "HAMLET@ZULIP.COM",
    "Hamlet@Zulip.com",
    "hAmLeT@zUlIp.CoM",
    "HAMLET@zulip.com",
    "hamlet@ZULIP.com",
    "HaMlEt@ZuLiP.cOm",
    "HAMLET@Zulip.COM",
  ];
  const outcomes: number[] = [];
  for (const username of spellings) outcomes.push((await login(server, { username, password: "wrong" })).statusCode);
  assert.deepEqual(outcomes, [401, 401, 401, 401, 401, 429, 429, 429]);
  const limited = await login(server, { username: "hamlet@zulip.com", password: PASSWORD });
  assertError(limited, 429, { msg: "API usage exceeded rate limit", code: "RATE_LIMIT_HIT", "retry-after": 1800 });
  // Other accounts keep their own budgets.
  assertSuccess(server, await login(server, { username: "IAGO@zulip.com", password: PASSWORD }));
});

test("setting a password clears the account's one budget, whichever spelling used it up", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  for (let i = 0; i < 5; i++)
    await login(server, { username: i % 2 === 0 ? "HAMLET@zulip.com" : "hamlet@ZULIP.com", password: "wrong" });
  assert.equal((await login(server, { username: "hamlet@zulip.com", password: PASSWORD })).statusCode, 429);
  await setPassword(server.ctx, server.hamlet, "a new Passw0rd, long enough");
  assertSuccess(
    server,
    await login(server, { username: "Hamlet@Zulip.com", password: "a new Passw0rd, long enough" }),
    server.hamlet,
  );
});

test("success responses carry X-RateLimit-* headers from the username throttle", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const res = await login(server, { username: "iago@zulip.com", password: PASSWORD });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers["x-ratelimit-limit"], "5");
  assert.equal(res.headers["x-ratelimit-remaining"], "4");
  assert.match(String(res.headers["x-ratelimit-reset"]), /^\d+$/);
});

test("a password change clears the username throttle (§4.5 do_change_password)", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  for (let i = 0; i < 5; i++) assertError(await login(server, { username: "iago@zulip.com", password: "wrong" }), 401, FAILED);
  assert.equal((await login(server, { username: "iago@zulip.com", password: PASSWORD })).statusCode, 429);
  await setPassword(server.ctx, server.iago, "A-New-Passw0rd-For-Iago");
  assertSuccess(server, await login(server, { username: "iago@zulip.com", password: "A-New-Passw0rd-For-Iago" }));
});

test("logins match the real (delivery) email, not a public one, and answer with the real one", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const { ctx } = server;
  const apiKey = generateApiKey();
  const user = await ctx.stores.users.create(
    {
      realmId: server.realm.id,
      email: "user7@zulip.example.org",
      deliveryEmail: "Private.Person@example.com",
      fullName: "Private Person",
      role: 400,
      passwordHash: await ctx.hasher.hash(PASSWORD),
      apiKey: ctx.vault.seal(apiKey),
    },
    ctx.clock.now(),
  );
  const ok = await login(server, { username: "private.person@example.com", password: PASSWORD });
  assert.equal(ok.statusCode, 200);
  assert.deepEqual(json(ok), {
    result: "success",
    msg: "",
    api_key: apiKey,
    email: "Private.Person@example.com",
    user_id: user.id,
  });
  assertError(await login(server, { username: "user7@zulip.example.org", password: PASSWORD }), 401, FAILED);

  // Basic auth takes the delivery email too; users/me shows both addresses.
  const auth = (email: string) =>
    server.app.inject({ method: "GET", url: "/api/v1/users/me", headers: { authorization: basic(email, apiKey) } });
  const me = await auth("PRIVATE.PERSON@example.com");
  assert.equal(me.statusCode, 200);
  assert.equal(json(me).email, "user7@zulip.example.org");
  assert.equal(json(me).delivery_email, "Private.Person@example.com");
  const publicEmail = await auth("user7@zulip.example.org");
  assert.equal(publicEmail.statusCode, 401);
  assert.deepEqual(json(publicEmail), { result: "error", msg: "Invalid API key", code: "UNAUTHORIZED" });
});

test("attempts sent all at once share the budget: exactly 5 are checked, the rest refused unhashed", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const answers = await Promise.all(
    Array.from({ length: 12 }, () => login(server, { username: "hamlet@zulip.com", password: "wrong" })),
  );
  const statuses = answers.map((r) => r.statusCode).sort();
  assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429, 429, 429, 429, 429, 429]);
  assert.equal(server.hasher.work, 5);
});
