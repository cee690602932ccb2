/**
 * Strict HTTP Basic parsing with Zulip's exact errors (docs/zulip-rules.md §5.2 `get_basic_credentials`).
 */

import { pythonSplit } from "../domain/python-text.js";
import { MESSAGES, unauthorizedBasic, ZulipError } from "../errors.js";

export interface BasicCredentials {
  /** The username before the colon (Zulip calls it `role`): the account's email. */
  username: string;
  apiKey: string;
}

const WELL_FORMED = /^[A-Za-z0-9+/]*={0,2}$/;
const NON_ASCII = /[\u0080-\uffff]/;
// ignoreBOM keeps a leading U+FEFF, as Python's bytes.decode() does.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Each ASCII code's value in the base64 alphabet, or -1. */
const BASE64_VALUE = new Int8Array(128).fill(-1);
for (const [i, ch] of [..."ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"].entries()) {
  BASE64_VALUE[ch.charCodeAt(0)] = i;
}
const PAD = "=".charCodeAt(0);

/**
 * Python's non-validating `base64.b64decode` on a str, step for step as CPython's
 * `binascii.a2b_base64` does it: non-ASCII text is an error; characters outside the alphabet
 * are skipped; a `=` seen with fewer than two characters of a quantum is ignored; decoding
 * stops at the first complete padding, whatever follows; a last quantum of one character, or
 * of two or three without their padding, is an error. Returns null on error.
 */
export function decodeBase64Leniently(text: string): Buffer | null {
  // The common, well-formed case first: no character needs skipping.
  if (text.length % 4 === 0 && WELL_FORMED.test(text)) return Buffer.from(text, "base64");
  if (NON_ASCII.test(text)) return null;
  const out = Buffer.alloc(Math.ceil((text.length * 3) / 4));
  let length = 0;
  let quadPos = 0;
  let leftChar = 0;
  let pads = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === PAD) {
      if (quadPos >= 2 && quadPos + ++pads >= 4) return out.subarray(0, length);
      continue;
    }
    const value = BASE64_VALUE[code] as number;
    if (value < 0) continue;
    pads = 0;
    switch (quadPos) {
      case 0:
        leftChar = value;
        quadPos = 1;
        break;
      case 1:
        out[length++] = (leftChar << 2) | (value >> 4);
        leftChar = value & 0x0f;
        quadPos = 2;
        break;
      case 2:
        out[length++] = (leftChar << 4) | (value >> 2);
        leftChar = value & 0x03;
        quadPos = 3;
        break;
      default:
        out[length++] = (leftChar << 6) | value;
        leftChar = 0;
        quadPos = 0;
    }
  }
  return quadPos === 0 ? out.subarray(0, length) : null;
}

/**
 * Splits an Authorization header into the Basic username and password. Throws 400 when the
 * scheme is not Basic and 401 UNAUTHORIZED when the credentials cannot be read.
 */
export function parseBasicCredentials(header: string): BasicCredentials {
  const parts = pythonSplit(header);
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
  return { username: fields[0] as string, apiKey: fields[1] as string };
}
