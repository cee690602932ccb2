/**
 * The ports of single sign-on: the OpenID Connect relying party (`src/auth/oidc-client.ts`
 * implements it with `openid-client`) and the JWT key check (`src/auth/jwt-keys.ts`, with
 * `jose`). The rules that use them are in `oidc-login.ts` and `jwt-login.ts`.
 */

/** One identity provider of `LATCHKEY_OIDC_IDPS` (Zulip's `SOCIAL_AUTH_OIDC_ENABLED_IDPS` entry). */
export interface OidcIdp {
  /** Its key in the configuration; names it in URLs when several are configured. */
  name: string;
  /** The button's text after "Log in with" (Zulip's default: "OIDC"). */
  displayName: string;
  /** A picture for the button, or null. */
  displayIcon: string | null;
  /** The issuer (Zulip's `oidc_url`); its metadata is discovered at `<issuer>/.well-known/openid-configuration`. */
  issuer: string;
  clientId: string;
  secret: string;
  /** Whether logging in with an unknown email creates the account (where the organization allows it). */
  autoSignup: boolean;
  /** The organizations it serves; null: every one. */
  limitToSubdomains: string[] | null;
}

/** What the provider said about the person, after the client checked the ID token. */
export interface OidcIdentity {
  subject: string;
  email: string | null;
  /** The `email_verified` claim is `true`: the provider checked that the person owns the address. */
  emailVerified: boolean;
  fullName: string | null;
}

/** What a login sends the provider (RFC 6749 §4.1.1, RFC 7636, OIDC Core §3.1.2.1). */
export interface OidcAuthorizationRequest {
  redirectUri: string;
  state: string;
  nonce: string;
  codeChallenge: string;
}

/** What the answer must match. */
export interface OidcCallbackChecks {
  redirectUri: string;
  state: string;
  nonce: string;
  codeVerifier: string;
}

/**
 * The relying party: talks to the providers (discovery, the token endpoint, the keys that sign
 * ID tokens). `src/auth/oidc-client.ts` implements it with `openid-client`.
 */
export interface IdentityProviderClient {
  /** The provider's login page for this request; discovers the provider first when need be. */
  authorizationUrl(idp: OidcIdp, request: OidcAuthorizationRequest): Promise<string>;
  /** Exchanges the code of the provider's answer and checks the ID token; the person it names. */
  completeLogin(idp: OidcIdp, callbackUrl: URL, checks: OidcCallbackChecks): Promise<OidcIdentity>;
}

/**
 * The provider could not be used: it is `down` (unreachable, too slow, answering 5xx), or it is
 * `misconfigured` (its discovery document is missing or names another issuer).
 */
export class IdpUnavailableError extends Error {
  override name = "IdpUnavailableError";
  constructor(
    message: string,
    cause?: unknown,
    readonly why: "down" | "misconfigured" = "down",
  ) {
    super(message, cause === undefined ? undefined : { cause });
  }
}

/**
 * The provider answered, but not with a login: the person cancelled or was refused
 * (`denied`), the code was used or expired (`invalid_grant`), or the answer did not check out
 * (`rejected`: a bad ID token, a refused client secret).
 */
export class IdpLoginError extends Error {
  override name = "IdpLoginError";
  constructor(
    readonly reason: "denied" | "invalid_grant" | "rejected",
    message: string,
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
  }
}

/** The configured providers and the client that talks to them. */
export interface OidcSettings {
  idps: readonly OidcIdp[];
  client: IdentityProviderClient;
}

/** Checks tokens against the keys of `LATCHKEY_JWT_AUTH_KEYS`; `src/auth/jwt-keys.ts` implements it with `jose`. */
export interface JwtVerifier {
  /** Whether the organization has a key (Zulip's `JWT_AUTH_KEYS[subdomain]`). */
  enabledFor(subdomain: string): boolean;
  /**
   * The token's claims when it is signed with the organization's key by one of its algorithms
   * and its time claims hold; null for any other token (`alg: none` included).
   */
  verify(subdomain: string, token: string): Promise<Record<string, unknown> | null>;
}
