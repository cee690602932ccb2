/** The client name Zulip records for a request (`get_client_name`, `parse_user_agent`). */
import type { FastifyRequest } from "fastify";
import type { ChangeSource } from "../domain/audit.js";
import { readParam } from "./params.js";

const MAX_CLIENT_LENGTH = 255;
// Zulip's `parse_user_agent`: name, optional `/version`, then anything after a space or slash.
const USER_AGENT = /^([^/ ]*[^0-9/(]*)(\/([^/ ]*))?([ /].*)?$/;

/** The name group of Zulip's `parse_user_agent`, or null when the User-Agent does not parse. */
export function userAgentName(userAgent: string): string | null {
  return USER_AGENT.exec(userAgent)?.[1] ?? null;
}

/** The product name at the start of a User-Agent: `ZulipMobile/27.1 (iOS)` → `ZulipMobile`. */
export function clientFromUserAgent(userAgent: string | undefined): string {
  if (userAgent === undefined || userAgent.trim() === "") return "Unspecified";
  const name = (userAgentName(userAgent) ?? "").trim();
  return name === "" ? "Unspecified" : name;
}

/** Fits a name for storage: no control characters, at most 255 characters. */
function storable(name: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed.
  return name.replace(/[\u0000-\u001f\u007f]/g, "").slice(0, MAX_CLIENT_LENGTH) || "Unspecified";
}

/** The `client` parameter when sent, else the name the User-Agent gives. */
export function clientName(request: FastifyRequest): string {
  const param = readParam(request, "client");
  return storable(param !== undefined && param.trim() !== "" ? param : clientFromUserAgent(request.headers["user-agent"]));
}

/** Where a change requested over HTTP came from, for the audit log. */
export function changeSource(request: FastifyRequest): ChangeSource {
  return { ip: request.ip, client: clientName(request) };
}
