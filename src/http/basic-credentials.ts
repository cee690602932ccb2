/**
 * Strict HTTP Basic parsing with Zulip's exact errors (§5.2 `get_basic_credentials`).
 */
import { MESSAGES, unauthorizedBasic, ZulipError } from "../errors.js";

export interface BasicCredentials {
  role: string;
  apiKey: string;
}

const BASE64_CHAR = /[A-Za-z0-9+/]/;
const WELL_FORMED = /^[A-Za-z0-9+/]*={0,2}$/;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Python's non-validating `base64.b64decode`: characters outside the alphabet are skipped, but
 * a length that cannot be base64 or missing padding is an error. Returns null on error.
 */
export function decodeBase64Leniently(text: string): Buffer | null {
  // The common, well-formed case first: no character needs skipping.
  if (text.length % 4 === 0 && WELL_FORMED.test(text)) return Buffer.from(text, "base64");
  let data = "";
  let padding = 0;
  for (const ch of text) {
    if (ch === "=") padding++;
    else if (BASE64_CHAR.test(ch)) data += ch;
  }
  const rest = data.length % 4;
  if (rest === 1) return null;
  if (rest !== 0 && padding < 4 - rest) return null;
  return Buffer.from(data, "base64");
}

/**
 * Splits an Authorization header into the Basic username and password. Throws 400 when the
 * scheme is not Basic and 401 UNAUTHORIZED when the credentials cannot be read.
 */
export function parseBasicCredentials(header: string): BasicCredentials {
  const parts = header.trim().split(/\s+/);
  if (parts.length !== 2) throw unauthorizedBasic(MESSAGES.invalidBasicHeader);
  const [scheme, encoded] = parts as [string, string];
  if (scheme.toLowerCase() !== "basic") throw new ZulipError(MESSAGES.basicRequired);
  const raw = decodeBase64Leniently(encoded);
  if (raw === null) throw unauthorizedBasic(MESSAGES.invalidBasicHeader);
  let decoded: string;
  try {
    decoded = utf8.decode(raw);
  } catch {
    throw unauthorizedBasic(MESSAGES.invalidBasicHeader);
  }
  const fields = decoded.split(":");
  if (fields.length !== 2) throw unauthorizedBasic(MESSAGES.invalidBasicHeader);
  return { role: fields[0] as string, apiKey: fields[1] as string };
}
