/**
 * Outgoing email over SMTP (nodemailer). Every message has a business key (departure + purpose +
 * recipient): a retried activity finds the first send in the Notification table and does not send again.
 * The SMTP server's acceptance (message id and response) is stored as delivery evidence.
 */
import { createHash } from 'node:crypto';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Db } from './db';

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
      const existing = await deps.db.notification.findUnique({ where: { key: mail.key } });
      if (existing?.status === 'sent' && existing.messageId) {
        return { messageId: existing.messageId, response: existing.smtpResponse ?? '', alreadySent: true };
      }
      // A deterministic Message-ID: if a crash lands between SMTP acceptance and the update below,
      // the resend carries the same id, which mail systems treat as the same message.
      const messageId = `<${createHash('sha256').update(mail.key).digest('hex').slice(0, 32)}@${domain}>`;
      if (!existing) {
        await deps.db.notification.upsert({
          where: { key: mail.key },
          create: {
            key: mail.key,
            departureId: mail.departureId ?? null,
            purpose: mail.purpose,
            recipient: mail.to,
            subject: mail.subject,
          },
          update: {},
        });
      }
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
      await deps.db.notification.update({
        where: { key: mail.key },
        data: { status: 'sent', messageId: info.messageId, smtpResponse: info.response, sentAt: new Date() },
      });
      return { messageId: info.messageId, response: info.response, alreadySent: false };
    },
    close() {
      transport.close();
    },
  };
}
