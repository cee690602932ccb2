/**
 * A real OpenID Connect provider for the tests: `oidc-provider` (OpenID-certified) on a random
 * loopback port, with one confidential client registered for Latchkey's callback URL and a few
 * people who log in on its own page with a password. Consent is granted without asking, as a
 * company's provider does for its own applications.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import Provider, { type Configuration } from "oidc-provider";

export interface IdpPerson {
  /** What the person types as their username on the provider's page; also the `sub`. */
  username: string;
  password: string;
  email?: string;
  /** `email_verified`; left out of the claims when undefined. */
  emailVerified?: boolean;
  name?: string;
}

export interface TestIdp {
  issuer: string;
  port: number;
  clientId: string;
  secret: string;
  people: Map<string, IdpPerson>;
  /** Token requests the provider answered, and the errors it gave. */
  tokenRequests: { ok: number; errors: string[] };
  /**
   * While true, the provider's answers are not sent back to Latchkey: they stop on a page of the
   * provider's and are kept in `heldAnswers` (a browser that never made the last step).
   */
  holdAnswers: boolean;
  heldAnswers: string[];
  /** Stops listening (the port stays reserved for `start`). */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
}

/** oidc-provider's storage, in memory (its own quick-start adapter warns on every start). */
function memoryAdapter() {
  const items = new Map<string, Record<string, unknown>>();
  return class MemoryAdapter {
    static readonly items = items;
    constructor(private readonly model: string) {}
    private key(id: string): string {
      return `${this.model}:${id}`;
    }
    async upsert(id: string, payload: Record<string, unknown>): Promise<void> {
      MemoryAdapter.items.set(this.key(id), payload);
    }
    async find(id: string): Promise<Record<string, unknown> | undefined> {
      return MemoryAdapter.items.get(this.key(id));
    }
    async findByUid(uid: string): Promise<Record<string, unknown> | undefined> {
      for (const [key, value] of MemoryAdapter.items) if (key.startsWith(`${this.model}:`) && value.uid === uid) return value;
      return undefined;
    }
    async findByUserCode(): Promise<undefined> {
      return undefined;
    }
    async consume(id: string): Promise<void> {
      const item = MemoryAdapter.items.get(this.key(id));
      if (item) item.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string): Promise<void> {
      MemoryAdapter.items.delete(this.key(id));
    }
    async revokeByGrantId(grantId: string): Promise<void> {
      for (const [key, value] of MemoryAdapter.items) if (value.grantId === grantId) MemoryAdapter.items.delete(key);
    }
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

function loginPage(uid: string, error: string | null): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test IdP · Sign in</title></head>
<body><main><h1>Test IdP</h1>${error ? `<p role="alert">${escapeHtml(error)}</p>` : ""}
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<label for="u">Username</label><input id="u" name="username" autocomplete="username">
<label for="p">Password</label><input id="p" name="password" type="password">
<button type="submit">Sign in</button></form>
<p><a href="/interaction/${escapeHtml(uid)}/abort">Cancel</a></p></main></body></html>`;
}

export async function startTestIdp(options: { redirectUris: string[]; people: IdpPerson[]; port?: number }): Promise<TestIdp> {
  const people = new Map(options.people.map((p) => [p.username, p]));
  const clientId = "latchkey";
  const secret = randomBytes(24).toString("base64url");
  const tokenRequests = { ok: 0, errors: [] as string[] };
  const signing = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ format: "jwk" });

  let server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const issuer = `http://127.0.0.1:${port}`;

  const configuration: Configuration = {
    adapter: memoryAdapter(),
    clients: [{ client_id: clientId, client_secret: secret, redirect_uris: options.redirectUris }],
    ttl: { Interaction: 600, Grant: 3600, Session: 3600, AccessToken: 600, AuthorizationCode: 60, IdToken: 600 },
    jwks: { keys: [{ ...signing, kid: "test-key", use: "sig", alg: "RS256" }] },
    cookies: { keys: [randomBytes(32).toString("hex")] },
    claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: (_ctx, sub) => {
      const person = people.get(sub);
      if (person === undefined) return undefined;
      return {
        accountId: sub,
        claims: () => ({
          sub,
          ...(person.email === undefined ? {} : { email: person.email }),
          ...(person.emailVerified === undefined ? {} : { email_verified: person.emailVerified }),
          ...(person.name === undefined ? {} : { name: person.name }),
        }),
      };
    },
    // The application is the company's own: its scopes are granted without a consent screen.
    loadExistingGrant: async (ctx) => {
      const session = ctx.oidc.session;
      const clientIdOf = ctx.oidc.client?.clientId;
      if (session?.accountId === undefined || clientIdOf === undefined) return undefined;
      const grant = new ctx.oidc.provider.Grant({ clientId: clientIdOf, accountId: session.accountId });
      grant.addOIDCScope("openid email profile");
      await grant.save();
      return grant;
    },
  };
  const provider = new Provider(issuer, configuration);
  provider.on("grant.success", () => {
    tokenRequests.ok++;
  });
  provider.on("grant.error", (_ctx, err: Error & { error?: string }) => {
    tokenRequests.errors.push(err.error ?? err.message);
  });
  const callback = provider.callback();

  const idp = { holdAnswers: false, heldAnswers: [] as string[] };
  const holdAnswer = (res: ServerResponse) => {
    const end = res.end.bind(res);
    res.end = ((...args: Parameters<typeof res.end>) => {
      const location = res.getHeader("location");
      const answer =
        typeof location === "string" &&
        res.statusCode >= 300 &&
        res.statusCode < 400 &&
        options.redirectUris.some((u) => location.startsWith(u));
      if (!idp.holdAnswers || !answer || res.headersSent) return end(...args);
      idp.heldAnswers.push(location);
      res.statusCode = 200;
      res.removeHeader("location");
      res.removeHeader("content-length");
      res.setHeader("content-type", "text/html; charset=utf-8");
      return end(`<!doctype html><title>Held</title><p>Answer held</p>`);
    }) as typeof res.end;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const m = /^\/interaction\/([^/?]+)(\/login|\/abort)?/.exec(req.url ?? "");
    if (m === null) {
      holdAnswer(res);
      return callback(req, res);
    }
    try {
      const details = await provider.interactionDetails(req, res);
      if (m[2] === "/abort") {
        // The person gives up: the provider answers the application with access_denied.
        const result = { error: "access_denied", error_description: "End-User aborted interaction" };
        await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
        return;
      }
      if (req.method === "GET") {
        res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(loginPage(details.uid, null));
        return;
      }
      const form = await readForm(req);
      const person = people.get(form.get("username") ?? "");
      if (person === undefined || person.password !== form.get("password")) {
        res
          .writeHead(200, { "content-type": "text/html; charset=utf-8" })
          .end(loginPage(details.uid, "Wrong username or password."));
        return;
      }
      await provider.interactionFinished(req, res, { login: { accountId: person.username } }, { mergeWithLastSubmission: false });
    } catch (err) {
      res.writeHead(400, { "content-type": "text/plain" }).end(String(err));
    }
  };
  const listen = (s: Server) => s.on("request", (req, res) => void handle(req, res));
  listen(server);

  return {
    issuer,
    port,
    clientId,
    secret,
    people,
    tokenRequests,
    get holdAnswers() {
      return idp.holdAnswers;
    },
    set holdAnswers(on: boolean) {
      idp.holdAnswers = on;
    },
    heldAnswers: idp.heldAnswers,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
    start: async () => {
      server = createServer();
      listen(server);
      await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    },
  };
}

/**
 * What a browser does at the provider, done with fetch: follow its redirects to its login page,
 * sign in there, and follow on until the provider sends the browser back to `redirectUri`. The
 * answer URL (with `code` and `state`) is returned, not visited.
 */
export async function signInAtProvider(
  authorizationUrl: string,
  username: string,
  password: string,
  redirectUri: string,
): Promise<string> {
  const jar = new Map<string, string>();
  const remember = (res: Response) => {
    for (const cookie of res.headers.getSetCookie()) {
      const [pair] = cookie.split(";");
      const eq = (pair ?? "").indexOf("=");
      if (eq > 0) jar.set((pair as string).slice(0, eq), (pair as string).slice(eq + 1));
    }
  };
  const send = async (url: string, init: RequestInit = {}) => {
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
    const res = await fetch(url, {
      ...init,
      redirect: "manual",
      headers: { ...(init.headers as Record<string, string>), cookie },
    });
    remember(res);
    return res;
  };
  let url = authorizationUrl;
  let res = await send(url);
  for (let hops = 0; hops < 10; hops++) {
    const location = res.headers.get("location");
    if (location === null) break;
    url = new URL(location, url).toString();
    if (url.startsWith(redirectUri)) return url;
    res = await send(url);
  }
  const form = /action="([^"]+)"/.exec(await res.text());
  if (form === null) throw new Error(`no login form at ${url} (${res.status})`);
  res = await send(new URL(form[1] as string, url).toString(), {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ username, password }).toString(),
  });
  for (let hops = 0; hops < 10; hops++) {
    const location = res.headers.get("location");
    if (location === null) throw new Error(`the provider stopped at ${url} (${res.status})`);
    url = new URL(location, url).toString();
    if (url.startsWith(redirectUri)) return url;
    res = await send(url);
  }
  throw new Error("too many redirects at the provider");
}
