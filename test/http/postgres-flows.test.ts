/**
 * The main flows of fetch_api_key, dev login, server_settings and users/me on PostgreSQL, so
 * that the HTTP answers do not depend on the database. Fails under CI=true without PostgreSQL.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { createAccount, createRealm, setAccountActive, setRealmDeactivated } from "../../src/domain/accounts.js";
import { basic, form, freshPostgresUrl, json, makeTestServer, PASSWORD } from "../helper.js";

const postgres = await freshPostgresUrl();
if (postgres !== null) {
  describe("postgres-flows", () => {
    after(() => postgres.drop());

    test("on PostgreSQL: login, case-insensitive email, users/me, deactivation and other organizations answer as on SQLite", async (t) => {
      const server = await makeTestServer({ databaseUrl: postgres.url });
      t.after(() => server.close());
      const login = (username: string, password: string, host = "testserver") =>
        server.app.inject({
          method: "POST",
          url: "/api/v1/fetch_api_key",
          ...form({ username, password }),
          headers: { ...form({}).headers, host },
        });

      const ok = await login("IAGO@zulip.com", PASSWORD);
      assert.equal(ok.statusCode, 200);
      assert.deepEqual(json(ok), {
        result: "success",
        msg: "",
        api_key: server.keys.get(server.iago.id),
        email: "iago@zulip.com",
        user_id: server.iago.id,
      });
      const key = json(ok).api_key as string;
      const me = await server.app.inject({
        method: "GET",
        url: "/api/v1/users/me",
        headers: { authorization: basic("Iago@Zulip.com", key) },
      });
      assert.equal(me.statusCode, 200);
      assert.equal(json(me).date_joined, "2026-01-01T00:00:00+00:00");
      assert.deepEqual(json(await login("iago@zulip.com", "wrong")), {
        result: "error",
        msg: "Your username or password is incorrect",
        code: "AUTHENTICATION_FAILED",
      });

      const other = await createRealm(server.ctx, { subdomain: "other", name: "Other" });
      await createAccount(server.ctx, {
        realmId: other.id,
        email: "desdemona@zulip.com",
        fullName: "Desdemona",
        password: PASSWORD,
      });
      assert.equal((await login("desdemona@zulip.com", PASSWORD)).statusCode, 401);
      assert.equal((await login("Desdemona@zulip.com", PASSWORD, "other.testserver")).statusCode, 200);

      await setAccountActive(server.ctx, server.hamlet.id, false);
      assert.equal(json(await login("hamlet@zulip.com", PASSWORD)).code, "USER_DEACTIVATED");
      const dev = await server.app.inject({
        method: "POST",
        url: "/api/v1/dev_fetch_api_key",
        ...form({ username: "HAMLET@zulip.com" }),
      });
      assert.equal(json(dev).code, "USER_DEACTIVATED");
      const users = json(await server.app.inject({ method: "GET", url: "/api/v1/dev_list_users" }));
      assert.deepEqual(users.direct_users, [{ email: "desdemona@zulip.com", realm_url: "http://other.testserver" }]);

      await setRealmDeactivated(server.ctx, server.realm.id, true);
      const gone = await server.app.inject({
        method: "GET",
        url: "/api/v1/users/me",
        headers: { authorization: basic("iago@zulip.com", key) },
      });
      assert.equal(gone.statusCode, 401);
      assert.deepEqual(json(gone), { result: "error", msg: "This organization has been deactivated", code: "UNAUTHORIZED" });
      const settings = json(await server.app.inject({ method: "GET", url: "/api/v1/server_settings" }));
      assert.equal(settings.realm_name, "Zulip Dev");
    });
  });
}
