/**
 * Runs the real `latchkey` command (bin/latchkey.js in a child process) against a scratch SQLite
 * database, and a `latchkey serve` on the same database on a real port.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CliRun, type NodeProcess, runCli, startNode } from "../cluster-helper.js";
import { freePort } from "../helper.js";

export type Run = CliRun;

export interface Scratch {
  dir: string;
  /** The port the server will listen on; the organization URLs name it. */
  port: number;
  env: Record<string, string>;
  /** Runs `latchkey ...args` with `stdin` as its input and waits for it to exit. */
  run(args: string[], stdin?: string): Promise<Run>;
  /** Runs it and asserts exit status 0; returns stdout. */
  ok(args: string[], stdin?: string): Promise<string>;
  /** Starts `latchkey serve --workers 1` and resolves with its base URL once it listens. */
  serve(): Promise<string>;
  close(): Promise<void>;
}

export async function makeScratch(prefix: string, extraEnv: Record<string, string> = {}): Promise<Scratch> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const port = await freePort();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: dir,
    LATCHKEY_DATABASE_URL: join(dir, "db.sqlite"),
    LATCHKEY_SECRETS_FILE: join(dir, "secrets.json"),
    LATCHKEY_EXTERNAL_HOST: `127.0.0.1:${port}`,
    LATCHKEY_EXTERNAL_SCHEME: "http",
    LATCHKEY_LOG_LEVEL: "silent",
    LATCHKEY_HASH_CONCURRENCY: "1",
    LATCHKEY_ARGON2_MEMORY_KIB: "19456",
    LATCHKEY_EMAIL_OUTBOX: join(dir, "outbox"),
    ...extraEnv,
  };
  let server: NodeProcess | null = null;

  const run = (args: string[], stdin = ""): Promise<Run> => runCli(env, args, stdin);

  async function ok(args: string[], stdin = ""): Promise<string> {
    const result = await run(args, stdin);
    assert.equal(result.code, 0, `latchkey ${args.join(" ")}: ${result.stderr}${result.stdout}`);
    return result.stdout;
  }

  async function serve(): Promise<string> {
    server = await startNode({ ...env, PORT: String(port), HOST: "127.0.0.1" });
    return `http://127.0.0.1:${server.port}`;
  }

  async function close(): Promise<void> {
    await server?.stop("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }

  return { dir, port, env, run, ok, serve, close };
}

/** `latchkey realm create` of Elsinore at the root domain, owned by Claudius with `ownerPassword`. */
export function createElsinore(cli: Pick<Scratch, "ok">, ownerPassword: string, extra: string[] = []): Promise<string> {
  return cli.ok(
    [
      "realm",
      "create",
      "--subdomain",
      "",
      "--name",
      "Elsinore",
      ...extra,
      "--owner-email",
      "claudius@elsinore.dk",
      "--owner-name",
      "Claudius",
    ],
    `${ownerPassword}\n`,
  );
}

/** `GET /api/v1/users/me` with Basic credentials. */
export async function usersMe(
  base: string,
  email: string,
  key: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}/api/v1/users/me`, {
    headers: { authorization: `Basic ${Buffer.from(`${email}:${key}`).toString("base64")}` },
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Asserts a failed run: this exit status and exactly one line on stderr matching `line`. */
export function assertOneLineError(result: Run, code: 1 | 2, line: RegExp): void {
  assert.equal(result.code, code, `${result.stderr}${result.stdout}`);
  assert.equal(result.stdout, "");
  assert.match(result.stderr, /^[^\n]+\n$/, `one line expected: ${JSON.stringify(result.stderr)}`);
  assert.match(result.stderr.trimEnd(), line);
}
