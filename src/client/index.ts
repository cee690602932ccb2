/**
 * A typed client for Latchkey's API, which is Zulip's: form-encoded parameters, Basic
 * authentication with the email and API key, Zulip's JSON envelope. It works against a Zulip
 * server as well. Its types are generated from docs/openapi.json (src/client/openapi-types.ts,
 * `npm run openapi`), so every path, parameter and answer below is checked against the document.
 *
 *   import { createClient, ZulipApiError } from "latchkey/client";
 */
import { readFileSync } from "node:fs";
import type { components, operations, paths } from "./openapi-types.js";

export type { components, operations, paths };

/** An error answer of the server: Zulip's envelope `{"result":"error","msg":...,"code":...}`. */
export class ZulipApiError extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** Zulip's error code (`BAD_REQUEST`, `RATE_LIMIT_HIT`, ...); null when the answer carried none. */
  readonly code: string | null;
  /** The server's message. */
  readonly msg: string;
  /** Seconds to wait before trying again, from `Retry-After` or the body's `retry-after`. */
  readonly retryAfter?: number;
  /** The whole error body, with fields such as `var_name`; null when the answer was not JSON. */
  readonly body: Record<string, unknown> | null;

  constructor(status: number, body: Record<string, unknown> | null, retryAfter?: number) {
    const msg = typeof body?.msg === "string" ? body.msg : `HTTP ${status}`;
    super(msg);
    this.name = "ZulipApiError";
    this.status = status;
    this.code = typeof body?.code === "string" ? body.code : null;
    this.msg = msg;
    if (retryAfter !== undefined) this.retryAfter = retryAfter;
    this.body = body;
  }
}

export type ApiKeyResponse = components["schemas"]["ApiKeyResponse"];
type Ok<K extends keyof operations> = operations[K]["responses"][200]["content"]["application/json"];
type Form<K extends keyof operations> = operations[K] extends {
  requestBody: { content: { "application/x-www-form-urlencoded": infer F } };
}
  ? F
  : never;
export type ServerSettings = Ok<"get-server-settings">;
export type OwnUser = Ok<"get-own-user">;
export type Bot = Ok<"get-bots">["bots"][number];
export type CreatedBot = Ok<"create-bot">;
/** `createBot`'s parameters, as the server takes them (JSON-typed ones as JSON text). */
export type CreateBotParams = Form<"create-bot">;

export type ClientOptions =
  | {
      /** The server's URL; `localhost` or a loopback address gets `http://`, any other host `https://`. */
      site: string;
      email?: string;
      apiKey?: string;
      userAgent?: string;
    }
  | {
      /** A zuliprc file: `[api]` with `email`, `key` and `site`. */
      zuliprc: string;
      userAgent?: string;
    };

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;
const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d+)?(\/|$)/i;

/**
 * The site as Zulip's clients write it: with a scheme (`http://` for `localhost`, as
 * python-zulip-api and zulip-terminal do, and for other loopback addresses; `https://` for any
 * other host), without trailing slashes or the `/api` suffix zulip-js also accepts.
 */
export function normaliseSite(site: string): string {
  let url = site.trim();
  if (!SCHEME.test(url)) url = `${LOOPBACK.test(url) ? "http" : "https"}://${url}`;
  url = url.replace(/\/+$/, "");
  if (url.endsWith("/api")) url = url.slice(0, -"/api".length).replace(/\/+$/, "");
  return url;
}

/** The `[api]` section of a zuliprc (Python's ConfigParser syntax: `key = value` or `key: value`). */
function readZuliprc(path: string): { site: string; email?: string; apiKey?: string } {
  const values: Record<string, string> = {};
  let section = "";
  for (const raw of readFileSync(path, "utf8").split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = (header[1] as string).trim();
      continue;
    }
    const separator = line.search(/[=:]/);
    if (section !== "api" || separator < 0) continue;
    values[line.slice(0, separator).trim().toLowerCase()] = line.slice(separator + 1).trim();
  }
  if (values.site === undefined || values.site === "") throw new Error(`${path}: no site in its [api] section`);
  return {
    site: values.site,
    ...(values.email ? { email: values.email } : {}),
    ...(values.key ? { apiKey: values.key } : {}),
  };
}

type Method = "get" | "post" | "delete";
/** The documented paths whose `method` operation is `K`. */
type PathOf<M extends Method, K extends keyof operations> = {
  [P in keyof paths]: paths[P][M] extends operations[K] ? P : never;
}[keyof paths];

function retryAfterOf(response: Response, body: Record<string, unknown> | null): number | undefined {
  const header = response.headers.get("retry-after");
  if (header !== null && header.trim() !== "" && Number.isFinite(Number(header))) return Number(header);
  const fromBody = body?.["retry-after"];
  return typeof fromBody === "number" ? fromBody : undefined;
}

