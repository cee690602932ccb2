/** Content negotiation: what a client's Accept header prefers. */

/** The quality an Accept header gives a media type (exact match, then `type/*`, then `*\/*`). */
function quality(accept: string, type: string): number {
  let best = -1;
  let q = 0;
  for (const part of accept.split(",")) {
    const [range, ...params] = part.trim().toLowerCase().split(";");
    const r = range?.trim() ?? "";
    const specificity = r === type ? 3 : r === `${type.split("/")[0]}/*` ? 2 : r === "*/*" ? 1 : 0;
    if (specificity === 0 || specificity < best) continue;
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    const value = qParam === undefined ? 1 : Number(qParam.slice(2));
    best = specificity;
    q = Number.isFinite(value) ? value : 0;
  }
  return q;
}

/** Zulip's check before answering a missing login with a redirect: text/html preferred to JSON. */
export function prefersHtml(accept: string | undefined): boolean {
  if (accept === undefined || accept === "") return false;
  return quality(accept, "text/html") > quality(accept, "application/json");
}
