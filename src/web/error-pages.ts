/**
 * How errors behind the web routes are answered: `/json` endpoints keep Zulip's JSON envelope,
 * pages get a page. A browser that opens a `/json` URL without logging in is sent to the login
 * page; CSRF failures are answered in Zulip's words.
 */
import type { FastifyError, FastifyInstance, FastifyRequest } from "fastify";
import { NotLoggedInError, RateLimitError, ServiceUnavailableError, ZulipError } from "../errors.js";
import { prefersHtml } from "../http/accept.js";
import { messagePage } from "./layout.js";
import { field, redirect, sendHtml, tryAgainIn } from "./page-kit.js";
import { answersJson, sentPath } from "./security-headers.js";

const CSRF_CODES = new Set(["FST_CSRF_MISSING_SECRET", "FST_CSRF_INVALID_TOKEN"]);

/** Django's reasons for a refused CSRF check. */
function csrfReason(request: FastifyRequest, err: FastifyError): string {
  if (err.code === "FST_CSRF_MISSING_SECRET") return "CSRF cookie not set.";
  const token = field(request, "_csrf") ?? request.headers["x-csrf-token"];
  return token === undefined || token === "" ? "CSRF token missing." : "CSRF token incorrect.";
}

export function setWebErrorHandler(app: FastifyInstance, { secure }: { secure: boolean }): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    // docs/zulip-rules.md §5.1: a browser that opens a /json URL without logging in is sent to the login page.
    if (err instanceof NotLoggedInError && prefersHtml(request.headers.accept)) {
      return redirect(reply, `/login/?next=${encodeURIComponent(sentPath(request))}`);
    }
    const json = answersJson(request);
    if (err instanceof ZulipError && !json && (err.status < 500 || err instanceof ServiceUnavailableError)) {
      // A page (the per-address limit on a form post, a full hash queue behind a new password,
      // say): the message as a page, not JSON.
      const page =
        err instanceof RateLimitError
          ? messagePage("Too many requests", `Too many requests from your address. ${tryAgainIn(err)}`)
          : messagePage("Error", err.message);
      return sendHtml(reply.headers(err.headers), err.status, page);
    }
    const csrf = CSRF_CODES.has(err.code);
    if (!csrf && !json && !(err instanceof ZulipError) && (err.statusCode ?? 500) >= 500) {
      // Something broke behind a page: a page that says so, with the id the log lines carry.
      request.log.error({ err }, "unhandled error");
      const page = messagePage(
        "Something went wrong",
        `The server could not show this page. Try again in a moment; if it keeps happening, tell your administrator and quote request ${request.id}.`,
      );
      return sendHtml(reply.header("x-request-id", request.id), 500, page);
    }
    if (!csrf) throw err;
    const reason = csrfReason(request, err);
    request.log.info({ reason }, "csrf check failed");
    if (json) throw new ZulipError(`CSRF error: ${reason}`, { status: 403, code: "CSRF_FAILED", data: { reason } });
    return sendHtml(
      reply,
      403,
      messagePage(
        "Forbidden",
        // With LATCHKEY_EXTERNAL_SCHEME=https the cookies are Secure: a browser on plain HTTP
        // never sends them back, which would otherwise look like cookies being off.
        `The form could not be checked (${reason}) Reload the page and try again; cookies must be enabled${
          secure ? ", and this server must be opened over https://" : ""
        }.`,
      ),
    );
  });
}
