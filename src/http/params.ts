/**
 * Reading Zulip request parameters: from the form body (urlencoded or multipart) or, failing
 * that, the query string; the body wins when both have the name. Each name read is recorded
 * so that unread ones can be reported in `ignored_parameters_unsupported`.
 */
import type { FastifyRequest } from "fastify";
import { missingArgument } from "../errors.js";

type Bag = Record<string, unknown>;

/** A parsed form or query value: a string, or the last string of a repeated name. */
export function lastString(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  // Repeated names: Django's QueryDict.get returns the last value.
  if (Array.isArray(value)) {
    for (let i = value.length - 1; i >= 0; i--) if (typeof value[i] === "string") return value[i] as string;
  }
  return undefined;
}

/** The parsed body or query as a record; null when there is none (or a raw buffer). */
export function bag(value: unknown): Bag | null {
  return typeof value === "object" && value !== null && !Buffer.isBuffer(value) ? (value as Bag) : null;
}

function isEmpty(value: Bag): boolean {
  for (const _ in value) return false;
  return true;
}

function markProcessed(request: FastifyRequest, name: string): void {
  request.processedParams ??= new Set();
  request.processedParams.add(name);
}

/** The parameter's value, or undefined when it was not sent. */
export function readParam(request: FastifyRequest, name: string): string | undefined {
  markProcessed(request, name);
  const body = bag(request.body);
  if (body !== null && Object.hasOwn(body, name)) {
    const value = lastString(body[name]);
    if (value !== undefined) return value;
  }
  const query = bag(request.query);
  if (query !== null && Object.hasOwn(query, name)) return lastString(query[name]);
  return undefined;
}

/** The parameter's value; a missing one is Zulip's 400 REQUEST_VARIABLE_MISSING. */
export function requireParam(request: FastifyRequest, name: string): string {
  const value = readParam(request, name);
  if (value === undefined) throw missingArgument(name);
  return value;
}

/** Parameter names that were sent but never read, sorted as Zulip sorts them. */
export function ignoredParams(request: FastifyRequest): string[] {
  const body = bag(request.body);
  const query = bag(request.query);
  // The common case on the hot path: nothing was sent at all.
  if ((body === null || isEmpty(body)) && (query === null || isEmpty(query))) return [];
  const sent = new Set<string>();
  for (const source of [body, query]) {
    if (source !== null) for (const key of Object.keys(source)) sent.add(key);
  }
  const processed = request.processedParams;
  // `client` is read for every request by Zulip's middleware, so it is never "ignored".
  return [...sent].filter((name) => name !== "client" && !processed?.has(name)).sort();
}
