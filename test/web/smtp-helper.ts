/** An in-process SMTP server on a loopback port that keeps every message it receives. */
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
  /** Whether the message arrived over TLS (after STARTTLS). */
  secure: boolean;
}

export interface TestSmtp {
  url: string;
  received: ReceivedMail[];
  /** Resolves once `count` messages have arrived. */
  waitFor(count: number): Promise<ReceivedMail[]>;
  close(): Promise<void>;
}

/**
 * Starts the server. With `starttls` (a key and certificate in PEM files) it offers STARTTLS;
 * without, it offers none, like a mail server that only speaks plain text.
 */
export async function startSmtp(starttls?: { key: string; cert: string }): Promise<TestSmtp> {
  const received: ReceivedMail[] = [];
  const waiters: { count: number; resolve: (m: ReceivedMail[]) => void }[] = [];
  const server = new SMTPServer({
    authOptional: true,
    ...(starttls === undefined
      ? { disabledCommands: ["STARTTLS"] }
      : { key: readFileSync(starttls.key), cert: readFileSync(starttls.cert) }),
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        received.push({
          from: session.envelope.mailFrom === false ? "" : session.envelope.mailFrom.address,
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString("utf8"),
          secure: session.secure,
        });
        for (const w of waiters.filter((w) => received.length >= w.count)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(received);
        }
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    waitFor: (count) =>
      received.length >= count ? Promise.resolve(received) : new Promise((resolve) => waiters.push({ count, resolve })),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The decoded text body of a raw message (nodemailer sends quoted-printable or 7bit). */
export function textBody(raw: string): string {
  const at = raw.indexOf("\r\n\r\n");
  const body = at === -1 ? raw : raw.slice(at + 4);
  if (/content-transfer-encoding: quoted-printable/i.test(raw.slice(0, at))) {
    return body
      .replace(/=\r?\n/g, "")
      .replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(Number.parseInt(h, 16)))
      .replace(/\r\n/g, "\n");
  }
  return body.replace(/\r\n/g, "\n");
}

export function header(raw: string, name: string): string | null {
  const m = new RegExp(`^${name}: (.*(?:\\r\\n[ \\t].*)*)`, "im").exec(raw);
  return m?.[1]?.replace(/\r\n[ \t]/g, " ") ?? null;
}
