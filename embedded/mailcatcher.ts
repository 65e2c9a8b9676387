/**
 * A real SMTP server (smtp-server) that catches every message for the embedded setup and the tests:
 * messages are parsed (mailparser), kept in memory and, when a folder is given, written there as .eml
 * so the inbox survives restarts and can be read with any mail client.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface CaughtMail {
  from: string;
  to: string[];
  cc: string[];
  subject: string;
  text: string;
  messageId: string;
  purpose: string | null;
  receivedAt: string;
  /** Attachments and non-text alternatives (e.g. a text/calendar invite); `text` only for text-like types. */
  attachments: { filename: string | null; contentType: string; size: number; text: string | null }[];
}

const TEXT_LIKE = /^(text\/|application\/(ics|json|xml))/i;

function addresses(a: ParsedMail['to']): string[] {
  if (!a) return [];
  return [a]
    .flat()
    .flatMap((x) => x.value.map((v) => (v.address ?? '').toLowerCase()))
    .filter(Boolean);
}

function toCaught(m: ParsedMail): CaughtMail {
  return {
    from: m.from?.value[0]?.address ?? '',
    to: addresses(m.to),
    cc: addresses(m.cc),
    subject: m.subject ?? '',
    text: m.text ?? '',
    messageId: m.messageId ?? '',
    purpose: (m.headers.get('x-offboard-purpose') as string | undefined) ?? null,
    receivedAt: (m.date ?? new Date()).toISOString(),
    attachments: m.attachments.map((a) => ({
      filename: a.filename ?? null,
      contentType: a.contentType,
      size: a.size,
      text: TEXT_LIKE.test(a.contentType) ? a.content.toString('utf8') : null,
    })),
  };
}

export class MailCatcher {
  readonly messages: CaughtMail[] = [];
  private server: SMTPServer;
  private waiters: (() => void)[] = [];
  port = 0;
  /** Connection errors of clients since start (e.g. a sender killed mid-session), and the last one. */
  clientErrors = 0;
  lastClientError: string | null = null;

  constructor(private readonly dir?: string) {
    if (dir) {
      mkdirSync(dir, { recursive: true });
      for (const f of readdirSync(dir)
        .filter((x) => x.endsWith('.json'))
        .sort())
        this.messages.push({
          attachments: [],
          // Messages saved before attachments were kept have none.
          ...(JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as Omit<CaughtMail, 'attachments'> &
            Partial<Pick<CaughtMail, 'attachments'>>),
        });
    }
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS'],
      logger: false,
      onData: (stream, _session, callback) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks);
          simpleParser(raw)
            .then((parsed) => {
              const m = toCaught(parsed);
              this.messages.push(m);
              if (this.dir) {
                const base = `${Date.now()}-${this.messages.length}`;
                writeFileSync(path.join(this.dir, `${base}.eml`), raw);
                writeFileSync(path.join(this.dir, `${base}.json`), JSON.stringify(m, null, 2));
              }
              for (const w of this.waiters.splice(0)) w();
              callback();
            })
            .catch((e: Error) => callback(e));
        });
      },
    });
  }

  async start(port = 0): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    // A client's connection that breaks (a worker killed mid-session: `read ECONNRESET`) is that
    // client's problem; without a listener the server's 'error' event would end this process.
    this.server.on('error', (e: Error) => {
      this.clientErrors++;
      this.lastClientError = e.message;
    });
    this.port = (this.server.server.address() as AddressInfo).port;
    return this.port;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  /** Messages to (or cc) an address. */
  to(address: string): CaughtMail[] {
    const a = address.toLowerCase();
    return this.messages.filter((m) => m.to.includes(a) || m.cc.includes(a));
  }

  /** Resolves with the first message matching `pred`, waiting up to `timeoutMs`. */
  async waitFor(pred: (m: CaughtMail) => boolean, timeoutMs = 15_000): Promise<CaughtMail> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.messages.find(pred);
      if (hit) return hit;
      const left = until - Date.now();
      if (left <= 0) throw new Error('no matching email arrived in time');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 500));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
