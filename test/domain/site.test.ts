/** The site model: which organization a host selects, and every address an organization has. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Site } from "../../src/domain/site.js";

const site = new Site({
  externalScheme: "https",
  externalHost: "chat.example.com",
  rootSubdomainAliases: ["www"],
  realmHosts: { lear: "chat.lear.example", ports: "ports.example:8443" },
});

test("a Host header selects an organization: subdomains, aliases, configured hosts, anything else the root", () => {
  assert.equal(site.subdomainOf("chat.example.com"), "");
  assert.equal(site.subdomainOf("CHAT.example.com:443"), "");
  assert.equal(site.subdomainOf("zephyr.chat.example.com"), "zephyr");
  assert.equal(site.subdomainOf("Zephyr.Chat.Example.Com:8080"), "zephyr");
  assert.equal(site.subdomainOf("www.chat.example.com"), "");
  assert.equal(site.subdomainOf("chat.lear.example"), "lear");
  assert.equal(site.subdomainOf("chat.lear.example:9991"), "lear");
  assert.equal(site.subdomainOf("ports.example:8443"), "ports");
  assert.equal(site.subdomainOf("elsewhere.test"), "");
  assert.equal(site.subdomainOf(undefined), "");
});

test("an organization's host, URL and bot domain come from one rule, configured hosts included", () => {
  assert.equal(site.urlOf(""), "https://chat.example.com");
  assert.equal(site.rootUrl, "https://chat.example.com");
  assert.equal(site.urlOf("zephyr"), "https://zephyr.chat.example.com");
  assert.equal(site.urlOf("lear"), "https://chat.lear.example");
  assert.equal(site.hostOf("ports"), "ports.example:8443");
  assert.equal(site.botDomainOf("ports"), "ports.example");
  assert.equal(site.botDomainOf("lear"), "chat.lear.example");
  assert.equal(site.botDomainOf(""), "chat.example.com");
  assert.equal(site.botDomainOf("zephyr"), "zephyr.chat.example.com");
  assert.equal(site.secure, true);
});

test("the root host's port stays in URLs and leaves bot domains; names of Object's prototype are not hosts", () => {
  const local = new Site({ externalScheme: "http", externalHost: "localhost:9991", rootSubdomainAliases: [], realmHosts: {} });
  assert.equal(local.urlOf(""), "http://localhost:9991");
  assert.equal(local.urlOf("zulip"), "http://zulip.localhost:9991");
  assert.equal(local.botDomainOf("zulip"), "zulip.localhost");
  assert.equal(local.subdomainOf("zulip.localhost:9991"), "zulip");
  assert.equal(local.urlOf("__proto__"), "http://__proto__.localhost:9991");
  assert.equal(local.secure, false);
});
