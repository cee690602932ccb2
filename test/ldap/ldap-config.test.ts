/** The LATCHKEY_LDAP_* variables are validated at boot, each bad value named in the message. */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadConfig } from "../../src/config.js";
import { ConfigError } from "../../src/env.js";

const BASE = {
  LATCHKEY_LDAP_SERVER_URI: "ldap://ldap.example.com",
  LATCHKEY_LDAP_BIND_DN: "cn=latchkey,dc=example,dc=com",
  LATCHKEY_LDAP_BIND_PASSWORD: "secret",
  LATCHKEY_LDAP_USER_SEARCH_BASE: "ou=people,dc=example,dc=com",
  LATCHKEY_LDAP_APPEND_DOMAIN: "example.com",
};

function load(env: Record<string, string>) {
  return loadConfig("production", env);
}

function refused(env: Record<string, string>, variable: string, pattern: RegExp): void {
  assert.throws(
    () => load(env),
    (err: unknown) => err instanceof ConfigError && err.variable === variable && pattern.test(err.message),
    `${variable} ${JSON.stringify(env)}`,
  );
}

test("without a server URI LDAP is off, and a stray LDAP variable is an error", () => {
  assert.equal(load({}).ldap, null);
  refused({ LATCHKEY_LDAP_BIND_DN: "cn=x" }, "LATCHKEY_LDAP_BIND_DN", /LATCHKEY_LDAP_SERVER_URI is not/);
});

test("the defaults mirror Zulip's and django-auth-ldap's", () => {
  const ldap = load(BASE).ldap;
  assert.ok(ldap);
  assert.deepEqual(ldap.serverUris, ["ldap://ldap.example.com"]);
  assert.equal(ldap.userSearchFilter, "(uid=%(user)s)");
  assert.equal(ldap.fullNameAttr, "cn");
  assert.equal(ldap.startTls, false);
  assert.equal(ldap.connectTimeoutMs, 5000);
  assert.equal(ldap.timeoutMs, 10000);
  assert.deepEqual(ldap.deactivatedValues, ["true", "yes"]);
  assert.equal(ldap.appendDomain, "example.com");
});

