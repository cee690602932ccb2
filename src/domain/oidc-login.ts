/**
 * Logging in through an OpenID Connect identity provider: Zulip's `GenericOpenIdConnectBackend`
 * and the social-auth steps around it (`SocialAuthMixin`, `social_associate_user_helper`,
 * `social_auth_finish`; docs/zulip-rules.md §4.7). The authorization code flow with PKCE,
 * `state` and `nonce`; the account is the one whose email the provider says it verified, in
 * the organization the login started from.
 *
 * The steps, in order: `startOidcLogin` remembers the login (sealed, under its state) and gives
 * the provider's URL; `finishOidcLogin` takes the provider's answer back, has the client check
 * it, and finds (or, where allowed, creates) the account. The web routes turn the outcome into
 * a redirect or a page.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from "node:crypto";
import { AccountError, createAccount } from "./accounts.js";
import type { AuthFlag, Context } from "./context.js";
import { isValidEmail } from "./email.js";
import { findActiveUser } from "./login.js";
import type { Realm, User } from "./model.js";
import { hashSecret } from "./sessions.js";
import { IdpLoginError, IdpUnavailableError, type OidcIdentity, type OidcIdp } from "./sso-ports.js";

/** The path of the provider's answer, on the root host: the callback URL to register at the provider. */
export const OIDC_CALLBACK_PATH = "/complete/oidc/";

/** How long a login may stay at the provider. */
export const OIDC_LOGIN_MS = 15 * 60_000;

/** The app flows and the page to open afterwards, carried through the provider. */
export interface OidcFlow {
  mobile?: string;
  desktop?: string;
  next?: string;
}

/** Whether the server has providers and the organization has OpenID Connect on (`auth_enabled_helper(["OpenID Connect"])`). */
export function oidcAuthEnabled(ctx: Context, realm: Realm | null): boolean {
  return (ctx.oidc?.idps.length ?? 0) > 0 && (realm === null || realm.authMethods.oidc);
}

/** Whether `idp` serves the organization (`limit_to_subdomains`). */
export function idpServes(idp: OidcIdp, realm: Realm): boolean {
  return idp.limitToSubdomains === null || idp.limitToSubdomains.includes(realm.subdomain);
}

/**
 * The providers an organization's login page and `server_settings` list, in configuration order.
 * Without an organization, only those that serve every one (as Zulip lists SAML providers).
 */
export function idpsFor(ctx: Context, realm: Realm | null): OidcIdp[] {
  if (!oidcAuthEnabled(ctx, realm)) return [];
  const idps = ctx.oidc?.idps ?? [];
  return realm === null ? idps.filter((idp) => idp.limitToSubdomains === null) : idps.filter((idp) => idpServes(idp, realm));
}

/**
 * The provider a login URL names: `/accounts/login/social/oidc` is the only one when one is
 * configured; `/accounts/login/social/oidc/<name>` names one of several.
 */
export function findIdp(ctx: Context, name: string | undefined): OidcIdp | null {
  const idps = ctx.oidc?.idps ?? [];
  if (name === undefined) return idps.length === 1 ? (idps[0] ?? null) : null;
  return idps.find((idp) => idp.name === name) ?? null;
}

/** How `external_authentication_methods` names a provider, and where its buttons lead. */
export interface ExternalMethod {
  name: string;
  displayName: string;
  displayIcon: string | null;
  loginUrl: string;
  signupUrl: string;
}

/**
 * Zulip's `GenericOpenIdConnectBackend.dict_representation`: with one provider, exactly
 * `oidc:oidc` at `/accounts/login/social/oidc`. With several, each is `oidc:<name>` at
 * `/accounts/login/social/oidc/<name>`, the way Zulip names SAML providers.
 */
export function externalMethod(ctx: Context, idp: OidcIdp): ExternalMethod {
  const single = (ctx.oidc?.idps.length ?? 0) === 1;
  const suffix = single ? "" : `/${encodeURIComponent(idp.name)}`;
  return {
    name: single ? "oidc:oidc" : `oidc:${idp.name}`,
    displayName: idp.displayName,
    displayIcon: idp.displayIcon,
    loginUrl: `/accounts/login/social/oidc${suffix}`,
    signupUrl: `/accounts/register/social/oidc${suffix}`,
  };
}

