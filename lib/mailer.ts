/**
 * Outgoing email over SMTP (nodemailer). Every message has a business key (departure + purpose +
 * recipient): a retried activity finds the first send in the Notification table and does not send again.
 * The SMTP server's acceptance (message id and response) is stored as delivery evidence.
 */
import { createHash, randomUUID } from 'node:crypto';
import nodemailer, { type Transporter } from 'nodemailer';
import { sql, type Db } from './db';

export interface OutgoingMail {
  /** Business key; the same key is never sent twice. */
  key: string;
  departureId?: string | null;
  purpose: string;
  to: string;
  cc?: string[];
  subject: string;
  text: string;
  /** A calendar invite (iCalendar text) sent as the message's text/calendar alternative, e.g. METHOD:REQUEST. */
  icalEvent?: { method: string; filename?: string; content: string };
}

export interface SentMail {
  messageId: string;
  response: string;
  alreadySent: boolean;
}

export interface Mailer {
  send(mail: OutgoingMail): Promise<SentMail>;
  close(): void;
}

/** Creates the SMTP mailer. */
export function createMailer(deps: { db: Db; smtpUrl: string; from: string }): Mailer {
  const url = new URL(deps.smtpUrl);
  const transport: Transporter = nodemailer.createTransport({
    host: url.hostname,
    port: Number(url.port || (url.protocol === 'smtps:' ? 465 : 25)),
    secure: url.protocol === 'smtps:',
    auth: url.username
      ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) }
      : undefined,
    pool: true,
    maxConnections: 4,
    connectionTimeout: 5_000,
    greetingTimeout: 5_000,
    socketTimeout: 10_000,
  });
  const domain = (/@([^>\s]+)>?\s*$/.exec(deps.from)?.[1] ?? 'offboard.local').toLowerCase();
  return {
    async send(mail) {
      // The key's row, created `pending` if this is its first send, in one statement on the `pg` pool
      // (three Prisma client calls before: about 2 ms of CPU each against 0.15 ms here). Timestamps as
      // the client writes them: this clock's UTC wall time.
      const now = new Date().toISOString();
      const { rows } = await sql<{ status: string; messageId: string | null; smtpResponse: string | null }>(
        deps.db,
        `INSERT INTO "Notification" (id, key, "departureId", purpose, recipient, subject, "createdAt", "updatedAt")
         VALUES ($1, $2, $3, $4, $5, $6, $7::timestamp, $7::timestamp)
         ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key
         RETURNING status, "messageId", "smtpResponse"`,
        [randomUUID(), mail.key, mail.departureId ?? null, mail.purpose, mail.to, mail.subject, now],
      );
      const existing = rows[0];
      if (existing?.status === 'sent' && existing.messageId) {
        return { messageId: existing.messageId, response: existing.smtpResponse ?? '', alreadySent: true };
      }
      // A deterministic Message-ID: if a crash lands between SMTP acceptance and the update below,
      // the resend carries the same id, which mail systems treat as the same message.
      const messageId = `<${createHash('sha256').update(mail.key).digest('hex').slice(0, 32)}@${domain}>`;
      const info = await transport.sendMail({
        from: deps.from,
        to: mail.to,
        cc: mail.cc,
        subject: mail.subject,
        text: mail.text,
        messageId,
        icalEvent: mail.icalEvent,
        headers: { 'X-Offboard-Purpose': mail.purpose },
      });
      const sentAt = new Date().toISOString();
      await sql(
        deps.db,
        `UPDATE "Notification"
            SET status = 'sent', "messageId" = $2, "smtpResponse" = $3, "sentAt" = $4::timestamp,
                "updatedAt" = $4::timestamp
          WHERE key = $1`,
        [mail.key, info.messageId, info.response ?? '', sentAt],
      );
      return { messageId: info.messageId, response: info.response ?? '', alreadySent: false };
    },
    close() {
      transport.close();
    },
  };
}
