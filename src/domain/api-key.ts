/**
 * API keys: 32 characters from [A-Za-z0-9], as Zulip's (docs/zulip-rules.md §6). Stored only as an HMAC-SHA-256
 * digest (the lookup column) and an AES-256-GCM sealed copy (for showing the key again).
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, randomInt } from "node:crypto";

export const API_KEY_LENGTH = 32;
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const API_KEY_FORMAT = /^[A-Za-z0-9]{32}$/;

/** A new key from the CSPRNG: 32 uniformly chosen alphanumerics (about 190 bits). */
export function generateApiKey(): string {
  let key = "";
  for (let i = 0; i < API_KEY_LENGTH; i++) key += ALPHABET[randomInt(ALPHABET.length)];
  return key;
}

/** Zulip's `has_api_key_format`: a full match of `^[A-Za-z0-9]{32}$`. */
export function hasApiKeyFormat(key: string): boolean {
  return API_KEY_FORMAT.test(key);
}

export interface SealedKey {
  digest: string;
  sealed: string;
}

const SEAL_VERSION = "v1";

/** Digests and seals API keys with secrets that never enter the database. */
export class KeyVault {
  constructor(
    private readonly hmacPepper: Buffer,
    private readonly sealingKey: Buffer,
  ) {
    if (hmacPepper.length < 32 || sealingKey.length !== 32) throw new Error("KeyVault needs 32-byte secrets");
  }

  /** The lookup digest: hex HMAC-SHA-256 of the key. Equal keys give equal digests. */
  digest(key: string): string {
    return createHmac("sha256", this.hmacPepper).update(key, "utf8").digest("hex");
  }

  /** Digest plus a sealed copy bound to that digest (so sealed copies cannot be swapped between rows). */
  seal(key: string): SealedKey {
    const digest = this.digest(key);
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.sealingKey, iv);
    cipher.setAAD(Buffer.from(digest, "utf8"));
    const body = Buffer.concat([cipher.update(key, "utf8"), cipher.final()]);
    const sealed = `${SEAL_VERSION}:${Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64")}`;
    return { digest, sealed };
  }

  /** Opens a sealed copy; throws if it was tampered with or sealed under another key. */
  unseal({ digest, sealed }: SealedKey): string {
    const [version, payload] = sealed.split(":", 2);
    if (version !== SEAL_VERSION || payload === undefined) throw new Error("unknown sealed-key format");
    const raw = Buffer.from(payload, "base64");
    const iv = raw.subarray(0, 12);
    const tag = raw.subarray(raw.length - 16);
    const decipher = createDecipheriv("aes-256-gcm", this.sealingKey, iv);
    decipher.setAAD(Buffer.from(digest, "utf8"));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString("utf8");
  }
}
