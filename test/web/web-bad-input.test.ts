/**
 * The web app's forms with hostile values behind a valid CSRF token, so every value reaches the
 * handler: never a 5xx, always an HTML page or a redirect, and a refused form changes nothing.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { makeTestServer, PASSWORD } from "../helper.js";
import { snapshotDatabase } from "../http/bad-input-harness.js";
import { runs } from "../property.js";
import { InjectBrowser } from "./web-helper.js";

const FORMS: { path: string; fields: string[] }[] = [
  { path: "/login/", fields: ["username", "password", "next", "mobile_flow_otp", "desktop_flow_otp"] },
  { path: "/accounts/login/dev/", fields: ["username", "next", "mobile_flow_otp", "desktop_flow_otp"] },
  { path: "/accounts/password/reset/", fields: ["email"] },
  { path: "/accounts/password/reset/confirm/", fields: ["token", "new_password1", "new_password2"] },
];

const hostile = fc.oneof(
  fc.string({ unit: "binary", maxLength: 80 }),
  fc.constantFrom(
    "",
    "\u0000",
    "hamlet@zulip.com\u0000",
    "iago@zulip.com",
    PASSWORD,
    "a".repeat(5000),
    "%zz",
    "*)(uid=*",
    "//evil.example/",
    "javascript:alert(1)",
    "f".repeat(64),
    "g".repeat(64),
    "\ud800",
    "<script>alert(1)</script>",
  ),
);

test("web forms with a valid CSRF token and hostile values: no 5xx, a page or a redirect, no change when refused", async (t) => {
  const server = await makeTestServer();
  t.after(() => server.close());
  const browser = new InjectBrowser(server.app);
  const _csrf = await browser.csrfFrom("/login/");
  let before = await snapshotDatabase(server.database);
  let sent = 0;
  const statuses = new Set<number>();
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...FORMS),
      fc.dictionary(
        fc.constantFrom(
          "username",
          "password",
          "next",
          "email",
          "token",
          "new_password1",
          "new_password2",
          "mobile_flow_otp",
          "desktop_flow_otp",
        ),
        hostile,
      ),
      async (form, values) => {
        server.clock.advance(400);
        const fields = { ...Object.fromEntries(Object.entries(values).filter(([k]) => form.fields.includes(k))), _csrf };
        // A fresh cookie jar each time, carrying only the CSRF cookie, so no session carries over.
        const client = new InjectBrowser(server.app);
        for (const [name, value] of browser.cookies) if (name !== "sessionid") client.cookies.set(name, value);
        const res = await client.post(form.path, fields as Record<string, string>);
        sent++;
        statuses.add(res.statusCode);
        const where = `${form.path} ${JSON.stringify(fields).slice(0, 300)}`;
        assert.ok(res.statusCode < 500, `${where} answered ${res.statusCode}`);
        if (res.statusCode >= 300 && res.statusCode < 400) assert.ok(res.headers.location, where);
        else assert.match(String(res.headers["content-type"]), /^text\/html/, where);
        const after = await snapshotDatabase(server.database);
        if (res.statusCode >= 400) assert.equal(after, before, `${where} was refused but changed the database`);
        before = after;
      },
    ),
    {
      numRuns: runs(600),
      // Run first, on purpose: a malformed email (400), a wrong password (401) and an accepted
      // reset request (200), so the check below does not depend on what the generator happens
      // to produce.
      examples: [
        [FORMS[0] as (typeof FORMS)[number], { username: "not an email", password: "x" }],
        [FORMS[0] as (typeof FORMS)[number], { username: "iago@zulip.com", password: "wrong" }],
        [FORMS[2] as (typeof FORMS)[number], { email: "hamlet@zulip.com" }],
      ],
    },
  );
  assert.ok(sent >= 600);
  // The values reached the handlers, not only CSRF refusals: the examples above made sure.
  assert.ok(statuses.has(400) && statuses.has(401) && statuses.has(200), [...statuses].join(" "));
});
