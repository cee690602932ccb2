/** Settings → Your bots: each bot with its key, copy, new-key and zuliprc controls; add; deactivate. */
import { BOT_TYPE } from "../domain/model.js";
import { html } from "./html.js";
import { renderPage } from "./layout.js";

export interface BotEntry {
  id: number;
  fullName: string;
  email: string;
  botType: number | null;
  isActive: boolean;
  /** Active bots only. */
  apiKey?: string;
  /** The bot's zuliprc as a `data:` URL (active bots only). */
  zuliprcUrl?: string;
  /** Outgoing-webhook bots' service token, for rebuilding the zuliprc after a new key. */
  token?: string | null;
}

const TYPE_NAMES: Record<number, string> = {
  [BOT_TYPE.generic]: "Generic bot",
  [BOT_TYPE.incomingWebhook]: "Incoming webhook",
  [BOT_TYPE.outgoingWebhook]: "Outgoing webhook",
  [BOT_TYPE.embedded]: "Embedded bot",
};

export function botsSettingsPage(o: {
  realmName: string;
  csrfToken: string;
  user: { fullName: string; email: string };
  site: string;
  botDomain: string;
  bots: BotEntry[];
  /** Reactivation is for organization administrators, as on Zulip. */
}): string {
  const active = o.bots.filter((b) => b.isActive);
  const inactive = o.bots.filter((b) => !b.isActive);
  return renderPage({
    title: "Your bots",
    realmName: o.realmName,
    user: o.user,
    csrfToken: o.csrfToken,
    settingsTab: "bots",
    scripts: ["settings-bots.js"],
    body: html`<h1>Your bots</h1>
      <div class="alert error" role="alert" id="bots-error" hidden></div>
      <section class="card" aria-labelledby="active-bots-title" id="bots" data-site="${o.site}">
        <h2 id="active-bots-title">Active bots</h2>
        ${active.length === 0 ? html`<p class="muted" id="no-bots">You have no active bots.</p>` : ""}
        <ul class="bot-list">
          ${active.map(
            (b) => html`<li class="bot" data-bot-id="${b.id}" data-email="${b.email}" data-token="${b.token ?? ""}"
              aria-label="${b.fullName}">
              <div class="bot-head">
                <div><strong class="bot-name">${b.fullName}</strong>
                <div class="muted">${b.email} · ${TYPE_NAMES[b.botType ?? 1] ?? "Bot"}</div></div>
                <button type="button" class="danger deactivate-bot" aria-label="Deactivate ${b.fullName}">Deactivate</button>
              </div>
              <label for="bot-key-${b.id}">API key</label>
              <div class="key-row">
                <input id="bot-key-${b.id}" class="mono bot-key" readonly value="${b.apiKey ?? ""}" spellcheck="false">
                <button type="button" class="secondary copy-bot-key" aria-label="Copy API key of ${b.fullName}" title="Copy API key">Copy</button>
                <button type="button" class="secondary regenerate-bot-key" aria-label="Generate new API key for ${b.fullName}"
                  title="Generate new API key">New key</button>
                <a class="button secondary download-bot-zuliprc" download="zuliprc" href="${b.zuliprcUrl ?? "#"}"
                  aria-label="Download zuliprc of ${b.fullName}">zuliprc</a>
              </div>
              <p class="muted bot-status" role="status" aria-live="polite"></p>
            </li>`,
          )}
        </ul>
      </section>
      <section class="card" aria-labelledby="add-bot-title">
        <h2 id="add-bot-title">Add a new bot</h2>
        <div class="alert error" role="alert" id="add-bot-error" hidden></div>
        <form id="add-bot-form" class="stack" novalidate>
          <label for="bot-type">Bot type</label>
          <select id="bot-type" name="bot_type">
            <option value="${BOT_TYPE.generic}">Generic bot</option>
            <option value="${BOT_TYPE.incomingWebhook}">Incoming webhook</option>
            <option value="${BOT_TYPE.outgoingWebhook}">Outgoing webhook</option>
          </select>
          <label for="bot-full-name">Name</label>
          <input id="bot-full-name" name="full_name" type="text" required maxlength="100" autocomplete="off">
          <label for="bot-short-name">Bot email</label>
          <div class="suffixed"><input id="bot-short-name" name="short_name" type="text" required autocomplete="off"
            aria-describedby="bot-email-suffix"><span id="bot-email-suffix" class="muted">-bot@${o.botDomain}</span></div>
          <div id="payload-url-row" class="stack" hidden>
            <label for="bot-payload-url">Endpoint URL</label>
            <input id="bot-payload-url" name="payload_url" type="url" autocomplete="off">
          </div>
          <button type="submit" class="primary" id="create-bot">Create bot</button>
        </form>
      </section>
      ${
        inactive.length === 0
          ? ""
          : html`<section class="card" aria-labelledby="inactive-bots-title">
              <h2 id="inactive-bots-title">Deactivated bots</h2>
              <ul class="bot-list">
                ${inactive.map(
                  (b) => html`<li class="bot" data-bot-id="${b.id}" aria-label="${b.fullName}">
                    <div class="bot-head"><div><strong>${b.fullName}</strong><div class="muted">${b.email}</div></div>
                    <button type="button" class="secondary reactivate-bot" aria-label="Reactivate ${b.fullName}">Reactivate</button></div>
                  </li>`,
                )}
              </ul>
            </section>`
      }`,
  });
}
