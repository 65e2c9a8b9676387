/**
 * E-signature: a provider interface shaped like the real e-signature APIs (create a signature request
 * for a signer and a document, send reminders, cancel), and the built-in provider, which serves the
 * signing page from Offboard itself (server/public-pages.ts).
 *
 * The built-in provider's links are single-use and expiring (`AccessLink`): the token is 32 random
 * bytes, sent only in the email; the database keeps its SHA-256, never the token. Because the token is
 * not stored, a link can never be sent again: a reminder carries a fresh link, and the links issued
 * before it stop working. The same helpers issue the exit survey's link.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../lib/db';
import type { Mailer, OutgoingMail, SentMail } from '../lib/mailer';

export type LinkPurpose = 'nda_signature' | 'exit_survey';

/** A new link token: 32 random bytes, base64url (43 characters). */
export function newLinkToken(): string {
  return randomBytes(32).toString('base64url');
}

/** The form tokens take in a URL: exactly what `newLinkToken` makes. */
export const LINK_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** SHA-256 (hex) of a link token: the only form in which it is stored. */
export function linkTokenSha256(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** The public URL of a link: `<publicUrl>/sign/<token>` or `<publicUrl>/survey/<token>`. */
export function linkUrl(publicUrl: string, purpose: LinkPurpose, token: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/${purpose === 'nda_signature' ? 'sign' : 'survey'}/${token}`;
}

/**
 * Sends an email that carries a fresh single-use link, at most once per `key`. A retry after the email
 * went out finds it sent and issues no link; a retry after a crash before that issues a new link (the
 * token of the first one is gone by design). `generation` is stored in the link's `reminders` column: the
 * reminder number it was issued with (0 = the first email).
 */
export async function sendWithFreshLink(
  deps: { db: Db; mailer: Mailer; publicUrl: string },
  p: {
    key: string;
    departureId: string;
    documentId: string;
    purpose: LinkPurpose;
    expiresAt: Date;
    generation: number;
    mail: (url: string) => Omit<OutgoingMail, 'key' | 'departureId'>;
  },
): Promise<{ sent: SentMail; linkExpiresAt: Date | null; fresh: boolean }> {
  const { db, mailer } = deps;
  const prior = await db.notification.findUnique({ where: { key: p.key } });
  if (prior?.status === 'sent' && prior.messageId) {
    const link = await db.accessLink.findFirst({
      where: { documentId: p.documentId, purpose: p.purpose, reminders: p.generation },
      orderBy: { createdAt: 'desc' },
    });
    return {
      sent: { messageId: prior.messageId, response: prior.smtpResponse ?? '', alreadySent: true },
      linkExpiresAt: link?.expiresAt ?? null,
      fresh: false,
    };
  }
  const token = newLinkToken();
  const link = await db.accessLink.create({
    data: {
      departureId: p.departureId,
      documentId: p.documentId,
      purpose: p.purpose,
      tokenSha256: linkTokenSha256(token),
      expiresAt: p.expiresAt,
      reminders: p.generation,
    },
  });
  const sent = await mailer.send({
    ...p.mail(linkUrl(deps.publicUrl, p.purpose, token)),
    key: p.key,
    departureId: p.departureId,
  });
  if (sent.alreadySent) {
    // A concurrent attempt sent this email with its own link first: ours was never delivered.
    await db.accessLink.updateMany({ where: { id: link.id, usedAt: null }, data: { expiresAt: new Date() } });
    return { sent, linkExpiresAt: null, fresh: false };
  }
  return { sent, linkExpiresAt: link.expiresAt, fresh: true };
}

/** Ends every still-valid, unused link of a document (optionally only those issued before `generation`). */
export async function invalidateLinks(
  db: Db,
  documentId: string,
  opts: { beforeGeneration?: number; now?: Date } = {},
): Promise<number> {
  const now = opts.now ?? new Date();
  const r = await db.accessLink.updateMany({
    where: {
      documentId,
      usedAt: null,
      expiresAt: { gt: now },
      ...(opts.beforeGeneration !== undefined ? { reminders: { lt: opts.beforeGeneration } } : {}),
    },
    data: { expiresAt: now },
  });
  return r.count;
}

// ---------------------------------------------------------------- the provider interface

export interface Signer {
  name: string;
  /** Where the request goes: the employee's personal address (the work account is disabled). */
  email: string;
}

export interface SignableDocument {
  title: string;
  text: string;
  /** SHA-256 of `text`, shown to the signer and kept with the signature. */
  sha256: string;
}

/** A signature request, as an e-signature API takes it. `documentId` is the idempotency key. */
export interface SignatureRequest {
  documentId: string;
  departureId: string;
  signer: Signer;
  document: SignableDocument;
  /** The signing deadline told to the signer (the request is cancelled after it). */
  signBy: Date;
}

export interface SignatureRequestResult {
  /** The provider's id of the request. */
  requestId: string;
  /** When the link just sent stops working (null when the request had already been sent). */
  linkExpiresAt: Date | null;
  /** True when the request had already been sent (a retry): nothing new went out. */
  alreadySent: boolean;
  /** SMTP (or provider) evidence of the delivery. */
  messageId: string;
  deliveryResponse: string;
}

export interface ReminderRequest {
  requestId: string;
  documentId: string;
  departureId: string;
  signer: Signer;
  document: SignableDocument;
  signBy: Date;
  /** 1, 2, ...: each number is sent at most once. */
  reminder: number;
}

export interface ReminderResult {
  signed: boolean;
  /** A reminder went out now (false: already signed, voided, or this reminder was already sent). */
  reminded: boolean;
  linkExpiresAt: Date | null;
  messageId: string | null;
}

/** An e-signature provider (the built-in one, or an adapter to a commercial service). */
export interface ESignatureProvider {
  readonly name: string;
  /** Sends the document to the signer. Idempotent per `documentId`: a retry sends nothing new. */
  requestSignature(req: SignatureRequest): Promise<SignatureRequestResult>;
  /** Reminds the signer, unless the document is signed. Idempotent per reminder number. */
  remind(req: ReminderRequest): Promise<ReminderResult>;
  /** Voids the request (deadline passed): its signing links stop working. */
  cancel(req: { requestId: string; documentId: string; reason: string }): Promise<void>;
}

const iso = (d: Date) => d.toISOString();

/**
 * The built-in provider: a single-use, expiring link to Offboard's own signing page, emailed to the
 * signer. The signed copy is stored by the signing page on the Document (status `signed`).
 */
export function createBuiltinESignatureProvider(deps: {
  db: Db;
  mailer: Mailer;
  publicUrl: string;
  /** Hours each link stays valid. */
  linkValidHours: number;
}): ESignatureProvider {
  const { db } = deps;
  const validMs = deps.linkValidHours * 3_600_000;
  const requestId = (documentId: string) => `builtin:${documentId}`;

  const body = (
    r: { signer: Signer; document: SignableDocument; signBy: Date },
    url: string,
    expiresAt: Date,
    intro: string,
  ) =>
    [
      `Hello ${r.signer.name},`,
      '',
      intro,
      '',
      `Read and sign "${r.document.title}" here:`,
      `  ${url}`,
      '',
      `This link works once and expires at ${iso(expiresAt)}. Please sign by ${iso(r.signBy)}.`,
      `Document fingerprint (SHA-256): ${r.document.sha256}`,
      '',
      'If you did not expect this message, you can ignore it.',
    ].join('\n');

  return {
    name: 'builtin',

    async requestSignature(req) {
      const expiresAt = new Date(Date.now() + validMs);
      const r = await sendWithFreshLink(deps, {
        key: `esign:${req.documentId}:request`,
        departureId: req.departureId,
        documentId: req.documentId,
        purpose: 'nda_signature',
        expiresAt,
        generation: 0,
        mail: (url) => ({
          purpose: 'nda_signature_request',
          to: req.signer.email,
          subject: `Please sign: ${req.document.title}`,
          text: body(
            req,
            url,
            expiresAt,
            'As part of your departure, please read and acknowledge your continuing confidentiality obligations.',
          ),
        }),
      });
      return {
        requestId: requestId(req.documentId),
        linkExpiresAt: r.linkExpiresAt,
        alreadySent: r.sent.alreadySent,
        messageId: r.sent.messageId,
        deliveryResponse: r.sent.response,
      };
    },

    async remind(req) {
      const doc = await db.document.findUnique({ where: { id: req.documentId } });
      if (doc?.status === 'signed')
        return { signed: true, reminded: false, linkExpiresAt: null, messageId: null };
      if (!doc || doc.status !== 'sent')
        return { signed: false, reminded: false, linkExpiresAt: null, messageId: null };
      const expiresAt = new Date(Date.now() + validMs);
      const r = await sendWithFreshLink(deps, {
        key: `esign:${req.documentId}:reminder:${req.reminder}`,
        departureId: req.departureId,
        documentId: req.documentId,
        purpose: 'nda_signature',
        expiresAt,
        generation: req.reminder,
        mail: (url) => ({
          purpose: 'nda_signature_reminder',
          to: req.signer.email,
          subject: `Reminder ${req.reminder}: please sign ${req.document.title}`,
          text: body(
            req,
            url,
            expiresAt,
            'A reminder: your confidentiality acknowledgment is still unsigned. The links in earlier ' +
              'emails no longer work; please use this one.',
          ),
        }),
      });
      // Only the newest email's link works (sent first, so a crash here leaves the older ones valid).
      if (r.fresh) await invalidateLinks(db, req.documentId, { beforeGeneration: req.reminder });
      return {
        signed: false,
        reminded: !r.sent.alreadySent,
        linkExpiresAt: r.linkExpiresAt,
        messageId: r.sent.messageId,
      };
    },

    async cancel(req) {
      await invalidateLinks(db, req.documentId);
    },
  };
}
