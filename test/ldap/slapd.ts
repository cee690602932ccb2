/**
 * A real OpenLDAP `slapd` for the LDAP tests: started on a free loopback port with a
 * configuration and the LDIF fixture of this project, in a temporary directory, and removed
 * afterwards. Outside CI a machine without slapd gets null (the suites print a note); under
 * CI=true a missing slapd is an error.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, underCi } from "../helper.js";
import { makeCertificates } from "../tls-helper.js";

const SLAPD = process.env.LATCHKEY_TEST_SLAPD ?? "/usr/sbin/slapd";
const SLAPADD = process.env.LATCHKEY_TEST_SLAPADD ?? "/usr/sbin/slapadd";
const MODULE_PATH = "/usr/lib/ldap";
const SCHEMA_DIR = "/etc/ldap/schema";

export const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), "fixtures", "directory.ldif");
const AD_SCHEMA = join(dirname(FIXTURE), "ad-account.schema");
export const SUFFIX = "dc=example,dc=com";
export const PEOPLE = `ou=people,${SUFFIX}`;
export const SERVICE_DN = `cn=latchkey,ou=services,${SUFFIX}`;
export const SERVICE_PASSWORD = "service-secret";
export const STAFF_GROUP = `cn=staff,ou=groups,${SUFFIX}`;

export interface Slapd {
  /** `ldap://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** With `tls`: `ldaps://127.0.0.1:<port>`, StartTLS on `url`, and the CA that signed the server. */
  ldapsUrl: string | null;
  caFile: string | null;
  /** Stops the server (SIGTERM, then SIGKILL); its data stays, so `start()` brings it back. */
  stop(): Promise<void>;
  /** Starts it again on the same port after `stop()`; does nothing while it runs. */
  start(): Promise<void>;
  /** Freezes the process (SIGSTOP): connections are accepted by the kernel but never answered. */
  freeze(): void;
  thaw(): void;
  /** Stops the server and removes its directory. */
  close(): Promise<void>;
}

function slapdConf(dir: string, tls: { ca: string; cert: string; key: string } | null): string {
  const tlsLines =
    tls === null ? "" : `TLSCACertificateFile ${tls.ca}\nTLSCertificateFile ${tls.cert}\nTLSCertificateKeyFile ${tls.key}\n`;
  return `# Written by test/ldap/slapd.ts
${tlsLines}include ${SCHEMA_DIR}/core.schema
include ${SCHEMA_DIR}/cosine.schema
include ${SCHEMA_DIR}/inetorgperson.schema
include ${AD_SCHEMA}
modulepath ${MODULE_PATH}
moduleload back_mdb
pidfile ${join(dir, "slapd.pid")}
# Let the directory itself accept an unauthenticated bind (a DN with an empty password), so the
# tests show that Latchkey refuses one rather than relying on the server to.
allow bind_anon_dn bind_anon_cred

database mdb
suffix "${SUFFIX}"
rootdn "cn=admin,${SUFFIX}"
directory ${join(dir, "data")}
maxsize 10485760
access to attrs=userPassword
  by anonymous auth
  by * none
access to *
  by dn.exact="${SERVICE_DN}" read
  by self read
  by * none
`;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: "127.0.0.1" });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts slapd with the project's fixture; null when slapd is not installed (outside CI). With
 * `tls`, it also listens for ldaps:// and offers StartTLS, with a certificate from a fresh CA.
 */
export async function startSlapd(options: { tls?: boolean } = {}): Promise<Slapd | null> {
  if (!existsSync(SLAPD) || !existsSync(SLAPADD)) {
    if (underCi()) throw new Error(`OpenLDAP slapd is required under CI but ${SLAPD} is missing`);
    console.log(`# ${SLAPD} is missing; install the Debian packages slapd and ldap-utils to run the LDAP tests`);
    return null;
  }
  const dir = mkdtempSync(join(tmpdir(), "latchkey-slapd-"));
  mkdirSync(join(dir, "data"));
  const conf = join(dir, "slapd.conf");
  let tls: { ca: string; cert: string; key: string } | null = null;
  try {
    if (options.tls) tls = makeCertificates(dir);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  writeFileSync(conf, slapdConf(dir, tls));
  const load = spawnSync(SLAPADD, ["-f", conf, "-l", FIXTURE], { encoding: "utf8" });
  if (load.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`slapadd failed (${load.status}): ${load.stderr}`);
  }
  const port = await freePort();
  const url = `ldap://127.0.0.1:${port}`;
  const ldapsUrl = tls === null ? null : `ldaps://127.0.0.1:${await freePort()}`;
  const listen = ldapsUrl === null ? `${url}/` : `${url}/ ${ldapsUrl}/`;
  let child: ChildProcess | null = null;
  let stderr = "";

  const running = () => child !== null && child.exitCode === null && child.signalCode === null;
  const start = async () => {
    if (running()) return;
    stderr = "";
    // -d 0: stay in the foreground (so killing the child stops the server) and log nothing.
    const proc = spawn(SLAPD, ["-f", conf, "-h", listen, "-d", "0"], { stdio: ["ignore", "ignore", "pipe"] });
    proc.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child = proc;
    for (let i = 0; i < 200; i++) {
      if (proc.exitCode !== null) throw new Error(`slapd exited with ${proc.exitCode}: ${stderr}`);
      if (await canConnect(port)) return;
      await sleep(25);
    }
    proc.kill("SIGKILL");
    throw new Error(`slapd did not start listening on ${url}: ${stderr}`);
  };

  const stop = async () => {
    const proc = child;
    child = null;
    if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    proc.kill("SIGCONT");
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(timer);
  };

  // Should the test process die without closing, the server must not outlive it.
  const killOnExit = () => child?.kill("SIGKILL");
  process.once("exit", killOnExit);
  try {
    await start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url,
    port,
    ldapsUrl,
    caFile: tls?.ca ?? null,
    stop,
    start,
    freeze: () => child?.kill("SIGSTOP"),
    thaw: () => child?.kill("SIGCONT"),
    close: async () => {
      process.removeListener("exit", killOnExit);
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
