/**
 * Email through nodemailer: SMTP when configured, otherwise each message is written to an
 * outbox folder (one `.eml` file and one `.json` summary per message) that the development
 * page `/devtools/emails` lists.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import nodemailer, { type Transporter } from "nodemailer";
import type { EmailConfig } from "../config.js";
import type { Mailer, OutgoingEmail } from "../domain/mailer.js";

export interface OutboxMessage {
  id: string;
  date: string;
  from: string;
  to: string;
  subject: string;
  text: string;
}

/** Sends over SMTP with the configured server and credentials. */
export class SmtpMailer implements Mailer {
  private readonly transport: Transporter;
  constructor(private readonly config: EmailConfig) {
    const smtp = config.smtp;
    if (smtp === null) throw new Error("SmtpMailer needs SMTP settings");
    // STARTTLS is required unless turned off (LATCHKEY_SMTP_REQUIRE_TLS): reset links are live
    // credentials and must not cross the network in the clear.
    const tls = {
      requireTLS: !smtp.secure && smtp.requireTls,
      ...(smtp.ca === null ? {} : { tls: { ca: smtp.ca } }),
    };
    this.transport =
      smtp.url !== null
        ? nodemailer.createTransport({ url: smtp.url, ...tls })
        : nodemailer.createTransport({
            host: smtp.host,
            port: smtp.port,
            secure: smtp.secure,
            ...tls,
            ...(smtp.user === null ? {} : { auth: { user: smtp.user, pass: smtp.password ?? "" } }),
          });
  }
  async send(email: OutgoingEmail): Promise<void> {
    await this.transport.sendMail({ from: this.config.from, to: email.to, subject: email.subject, text: email.text });
  }
}

/** Writes each message to the outbox folder instead of sending it. */
export class OutboxMailer implements Mailer {
  private readonly transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: "unix" });
  constructor(
    private readonly dir: string,
    private readonly from: string,
  ) {}
  async send(email: OutgoingEmail): Promise<void> {
    const info = await this.transport.sendMail({ from: this.from, to: email.to, subject: email.subject, text: email.text });
    const date = new Date();
    // Names sort by time, so the newest message is the last file.
    const id = `${date.toISOString().replace(/[:.]/g, "-")}-${randomBytes(4).toString("hex")}`;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFile(join(this.dir, `${id}.eml`), info.message as Buffer, { mode: 0o600 });
    const summary: OutboxMessage = { id, date: date.toISOString(), from: this.from, ...email };
    await writeFile(join(this.dir, `${id}.json`), `${JSON.stringify(summary, null, 2)}\n`, { mode: 0o600 });
  }
}

/** The messages in an outbox folder, newest first. */
export async function listOutbox(dir: string): Promise<OutboxMessage[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const messages: OutboxMessage[] = [];
  for (const name of names
    .filter((n) => n.endsWith(".json"))
    .sort()
    .reverse()) {
    try {
      messages.push(JSON.parse(await readFile(join(dir, name), "utf8")) as OutboxMessage);
    } catch {
      // A file being written right now, or not ours: skip it.
    }
  }
  return messages;
}

/** Refuses every message: for commands that never send email, run without a mail destination. */
class NoMailer implements Mailer {
  async send(): Promise<void> {
    throw new Error("no mail server or outbox folder is configured");
  }
}

/** SMTP when configured, else the outbox folder, else nothing (`serve` refuses to start then). */
export function createMailer(config: EmailConfig): Mailer {
  if (config.smtp !== null) return new SmtpMailer(config);
  return config.outboxDir !== null ? new OutboxMailer(config.outboxDir, config.from) : new NoMailer();
}
