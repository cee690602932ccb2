// Settings → Account & privacy → Manage your API key.
import { clearError, postJson, showError } from "./web.js";
import { zuliprcContent, zuliprcDataUrl } from "./zuliprc.js";

const section = document.getElementById("api-key-section");
const email = section.dataset.email;
const site = section.dataset.site;
const manage = document.getElementById("manage-api-key");
const panel = document.getElementById("api-key-panel");
const form = document.getElementById("api-key-form");
const password = document.getElementById("api-key-password");
const error = document.getElementById("api-key-error");
const result = document.getElementById("api-key-result");
const keyField = document.getElementById("api-key-value");
const copy = document.getElementById("copy-api-key");
const copyStatus = document.getElementById("copy-status");
const download = document.getElementById("download-zuliprc");
const generate = document.getElementById("generate-api-key");
const confirmBox = document.getElementById("regenerate-confirm");
const confirmGenerate = document.getElementById("confirm-generate");
const cancelGenerate = document.getElementById("cancel-generate");
const showKey = document.getElementById("show-api-key");

let currentKey = null;

function show(key) {
  currentKey = key;
  keyField.value = key;
  download.href = zuliprcDataUrl(zuliprcContent({ email, key, site }));
  form.hidden = true;
  if (showKey) showKey.hidden = true;
  result.hidden = false;
  copyStatus.textContent = "";
  keyField.focus();
  keyField.select();
}

manage.addEventListener("click", () => {
  const open = panel.hidden;
  panel.hidden = !open;
  manage.setAttribute("aria-expanded", String(open));
  if (open && !form.hidden) password.focus();
});

async function fetchKey(fields, button) {
  clearError(error);
  button.disabled = true;
  try {
    const { ok, body } = await postJson("/json/fetch_api_key", fields);
    if (ok) show(body.api_key);
    else showError(error, body.msg || "Something went wrong.");
  } catch {
    showError(error, "Could not reach the server. Check your connection and try again.");
  } finally {
    button.disabled = false;
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (password.value === "") {
    showError(error, "Enter your password.");
    password.focus();
    return;
  }
  await fetchKey({ password: password.value }, document.getElementById("get-api-key"));
  password.value = "";
});
showKey?.addEventListener("click", async () => {
  await fetchKey({}, showKey);
});

copy.addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText(currentKey);
    copyStatus.textContent = "Copied!";
  } catch {
    keyField.select();
    copyStatus.textContent = "Press Ctrl+C (or ⌘C) to copy the selected key.";
  }
});

generate?.addEventListener("click", () => {
  confirmBox.hidden = false;
  confirmGenerate.focus();
});
cancelGenerate?.addEventListener("click", () => {
  confirmBox.hidden = true;
  generate.focus();
});
confirmGenerate?.addEventListener("click", async () => {
  clearError(error);
  confirmGenerate.disabled = true;
  try {
    // As Zulip's page does: the REST endpoint, authenticated with the key just shown.
    const response = await fetch("/api/v1/users/me/api_key/regenerate", {
      method: "POST",
      credentials: "omit",
      headers: { authorization: `Basic ${btoa(`${email}:${currentKey}`)}` },
    });
    const body = await response.json();
    if (response.ok && body.result === "success") {
      confirmBox.hidden = true;
      show(body.api_key);
      copyStatus.textContent = "A new API key was generated. The old one no longer works.";
    } else {
      showError(error, body.msg || "Could not generate a new key.");
    }
  } catch {
    showError(error, "Could not reach the server. Check your connection and try again.");
  } finally {
    confirmGenerate.disabled = false;
  }
});
