/**
 * Reads a Zulip data export from where `./manage.py export` leaves it: the `.tar.gz` archive
 * (one top-level directory, `zulip-export-<random>/`, holding `realm.json`, the message files and
 * the uploads) or the directory it unpacks to. Only `realm.json` is taken out of an archive, into
 * a private temporary directory that is removed afterwards; an archive holding any entry whose
 * path would land outside that directory is refused.
 */
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join, posix } from "node:path";
import { extract } from "tar";
import { EXPORT_FILE, parseZulipExport, type ZulipExport, ZulipExportError } from "./zulip-export-format.js";

const TARBALL = /\.(tar\.gz|tgz)$/i;

/** The entry path as it would land under the extraction directory, or null when it would escape it. */
function safeEntryPath(path: string): string | null {
  const normalized = posix.normalize(path.replaceAll("\\", "/"));
  if (posix.isAbsolute(normalized) || /^[A-Za-z]:/.test(normalized)) return null;
  if (normalized === ".." || normalized.startsWith("../")) return null;
  return normalized.replace(/\/$/, "");
}

/** Whether an archive entry is the export's `realm.json`: at the top or in the one top-level directory. */
function isRealmJson(path: string): boolean {
  const parts = path.split("/").filter((p) => p !== "" && p !== ".");
  return parts.at(-1) === EXPORT_FILE && parts.length <= 2;
}

async function realmJsonFromTarball(file: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "latchkey-zulip-export-"));
  try {
    const escaping: string[] = [];
    const found: { path: string; type: string }[] = [];
    try {
      await extract({
        file,
        cwd: dir,
        strict: true,
        filter: (path, entry) => {
          const safe = safeEntryPath(path);
          if (safe === null) {
            escaping.push(path);
            return false;
          }
          if (!isRealmJson(safe)) return false;
          const type = "type" in entry ? entry.type : "File";
          found.push({ path: safe, type });
          return type === "File";
        },
      });
    } catch (err) {
      throw new ZulipExportError(`${basename(file)}: not a readable .tar.gz archive (${(err as Error).message})`);
    }
    if (escaping.length > 0) {
      throw new ZulipExportError(
        `${basename(file)}: refused: entry ${JSON.stringify(escaping[0])} would be written outside the directory it is unpacked into`,
      );
    }
    if (found.length === 0) {
      throw new ZulipExportError(`${basename(file)}: no ${EXPORT_FILE} at its top or in its top-level directory`);
    }
    if (found.length > 1) {
      throw new ZulipExportError(`${basename(file)}: more than one ${EXPORT_FILE} (${found.map((f) => f.path).join(", ")})`);
    }
    const [entry] = found as [{ path: string; type: string }];
    if (entry.type !== "File") throw new ZulipExportError(`${basename(file)}: ${entry.path} is a ${entry.type}, not a file`);
    return await readFile(join(dir, entry.path), "utf8");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function realmJsonFromDirectory(dir: string): Promise<string> {
  try {
    return await readFile(join(dir, EXPORT_FILE), "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT")
      throw new ZulipExportError(`${dir}: no ${EXPORT_FILE} in this directory`);
    throw new ZulipExportError(`${join(dir, EXPORT_FILE)}: ${(err as Error).message}`);
  }
}

/** Reads and checks the export at `path` (a directory or a .tar.gz/.tgz archive). */
export async function readZulipExport(path: string): Promise<ZulipExport> {
  let kind: "directory" | "file";
  try {
    kind = (await stat(path)).isDirectory() ? "directory" : "file";
  } catch {
    throw new ZulipExportError(`${path}: no such file or directory`);
  }
  if (kind === "directory") return parseZulipExport(await realmJsonFromDirectory(path));
  if (!TARBALL.test(path)) throw new ZulipExportError(`${path}: not a directory or a .tar.gz/.tgz archive`);
  return parseZulipExport(await realmJsonFromTarball(path));
}
