/** The bots API under /json with a session (Settings → Your bots): CSRF, the Session challenge, the page. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { json, makeTestServer, PASSWORD } from "../helper.js";
import { csrfTokenIn, InjectBrowser } from "./web-helper.js";

test("/json/bots: 401 Session without a session, 403 without the CSRF token, created with it", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const anonymous = await server.app.inject({ method: "GET", url: "/json/bots", headers: { host: "testserver" } });
  assert.equal(anonymous.statusCode, 401);
  assert.equal(anonymous.headers["www-authenticate"], 'Session realm="zulip"');

  const browser = new InjectBrowser(server.app);
  await browser.login("hamlet@zulip.com", PASSWORD);
  const csrf = csrfTokenIn((await browser.get("/settings/bots")).body) as string;
  const fields = { full_name: "Weather Bot", short_name: "weather", bot_type: "1" };
  const forged = await browser.post("/json/bots", fields);
  assert.equal(forged.statusCode, 403);
  assert.equal(json(forged).code, "CSRF_FAILED");
  assert.equal((await server.ctx.stores.users.listByRealm(server.realm.id)).filter((u) => u.isBot).length, 0);

  const created = await browser.post("/json/bots", fields, { "x-csrf-token": csrf });
  assert.equal(created.statusCode, 200);
  const botId = json(created).user_id as number;
  const list = await browser.get("/json/bots");
  assert.equal(list.statusCode, 200, "GET needs no CSRF token");
  assert.equal((json(list).bots as { username: string }[])[0]?.username, "weather-bot@testserver");

  const page = await browser.get("/settings/bots");
  assert.match(page.body, new RegExp(`value="${json(created).api_key}"`));
  assert.match(page.body, /href="data:application\/octet-stream;charset=utf-8,%5Bapi%5D%0Aemail%3Dweather-bot%40testserver/);

  const rotated = await browser.post(`/json/bots/${botId}/api_key/regenerate`, {}, { "x-csrf-token": csrf });
  assert.equal(rotated.statusCode, 200);
  assert.notEqual(json(rotated).api_key, json(created).api_key);

  const gone = await server.app.inject({
    method: "DELETE",
    url: `/json/bots/${botId}`,
    headers: { host: "testserver", cookie: `sessionid=${browser.cookies.get("sessionid")}` },
  });
  assert.equal(gone.statusCode, 403, "DELETE needs the CSRF token too");
  const deleted = await server.app.inject({
    method: "DELETE",
    url: `/json/bots/${botId}`,
    headers: {
      host: "testserver",
      cookie: [...browser.cookies].map(([k, v]) => `${k}=${v}`).join("; "),
      "x-csrf-token": csrf,
    },
  });
  assert.equal(deleted.statusCode, 200);
  const after = await browser.get("/settings/bots");
  assert.match(after.body, /Deactivated bots/);
  // Its owner may bring it back (Zulip's access_user_by_id for_admin: the owner or an administrator).
  assert.match(after.body, /<button type="button" class="secondary reactivate-bot" aria-label="Reactivate Weather Bot">/);
});

test("the regenerate endpoint has no /json twin and refuses a session alone", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const browser = new InjectBrowser(server.app);
  await browser.login("hamlet@zulip.com", PASSWORD);
  const csrf = csrfTokenIn((await browser.get("/settings/account")).body) as string;
  const twin = await browser.post("/json/users/me/api_key/regenerate", {}, { "x-csrf-token": csrf });
  assert.equal(twin.statusCode, 404);
  const api = await browser.post("/api/v1/users/me/api_key/regenerate", {}, { "x-csrf-token": csrf });
  assert.equal(api.statusCode, 401);
  assert.equal(json(api).msg, "Not logged in: API authentication or user session required");
  assert.equal(api.headers["www-authenticate"], 'Basic realm="zulip"');
});