/** What a login remembers while the person is at the provider. */
interface PendingLogin {
  idp: string;
  subdomain: string;
  nonce: string;
  codeVerifier: string;
  isSignup: boolean;
  flow: OidcFlow;
}

function randomToken(): string {
  return randomBytes(32).toString("base64url");
}

/** RFC 7636's S256 challenge. */
function codeChallengeOf(verifier: string): string {
  return createHash("sha256").update(verifier, "ascii").digest("base64url");
}

// The row is sealed under a key only the state opens: the state lives in the browser's cookie and
// the provider's redirect, never in the database.
function sealingKey(state: string): Buffer {
  return createHmac("sha256", state).update("latchkey oidc login").digest();
}

function seal(state: string, login: PendingLogin): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", sealingKey(state), iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(login), "utf8"), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64");
}

function unseal(state: string, sealed: string): PendingLogin {
  const raw = Buffer.from(sealed, "base64");
  const decipher = createDecipheriv("aes-256-gcm", sealingKey(state), raw.subarray(0, 12));
  decipher.setAuthTag(raw.subarray(raw.length - 16));
  const text = Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString("utf8");
  return JSON.parse(text) as PendingLogin;
}

export interface StartedOidcLogin {
  /** Goes to the browser (a cookie) and to the provider; the answer must bring it back. */
  state: string;
  /** The provider's login page. */
  url: string;
}

/**
 * Starts a login: fresh `state`, `nonce` and PKCE verifier, remembered for `OIDC_LOGIN_MS`;
 * the provider's URL to send the browser to. Throws `IdpUnavailableError` when the provider
 * cannot be discovered (nothing is remembered then).
 */
export async function startOidcLogin(
  ctx: Context,
  login: { idp: OidcIdp; realm: Realm; isSignup: boolean; flow: OidcFlow; redirectUri: string },
): Promise<StartedOidcLogin> {
  const client = ctx.oidc?.client;
  if (client === undefined) throw new IdpUnavailableError("OpenID Connect is not configured");
  const state = randomToken();
  const nonce = randomToken();
  const codeVerifier = randomToken();
  const url = await client.authorizationUrl(login.idp, {
    redirectUri: login.redirectUri,
    state,
    nonce,
    codeChallenge: codeChallengeOf(codeVerifier),
  });
  const now = ctx.clock.now();
  const pending: PendingLogin = {
    idp: login.idp.name,
    subdomain: login.realm.subdomain,
    nonce,
    codeVerifier,
    isSignup: login.isSignup,
    flow: login.flow,
  };
  await ctx.stores.oidcLogins.create({
    stateHash: hashSecret(state),
    sealed: seal(state, pending),
    createdAt: now,
    expiresAt: now + OIDC_LOGIN_MS,
  });
  // Logins abandoned at the provider are swept now and then, on the way in.
  if (Math.random() < 0.01) await ctx.stores.oidcLogins.deleteExpired(now);
  return { state, url };
}

/** Why a provider's answer did not log anyone in (Zulip's `return_data` flags of social auth). */
export type OidcRefusal =
  /** No login in flight has this state: expired, already used, or never started here. */
  | "unknown_state"
  /** The organization is gone, or no longer has this provider. */
  | "auth_backend_disabled"
  /** The provider did not give an email address. */
  | "no_email"
  /** The provider gave an address without vouching for it (`email_verified` is not `true`). */
  | "email_not_verified"
  | "invalid_email"
  | "inactive_realm"
  | "inactive_user"
  /** No account has the address, and none may be made. */
  | "no_account"
  /** The provider could not be reached to exchange the code (`IdpUnavailableError`). */
  | "unavailable"
  /** The provider answered with an error, refused the code, or gave an answer that did not check out (`IdpLoginError`). */
  | IdpLoginError["reason"];

export type OidcOutcome =
  | { ok: true; user: User; realm: Realm; idp: OidcIdp; flow: OidcFlow; created: boolean }
  | {
      ok: false;
      refusal: OidcRefusal;
      realm: Realm | null;
      idp: OidcIdp | null;
      email: string | null;
      /** What the provider or the client said, for the log. */
      error?: Error;
    };

/**
 * Takes the provider's answer: uses up the login its state names, has the client exchange the
 * code and check the ID token, then finds the account. The caller has already checked that the
 * browser holds the same state.
 */
