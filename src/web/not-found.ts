/**
 * A browser that opens a page that does not exist (a mistyped URL, an old bookmark) gets a page
 * saying so, not the API's JSON; API clients and `/api`, `/json` paths keep the JSON 404.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { prefersHtml } from "../http/accept.js";
import { html } from "./html.js";
import { messagePage } from "./layout.js";
import { sendHtml } from "./page-kit.js";
import { isApiPath, writeSecurityHeaders } from "./security-headers.js";

export function sendNotFoundPage(request: FastifyRequest, reply: FastifyReply): FastifyReply | null {
  if (isApiPath(request) || !prefersHtml(request.headers.accept)) return null;
  writeSecurityHeaders(request, reply);
  return sendHtml(
    reply.header("cache-control", "no-store"),
    404,
    messagePage("Page not found", html`There is no page at this address. <a href="/login/">Go to the login page</a>.`),
  );
}
