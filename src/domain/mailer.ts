/** The port through which the rules send email; `src/mail/` implements it over nodemailer. */

export interface OutgoingEmail {
  to: string;
  subject: string;
  text: string;
}

export interface Mailer {
  /** Sends one message; rejects when the transport refuses it. */
  send(email: OutgoingEmail): Promise<void>;
}

/** Keeps messages in memory: for tests that only need to read what was sent. */
export class MemoryMailer implements Mailer {
  readonly sent: OutgoingEmail[] = [];
  async send(email: OutgoingEmail): Promise<void> {
    this.sent.push(email);
  }
}
