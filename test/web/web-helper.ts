/** A small cookie-keeping client over app.inject(), for the web app's pages and /json calls. */
import type { FastifyInstance, LightMyRequestResponse } from "fastify";

export class InjectBrowser {
  readonly cookies = new Map<string, string>();
  constructor(
    private readonly app: FastifyInstance,
    private readonly host = "testserver",
  ) {}

  private remember(res: LightMyRequestResponse): void {
    for (const c of res.cookies as { name: string; value: string; maxAge?: number; expires?: Date }[]) {
      const expired = c.maxAge === 0 || (c.expires !== undefined && c.expires.getTime() <= Date.now()) || c.value === "";
      if (expired) this.cookies.delete(c.name);
      else this.cookies.set(c.name, c.value);
    }
  }

  private cookieHeader(): Record<string, string> {
    if (this.cookies.size === 0) return {};
    return { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ") };
  }

  async get(url: string, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
    const res = await this.app.inject({ method: "GET", url, headers: { host: this.host, ...this.cookieHeader(), ...headers } });
    this.remember(res);
    return res;
  }

  async post(url: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<LightMyRequestResponse> {
    const res = await this.app.inject({
      method: "POST",
      url,
      payload: new URLSearchParams(fields).toString(),
      headers: { host: this.host, "content-type": "application/x-www-form-urlencoded", ...this.cookieHeader(), ...headers },
    });
    this.remember(res);
    return res;
  }

  /** Loads a page and returns the CSRF token its forms carry. */
  async csrfFrom(url: string): Promise<string> {
    const res = await this.get(url);
    const token = csrfTokenIn(res.body);
    if (token === null) throw new Error(`no CSRF token on ${url} (${res.statusCode})`);
    return token;
  }

  /** Logs in through the form; returns the answer to the POST. */
  async login(username: string, password: string, extra: Record<string, string> = {}): Promise<LightMyRequestResponse> {
    const _csrf = await this.csrfFrom("/login/");
    return this.post("/login/", { _csrf, username, password, ...extra });
  }
}

export function csrfTokenIn(page: string): string | null {
  return /name="_csrf" value="([^"]+)"/.exec(page)?.[1] ?? /name="csrf-token" content="([^"]+)"/.exec(page)?.[1] ?? null;
}

/** The text of the page's error box. */
export function pageError(page: string): string | null {
  const m = /<div class="alert error" role="alert" id="form-error">([^<]*)<\/div>/.exec(page);
  return m?.[1] === undefined
    ? null
    : m[1]
        .replace(/&#39;/g, "'")
        .replace(/&quot;/g, '"')
        .replace(/&amp;/g, "&");
}
