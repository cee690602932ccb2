/**
 * The LDAP directory over `ldapts`: connects (trying each configured server in turn), binds as
 * the service account, searches, and checks a user's password by binding as that user. Every
 * value put into a filter is escaped here (RFC 4515); no DN is ever built from user input, so
 * nothing needs RFC 4514 escaping: a user's DN is the one the directory's search returned.
 */
import { Client, Filter, InvalidCredentialsError, NoSuchObjectError, ResultCodeError } from "ldapts";
import {
  type DirectoryPerson,
  type DirectorySession,
  DirectoryUnavailableError,
  LdapBackend,
  type LdapDirectory,
} from "../domain/ldap-login.js";
import { ZulipError } from "../errors.js";
import type { LdapConfig } from "./ldap-config.js";

/** Puts each value, escaped, where its `%(name)s` placeholder stands in a filter template. */
export function fillFilter(template: string, values: Record<string, string>): string {
  return template.replace(/%\((\w+)\)s/g, (whole, name: string) => {
    const value = values[name];
    return value === undefined ? whole : Filter.escape(value);
  });
}

function toPerson(entry: Record<string, unknown> & { dn: string }): DirectoryPerson {
  const attributes: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(entry)) {
    if (name === "dn") continue;
    const values = Array.isArray(value) ? value : [value];
    attributes[name.toLowerCase()] = values.map((v) => (Buffer.isBuffer(v) ? v.toString("utf8") : String(v)));
  }
  return { dn: entry.dn, attributes };
}

/** A connection bound as the service account. */
class LdapSession implements DirectorySession {
  constructor(
    private readonly client: Client,
    private readonly config: LdapConfig,
    private readonly attributes: string[],
  ) {}

  private async search(base: string, scope: "base" | "sub", filter: string, attributes: string[]): Promise<DirectoryPerson[]> {
    // Two entries are as good as many: either way the name is ambiguous.
    const { searchEntries } = await this.client.search(base, { scope, filter, attributes, sizeLimit: 2 });
    return searchEntries.map(toPerson);
  }

  findUser(username: string): Promise<DirectoryPerson[]> {
    return this.search(
      this.config.userSearchBase,
      "sub",
      fillFilter(this.config.userSearchFilter, { user: username }),
      this.attributes,
    );
  }

  findUserByEmail(email: string): Promise<DirectoryPerson[]> {
    const template = this.config.reverseEmailSearch;
    if (template === null) return Promise.resolve([]);
    return this.search(this.config.userSearchBase, "sub", fillFilter(template, { email }), this.attributes);
  }

  async isMember(groupDn: string, personDn: string): Promise<boolean> {
    const filter = fillFilter("(|(member=%(dn)s)(uniqueMember=%(dn)s))", { dn: personDn });
    try {
      return (await this.search(groupDn, "base", filter, ["1.1"])).length > 0;
    } catch (err) {
      // A group that does not exist has no members.
      if (err instanceof NoSuchObjectError) return false;
      throw err;
    }
  }

  async checkPassword(dn: string, password: string): Promise<boolean> {
    // An empty password would be an unauthenticated bind, which some servers accept (RFC 4513 5.1.2).
    if (password === "" || dn === "") return false;
    try {
      await this.client.bind(dn, password);
      return true;
    } catch (err) {
      // Wrong password, or any other considered refusal of this bind (a locked or expired
      // account under a password policy, say): the person cannot log in, the directory is fine.
      if (err instanceof InvalidCredentialsError || err instanceof ResultCodeError) return false;
      throw err;
    }
  }
}

/** An error that is the directory's considered answer rather than a failure to reach it. */
function isDirectoryAnswer(err: unknown): boolean {
  return err instanceof ResultCodeError;
}

export class LdapsDirectory implements LdapDirectory {
  private readonly attributes: string[];

  constructor(private readonly config: LdapConfig) {
    const wanted = [config.usernameAttr, config.emailAttr, config.fullNameAttr, config.deactivatedAttr];
    this.attributes = [...new Set(wanted.filter((a): a is string => a !== null))];
  }

  private async connect(uri: string, deadline: number, opened: Client[]): Promise<Client> {
    const tlsOptions = this.config.ca === null ? {} : { ca: this.config.ca };
    const client = new Client({
      url: uri,
      connectTimeout: Math.max(1, Math.min(this.config.connectTimeoutMs, deadline - Date.now())),
      timeout: this.config.timeoutMs,
      // ldapts speaks TLS from the start whenever it is given TLS options, so only ldaps:// gets them.
      ...(uri.startsWith("ldaps:") ? { tlsOptions } : {}),
    });
    opened.push(client);
    // A fresh object: ldapts keeps the socket in the options it is given.
    if (this.config.startTls) await client.startTLS({ ...tlsOptions });
    if (this.config.bindDn !== "") await client.bind(this.config.bindDn, this.config.bindPassword);
    return client;
  }

  /**
   * Runs `work` over a connection bound as the service account. The whole exchange, connecting
   * included, ends within `LATCHKEY_LDAP_TIMEOUT_MS`; a directory that cannot be reached, refuses
   * the service account, or does not answer in time becomes a `DirectoryUnavailableError`.
   */
  async session<T>(work: (session: DirectorySession) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.config.timeoutMs;
    const opened: Client[] = [];
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new DirectoryUnavailableError(`no answer within ${this.config.timeoutMs} ms`)),
        this.config.timeoutMs,
      );
    });
    const exchange = async () => {
      let client: Client | null = null;
      let lastError: unknown = null;
      for (const uri of this.config.serverUris) {
        if (settled) break;
        try {
          client = await this.connect(uri, deadline, opened);
          break;
        } catch (err) {
          // The service account refused is a configuration problem, not a server to skip.
          if (isDirectoryAnswer(err))
            throw new DirectoryUnavailableError(`service bind refused at ${uri}: ${(err as Error).message}`, err);
          lastError = err;
        }
      }
      // The deadline passed while connecting: close what opened late (ldapts ends the rest itself).
      if (settled && client !== null) closeQuietly(client);
      if (client === null) {
        const reason = lastError instanceof Error ? lastError.message : String(lastError);
        throw new DirectoryUnavailableError(`no directory server reachable (${reason})`, lastError);
      }
      try {
        return await work(new LdapSession(client, this.config, this.attributes));
      } catch (err) {
        // The rules' own refusals (a throttle, say) pass through; the rest is the directory failing.
        if (err instanceof DirectoryUnavailableError || err instanceof ZulipError) throw err;
        throw new DirectoryUnavailableError(`directory error: ${(err as Error).message}`, err);
      }
    };
    try {
      return await Promise.race([exchange(), expired]);
    } finally {
      settled = true;
      clearTimeout(timer);
      // Not awaited: a directory that stopped answering must not hold the login up any longer.
      for (const client of opened) closeQuietly(client);
    }
  }
}

/** Ends a connection whether or not it ever opened, now or as soon as it does. */
function closeQuietly(client: Client): void {
  client.unbind().catch(() => {});
}

/** The LDAP backend for a configured directory. */
export function createLdapBackend(config: LdapConfig): LdapBackend {
  return new LdapBackend(new LdapsDirectory(config), config);
}
