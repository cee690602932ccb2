// Helpers the pages share: the CSRF token and JSON calls in Zulip's envelope.
export function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.getAttribute("content") ?? "";
}

/** POSTs a form to a /json endpoint with the session and CSRF token; resolves to the JSON body. */
export function postJson(url, fields, headers = {}) {
  return callJson("POST", url, fields, headers);
}

/**
 * What to tell the person when a call fails: Zulip's message, except where it speaks to API
 * clients rather than to someone on a web page (an ended session, a stale CSRF token, a limit).
 */
export function errorMessage(status, body, fallback) {
  if (status === 401 && body.code === "UNAUTHORIZED") return "You are no longer logged in. Reload the page to log in again.";
  if (status === 403 && body.code === "CSRF_FAILED") return "This page has expired. Reload it and try again.";
  if (status === 429) {
    const seconds = Math.ceil(Number(body["retry-after"]));
    return seconds > 0 ? `Too many attempts. Try again in ${seconds} seconds.` : "Too many attempts. Try again later.";
  }
  return body.msg || fallback;
}

/**
 * Calls a /json endpoint with a form body, the session and the CSRF token; `message` says what
 * went wrong when `ok` is false.
 */
export async function callJson(method, url, fields, headers = {}) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: { "content-type": "application/x-www-form-urlencoded", "x-csrf-token": csrfToken(), ...headers },
    body: new URLSearchParams(fields).toString(),
  });
  let body;
  try {
    body = await response.json();
  } catch {
    body = { result: "error", msg: `The server answered ${response.status}.` };
  }
  const ok = response.ok && body.result === "success";
  return { ok, status: response.status, body, message: ok ? "" : errorMessage(response.status, body, "Something went wrong.") };
}

export function showError(element, message) {
  element.textContent = message;
  element.hidden = false;
}

export function clearError(element) {
  element.textContent = "";
  element.hidden = true;
}
