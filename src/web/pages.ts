/** The web app's screens, rendered on the server; behaviour lives in /static/*.js files. */
import { html, type SafeHtml } from "./html.js";
import { csrfField, renderPage } from "./layout.js";

export interface LoginFormOptions {
  realmName: string;
  csrfToken: string;
  /** "Email" or, where the organization maps plain usernames through LDAP, "LDAP username". */
  usernameLabel: string;
  usernameIsEmail: boolean;
  passwordEnabled: boolean;
  username?: string;
  error?: string;
  next?: string;
  mobileFlowOtp?: string;
  desktopFlowOtp?: string;
  /** Development mode: one-click logins. */
  devUsers?: { email: string; fullName: string; admin: boolean }[];
  /** A button per identity provider that serves the organization. */
  externalMethods?: { name: string; displayName: string; displayIcon: string | null; loginUrl: string }[];
}

/**
 * A provider's button: a link, not a form, because the way to the provider leaves the site and
 * the CSP's form-action would stop a form's redirects. The app flow and `next` go along.
 */
function externalButton(
  o: LoginFormOptions,
  method: { name: string; displayName: string; displayIcon: string | null; loginUrl: string },
): SafeHtml {
  const query = new URLSearchParams();
  if (o.next) query.set("next", o.next);
  if (o.mobileFlowOtp) query.set("mobile_flow_otp", o.mobileFlowOtp);
  if (o.desktopFlowOtp) query.set("desktop_flow_otp", o.desktopFlowOtp);
  const href = query.size > 0 ? `${method.loginUrl}?${query.toString()}` : method.loginUrl;
  // Only the site's own pictures: the CSP allows no others.
  const icon =
    method.displayIcon?.startsWith("/") && !method.displayIcon.startsWith("//")
      ? html`<img src="${method.displayIcon}" alt="" width="20" height="20">`
      : "";
  return html`<li><a class="button secondary sso-button" id="login_auth_button_${method.name}" href="${href}">${icon}Log in with ${method.displayName}</a></li>`;
}

function flowFields(o: {
  next?: string | undefined;
  mobileFlowOtp?: string | undefined;
  desktopFlowOtp?: string | undefined;
}): SafeHtml {
  return html`${o.next ? html`<input type="hidden" name="next" value="${o.next}">` : ""}
    ${o.mobileFlowOtp ? html`<input type="hidden" name="mobile_flow_otp" value="${o.mobileFlowOtp}">` : ""}
    ${o.desktopFlowOtp ? html`<input type="hidden" name="desktop_flow_otp" value="${o.desktopFlowOtp}">` : ""}`;
}

function errorBox(error: string | undefined, id = "form-error"): SafeHtml {
  return error
    ? html`<div class="alert error" role="alert" id="${id}">${error}</div>`
    : html`<div class="alert error" role="alert" id="${id}" hidden></div>`;
}

export function loginPage(o: LoginFormOptions): string {
  const flow = o.mobileFlowOtp ? "the Zulip mobile app" : o.desktopFlowOtp ? "the Zulip desktop app" : null;
  const passwordForm = o.passwordEnabled
    ? html`<form method="post" action="/login/" class="stack" novalidate>
        ${csrfField(o.csrfToken)}
        ${flowFields(o)}
        <label for="id_username">${o.usernameLabel}</label>
        <input id="id_username" name="username" type="${o.usernameIsEmail ? "email" : "text"}" value="${o.username ?? ""}"
          autocomplete="username" required autofocus ${o.error ? html`aria-describedby="form-error"` : ""}>
        <label for="id_password">Password</label>
        <input id="id_password" name="password" type="password" autocomplete="current-password" required>
        <button type="submit" class="primary">Log in</button>
      </form>
      <p class="muted"><a href="/accounts/password/reset/">Forgot your password?</a></p>`
    : html`<p>Password authentication is disabled in this organization.</p>`;
  const external =
    o.externalMethods && o.externalMethods.length > 0
      ? html`${o.passwordEnabled ? html`<p class="or"><span>or</span></p>` : ""}
        <ul class="sso-buttons">${o.externalMethods.map((m) => externalButton(o, m))}</ul>`
      : html``;
  const dev =
    o.devUsers && o.devUsers.length > 0
      ? html`<section class="card narrow" aria-labelledby="dev-login-title">
          <h2 id="dev-login-title">Development login</h2>
          <p class="muted">Development mode only: log in as a demo user without a password.</p>
          <ul class="dev-users">
            ${o.devUsers.map(
              (u) => html`<li><form method="post" action="/accounts/login/dev/">
                ${csrfField(o.csrfToken)}
                <input type="hidden" name="username" value="${u.email}">
                ${flowFields(o)}
                <button type="submit" class="secondary">${u.fullName}<span class="muted"> · ${u.email}${u.admin ? " (administrator)" : ""}</span></button>
              </form></li>`,
            )}
          </ul>
        </section>`
      : html``;
  return renderPage({
    title: "Log in",
    realmName: o.realmName,
    body: html`<section class="card narrow" aria-labelledby="login-title">
        <h1 id="login-title">Log in to ${o.realmName}</h1>
        ${flow ? html`<p class="muted">You are logging in to ${flow}.</p>` : ""}
        ${errorBox(o.error)}
        ${passwordForm}
        ${external}
      </section>
      ${dev}`,
  });
}

