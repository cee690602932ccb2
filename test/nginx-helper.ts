/**
 * Debian's nginx (package `nginx`) run by a test or the benchmark with the shipped
 * configuration, deploy/nginx-latchkey.conf, in front of nodes on ports of the caller's choice:
 * only the ports, the certificate paths and the files nginx writes are changed.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { freePort, pollUntil } from "./cluster-helper.js";

export const NGINX_CONF = join(import.meta.dirname, "..", "deploy", "nginx-latchkey.conf");
const NGINX = existsSync("/usr/sbin/nginx") ? "/usr/sbin/nginx" : "nginx";

export interface Nginx {
  port: number;
  /** The master process (its worker is its child). */
  pid: number;
  /** nginx's error log so far. */
  errors(): string;
  stop(): Promise<void>;
}

export interface NginxOptions {
  /** Ports of the nodes, in place of the shipped 9991 and 9992. */
  upstreams: number[];
  /** A folder of the caller's for the configuration, certificate, logs and temporary files. */
  dir: string;
  /** Serve TLS with a throwaway certificate (as shipped); false listens in plain HTTP. */
  tls?: boolean;
}

/** The shipped site configuration with the caller's ports and paths. */
export function siteConfig({ upstreams, dir, tls = true }: NginxOptions, port: number): string {
  let conf = readFileSync(NGINX_CONF, "utf8");
  const servers = upstreams.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=5s;`).join("\n");
  conf = conf.replace(/( {4}server 127\.0\.0\.1:\d+ max_fails=1 fail_timeout=5s;\n)+/, `${servers}\n`);
  if (tls) {
    conf = conf
      .replace("listen 443 ssl http2;", `listen 127.0.0.1:${port} ssl http2;`)
      .replace("/etc/ssl/certs/chat.example.com.pem", join(dir, "cert.pem"))
      .replace("/etc/ssl/private/chat.example.com.key", join(dir, "key.pem"));
  } else {
    conf = conf.replace("listen 443 ssl http2;", `listen 127.0.0.1:${port};`).replace(/^\s*ssl_certificate.*\n/gm, "");
  }
  if (!conf.includes(String(port)) || !upstreams.every((p) => conf.includes(`127.0.0.1:${p}`))) {
    throw new Error("deploy/nginx-latchkey.conf no longer has the lines this helper adapts");
  }
  return conf;
}

export async function startNginx(options: NginxOptions): Promise<Nginx> {
  const { dir } = options;
  const port = await freePort();
  for (const sub of ["body", "proxy", "fastcgi", "uwsgi", "scgi"]) mkdirSync(join(dir, sub), { recursive: true });
  if (options.tls !== false) {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=testserver",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ],
      { stdio: "ignore" },
    );
  }
  writeFileSync(join(dir, "site.conf"), siteConfig(options, port));
  const asRoot = process.getuid?.() === 0;
  writeFileSync(
    join(dir, "nginx.conf"),
    `${asRoot ? "user root;\n" : ""}worker_processes 1;
daemon off;
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "error.log")} warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${join(dir, "body")};
  proxy_temp_path ${join(dir, "proxy")};
  fastcgi_temp_path ${join(dir, "fastcgi")};
  uwsgi_temp_path ${join(dir, "uwsgi")};
  scgi_temp_path ${join(dir, "scgi")};
  include ${join(dir, "site.conf")};
}
`,
  );
  let child: ChildProcess;
  try {
    child = spawn(NGINX, ["-c", join(dir, "nginx.conf"), "-p", `${dir}/`, "-e", join(dir, "error.log")], {
      stdio: ["ignore", "ignore", "pipe"],
    });
  } catch (err) {
    throw new Error(`nginx could not start (${(err as Error).message}); the Debian package nginx provides it`);
  }
  let stderr = "";
  child.stderr?.on("data", (c: Buffer) => {
    stderr += c.toString();
  });
  const failed = new Promise<never>((_, reject) => {
    child.on("error", (err) => reject(new Error(`nginx could not start (${err.message}); the Debian package nginx provides it`)));
    child.on("exit", (code) => reject(new Error(`nginx exited (${code}): ${stderr}`)));
  });
  failed.catch(() => {});
  const up = pollUntil(
    () =>
      new Promise<boolean>((resolve) => {
        const probe = connect(port, "127.0.0.1");
        probe.on("connect", () => {
          probe.destroy();
          resolve(true);
        });
        probe.on("error", () => resolve(false));
      }),
    10_000,
  );
  if (!(await Promise.race([up, failed]))) throw new Error(`nginx did not listen: ${stderr}`);
  const errorLog = join(dir, "error.log");
  return {
    port,
    pid: child.pid ?? 0,
    errors: () => (existsSync(errorLog) ? readFileSync(errorLog, "utf8") : ""),
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGQUIT");
      await exited;
    },
  };
}
