/** The frame every page shares: head, header with navigation, and the main column. */
import { html, type SafeHtml } from "./html.js";

export interface PageOptions {
  title: string;
  /** The organization's name, shown in the header. */
  realmName?: string;
  /** Present when someone is logged in: their name and the CSRF token for the logout form. */
  user?: { fullName: string; email: string } | null;
  csrfToken?: string;
  /** Which settings tab is current, for the side navigation. */
  settingsTab?: "account" | "bots";
  /** Scripts from /static/ to load (never inline). */
  scripts?: string[];
  /** Classic scripts from /static/vendor/ (libraries that define globals), run before `scripts`. */
  vendorScripts?: string[];
  body: SafeHtml;
}

export function renderPage(options: PageOptions): string {
  const { title, realmName, user, csrfToken, settingsTab, scripts = [], vendorScripts = [], body } = options;
  const nav =
    settingsTab === undefined
      ? html``
      : html`<nav class="settings-nav" aria-label="Settings">
          <a href="/settings/account" ${settingsTab === "account" ? html`aria-current="page"` : ""}>Account &amp; privacy</a>
          <a href="/settings/bots" ${settingsTab === "bots" ? html`aria-current="page"` : ""}>Your bots</a>
        </nav>`;
  const account = user
    ? html`<div class="account">
        <span class="who" title="${user.email}">${user.fullName}</span>
        <form method="post" action="/accounts/logout/">
          ${csrfField(csrfToken ?? "")}
          <button type="submit" class="link-button">Log out</button>
        </form>
      </div>`
    : html``;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${csrfToken === undefined ? "" : html`<meta name="csrf-token" content="${csrfToken}">`}
<title>${title}${realmName ? ` · ${realmName}` : ""}</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/app.css">
${vendorScripts.map((s) => html`<script src="/static/vendor/${s}" defer></script>`)}
${scripts.map((s) => html`<script type="module" src="/static/${s}"></script>`)}
</head>
<body>
<header class="topbar">
  <a class="brand" href="/">${realmName ?? "Latchkey"}</a>
  ${account}
</header>
<div class="layout${settingsTab === undefined ? " single" : ""}">
  ${nav}
  <main id="main">
    ${body}
  </main>
</div>
</body>
</html>
`.text;
}

/** The hidden CSRF field every state-changing form carries. */
export function csrfField(token: string): SafeHtml {
  return html`<input type="hidden" name="_csrf" value="${token}">`;
}

/** A short page with a heading and a message, for errors and confirmations. */
export function messagePage(title: string, message: SafeHtml | string, realmName?: string): string {
  return renderPage({
    title,
    ...(realmName === undefined ? {} : { realmName }),
    body: html`<section class="card narrow"><h1>${title}</h1><p>${message}</p></section>`,
  });
}
