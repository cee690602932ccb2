/**
 * Request bodies as Django reads them: urlencoded and multipart forms become parameters; any
 * other content type (JSON included) is read, bounded, and ignored, so the endpoint answers
 * with its usual "Missing ... argument" instead of an error about the encoding.
 *
 * Every body, multipart included, is read whole by Fastify under the body limit (413 beyond
 * it, declared length or not) before it is parsed. Multipart forms are parsed with the
 * platform's own FormData parser; uploaded files are not parameters and are dropped.
 */
import formbody from "@fastify/formbody";
import type { FastifyInstance } from "fastify";
import { ZulipError } from "../../errors.js";

/** Django's DATA_UPLOAD_MAX_NUMBER_FIELDS: more parts than this is refused before parsing. */
export const MAX_FORM_FIELDS = 1000;

type Fields = Record<string, string | string[]>;

function malformed(why: string): ZulipError {
  return new ZulipError(`Malformed request: ${why}`, { status: 400 });
}

function countOccurrences(haystack: Buffer, needle: Buffer, stopAfter: number): number {
  let count = 0;
  for (let at = haystack.indexOf(needle); at !== -1 && count <= stopAfter; at = haystack.indexOf(needle, at + needle.length)) {
    count++;
  }
  return count;
}

/** The text fields of a multipart/form-data body; repeated names become arrays, in order. */
export async function parseMultipartFields(contentType: string, body: Buffer): Promise<Fields> {
  const fields: Fields = Object.create(null);
  if (body.length === 0) return fields;
  const boundary = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const delimiter = boundary?.[1] ?? boundary?.[2];
  if (delimiter === undefined) throw malformed("multipart body without a boundary");
  // Counting parts first keeps a body of thousands of tiny fields from costing much CPU.
  if (countOccurrences(body, Buffer.from(`--${delimiter}`), MAX_FORM_FIELDS + 1) > MAX_FORM_FIELDS + 1) {
    throw malformed(`more than ${MAX_FORM_FIELDS} form fields`);
  }
  let form: FormData;
  try {
    form = await new Response(body, { headers: { "content-type": contentType } }).formData();
  } catch {
    throw malformed("the multipart body cannot be read");
  }
  for (const [name, value] of form) {
    if (typeof value !== "string") continue;
    const previous = fields[name];
    if (previous === undefined) fields[name] = value;
    else if (Array.isArray(previous)) previous.push(value);
    else fields[name] = [previous, value];
  }
  return fields;
}

/**
 * The body parsers. They take no limit of their own: Fastify applies the route's `bodyLimit`
 * (login endpoints take a smaller one, `LOGIN_BODY_LIMIT`) or else the app's.
 */
export async function registerBodyParsers(app: FastifyInstance): Promise<void> {
  app.removeAllContentTypeParsers();
  await app.register(formbody);
  app.addContentTypeParser("multipart/form-data", { parseAs: "buffer" }, (request, body, done) => {
    parseMultipartFields(request.headers["content-type"] ?? "", body as Buffer).then(
      (fields) => done(null, fields),
      (err: Error) => done(err),
    );
  });
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_request, _body, done) => {
    done(null, undefined);
  });
}

/**
 * The body limit of the login endpoints (a username and a password of at most 4096 bytes),
 * or the app's own when that is smaller: a slow or huge body costs the server less memory.
 */
export function loginBodyLimit(app: FastifyInstance): number {
  return Math.min(app.initialConfig.bodyLimit ?? LOGIN_BODY_LIMIT, LOGIN_BODY_LIMIT);
}

export const LOGIN_BODY_LIMIT = 64 * 1024;
