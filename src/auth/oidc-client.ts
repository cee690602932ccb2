/**
 * The OpenID Connect relying party, with `openid-client` (an OpenID-certified client): discovery,
 * the authorization URL, the code exchange with PKCE, the ID token's checks (signature against
 * the provider's published keys, issuer, audience, expiry, nonce) and the UserInfo claims.
 *
 * Discovery happens on first use, not at boot, so a provider that is down does not keep the
 * server from starting. Its result is kept for a day; a failure is remembered for
 * `retryAfterMs`, after which the next login tries again.
 */
import * as client from "openid-client";
import type { Clock } from "../domain/model.js";
import {
  type IdentityProviderClient,
  IdpLoginError,
  IdpUnavailableError,
  type OidcAuthorizationRequest,
  type OidcCallbackChecks,
  type OidcIdentity,
  type OidcIdp,
} from "../domain/sso-ports.js";

/** Seconds every request to a provider may take. */
const REQUEST_TIMEOUT_S = 10;
/** How long discovered metadata is used before it is fetched again (python-social-auth's cache: a day). */
const METADATA_TTL_MS = 24 * 3600_000;
/** Zulip asks for the same claims (`OpenIdConnectAuth.DEFAULT_SCOPE`). */
const SCOPE = "openid profile email";

interface Discovered {
  config: client.Configuration | null;
  /** While `config` is null: no new attempt before this time. */
  retryAt: number;
  /** When the metadata is fetched again. */
  expiresAt: number;
  pending: Promise<client.Configuration> | null;
  /** The last discovery's failure, repeated until `retryAt`. */
  failure: IdpUnavailableError | null;
}

export interface OidcClientOptions {
  clock: Clock;
  /** How long a failed discovery is remembered before the next login tries again. */
  retryAfterMs?: number;
}

function isLoopback(issuer: string): boolean {
  return new URL(issuer).protocol === "http:";
}

/** Network failures, timeouts and 5xx answers: the provider is not there to ask. */
function isOutage(err: unknown): boolean {
  if (err instanceof client.ResponseBodyError) return err.status >= 500;
  // A response that is not the expected document carries the response itself as its cause.
  if (err instanceof Response) return err.status >= 500;
  if (err instanceof DOMException && (err.name === "TimeoutError" || err.name === "AbortError")) return true;
  if (err instanceof TypeError) return true; // fetch failed: refused, reset, unresolvable
  const cause = (err as { cause?: unknown } | null)?.cause;
  return cause !== undefined && cause !== err && isOutage(cause);
}

function stringClaim(value: unknown): string | null {
  return typeof value === "string" && value !== "" ? value : null;
}

/**
 * The client's side of the metadata: HTTP Basic for the client secret where the provider supports
 * it (or does not say), else the form body, as python-social-auth chooses (`use_basic_auth`).
 */
function configurationFor(idp: OidcIdp, metadata: client.ServerMetadata): client.Configuration {
  const methods = metadata.token_endpoint_auth_methods_supported;
  const auth =
    methods === undefined || methods.includes("client_secret_basic")
      ? client.ClientSecretBasic(idp.secret)
      : client.ClientSecretPost(idp.secret);
  const config = new client.Configuration(metadata, idp.clientId, idp.secret, auth);
  config.timeout = REQUEST_TIMEOUT_S;
  if (isLoopback(idp.issuer)) client.allowInsecureRequests(config);
  // OpenID Connect lets a client skip the ID token's signature when it comes straight from the
  // token endpoint over TLS; python-social-auth checks it against the provider's keys, and so
  // does Latchkey.
  client.enableNonRepudiationChecks(config);
  return config;
}

export class OpenIdClient implements IdentityProviderClient {
  private readonly discovered = new Map<string, Discovered>();
  private readonly retryAfterMs: number;

  constructor(private readonly options: OidcClientOptions) {
    this.retryAfterMs = options.retryAfterMs ?? 30_000;
  }

