import { readFileSync } from "node:fs";

/**
 * Reading settings from the environment: the readers every `LATCHKEY_*` variable goes through,
 * and the one error a bad value raises, naming the variable. `src/config.ts` and
 * `src/auth/ldap-config.ts` both build on these.
 */

export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable}: ${problem}`);
    this.name = "ConfigError";
  }
}

/** The value with surrounding space removed; "" when unset. */
export function readRaw(env: Env, name: string): string {
  return (env[name] ?? "").trim();
}

export function readString(env: Env, name: string, fallback: string): string {
  const raw = readRaw(env, name);
  return raw === "" ? fallback : raw;
}

export function readInt(env: Env, name: string, fallback: number, min: number, max: number, unit = ""): number {
  const raw = readRaw(env, name);
  if (raw === "") return fallback;
  const what = unit === "" ? "an integer" : `a number of ${unit}`;
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `expected ${what}, got ${JSON.stringify(raw)}`);
  const value = Number(raw);
  const suffix = unit === "" ? "" : ` ${unit}`;
  if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max}${suffix}, got ${value}`);
  return value;
}

export function readBool(env: Env, name: string, fallback: boolean): boolean {
  const v = readRaw(env, name).toLowerCase();
  if (v === "") return fallback;
  if (["1", "true", "yes", "on"].includes(v)) return true;
  if (["0", "false", "no", "off"].includes(v)) return false;
  throw new ConfigError(name, `expected true or false, got ${JSON.stringify(env[name])}`);
}

/**
 * A setting written as a JSON object (its entries, in the order written), or null when it is
 * unset; `shape` shows the expected form in the error for anything else.
 */
export function readJsonObject(env: Env, name: string, shape: string): [string, unknown][] | null {
  const raw = readRaw(env, name);
  if (raw === "") return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new ConfigError(name, `not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new ConfigError(name, `expected a JSON object${shape}`);
  return Object.entries(parsed as Record<string, unknown>);
}

/** The contents of the file a variable names (a PEM CA file, say), or null when it is unset. */
export function readFileSetting(env: Env, name: string): Buffer | null {
  const path = readRaw(env, name);
  if (path === "") return null;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(name, `cannot read ${path}: ${(err as Error).message}`);
  }
}