export class LatchkeyClient {
  /** The normalised site; requests go to `<site>/api/v1/...`. */
  readonly site: string;
  readonly email: string | undefined;
  apiKey: string | undefined;
  readonly userAgent: string;

  constructor(options: ClientOptions) {
    const settings = "zuliprc" in options ? readZuliprc(options.zuliprc) : options;
    this.site = normaliseSite(settings.site);
    this.email = settings.email;
    this.apiKey = settings.apiKey;
    this.userAgent = options.userAgent ?? "LatchkeyClient";
  }

  private async call<M extends Method, K extends keyof operations>(
    method: M,
    path: PathOf<M, K>,
    _operation: K,
    options: { form?: Record<string, string | undefined>; pathParams?: Record<string, number>; auth?: boolean } = {},
  ): Promise<Ok<K>> {
    let url = `${this.site}${path as string}`;
    for (const [name, value] of Object.entries(options.pathParams ?? {})) {
      url = url.replace(`{${name}}`, encodeURIComponent(String(value)));
    }
    const form = new URLSearchParams();
    for (const [name, value] of Object.entries(options.form ?? {})) if (value !== undefined) form.set(name, value);
    const headers: Record<string, string> = { "user-agent": this.userAgent, accept: "application/json" };
    // Without both, the request goes without credentials and the server answers its 401.
    if (options.auth && this.email !== undefined && this.apiKey !== undefined) {
      headers.authorization = `Basic ${Buffer.from(`${this.email}:${this.apiKey}`, "utf8").toString("base64")}`;
    }
    const init: RequestInit = { method: method.toUpperCase(), headers };
    if (method === "get") {
      const query = form.toString();
      if (query !== "") url += `?${query}`;
    } else if ([...form.keys()].length > 0) {
      headers["content-type"] = "application/x-www-form-urlencoded";
      init.body = form.toString();
    }
    const response = await fetch(url, init);
    const text = await response.text();
    let body: Record<string, unknown> | null = null;
    try {
      const parsed: unknown = JSON.parse(text);
      if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
    } catch {
      body = null;
    }
    if (!response.ok || body === null || body.result !== "success") {
      throw new ZulipApiError(response.status, body, retryAfterOf(response, body));
    }
    return body as Ok<K>;
  }

  /** Zulip's `fetch_api_key`: the key of the account with this username and password. */
  fetchApiKey({ username, password }: { username: string; password: string }): Promise<ApiKeyResponse> {
    return this.call("post", "/api/v1/fetch_api_key", "fetch-api-key", { form: { username, password } });
  }

  /** Zulip's `dev_fetch_api_key` (development servers only): any active user's key, without a password. */
  devFetchApiKey({ username }: { username: string }): Promise<ApiKeyResponse> {
    return this.call("post", "/api/v1/dev_fetch_api_key", "dev-fetch-api-key", { form: { username } });
  }

  /** What a client needs before logging in; needs no credentials. */
  getServerSettings(): Promise<ServerSettings> {
    return this.call("get", "/api/v1/server_settings", "get-server-settings");
  }

  /** The authenticated user. */
  getOwnUser(): Promise<OwnUser> {
    return this.call("get", "/api/v1/users/me", "get-own-user", { auth: true });
  }

  /** Replaces the authenticated user's key; the client goes on with the new one. */
  async regenerateApiKey(): Promise<{ api_key: string }> {
    const { api_key } = await this.call("post", "/api/v1/users/me/api_key/regenerate", "regenerate-api-key", { auth: true });
    this.apiKey = api_key;
    return { api_key };
  }

  /** Creates a bot owned by the authenticated user; its id and key come back. */
  createBot(params: CreateBotParams): Promise<CreatedBot> {
    return this.call("post", "/api/v1/bots", "create-bot", { form: params, auth: true });
  }

  /** The bots the authenticated user owns, with their keys. */
  async listBots(): Promise<Bot[]> {
    const { bots } = await this.call("get", "/api/v1/bots", "get-bots", { auth: true });
    return bots;
  }

  /** Replaces a bot's key and returns the new one. */
  async regenerateBotKey(botId: number): Promise<{ api_key: string }> {
    const { api_key } = await this.call("post", "/api/v1/bots/{bot_id}/api_key/regenerate", "regenerate-bot-api-key", {
      pathParams: { bot_id: botId },
      auth: true,
    });
    return { api_key };
  }

  /** A bot's current key. */
  async getBotApiKey(botId: number): Promise<{ api_key: string }> {
    const { api_key } = await this.call("get", "/api/v1/bots/{bot_id}/api_key", "get-bot-api-key", {
      pathParams: { bot_id: botId },
      auth: true,
    });
    return { api_key };
  }
}

/** A client for a Latchkey (or Zulip) server: `{ site, email?, apiKey? }` or `{ zuliprc }`. */
export function createClient(options: ClientOptions): LatchkeyClient {
  return new LatchkeyClient(options);
}
