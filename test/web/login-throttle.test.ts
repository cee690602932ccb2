/**
 * One login budget per account on every password path: the API's fetch_api_key, the web login
 * form and the settings page's /json/fetch_api_key count against the same five attempts,
 * whatever spelling of the account each one uses (docs/zulip-rules.md §4.5).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { form, json, makeTestServer, PASSWORD } from "../helper.js";
import { csrfTokenIn, InjectBrowser, pageError } from "./web-helper.js";

test("the API, the web login form and /json/fetch_api_key share one budget for every spelling of the account", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const session = new InjectBrowser(server.app);
  assert.equal((await session.login("iago@zulip.com", PASSWORD)).statusCode, 302);
  const csrf = csrfTokenIn((await session.get("/settings/account")).body) as string;
  const api = (username: string, password: string) =>
    server.app.inject({ method: "POST", url: "/api/v1/fetch_api_key", ...form({ username, password }) });
  const webForm = new InjectBrowser(server.app);

  const outcomes: string[] = [];
  outcomes.push(`api ${(await api("IAGO@zulip.com", "wrong")).statusCode}`);
  outcomes.push(`web ${(await webForm.login("  Iago@Zulip.com ", "wrong")).statusCode}`);
  outcomes.push(
    `json ${(await session.post("/json/fetch_api_key", { password: "wrong" }, { "x-csrf-token": csrf })).statusCode}`,
  );
  outcomes.push(`api ${(await api("iago@ZULIP.COM", "wrong")).statusCode}`);
  outcomes.push(`web ${(await webForm.login("IAGO@ZULIP.COM", "wrong")).statusCode}`);
  // The budget is spent: the right password is refused on every path and in every spelling.
  const apiLimited = await api("iAgO@zulip.com", PASSWORD);
  outcomes.push(`api ${apiLimited.statusCode}`);
  const webLimited = await webForm.login("iago@zulip.com", PASSWORD);
  outcomes.push(`web ${webLimited.statusCode}`);
  const jsonLimited = await session.post("/json/fetch_api_key", { password: PASSWORD }, { "x-csrf-token": csrf });
  outcomes.push(`json ${jsonLimited.statusCode}`);
  assert.deepEqual(outcomes, ["api 401", "web 401", "json 400", "api 401", "web 401", "api 429", "web 429", "json 429"]);
  assert.equal(json(apiLimited).code, "RATE_LIMIT_HIT");
  assert.equal(json(jsonLimited).code, "RATE_LIMIT_HIT");
  assert.match(pageError(webLimited.body) ?? "", /^Too many login attempts for this account\. Try again in \d+ seconds\.$/);
  assert.ok(webLimited.headers["retry-after"]);
  // Another account is untouched.
  assert.equal((await api("hamlet@zulip.com", PASSWORD)).statusCode, 200);
});