  /** The provider's metadata, discovered on first use; `IdpUnavailableError` while it cannot be. */
  private async configuration(idp: OidcIdp): Promise<client.Configuration> {
    const now = this.options.clock.now();
    let entry = this.discovered.get(idp.name);
    // Fresh metadata, or stale metadata while a failed refresh waits for its retry.
    if (entry?.config && (now < entry.expiresAt || now < entry.retryAt)) return entry.config;
    if (entry !== undefined && entry.pending !== null) return entry.pending;
    if (entry?.failure && entry.config === null && now < entry.retryAt) {
      const { failure } = entry;
      throw new IdpUnavailableError(
        `${failure.message}; next try in ${Math.ceil((entry.retryAt - now) / 1000)} s`,
        failure.cause,
        failure.why,
      );
    }
    entry ??= { config: null, retryAt: 0, expiresAt: 0, pending: null, failure: null };
    this.discovered.set(idp.name, entry);
    const current = entry;
    current.pending = client
      .discovery(new URL(idp.issuer), idp.clientId, idp.secret, undefined, {
        timeout: REQUEST_TIMEOUT_S,
        ...(isLoopback(idp.issuer) ? { execute: [client.allowInsecureRequests] } : {}),
      })
      .then((discovered) => configurationFor(idp, discovered.serverMetadata()))
      .then(
        (config) => {
          current.config = config;
          current.failure = null;
          current.expiresAt = this.options.clock.now() + METADATA_TTL_MS;
          return config;
        },
        (err: unknown) => {
          // Stale metadata beats none: a provider that still answers logins keeps working.
          current.retryAt = this.options.clock.now() + this.retryAfterMs;
          if (current.config !== null) return current.config;
          current.failure = new IdpUnavailableError(
            `${idp.issuer} could not be discovered: ${(err as Error).message}`,
            err,
            isOutage(err) ? "down" : "misconfigured",
          );
          throw current.failure;
        },
      )
      .finally(() => {
        current.pending = null;
      });
    return current.pending;
  }

  async authorizationUrl(idp: OidcIdp, request: OidcAuthorizationRequest): Promise<string> {
    const config = await this.configuration(idp);
    return client
      .buildAuthorizationUrl(config, {
        redirect_uri: request.redirectUri,
        scope: SCOPE,
        response_type: "code",
        state: request.state,
        nonce: request.nonce,
        code_challenge: request.codeChallenge,
        code_challenge_method: "S256",
      })
      .toString();
  }

  async completeLogin(idp: OidcIdp, callbackUrl: URL, checks: OidcCallbackChecks): Promise<OidcIdentity> {
    const config = await this.configuration(idp);
    // openid-client compares the answer's URL with the one the code was issued for.
    const answer = new URL(checks.redirectUri);
    answer.search = callbackUrl.search;
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
    try {
      tokens = await client.authorizationCodeGrant(config, answer, {
        expectedState: checks.state,
        expectedNonce: checks.nonce,
        pkceCodeVerifier: checks.codeVerifier,
        idTokenExpected: true,
      });
    } catch (err) {
      throw this.classify(idp, err);
    }
    const idToken = tokens.claims();
    if (idToken === undefined) throw new IdpLoginError("rejected", `${idp.issuer} returned no ID token`);
    let claims: Record<string, unknown> = { ...idToken };
    if (config.serverMetadata().userinfo_endpoint !== undefined) {
      try {
        // UserInfo first, then the ID token, as python-social-auth reads them; its `sub` must match.
        claims = { ...idToken, ...(await client.fetchUserInfo(config, tokens.access_token, idToken.sub)) };
      } catch (err) {
        throw this.classify(idp, err);
      }
    }
    return {
      subject: idToken.sub,
      email: stringClaim(claims.email),
      emailVerified: claims.email_verified === true,
      fullName:
        stringClaim(claims.name) ??
        (`${stringClaim(claims.given_name) ?? ""} ${stringClaim(claims.family_name) ?? ""}`.trim() || null),
    };
  }

  private classify(idp: OidcIdp, err: unknown): Error {
    if (err instanceof client.AuthorizationResponseError) {
      return new IdpLoginError("denied", `${idp.issuer} answered ${err.error}: ${err.error_description ?? ""}`.trim(), err);
    }
    if (isOutage(err)) return new IdpUnavailableError(`${idp.issuer} could not be reached: ${(err as Error).message}`, err);
    if (err instanceof client.ResponseBodyError && err.error === "invalid_grant") {
      return new IdpLoginError("invalid_grant", `${idp.issuer} refused the code: ${err.error_description ?? err.error}`, err);
    }
    const detail =
      err instanceof client.ResponseBodyError ? `${err.error}: ${err.error_description ?? ""}` : (err as Error).message;
    return new IdpLoginError("rejected", `${idp.issuer}: ${detail}`, err);
  }
}
