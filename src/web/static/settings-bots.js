// Settings → Your bots.
import { callJson, clearError, showError } from "./web.js";
import { zuliprcContent, zuliprcDataUrl } from "./zuliprc.js";

const site = document.getElementById("bots").dataset.site;
const pageError = document.getElementById("bots-error");

async function act(button, method, url, fields, onSuccess) {
  clearError(pageError);
  button.disabled = true;
  try {
    const { ok, body } = await callJson(method, url, fields);
    if (ok) await onSuccess(body);
    else showError(pageError, body.msg || "Something went wrong.");
  } catch {
    showError(pageError, "Could not reach the server. Check your connection and try again.");
  } finally {
    button.disabled = false;
  }
}

for (const item of document.querySelectorAll("li.bot[data-email]")) {
  const id = item.dataset.botId;
  const keyField = item.querySelector(".bot-key");
  const status = item.querySelector(".bot-status");
  const download = item.querySelector(".download-bot-zuliprc");

  item.querySelector(".copy-bot-key").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(keyField.value);
      status.textContent = "Copied!";
    } catch {
      keyField.select();
      status.textContent = "Press Ctrl+C (or ⌘C) to copy the selected key.";
    }
  });

  item.querySelector(".regenerate-bot-key").addEventListener("click", async (event) => {
    await act(event.currentTarget, "POST", `/json/bots/${id}/api_key/regenerate`, {}, (body) => {
      keyField.value = body.api_key;
      download.href = zuliprcDataUrl(
        zuliprcContent({ email: item.dataset.email, key: body.api_key, site, token: item.dataset.token }),
      );
      status.textContent = "A new API key was generated. The old one no longer works.";
    });
  });

  item.querySelector(".deactivate-bot").addEventListener("click", async (event) => {
    await act(event.currentTarget, "DELETE", `/json/bots/${id}`, {}, () => window.location.reload());
  });
}

for (const button of document.querySelectorAll(".reactivate-bot")) {
  button.addEventListener("click", async () => {
    const id = button.closest("li.bot").dataset.botId;
    await act(button, "POST", `/json/users/${id}/reactivate`, {}, () => window.location.reload());
  });
}

const form = document.getElementById("add-bot-form");
const type = document.getElementById("bot-type");
const payloadRow = document.getElementById("payload-url-row");
const addError = document.getElementById("add-bot-error");
type.addEventListener("change", () => {
  payloadRow.hidden = type.value !== "3";
});
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearError(addError);
  const fullName = document.getElementById("bot-full-name");
  const shortName = document.getElementById("bot-short-name");
  if (fullName.value.trim() === "") {
    showError(addError, "Enter a name for the bot.");
    fullName.focus();
    return;
  }
  if (shortName.value.trim() === "") {
    showError(addError, "Enter the bot's email name.");
    shortName.focus();
    return;
  }
  const fields = { full_name: fullName.value, short_name: shortName.value, bot_type: type.value };
  if (type.value === "3") fields.payload_url = JSON.stringify(document.getElementById("bot-payload-url").value);
  const button = document.getElementById("create-bot");
  button.disabled = true;
  try {
    const { ok, body } = await callJson("POST", "/json/bots", fields);
    if (ok) window.location.reload();
    else showError(addError, body.msg || "Could not create the bot.");
  } catch {
    showError(addError, "Could not reach the server. Check your connection and try again.");
  } finally {
    button.disabled = false;
  }
});
