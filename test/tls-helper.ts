/** Test certificates: a throwaway CA and a server certificate for 127.0.0.1 and localhost. */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** A CA and a certificate for 127.0.0.1 signed by it, made with the openssl command. */
export function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const ca = join(dir, "ca.pem");
  const cert = join(dir, "server.pem");
  const key = join(dir, "server.key");
  const ext = join(dir, "server.ext");
  writeFileSync(ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  const run = (args: string[]) => {
    const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  run(["req", "-x509", ...ec, "-keyout", "ca.key", "-out", ca, "-days", "2", "-subj", "/CN=Latchkey test CA"]);
  run(["req", ...ec, "-keyout", key, "-out", "server.csr", "-subj", "/CN=127.0.0.1"]);
  run([
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    ca,
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    cert,
    "-days",
    "2",
    "-extfile",
    ext,
  ]);
  return { ca, cert, key };
}
