/**
 * A test server listening on a real port of 127.0.0.1, whose organization URL (`realm_uri`) is
 * exactly `http://127.0.0.1:PORT`, as the client harness of zulip-clients.md asks.
 */
import type { AddressInfo } from "node:net";
import { makeTestServer, type TestServer, type TestServerOptions } from "../helper.js";

export interface RealServer extends TestServer {
  port: number;
  /** `http://127.0.0.1:PORT`, the organization's URL. */
  url: string;
}

export async function startRealServer(options: TestServerOptions = {}): Promise<RealServer> {
  const server = await makeTestServer({ ...options, env: { LATCHKEY_EXTERNAL_HOST: "127.0.0.1", ...options.env } });
  await server.app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = server.app.server.address() as AddressInfo;
  // The port is known only now. Every host that is not a subdomain of the external host is
  // the root organization, so only the URLs the server writes need it.
  server.config.externalHost = `127.0.0.1:${port}`;
  return Object.assign(server, { port, url: `http://127.0.0.1:${port}` });
}
