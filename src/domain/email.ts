/**
 * Django's `validate_email`, which Zulip's `validate_login_email` uses (docs/zulip-rules.md §1 step 4), so that the
 * same usernames are accepted and refused as on a Zulip server.
 */
import { isIP } from "node:net";
import { domainToASCII } from "node:url";

const USER_DOT_ATOM = /^[-!#$%&'*+/=?^_`{}|~0-9A-Z]+(\.[-!#$%&'*+/=?^_`{}|~0-9A-Z]+)*$/i;
// biome-ignore lint/suspicious/noControlCharactersInRegex: the quoted-string grammar names control characters.
const USER_QUOTED = /^"([\x01-\x08\x0b\x0c\x0e-\x1f!#-[\]-\x7f]|\\[\x01-\x09\x0b\x0c\x0e-\x7f])*"$/i;
const DOMAIN = /^((?:[A-Z0-9](?:[A-Z0-9-]{0,61}[A-Z0-9])?\.)+)(?:[A-Z0-9-]{2,63}(?<!-))$/i;
const LITERAL = /^\[([A-F0-9:.]+)\]$/i;
const DOMAIN_ALLOWLIST = new Set(["localhost"]);

function isValidDomain(domain: string): boolean {
  if (DOMAIN.test(domain)) return true;
  const literal = LITERAL.exec(domain);
  if (literal?.[1] !== undefined) return isIP(literal[1]) !== 0;
  // Internationalized domains are checked in their punycode form, as Django does.
  const ascii = domainToASCII(domain);
  return ascii !== "" && ascii !== domain && DOMAIN.test(ascii);
}

/** True when Django's EmailValidator accepts `value`. */
export function isValidEmail(value: string): boolean {
  if (value === "" || !value.includes("@") || value.length > 320) return false;
  const at = value.lastIndexOf("@");
  const user = value.slice(0, at);
  const domain = value.slice(at + 1);
  if (!USER_DOT_ATOM.test(user) && !USER_QUOTED.test(user)) return false;
  return DOMAIN_ALLOWLIST.has(domain) || isValidDomain(domain);
}
