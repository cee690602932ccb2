/**
 * One more client beside a load, in a process of its own: its clock and event loop are not the
 * load generator's, so a load generator kept busy by autocannon does not add its own delays to
 * the latencies this client reports.
 *
 * Reads its task as one JSON line on stdin, prints `ready`, runs until stdin closes, then prints
 * one JSON line with what it saw:
 *   {"kind":"latency","url":…,"requests":[{method,path,headers}…]}: one keep-alive connection,
 *     each request sent when the last is answered, in turn; prints the latencies in ms.
 *   {"kind":"logins","port":N,"rate":R,"from":F}: failed logins on fresh connections at a steady
 *     R a second whatever the answers, the i-th as username probe<F+i> from address
 *     198.18.x.y (the benchmarking range; no storm uses it), so that no two probe logins of a
 *     run share a username or an address; prints each answer's status and ms.
 */
import { Agent, request as httpRequest } from "node:http";
import { createInterface } from "node:readline";

interface Request {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
}
type Task = { kind: "latency"; url: string; requests: Request[] } | { kind: "logins"; port: number; rate: number; from: number };

let stopped = false;

/** Sends one request; resolves with its status and the ms until its answer ended. */
function timed(
  options: { agent: Agent | false; host: string; port: string | number },
  r: Request,
  body?: string,
): Promise<{ status: number; ms: number }> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = httpRequest({ ...options, method: r.method ?? "GET", path: r.path, headers: r.headers }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

async function latencies(url: string, requests: Request[]): Promise<number[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const target = new URL(url);
  const out: number[] = [];
  for (let i = 0; !stopped; i++) {
    const r = requests[i % requests.length] as Request;
    out.push((await timed({ agent, host: target.hostname, port: target.port }, r)).ms);
  }
  agent.destroy();
  return out;
}

async function logins(port: number, rate: number, from: number): Promise<{ status: number; ms: number }[]> {
  const sent: Promise<{ status: number; ms: number }>[] = [];
  for (let k = from; !stopped; k++) {
    const address = `198.${18 + ((k >> 16) & 1)}.${(k >> 8) & 255}.${k & 255}`;
    const request = {
      method: "POST",
      path: "/api/v1/fetch_api_key",
      headers: { "content-type": "application/x-www-form-urlencoded", "x-forwarded-for": address },
    };
    sent.push(timed({ agent: false, host: "127.0.0.1", port }, request, `username=probe${k}%40bench.test&password=guess-${k}`));
    await new Promise((resolve) => setTimeout(resolve, 1000 / rate));
  }
  return Promise.all(sent);
}

const lines = createInterface({ input: process.stdin });
const first = await lines[Symbol.asyncIterator]().next();
const task = JSON.parse(String(first.value)) as Task;
lines.on("close", () => {
  stopped = true;
});
process.stdout.write("ready\n");
const result = task.kind === "latency" ? await latencies(task.url, task.requests) : await logins(task.port, task.rate, task.from);
process.stdout.write(`${JSON.stringify(result)}\n`);
