/**
 * Python's notion of whitespace (`str.isspace()`), for the places where Zulip calls
 * `str.split()` or `str.strip()` on client input and Latchkey must cut in the same places.
 * It differs from JavaScript's `\s`: Python counts U+001C–U+001F and U+0085, and not U+FEFF.
 */
const WS = "\\t\\n\\x0b\\x0c\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const RUNS = new RegExp(`[${WS}]+`);
const EDGES = new RegExp(`^[${WS}]+|[${WS}]+$`, "g");
const ANY = new RegExp(`[${WS}]`);

/** Python's `text.strip()`. */
export function pythonStrip(text: string): string {
  // Most input has nothing to strip; skip the replace then.
  return ANY.test(text) ? text.replace(EDGES, "") : text;
}

/** Python's `text.split()` (no separator): runs of whitespace, ignoring them at the ends. */
export function pythonSplit(text: string): string[] {
  const stripped = pythonStrip(text);
  return stripped === "" ? [] : stripped.split(RUNS);
}
