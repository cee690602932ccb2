/**
 * A test server listening on a real port of 127.0.0.1, whose organization URL (`realm_uri`) is
 * exactly `http://127.0.0.1:PORT`, as real clients see it.
 */
import { freePort, makeTestServer, type TestServer, type TestServerOptions } from "../helper.js";

export interface RealServer extends TestServer {
  port: number;
  /** `http://127.0.0.1:PORT`, the organization's URL. */
  url: string;
}

export async function startRealServer(options: TestServerOptions = {}): Promise<RealServer> {
  // The organization's URL names the port, so the port is chosen before the server is built.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const server = await makeTestServer({ ...options, env: { LATCHKEY_EXTERNAL_HOST: `127.0.0.1:${port}`, ...options.env } });
    try {
      await server.app.listen({ host: "127.0.0.1", port });
      return Object.assign(server, { port, url: `http://127.0.0.1:${port}` });
    } catch (err) {
      await server.close();
      // Another process took the port between the probe and the listen: try another.
      if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE" || attempt >= 5) throw err;
    }
  }
}
