/**
 * A test server listening on a real port of 127.0.0.1, whose organization URL (`realm_uri`) is
 * exactly `http://127.0.0.1:PORT`, as real clients see it.
 */
import { createServer } from "node:net";
import { makeTestServer, type TestServer, type TestServerOptions } from "../helper.js";

export interface RealServer extends TestServer {
  port: number;
  /** `http://127.0.0.1:PORT`, the organization's URL. */
  url: string;
}

/** A port of 127.0.0.1 that nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
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
