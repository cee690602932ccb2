// Helpers the pages share: the CSRF token and JSON calls in Zulip's envelope.
export function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.getAttribute("content") ?? "";
}

/** POSTs a form to a /json endpoint with the session and CSRF token; resolves to the JSON body. */
export function postJson(url, fields, headers = {}) {
  return callJson("POST", url, fields, headers);
}

/** Calls a /json endpoint with a form body, the session and the CSRF token. */
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
  return { ok: response.ok && body.result === "success", status: response.status, body };
}

export function showError(element, message) {
  element.textContent = message;
  element.hidden = false;
}

export function clearError(element) {
  element.textContent = "";
  element.hidden = true;
}