export interface AccountPageOptions {
  realmName: string;
  csrfToken: string;
  user: { fullName: string; email: string };
  site: string;
  passwordRequired: boolean;
  canRegenerate: boolean;
}

export function accountSettingsPage(o: AccountPageOptions): string {
  return renderPage({
    title: "Account & privacy",
    realmName: o.realmName,
    user: o.user,
    csrfToken: o.csrfToken,
    settingsTab: "account",
    scripts: ["settings-account.js"],
    body: html`<h1>Account &amp; privacy</h1>
      <section class="card" aria-labelledby="account-title">
        <h2 id="account-title">Account</h2>
        <dl class="facts"><dt>Name</dt><dd>${o.user.fullName}</dd><dt>Email</dt><dd id="account-email">${o.user.email}</dd></dl>
      </section>
      <section class="card" aria-labelledby="api-key-title" id="api-key-section"
        data-email="${o.user.email}" data-site="${o.site}" data-password-required="${o.passwordRequired ? "true" : "false"}">
        <h2 id="api-key-title">API key</h2>
        <p>Your API key lets programs (bots, scripts, the terminal and mobile apps) act as you. Keep it secret.</p>
        <button type="button" id="manage-api-key" class="secondary" aria-expanded="false" aria-controls="api-key-panel">Manage your API key</button>
        <div id="api-key-panel" class="panel" hidden>
          ${errorBox(undefined, "api-key-error")}
          <form id="api-key-form" class="stack" novalidate ${o.passwordRequired ? "" : "hidden"}>
            <label for="api-key-password">Your password</label>
            <input id="api-key-password" name="password" type="password" autocomplete="current-password"
              aria-describedby="api-key-error" ${o.passwordRequired ? "required" : ""}>
            <button type="submit" class="primary" id="get-api-key">Get API key</button>
            <p class="muted">If you don't know your password, you can <a href="/accounts/password/reset/?email=${encodeURIComponent(o.user.email)}" id="reset-password-link">reset it</a>.</p>
          </form>
          ${o.passwordRequired ? "" : html`<button type="button" class="primary" id="show-api-key">Get API key</button>`}
          <div id="api-key-result" hidden>
            <label for="api-key-value">Your API key</label>
            <div class="key-row">
              <input id="api-key-value" class="mono" readonly spellcheck="false">
              <button type="button" id="copy-api-key" class="secondary" aria-label="Copy API key">Copy</button>
            </div>
            <p id="copy-status" class="muted" role="status" aria-live="polite"></p>
            <div class="actions">
              <a id="download-zuliprc" class="button secondary" download="zuliprc" href="#">Download zuliprc</a>
              ${
                o.canRegenerate
                  ? html`<button type="button" id="generate-api-key" class="danger">Generate new API key</button>`
                  : ""
              }
            </div>
            ${
              o.canRegenerate
                ? html`<div id="regenerate-confirm" class="alert warning" hidden>
                    <p><strong>Generate a new API key?</strong> Your current key stops working at once, and every
                    mobile device logged in to your account is logged out.</p>
                    <div class="actions">
                      <button type="button" id="confirm-generate" class="danger">Generate new key</button>
                      <button type="button" id="cancel-generate" class="secondary">Cancel</button>
                    </div>
                  </div>`
                : ""
            }
          </div>
        </div>
      </section>`,
  });
}

export function passwordResetRequestPage(o: { realmName: string; csrfToken: string; email?: string; error?: string }): string {
  return renderPage({
    title: "Reset your password",
    realmName: o.realmName,
    body: html`<section class="card narrow" aria-labelledby="reset-title">
      <h1 id="reset-title">Reset your password</h1>
      <p class="muted">Enter your email address; we'll send you a link to choose a new password.</p>
      ${errorBox(o.error)}
      <form method="post" action="/accounts/password/reset/" class="stack" novalidate>
        ${csrfField(o.csrfToken)}
        <label for="id_email">Email</label>
        <input id="id_email" name="email" type="email" autocomplete="email" required autofocus value="${o.email ?? ""}">
        <button type="submit" class="primary">Send reset link</button>
      </form>
      <p class="muted"><a href="/login/">Back to log in</a></p>
    </section>`,
  });
}

