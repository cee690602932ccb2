/**
 * Server secrets kept outside the database: the key that seals API keys at rest, the HMAC
 * pepper for the key-lookup digest, and the session secret. Created 0600 on first start.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

export interface Secrets {
  /** AES-256-GCM key for the sealed copy of each API key (32 bytes). */
  keySealingKey: Buffer;
  /** HMAC-SHA-256 key for the API-key lookup digest (32 bytes). */
  hmacPepper: Buffer;
  /** Secret for signing web sessions (32 bytes). */
  sessionSecret: Buffer;
}

const FIELDS = ["keySealingKey", "hmacPepper", "sessionSecret"] as const;

export class SecretsError extends Error {
  override name = "SecretsError";
}

/** Fresh random secrets, for a new file or a test. */
export function generateSecrets(): Secrets {
  return { keySealingKey: randomBytes(32), hmacPepper: randomBytes(32), sessionSecret: randomBytes(32) };
}

function parseSecrets(path: string, text: string): Secrets {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new SecretsError(`${path} is not valid JSON`);
  }
  if (typeof raw !== "object" || raw === null) throw new SecretsError(`${path} must hold a JSON object`);
  const record = raw as Record<string, unknown>;
  const out: Partial<Secrets> = {};
  for (const field of FIELDS) {
    const value = record[field];
    const bytes = typeof value === "string" ? Buffer.from(value, "base64") : null;
    if (bytes === null || bytes.length !== 32) {
      throw new SecretsError(`${path}: ${field} must be 32 bytes in base64`);
    }
    out[field] = bytes;
  }
  return out as Secrets;
}

/**
 * Reads an existing secrets file. One readable by group or others is refused: anyone who can
 * read it can forge lookups and unseal every stored key.
 */
function readSecretsFile(path: string): Secrets {
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new SecretsError(`${path} is readable by group or others (mode ${mode.toString(8)}); run: chmod 600 ${path}`);
  }
  return parseSecrets(path, readFileSync(path, "utf8"));
}

/**
 * Reads the secrets file, creating it (mode 0600, exclusively, in a directory created 0700) when
 * it does not exist. Whoever created it, a file readable by group or others is refused.
 */
export function loadOrCreateSecrets(path: string): Secrets {
  try {
    return readSecretsFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const secrets = generateSecrets();
  const body = JSON.stringify(Object.fromEntries(FIELDS.map((f) => [f, secrets[f].toString("base64")])), null, 2);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(path, `${body}\n`, { mode: 0o600, flag: "wx" });
  } catch (err) {
    // Another process created it first: use theirs, so every node shares one set (if it is safe).
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return readSecretsFile(path);
    throw err;
  }
  return secrets;
}
