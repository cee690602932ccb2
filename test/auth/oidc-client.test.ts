/**
 * The relying party (`src/auth/oidc-client.ts`) against a provider that answers wrongly on
 * purpose: a small issuer on a loopback port whose token endpoint returns ID tokens with a bad
 * signature, another issuer or audience, an old expiry or another nonce, or a UserInfo answer
 * about someone else. Each is refused as `rejected`; the honest answer gives the person it names.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { exportJWK, type JWTPayload, SignJWT } from "jose";
import { OpenIdClient } from "../../src/auth/oidc-client.js";
import { IdpLoginError, type OidcIdentity, type OidcIdp } from "../../src/domain/sso-ports.js";
import { ManualClock } from "../helper.js";

const signing = generateKeyPairSync("rsa", { modulusLength: 2048 });
const stranger = generateKeyPairSync("rsa", { modulusLength: 2048 });
const REDIRECT = "http://127.0.0.1:1/complete/oidc/";

/** What the provider's token and UserInfo endpoints answer next. */
interface Answer {
  idToken: string;
  userinfo: Record<string, unknown>;
}

test("the relying party refuses each answer that does not check out, and takes the honest one", async (t) => {
  let answer: Answer = { idToken: "", userinfo: {} };
  const jwk = { ...(await exportJWK(signing.publicKey)), kid: "k1", alg: "RS256", use: "sig" };
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const send = (body: unknown) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
    if (path === "/.well-known/openid-configuration") {
      return send({
        issuer,
        authorization_endpoint: `${issuer}/auth`,
        token_endpoint: `${issuer}/token`,
        userinfo_endpoint: `${issuer}/me`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ["code"],
        subject_types_supported: ["public"],
        id_token_signing_alg_values_supported: ["RS256"],
      });
    }
    if (path === "/jwks") return send({ keys: [jwk] });
    if (path === "/token") return send({ access_token: "at", token_type: "Bearer", id_token: answer.idToken });
    if (path === "/me") return send(answer.userinfo);
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const idp: OidcIdp = {
    name: "corp",
    displayName: "Corp",
    displayIcon: null,
    issuer,
    clientId: "latchkey",
    secret: "s",
    autoSignup: false,
    limitToSubdomains: null,
  };
  const client = new OpenIdClient({ clock: new ManualClock() });
  const now = Math.floor(Date.now() / 1000);
  const alice = { sub: "alice", email: "alice@example.com", email_verified: true };

  /** One login whose provider answers with the claims `claims(nonce)` signed by `key`. */
  async function login(
    claims: (nonce: string) => JWTPayload,
    userinfo: Record<string, unknown> = alice,
    key = signing.privateKey,
  ): Promise<OidcIdentity | IdpLoginError> {
    const state = randomBytes(16).toString("hex");
    const nonce = randomBytes(16).toString("hex");
    answer = {
      idToken: await new SignJWT(claims(nonce)).setProtectedHeader({ alg: "RS256", kid: "k1" }).sign(key),
      userinfo,
    };
    await client.authorizationUrl(idp, { redirectUri: REDIRECT, state, nonce, codeChallenge: "c".repeat(43) });
    try {
      return await client.completeLogin(idp, new URL(`${REDIRECT}?code=abc&state=${state}`), {
        redirectUri: REDIRECT,
        state,
        nonce,
        codeVerifier: "v".repeat(43),
      });
    } catch (err) {
      if (err instanceof IdpLoginError) return err;
      throw err;
    }
  }
  const honest = (nonce: string): JWTPayload => ({ iss: issuer, aud: "latchkey", sub: "alice", iat: now, exp: now + 300, nonce });

  const cases: [string, () => Promise<OidcIdentity | IdpLoginError>][] = [
    ["a signature by another key", () => login(honest, alice, stranger.privateKey)],
    ["another issuer", () => login((nonce) => ({ ...honest(nonce), iss: "https://evil.example" }))],
    ["another audience", () => login((nonce) => ({ ...honest(nonce), aud: "someone-else" }))],
    ["an expired token", () => login((nonce) => ({ ...honest(nonce), iat: now - 7200, exp: now - 3600 }))],
    ["another nonce", () => login(() => honest("not-the-nonce"))],
    ["UserInfo about someone else", () => login(honest, { ...alice, sub: "mallory" })],
  ];
  for (const [name, run] of cases) {
    // One at a time: each login sets the provider's next answer.
    const result = await run();
    assert.ok(result instanceof IdpLoginError, `${name}: refused`);
    assert.equal(result.reason, "rejected", name);
  }
  assert.deepEqual(await login(honest), { subject: "alice", email: "alice@example.com", emailVerified: true, fullName: null });
  assert.deepEqual(await login(honest, { ...alice, email_verified: "true", name: "Alice A." }), {
    subject: "alice",
    email: "alice@example.com",
    emailVerified: false,
    fullName: "Alice A.",
  });
});