test("several servers, StartTLS and a CA file are read", () => {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-ca-"));
  const ca = join(dir, "ca.pem");
  writeFileSync(ca, "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
  const ldap = load({
    ...BASE,
    LATCHKEY_LDAP_SERVER_URI: "ldap://a.example.com:389, ldap://b.example.com/",
    LATCHKEY_LDAP_START_TLS: "true",
    LATCHKEY_LDAP_CA_FILE: ca,
  }).ldap;
  assert.deepEqual(ldap?.serverUris, ["ldap://a.example.com:389", "ldap://b.example.com/"]);
  assert.equal(ldap?.startTls, true);
  assert.match(ldap?.ca?.toString() ?? "", /BEGIN CERTIFICATE/);
});

test("bad values stop the boot with a message naming the variable", () => {
  const cases: [Record<string, string>, string, RegExp][] = [
    [{ LATCHKEY_LDAP_SERVER_URI: "http://ldap.example.com" }, "LATCHKEY_LDAP_SERVER_URI", /ldap:\/\/host/],
    [{ LATCHKEY_LDAP_SERVER_URI: "ldap://ldap.example.com/dc=example?uid" }, "LATCHKEY_LDAP_SERVER_URI", /ldap:\/\/host/],
    [{ LATCHKEY_LDAP_SERVER_URI: "ldap.example.com" }, "LATCHKEY_LDAP_SERVER_URI", /not a URL/],
    [{ LATCHKEY_LDAP_SERVER_URI: " , " }, "LATCHKEY_LDAP_SERVER_URI", /one or more/],
    [
      { LATCHKEY_LDAP_SERVER_URI: "ldaps://ldap.example.com", LATCHKEY_LDAP_START_TLS: "yes" },
      "LATCHKEY_LDAP_START_TLS",
      /not both/,
    ],
    [{ LATCHKEY_LDAP_START_TLS: "maybe" }, "LATCHKEY_LDAP_START_TLS", /true or false/],
    [{ LATCHKEY_LDAP_CA_FILE: "/nonexistent/ca.pem" }, "LATCHKEY_LDAP_CA_FILE", /cannot read/],
    [{ LATCHKEY_LDAP_BIND_PASSWORD: "" }, "LATCHKEY_LDAP_BIND_PASSWORD", /required with LATCHKEY_LDAP_BIND_DN/],
    [{ LATCHKEY_LDAP_BIND_DN: "" }, "LATCHKEY_LDAP_BIND_DN", /required with LATCHKEY_LDAP_BIND_PASSWORD/],
    [{ LATCHKEY_LDAP_USER_SEARCH_BASE: "" }, "LATCHKEY_LDAP_USER_SEARCH_BASE", /required/],
    [{ LATCHKEY_LDAP_USER_SEARCH_FILTER: "(uid=someone)" }, "LATCHKEY_LDAP_USER_SEARCH_FILTER", /%\(user\)s/],
    [{ LATCHKEY_LDAP_USER_SEARCH_FILTER: "(uid=%(user)s" }, "LATCHKEY_LDAP_USER_SEARCH_FILTER", /not a valid LDAP filter/],
    [{ LATCHKEY_LDAP_APPEND_DOMAIN: "not a domain" }, "LATCHKEY_LDAP_APPEND_DOMAIN", /domain/],
    [{ LATCHKEY_LDAP_EMAIL_ATTR: "mail" }, "LATCHKEY_LDAP_EMAIL_ATTR", /APPEND_DOMAIN/],
    [{ LATCHKEY_LDAP_FULL_NAME_ATTR: "c n" }, "LATCHKEY_LDAP_FULL_NAME_ATTR", /attribute name/],
    [{ LATCHKEY_LDAP_DEACTIVATED_VALUES: "yes" }, "LATCHKEY_LDAP_DEACTIVATED_VALUES", /DEACTIVATED_ATTR/],
    [{ LATCHKEY_LDAP_TIMEOUT_MS: "soon" }, "LATCHKEY_LDAP_TIMEOUT_MS", /milliseconds/],
    [{ LATCHKEY_LDAP_CONNECT_TIMEOUT_MS: "0" }, "LATCHKEY_LDAP_CONNECT_TIMEOUT_MS", /between 1 and/],
    [
      { LATCHKEY_LDAP_APPEND_DOMAIN: "", LATCHKEY_LDAP_USERNAME_ATTR: "uid" },
      "LATCHKEY_LDAP_REVERSE_EMAIL_SEARCH",
      /both required/,
    ],
    [
      { LATCHKEY_LDAP_APPEND_DOMAIN: "", LATCHKEY_LDAP_REVERSE_EMAIL_SEARCH: "(mail=%(email)s)" },
      "LATCHKEY_LDAP_USERNAME_ATTR",
      /both required/,
    ],
    [
      { LATCHKEY_LDAP_APPEND_DOMAIN: "", LATCHKEY_LDAP_USERNAME_ATTR: "uid", LATCHKEY_LDAP_REVERSE_EMAIL_SEARCH: "(mail=x)" },
      "LATCHKEY_LDAP_REVERSE_EMAIL_SEARCH",
      /%\(email\)s/,
    ],
  ];
  for (const [change, variable, pattern] of cases) refused({ ...BASE, ...change }, variable, pattern);
});

test("without APPEND_DOMAIN, the email attribute and a reverse search make a working configuration", () => {
  const ldap = load({
    ...BASE,
    LATCHKEY_LDAP_APPEND_DOMAIN: "",
    LATCHKEY_LDAP_USERNAME_ATTR: "uid",
    LATCHKEY_LDAP_EMAIL_ATTR: "mail",
    LATCHKEY_LDAP_REVERSE_EMAIL_SEARCH: "(&(objectClass=inetOrgPerson)(mail=%(email)s))",
    LATCHKEY_LDAP_DEACTIVATED_ATTR: "nsAccountLock",
    LATCHKEY_LDAP_DEACTIVATED_VALUES: "TRUE, Disabled",
  }).ldap;
  assert.equal(ldap?.appendDomain, null);
  assert.equal(ldap?.emailAttr, "mail");
  assert.deepEqual(ldap?.deactivatedValues, ["true", "disabled"]);
});
