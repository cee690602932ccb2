/**
 * JWT login's keys: `LATCHKEY_JWT_AUTH_KEYS`, validated at boot, shaped like Zulip's
 * `JWT_AUTH_KEYS` (docs/zulip-rules.md §1b):
 *
 *     {"<subdomain>": {"key": "<secret, or a PEM public key or certificate>", "algorithms": ["HS256"]}}
 *
 * and the check of a token against them, with `jose`. Only the listed algorithms are accepted
 * (never `none`); `exp` and `nbf` hold when present.
 */
import { createPublicKey, createSecretKey, type KeyObject, X509Certificate } from "node:crypto";
import { errors, jwtVerify } from "jose";
import type { Clock } from "../domain/model.js";
import type { JwtVerifier } from "../domain/sso-ports.js";
import { ConfigError, type Env, readJsonObject } from "../env.js";

const VARIABLE = "LATCHKEY_JWT_AUTH_KEYS";
const SUBDOMAIN_FORMAT = /^(|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)$/;

/** HMAC algorithms and the least key length RFC 7518 §3.2 allows each, in bytes. */
const HMAC = { HS256: 32, HS384: 48, HS512: 64 } as const;
/** Signature algorithms and the key type each needs. */
const SIGNATURE: Record<string, { type: string; curve?: string }> = {
  RS256: { type: "rsa" },
  RS384: { type: "rsa" },
  RS512: { type: "rsa" },
  PS256: { type: "rsa" },
  PS384: { type: "rsa" },
  PS512: { type: "rsa" },
  ES256: { type: "ec", curve: "prime256v1" },
  ES384: { type: "ec", curve: "secp384r1" },
  ES512: { type: "ec", curve: "secp521r1" },
  EdDSA: { type: "ed25519" },
};

export interface JwtKey {
  algorithms: string[];
  key: KeyObject;
}

function fail(problem: string): never {
  throw new ConfigError(VARIABLE, problem);
}

function isHmac(alg: string): alg is keyof typeof HMAC {
  return Object.hasOwn(HMAC, alg);
}

/** A PEM public key or certificate, of the type every listed algorithm needs. */
function readPublicKey(subdomain: string, pem: string, algorithms: string[]): KeyObject {
  let key: KeyObject;
  try {
    key = pem.includes("BEGIN CERTIFICATE") ? new X509Certificate(pem).publicKey : createPublicKey(pem);
  } catch (err) {
    fail(`"${subdomain}": "key" must be a PEM public key or certificate for ${algorithms.join(", ")}: ${(err as Error).message}`);
  }
  for (const alg of algorithms) {
    const need = SIGNATURE[alg] as { type: string; curve?: string };
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (key.asymmetricKeyType !== need.type || (need.curve !== undefined && curve !== need.curve)) {
      fail(`"${subdomain}": the key is ${key.asymmetricKeyType}${curve ? ` (${curve})` : ""}, which cannot check ${alg}`);
    }
  }
  return key;
}

function readEntry(subdomain: string, value: unknown): JwtKey {
  if (!SUBDOMAIN_FORMAT.test(subdomain)) fail(`${JSON.stringify(subdomain)} is not a subdomain ("" for the root organization)`);
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(`"${subdomain}" must be an object`);
  const entry = value as Record<string, unknown>;
  for (const name of Object.keys(entry)) {
    if (name !== "key" && name !== "algorithms") fail(`"${subdomain}": unknown key ${JSON.stringify(name)}`);
  }
  const { key, algorithms } = entry;
  if (typeof key !== "string" || key === "") fail(`"${subdomain}": "key" must be a non-empty string`);
  if (!Array.isArray(algorithms) || algorithms.length === 0 || algorithms.some((a) => typeof a !== "string")) {
    fail(`"${subdomain}": "algorithms" must be a non-empty list such as ["HS256"]`);
  }
  const algs = algorithms as string[];
  for (const alg of algs) {
    if (alg.toLowerCase() === "none") fail(`"${subdomain}": "none" is never accepted: unsigned tokens would log anyone in`);
    if (!isHmac(alg) && !Object.hasOwn(SIGNATURE, alg)) fail(`"${subdomain}": unknown algorithm ${JSON.stringify(alg)}`);
  }
  const hmac = algs.filter(isHmac);
  if (hmac.length > 0 && hmac.length < algs.length) {
    fail(`"${subdomain}": HMAC (HS*) and public-key algorithms cannot share one key`);
  }
  if (hmac.length === 0) return { algorithms: algs, key: readPublicKey(subdomain, key, algs) };
  if (key.includes("-----BEGIN")) fail(`"${subdomain}": a PEM key cannot be an HMAC secret`);
  const bytes = Buffer.from(key, "utf8");
  const least = Math.max(...hmac.map((alg) => HMAC[alg]));
  if (bytes.length < least)
    fail(`"${subdomain}": an ${hmac.join("/")} secret needs at least ${least} bytes (RFC 7518 §3.2), got ${bytes.length}`);
  return { algorithms: algs, key: createSecretKey(bytes) };
}

/** The keys by subdomain; empty when the variable is unset. */
export function parseJwtAuthKeys(env: Env): Map<string, JwtKey> {
  const keys = new Map<string, JwtKey>();
  const entries = readJsonObject(env, VARIABLE, ', {"<subdomain>": {"key": "…", "algorithms": ["HS256"]}}') ?? [];
  for (const [subdomain, value] of entries) keys.set(subdomain, readEntry(subdomain, value));
  return keys;
}

/** Checks tokens with `jose` against the organization's key and algorithms. */
export class JoseJwtVerifier implements JwtVerifier {
  constructor(
    private readonly keys: ReadonlyMap<string, JwtKey>,
    private readonly clock: Clock,
  ) {}

  enabledFor(subdomain: string): boolean {
    return this.keys.has(subdomain);
  }

  async verify(subdomain: string, token: string): Promise<Record<string, unknown> | null> {
    const entry = this.keys.get(subdomain);
    if (entry === undefined) return null;
    try {
      const { payload } = await jwtVerify(token, entry.key, {
        algorithms: entry.algorithms,
        currentDate: new Date(this.clock.now()),
      });
      // PyJWT, which Zulip uses, refuses a token naming an audience when none is expected.
      const aud = payload.aud;
      if (aud !== undefined && aud !== null && !(Array.isArray(aud) && aud.length === 0) && aud !== "") return null;
      return payload as Record<string, unknown>;
    } catch (err) {
      // Every malformed, forged, expired or not-yet-valid token is the same "Bad JSON web token".
      if (err instanceof errors.JOSEError || err instanceof TypeError) return null;
      throw err;
    }
  }
}
