/**
 * The steps every way of logging in to the web app shares (the password form, the development
 * login, an identity provider, the desktop app's token): which organization and app flow a
 * request is for, the login page, and what happens once someone is logged in — the mobile app's
 * `zulip://` redirect, the desktop app's token page, or a browser session (docs/zulip-rules.md,
 * "Mobile and desktop login flows").
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { revealApiKey } from "../domain/accounts.js";
import { generateApiKey } from "../domain/api-key.js";
import type { Context } from "../domain/context.js";
import { passwordAuthEnabled, requireEmailFormatUsernames } from "../domain/login.js";
import { isRealmAdmin, type Realm, type User } from "../domain/model.js";
import { externalMethod, idpsFor } from "../domain/oidc-login.js";
import { storeOneTimeToken } from "../domain/one-time-tokens.js";
import { encryptForDesktop, isValidOtp, mobileFlowLocation, otpEncryptApiKey } from "../domain/otp.js";
import { endSession, startSession } from "../domain/sessions.js";
import { loginSource } from "../http/request-info.js";
import { messagePage } from "./layout.js";
import { redirect, requireHostRealm, safeNext, sendHtml, setSessionCookie } from "./page-kit.js";
import { desktopRedirectPage, loginPage } from "./pages.js";

/** How long the desktop app has to redeem its one-time login token (Zulip: 15 s). */
export const DESKTOP_TOKEN_MS = 15_000;

const OTP_BOTH = "Can't use both mobile_flow_otp and desktop_flow_otp together.";

/** The app flow a login is for: the mobile app's or the desktop app's one-time pad, or neither. */
export interface Otps {
  mobile?: string;
  desktop?: string;
}

/** The validation of both pads: both → the "Can't use both" error; a malformed one → "Invalid OTP". */
export function readOtps(mobile: string | undefined, desktop: string | undefined): Otps | { error: string } {
  if (mobile !== undefined && desktop !== undefined) return { error: OTP_BOTH };
  if (mobile !== undefined && !isValidOtp(mobile)) return { error: "Invalid OTP" };
  if (desktop !== undefined && !isValidOtp(desktop)) return { error: "Invalid OTP" };
  return { ...(mobile === undefined ? {} : { mobile }), ...(desktop === undefined ? {} : { desktop }) };
}

/**
 * The organization of a login request and its app flow, read by `read`; when either is wrong,
 * the error page is sent and the answer is null.
 */
export async function loginTarget(
  ctx: Context,
  request: FastifyRequest,
  reply: FastifyReply,
  read: (request: FastifyRequest, name: string) => string | undefined,
): Promise<{ realm: Realm; otps: Otps } | null> {
  const realm = await requireHostRealm(ctx, request, reply);
  if (realm === null) return null;
  const otps = readOtps(read(request, "mobile_flow_otp"), read(request, "desktop_flow_otp"));
  if (!("error" in otps)) return { realm, otps };
  sendHtml(reply, 400, messagePage("Error", otps.error, realm.name));
  return null;
}

export interface LoginPageState {
  username?: string;
  error?: string;
  next?: string;
  otps: Otps;
}

/** The login page of an organization, with the development users' one-click list where that is on. */
export async function renderLogin(
  ctx: Context,
  reply: FastifyReply,
  realm: Realm,
  status: number,
  state: LoginPageState,
  devMode: boolean,
): Promise<FastifyReply> {
  const emailUsernames = requireEmailFormatUsernames(ctx, realm);
  const devUsers =
    devMode && realm.authMethods.dev && !realm.deactivated
      ? (await ctx.stores.users.listByRealm(realm.id))
          .filter((u) => u.isActive && !u.isBot)
          .map((u) => ({ email: u.deliveryEmail, fullName: u.fullName, admin: isRealmAdmin(u) }))
      : undefined;
  return sendHtml(
    reply,
    status,
    loginPage({
      realmName: realm.name,
      csrfToken: reply.generateCsrf(),
      usernameLabel: emailUsernames ? "Email" : "LDAP username",
      usernameIsEmail: emailUsernames,
      passwordEnabled: passwordAuthEnabled(ctx, realm),
      ...(state.username === undefined ? {} : { username: state.username }),
      ...(state.error === undefined ? {} : { error: state.error }),
      ...(state.next === undefined ? {} : { next: state.next }),
      ...(state.otps.mobile === undefined ? {} : { mobileFlowOtp: state.otps.mobile }),
      ...(state.otps.desktop === undefined ? {} : { desktopFlowOtp: state.otps.desktop }),
      ...(devUsers === undefined ? {} : { devUsers }),
      externalMethods: idpsFor(ctx, realm).map((idp) => externalMethod(ctx, idp)),
    }),
  );
}

/** After a successful login: the mobile redirect, the desktop page, or a browser session. */
export async function finishLogin(
  ctx: Context,
  request: FastifyRequest,
  reply: FastifyReply,
  login: { user: User; realm: Realm; otps: Otps; next?: string | undefined },
): Promise<FastifyReply> {
  const { user, realm, otps } = login;
  if (otps.mobile !== undefined) {
    const apiKey = await revealApiKey(ctx, user.id);
    ctx.onLogin(user, realm, loginSource(request, undefined));
    // Built by hand: the target is not an http(s) URL.
    return redirect(
      reply,
      mobileFlowLocation({
        encryptedKey: otpEncryptApiKey(apiKey, otps.mobile),
        email: user.deliveryEmail,
        userId: user.id,
        realmUrl: ctx.site.urlOf(realm.subdomain),
      }),
    );
  }
  if (otps.desktop !== undefined) {
    // Zulip's desktop login token has an API key's shape.
    const token = generateApiKey();
    await storeOneTimeToken(ctx, token, "desktop_login", user.id, DESKTOP_TOKEN_MS);
    return sendHtml(
      reply,
      200,
      desktopRedirectPage({ realmName: realm.name, desktopData: encryptForDesktop(token, otps.desktop) }),
    );
  }
  if (request.subdomain !== realm.subdomain) {
    // Finished on another host (an identity provider answers at the root host): the browser
    // takes a one-time token to the organization's own host, which starts the session there
    // (Zulip's `redirect_and_log_into_subdomain`).
    const token = generateApiKey();
    await storeOneTimeToken(ctx, token, "desktop_login", user.id, DESKTOP_TOKEN_MS);
    const next = login.next === undefined ? "" : `?${new URLSearchParams({ next: login.next }).toString()}`;
    return redirect(reply, `${ctx.site.urlOf(realm.subdomain)}/accounts/login/subdomain/${token}${next}`);
  }
  // A new session id on every login, so an id planted before login is worth nothing after it.
  if (request.webSession !== null) await endSession(ctx, request.webSession.idHash);
  setSessionCookie(reply, await startSession(ctx, user), ctx.site.secure);
  ctx.onLogin(user, realm, loginSource(request, undefined));
  return redirect(reply, safeNext(login.next));
}