export async function finishOidcLogin(
  ctx: Context,
  answer: { state: string; callbackUrl: URL; redirectUri: string },
): Promise<OidcOutcome> {
  const refused = (refusal: OidcRefusal, realm: Realm | null = null, idp: OidcIdp | null = null, email: string | null = null) =>
    ({ ok: false, refusal, realm, idp, email }) as const;
  const row = await ctx.stores.oidcLogins.consume(hashSecret(answer.state), ctx.clock.now());
  if (row === null) return refused("unknown_state");
  let pending: PendingLogin;
  try {
    pending = unseal(answer.state, row.sealed);
  } catch {
    // Only a row altered in the database fails to open.
    return refused("unknown_state");
  }
  const realm = await ctx.stores.realms.findBySubdomain(pending.subdomain);
  const idp = findIdp(ctx, pending.idp);
  if (realm === null || idp === null || ctx.oidc === null) return refused("auth_backend_disabled", realm, idp);

  let identity: OidcIdentity;
  try {
    identity = await ctx.oidc.client.completeLogin(idp, answer.callbackUrl, {
      redirectUri: answer.redirectUri,
      state: answer.state,
      nonce: pending.nonce,
      codeVerifier: pending.codeVerifier,
    });
  } catch (err) {
    if (err instanceof IdpUnavailableError) return { ...refused("unavailable", realm, idp), error: err };
    if (err instanceof IdpLoginError) return { ...refused(err.reason, realm, idp), error: err };
    throw err;
  }
  // social_associate_user_helper's order: the organization and its backend, then the address.
  if (!realm.authMethods.oidc || !idpServes(idp, realm)) return refused("auth_backend_disabled", realm, idp);
  const email = identity.email?.trim() ?? "";
  if (email === "") return refused("no_email", realm, idp);
  // Latchkey: only an address the provider vouches for names an account (docs/zulip-rules.md §4.7).
  if (!identity.emailVerified) return refused("email_not_verified", realm, idp, email);
  if (!isValidEmail(email)) return refused("invalid_email", realm, idp, email);

  const flags = new Set<AuthFlag>();
  let user = await findActiveUser(ctx, realm, email, flags);
  if (flags.has("inactive_realm")) return refused("inactive_realm", realm, idp, email);
  if (flags.has("inactive_user")) return refused("inactive_user", realm, idp, email);
  let created = false;
  if (user === null) {
    // Zulip: a sign-up, or a provider with auto_signup, goes to registration where the
    // organization lets people join; here the account is made at once.
    if (!(pending.isSignup || idp.autoSignup) || !realm.oidcAutoCreate) return refused("no_account", realm, idp, email);
    user = await createOidcAccount(ctx, realm, email, identity.fullName);
    if (user === null) return refused("no_account", realm, idp, email);
    created = true;
  }
  if (user.isBot) return refused("no_account", realm, idp, email);
  return { ok: true, user, realm, idp, flow: pending.flow, created };
}

/** The name an account gets: the provider's, else the address's local part (1 to 100 characters). */
function fullNameFor(email: string, fullName: string | null): string {
  const name = (fullName ?? "").trim() || email.slice(0, email.indexOf("@"));
  return name.slice(0, 100);
}

async function createOidcAccount(ctx: Context, realm: Realm, email: string, fullName: string | null): Promise<User | null> {
  try {
    const { user } = await createAccount(ctx, {
      realmId: realm.id,
      email,
      fullName: fullNameFor(email, fullName),
      // The provider keeps the credentials; the account has no password of its own.
      password: null,
    });
    ctx.log.warn({ userId: user.id, realm: realm.subdomain }, "account created from an OpenID Connect login");
    return user;
  } catch (err) {
    if (!(err instanceof AccountError)) throw err;
    // Two first logins at once: the other one created it.
    return ctx.stores.users.findByDeliveryEmail(realm.id, email);
  }
}

/** Turns account creation for people an identity provider vouches for on or off. */
export async function setRealmOidcAutoCreate(ctx: Context, realmId: number, on: boolean): Promise<Realm> {
  const realm = await ctx.stores.realms.update(realmId, { oidcAutoCreate: on });
  if (realm === null) throw new AccountError(`no organization with id ${realmId}`);
  ctx.keyCache.invalidate({ kind: "realm", realmId });
  return realm;
}
