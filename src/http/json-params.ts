/**
 * Zulip's `Json[...]` parameters: the value is JSON text, checked for its type, with
 * typed_endpoint's messages ("<name> is not valid JSON", "<name> is not an integer", ...).
 */
import type { FastifyRequest } from "fastify";
import { ZulipError } from "../errors.js";
import { readParam } from "./params.js";

function parseJson(name: string, raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    throw new ZulipError(`${name} is not valid JSON`);
  }
}

function readJson(request: FastifyRequest, name: string): unknown {
  const raw = readParam(request, name);
  return raw === undefined ? undefined : parseJson(name, raw);
}

export function readJsonInt(request: FastifyRequest, name: string, fallback: number): number {
  const value = readJson(request, name);
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value)) throw new ZulipError(`${name} is not an integer`);
  return value;
}

export function readJsonString(request: FastifyRequest, name: string, fallback: string): string {
  const value = readJson(request, name);
  if (value === undefined) return fallback;
  if (typeof value !== "string") throw new ZulipError(`${name} is not a string`);
  return value;
}

export function readJsonBool(request: FastifyRequest, name: string): boolean | undefined {
  const value = readJson(request, name);
  if (value === undefined) return undefined;
  if (typeof value !== "boolean") throw new ZulipError(`${name} is not a boolean`);
  return value;
}

/** A JSON object whose values are all strings. */
export function readJsonStringDict(request: FastifyRequest, name: string): Record<string, string> | undefined {
  const value = readJson(request, name);
  if (value === undefined) return undefined;
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ZulipError(`${name} is not a dict`);
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== "string") throw new ZulipError(`${name}[${JSON.stringify(key)}] is not a string`);
  }
  return value as Record<string, string>;
}