export function passwordResetSentPage(o: { realmName: string; email: string }): string {
  return renderPage({
    title: "Check your email",
    realmName: o.realmName,
    body: html`<section class="card narrow" aria-labelledby="sent-title">
      <h1 id="sent-title">Check your email</h1>
      <p>If <strong>${o.email}</strong> belongs to an account in ${o.realmName}, an email with a link to reset
      its password is on its way. The link works once, for the next 24 hours.</p>
      <p class="muted"><a href="/login/">Back to log in</a></p>
    </section>`,
  });
}

export function newPasswordPage(o: {
  realmName: string;
  csrfToken: string;
  token: string;
  email: string;
  hasPassword: boolean;
  error?: string;
}): string {
  return renderPage({
    title: o.hasPassword ? "Choose a new password" : "Set your password",
    realmName: o.realmName,
    vendorScripts: ["zxcvbn-core/zxcvbn-ts.min.js", "zxcvbn-common/zxcvbn-ts.min.js"],
    scripts: ["password-strength.js"],
    body: html`<section class="card narrow" aria-labelledby="new-password-title">
      <h1 id="new-password-title">${o.hasPassword ? "Choose a new password" : "Set your password"}</h1>
      <p class="muted">For ${o.email}.</p>
      ${errorBox(o.error)}
      <form method="post" action="/accounts/password/reset/confirm/" class="stack" novalidate>
        ${csrfField(o.csrfToken)}
        <input type="hidden" name="token" value="${o.token}">
        <input type="text" name="username" value="${o.email}" autocomplete="username" hidden>
        <label for="id_new_password1">New password</label>
        <input id="id_new_password1" name="new_password1" type="password" autocomplete="new-password" required
          minlength="6" maxlength="100" aria-describedby="password-rules">
        <p id="password-rules" class="muted">6 to 100 characters, and not easy to guess: avoid common words,
        names, dates and keyboard patterns.</p>
        <div class="strength" hidden id="strength-box">
          <meter id="password-strength" min="0" max="4" low="2" high="3" optimum="4" value="0" aria-labelledby="strength-text"></meter>
          <span id="strength-text" class="muted" aria-live="polite"></span>
        </div>
        <label for="id_new_password2">Confirm new password</label>
        <input id="id_new_password2" name="new_password2" type="password" autocomplete="new-password" required>
        <button type="submit" class="primary">Set password</button>
      </form>
    </section>`,
  });
}

export function desktopRedirectPage(o: { realmName: string; desktopData: string }): string {
  return renderPage({
    title: "Finish logging in",
    realmName: o.realmName,
    body: html`<section class="card narrow" aria-labelledby="desktop-title">
      <h1 id="desktop-title">Finish logging in to the desktop app</h1>
      <p>The Zulip desktop app reads this code to finish logging you in:</p>
      <textarea id="desktop-data" class="mono" readonly rows="4" aria-label="Desktop login code">${o.desktopData}</textarea>
      <p class="muted">Or <a href="/login/">log in in this browser</a> instead.</p>
    </section>`,
  });
}

export function devEmailsPage(o: {
  messages: { id: string; date: string; to: string; from: string; subject: string; text: string }[];
}): string {
  return renderPage({
    title: "Outgoing emails",
    body: html`<h1>Outgoing emails</h1>
      <p class="muted">Development mode: messages written to the outbox folder, newest first.</p>
      ${o.messages.length === 0 ? html`<p>No emails yet.</p>` : ""}
      ${o.messages.map(
        (m) => html`<article class="card email" aria-label="${m.subject}">
          <h2>${m.subject}</h2>
          <dl class="facts"><dt>To</dt><dd>${m.to}</dd><dt>From</dt><dd>${m.from}</dd><dt>Date</dt><dd>${m.date}</dd></dl>
          <pre class="email-body">${linkify(m.text)}</pre>
        </article>`,
      )}`,
  });
}

/**
 * Email text with its http(s) URLs made into links (the text itself stays escaped). Punctuation
 * that ends a sentence ("… on https://example.com.") is not part of the link.
 */
function linkify(text: string): SafeHtml {
  const parts = text.split(/(https?:\/\/[^\s<>"]*[^\s<>".,;:!?')\]])/g);
  return html`${parts.map((part, i) => (i % 2 === 1 ? html`<a href="${part}">${part}</a>` : part))}`;
}
