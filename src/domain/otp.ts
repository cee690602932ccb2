/**
 * The one-time pads of the mobile and desktop login flows (docs/zulip-rules.md §10): the mobile app's OTP encrypts
 * the API key by XOR, the desktop app's OTP is an AES-256-GCM key for a one-time login token.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

const OTP_FORMAT = /^[0-9a-fA-F]{64}$/;

/** Zulip's `is_valid_otp`: exactly 64 hex digits, either case. */
export function isValidOtp(otp: string): boolean {
  return OTP_FORMAT.test(otp);
}

/**
 * Zulip's `otp_encrypt_api_key`: the key's ASCII bytes in hex, XORed digit by digit with the
 * OTP's hex digits; 64 lowercase hex digits for a 32-character key.
 */
export function otpEncryptApiKey(apiKey: string, otp: string): string {
  const hex = Buffer.from(apiKey, "ascii").toString("hex");
  if (hex.length !== otp.length) throw new Error("the OTP must be as long as the hex-encoded key");
  let out = "";
  for (let i = 0; i < hex.length; i++) {
    out += (Number.parseInt(hex[i] as string, 16) ^ Number.parseInt(otp[i] as string, 16)).toString(16);
  }
  return out;
}

/** Zulip's `otp_decrypt_api_key` (what the mobile app does): the same XOR, then hex to ASCII. */
export function otpDecryptApiKey(encrypted: string, otp: string): string {
  return Buffer.from(otpEncryptApiKey(Buffer.from(encrypted, "hex").toString("latin1"), otp), "hex").toString("latin1");
}

/** The desktop flow's `desktop_data`: hex(iv ‖ AES-256-GCM(token) ‖ tag) under the OTP's bytes. */
export function encryptForDesktop(token: string, otp: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", Buffer.from(otp, "hex"), iv);
  const body = Buffer.concat([cipher.update(token, "utf8"), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString("hex");
}

/** What the desktop app does with `desktop_data`. */
export function decryptForDesktop(data: string, otp: string): string {
  const raw = Buffer.from(data, "hex");
  const decipher = createDecipheriv("aes-256-gcm", Buffer.from(otp, "hex"), raw.subarray(0, 12));
  decipher.setAuthTag(raw.subarray(raw.length - 16));
  return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString("utf8");
}

/**
 * `finish_mobile_flow`'s redirect: `zulip://login?` with the parameters in Zulip's order and
 * standard form encoding (`@` → `%40`, `:` → `%3A`, `/` → `%2F`).
 */
export function mobileFlowLocation(fields: { encryptedKey: string; email: string; userId: number; realmUrl: string }): string {
  const query = new URLSearchParams([
    ["otp_encrypted_api_key", fields.encryptedKey],
    ["email", fields.email],
    ["user_id", String(fields.userId)],
    ["realm", fields.realmUrl],
  ]);
  return `zulip://login?${query.toString()}`;
}
