/**
 * The public pages a leaver opens from their personal email: the built-in e-signature page for the NDA
 * acknowledgment (`/sign/<token>`) and the exit survey (`/survey/<token>`). No operator token: the link's
 * token is the credential. Each link works once and expires; only its SHA-256 is stored.
 *
 * Plain, accessible HTML (no framework, no script), every value escaped. Errors are pages too: unknown
 * link 404, used or expired 410, invalid form 400 (naming the field; nothing stored), a body no browser
 * sends 400 (broken percent-encoding, not UTF-8), 413 (above 32 kB) or 415 (not url-encoded). Statuses
 * come from `httpStatusFor` like every other route.
 */
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import { isUtf8 } from 'node:buffer';
import type { Client } from '@temporalio/client';
import type { AccessLink, Departure, Document } from '@prisma/client';
import { z } from 'zod';
import { LINK_TOKEN_PATTERN, linkTokenSha256, type LinkPurpose } from '../activities/esign';
import { documentSignedSignal, type DocumentSigned } from '../contract';
import { audit, Prisma, type Db } from '../lib/db';
import { AppError, httpStatusFor, type FieldError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import { sha256Hex, signedNdaPdf } from '../lib/pdf';
import { STORABLE_MESSAGE, storable } from './hris';
import { RESCINDED_DEPARTURE } from './starter';

export interface PublicPagesDeps {
  db: Db;
  /** Temporal client: a signature is signalled to the running offboarding. */
  client: Client;
  logger: Logger;
  /** Rate limiters of these pages (server/rate-limits.ts), run first; a 429 is answered as a page. */
  limits?: RequestHandler[];
}

/** Escapes text for HTML element content and quoted attribute values. */
export function escapeHtml(s: unknown): string {
  return String(s ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const CSS = `body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;line-height:1.5;margin:0;color:#1a1a1a;background:#f6f7f9}
main{max-width:42rem;margin:2rem auto;padding:1.5rem 2rem;background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.5rem;margin-top:0}.doc{border:1px solid #d0d4da;padding:1rem;background:#fbfbfc;border-radius:4px}
.hash{font-family:ui-monospace,monospace;word-break:break-all;font-size:.85rem}
label{display:block;font-weight:600;margin:1rem 0 .25rem}input[type=text],select,textarea{width:100%;padding:.5rem;font:inherit;box-sizing:border-box}
fieldset{border:0;padding:0;margin:1rem 0}legend{font-weight:600}.choice label{display:inline;font-weight:400;margin:0 1rem 0 .25rem}
.check label{display:inline;font-weight:400}button{margin-top:1.25rem;padding:.6rem 1.4rem;font:inherit;font-weight:600;background:#1f5fbf;color:#fff;border:0;border-radius:4px;cursor:pointer}
button:focus,input:focus,select:focus,textarea:focus{outline:3px solid #f0b400;outline-offset:2px}
.errors{border:2px solid #b00020;padding:.75rem 1rem;border-radius:4px;color:#b00020}.muted{color:#555;font-size:.9rem}`;

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)} - Offboard</title>
<style>${CSS}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>`;
}

/** How the form fields are named to a person. */
const FIELD_LABELS: Record<string, string> = {
  fullName: 'Full name',
  acknowledge: 'I acknowledge',
  reason: 'Reason for leaving',
  rating: 'Rating',
  recommend: 'Would you recommend us',
  comments: 'Comments',
};

function errorList(fields: FieldError[]): string {
  if (fields.length === 0) return '';
  return `<div class="errors" role="alert"><p><strong>Please correct the following:</strong></p><ul>${fields
    .map(
      (f) =>
        `<li><a href="#${escapeHtml(f.field)}">${escapeHtml(FIELD_LABELS[f.field] ?? f.field)}</a>: ${escapeHtml(f.message)}</li>`,
    )
    .join('')}</ul></div>`;
}

function fieldErrorsOf(e: z.ZodError): FieldError[] {
  return e.issues.map((i) => ({ field: i.path.join('.') || '(form)', message: i.message }));
}

const obj = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

// ---------------------------------------------------------------- forms

/**
 * A C0 or C1 control character (NUL, tab and line breaks included): a text input never sends one, and
 * the signed PDF could not show it (it would read `?` where the record keeps the character).
 */
// eslint-disable-next-line no-control-regex -- control characters are what it finds
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

export const signForm = z.object({
  fullName: z
    .string({ error: 'is required' })
    .trim()
    .min(2, 'enter your full name')
    .max(200, 'must be at most 200 characters')
    .refine(
      (s) => storable(s) && !CONTROL.test(s),
      'must not contain control characters or unpaired surrogates',
    ),
  acknowledge: z.literal('yes', { error: 'tick "I acknowledge" to sign' }),
});

export const LEAVING_REASONS = {
  new_opportunity: 'A new opportunity elsewhere',
  compensation: 'Pay or benefits',
  career_growth: 'Career growth',
  management: 'Management or leadership',
  work_life_balance: 'Workload or work-life balance',
  relocation: 'Relocation',
  personal: 'Personal or family reasons',
  other: 'Other',
} as const;

export const surveyForm = z.object({
  reason: z.enum(Object.keys(LEAVING_REASONS) as [keyof typeof LEAVING_REASONS], {
    error: 'choose one of the listed reasons',
  }),
  rating: z.enum(['1', '2', '3', '4', '5'], { error: 'choose a rating from 1 to 5' }).transform(Number),
  recommend: z.enum(['yes', 'no'], { error: 'choose yes or no' }),
  comments: z
    .string()
    .optional()
    .transform((s) => (s ?? '').replace(/\r\n/g, '\n').trim())
    .pipe(z.string().max(2000, 'must be at most 2000 characters').refine(storable, STORABLE_MESSAGE)),
});

export type ExitSurveyAnswers = z.output<typeof surveyForm>;

// ---------------------------------------------------------------- router

type Resolved = { link: AccessLink; doc: Document & { departure: Departure } };

/** The router of the public pages; mount it on the app before the 404 handler. */
export function createPublicPagesRouter(deps: PublicPagesDeps): express.Router {
  const { db, client, logger } = deps;
  const router = express.Router();
  const form = [
    // Another type is refused, not read as an empty form.
    (req: Request, _res: Response, next: NextFunction) =>
      next(
        req.is('application/x-www-form-urlencoded') === false
          ? new AppError('unsupported_media_type', 'The form must be sent as a web form (url-encoded).')
          : undefined,
      ),
    express.urlencoded({ extended: false, limit: '32kb', parameterLimit: 20, verify: verifyFormBody }),
  ];

  router.use(['/sign', '/survey'], (_req, res, next) => {
    res.setHeader('cache-control', 'no-store');
    // The token is in the URL: never leak it to another site.
    res.setHeader('referrer-policy', 'no-referrer');
    res.setHeader(
      'content-security-policy',
      "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    res.setHeader('x-content-type-options', 'nosniff');
    next();
  });
  if (deps.limits?.length) router.use(['/sign', '/survey'], ...deps.limits);

  const gone = (what: 'used' | 'expired' | 'signed' | 'answered' | 'withdrawn') =>
    new AppError(
      'gone',
      what === 'withdrawn'
        ? 'This link is no longer needed: your departure was withdrawn. There is nothing for you to do.'
        : what === 'used'
          ? 'This link has already been used.'
          : what === 'expired'
            ? 'This link has expired or was replaced by a newer one. Please use the link in the most recent email.'
            : what === 'signed'
              ? 'This document has already been signed; this link has already been used.'
              : 'This survey has already been answered; this link has already been used.',
      { reason: what },
    );

  /** Finds the link's document, or throws the page's error (404 unknown, 410 used or expired). */
  async function resolve(token: string, purpose: LinkPurpose, now = new Date()): Promise<Resolved> {
    const unknown = new AppError('not_found', 'This link is not valid. Check that you copied all of it.');
    if (!LINK_TOKEN_PATTERN.test(token)) throw unknown;
    const link = await db.accessLink.findUnique({ where: { tokenSha256: linkTokenSha256(token) } });
    if (!link || link.purpose !== purpose) throw unknown;
    const doc = await db.document.findUnique({
      where: { id: link.documentId },
      include: { departure: true },
    });
    if (!doc) throw unknown;
    if (link.usedAt) throw gone('used');
    if (doc.status === 'signed') throw gone('signed');
    if (doc.status === 'answered') throw gone('answered');
    if (link.expiresAt.getTime() <= now.getTime() || doc.status === 'expired') throw gone('expired');
    // A rescinded termination: the employee stays, so nothing is signed or answered as a leaver.
    if (await db.departure.count({ where: { AND: [{ id: doc.departureId }, RESCINDED_DEPARTURE] } }))
      throw gone('withdrawn');
    return { link, doc };
  }

  /** Marks the link used; a concurrent or earlier use, or expiry, answers 410. Inside a transaction. */
  async function useLink(tx: Prisma.TransactionClient, link: AccessLink, at: Date, ip: string | null) {
    const r = await tx.accessLink.updateMany({
      where: { id: link.id, usedAt: null, expiresAt: { gt: at } },
      data: { usedAt: at, usedFromIp: ip },
    });
    if (r.count === 1) return;
    const now = await tx.accessLink.findUnique({ where: { id: link.id } });
    throw gone(now?.usedAt ? 'used' : 'expired');
  }

  // ------------------------------------------------------------ NDA signing

  function signPage(r: Resolved, errors: FieldError[] = [], values: { fullName?: string } = {}): string {
    const meta = obj(r.doc.meta);
    const title = String(meta.title ?? 'Confidentiality acknowledgment');
    const paragraphs = String(meta.ndaText ?? '')
      .split(/\n{2,}/)
      .map((p) => `<p>${escapeHtml(p)}</p>`)
      .join('\n');
    return page(
      title,
      `<h1>${escapeHtml(title)}</h1>
${errorList(errors)}
<p>For ${escapeHtml(r.doc.departure.employeeName)}. Please read the document, then sign it below.</p>
<section class="doc" aria-label="Document to sign">
${paragraphs}
</section>
<p class="muted">Document fingerprint (SHA-256): <span class="hash">${escapeHtml(meta.ndaSha256)}</span><br>
This link works once and expires at ${escapeHtml(r.link.expiresAt.toISOString())}.</p>
<form method="post" novalidate>
<label for="fullName">Full name</label>
<input type="text" id="fullName" name="fullName" autocomplete="name" required maxlength="200"
 value="${escapeHtml(values.fullName ?? '')}"${errors.some((e) => e.field === 'fullName') ? ' aria-invalid="true"' : ''}>
<p class="check"><input type="checkbox" id="acknowledge" name="acknowledge" value="yes" required${
        errors.some((e) => e.field === 'acknowledge') ? ' aria-invalid="true"' : ''
      }>
<label for="acknowledge">I acknowledge that I have read this document and agree to it.</label></p>
<button type="submit">Sign</button>
</form>`,
    );
  }

  router.get('/sign/:token', async (req: Request, res: Response) => {
    const r = await resolve(String(req.params.token), 'nda_signature');
    res.status(200).type('html').send(signPage(r));
  });

  router.post('/sign/:token', form, async (req: Request, res: Response) => {
    const r = await resolve(String(req.params.token), 'nda_signature');
    const parsed = signForm.safeParse(req.body ?? {});
    if (!parsed.success) {
      const fullName = typeof req.body?.fullName === 'string' ? (req.body.fullName as string) : '';
      res
        .status(httpStatusFor('validation_failed'))
        .type('html')
        .send(signPage(r, fieldErrorsOf(parsed.error), { fullName }));
      return;
    }
    const signedAt = new Date();
    const ip = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    const meta = obj(r.doc.meta);
    const ndaSha256 = String(meta.ndaSha256 ?? '');
    const pdf = await signedNdaPdf({
      documentId: r.doc.id,
      departureId: r.doc.departureId,
      employeeId: r.doc.departure.employeeId,
      title: String(meta.title ?? 'Confidentiality acknowledgment'),
      text: String(meta.ndaText ?? ''),
      ndaSha256,
      signerName: parsed.data.fullName,
      signedAt,
      ip,
    });
    const sha256 = sha256Hex(pdf);
    await db.$transaction(async (tx) => {
      await useLink(tx, r.link, signedAt, ip);
      // `pending` too: the employee may sign before the activity that emailed the link has recorded it
      // as sent (the email goes out first).
      const upd = await tx.document.updateMany({
        where: { id: r.doc.id, status: { in: ['pending', 'sent'] } },
        data: {
          status: 'signed',
          completedAt: signedAt,
          content: new Uint8Array(pdf),
          contentType: 'application/pdf',
          sha256,
          storageLocation: `db:Document/${r.doc.id}`,
          meta: {
            ...meta,
            signerName: parsed.data.fullName,
            signedAt: signedAt.toISOString(),
            ip,
            ndaSha256,
            userAgent: String(req.headers['user-agent'] ?? '').slice(0, 300),
            linkId: r.link.id,
          } as Prisma.InputJsonValue,
        },
      });
      if (upd.count !== 1) {
        const now = await tx.document.findUnique({ where: { id: r.doc.id }, select: { status: true } });
        throw gone(now?.status === 'signed' ? 'signed' : 'expired');
      }
      await audit(tx, {
        actor: 'signer:builtin-esign',
        action: 'nda_signed',
        departureId: r.doc.departureId,
        details: {
          documentId: r.doc.id,
          linkId: r.link.id,
          signerName: parsed.data.fullName,
          ip,
          ndaSha256,
          sha256,
        },
      });
    });
    // The database is the evidence; the signal only saves the workflow waiting for its next check.
    const signal: DocumentSigned = {
      documentId: r.doc.id,
      type: 'nda_acknowledgment',
      signedAt: signedAt.toISOString(),
    };
    try {
      await client.withDeadline(Date.now() + 5_000, () =>
        client.workflow.getHandle(r.doc.departure.workflowId).signal(documentSignedSignal, signal),
      );
    } catch (e) {
      const error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      ((res.locals.log as Logger | undefined) ?? logger).warn(
        { err: e, departureId: r.doc.departureId },
        'documentSigned could not be signalled',
      );
      await audit(db, {
        actor: 'signer:builtin-esign',
        action: 'document_signed_signal_failed',
        departureId: r.doc.departureId,
        details: { documentId: r.doc.id, workflowId: r.doc.departure.workflowId, error: error.slice(0, 500) },
      }).catch(() => undefined);
    }
    res
      .status(200)
      .type('html')
      .send(
        page(
          'Signed',
          `<h1>Thank you, signed</h1>
<p>${escapeHtml(parsed.data.fullName)} signed "${escapeHtml(meta.title)}" at ${escapeHtml(signedAt.toISOString())}.</p>
<p class="muted">Fingerprint of the signed copy (SHA-256): <span class="hash">${escapeHtml(sha256)}</span><br>
Fingerprint of the document text: <span class="hash">${escapeHtml(ndaSha256)}</span></p>
<p>You can close this page.</p>`,
        ),
      );
  });

  // ------------------------------------------------------------ exit survey

  function surveyPage(errors: FieldError[] = [], v: Record<string, string> = {}): string {
    const invalid = (f: string) => (errors.some((e) => e.field === f) ? ' aria-invalid="true"' : '');
    const options = Object.entries(LEAVING_REASONS)
      .map(
        ([k, label]) =>
          `<option value="${escapeHtml(k)}"${v.reason === k ? ' selected' : ''}>${escapeHtml(label)}</option>`,
      )
      .join('');
    const radios = (name: string, values: [string, string][]) =>
      values
        .map(
          ([val, label]) =>
            `<input type="radio" id="${name}-${val}" name="${name}" value="${val}"${v[name] === val ? ' checked' : ''}${invalid(name)}><label for="${name}-${val}">${escapeHtml(label)}</label>`,
        )
        .join('');
    return page(
      'Exit survey',
      `<h1>Exit survey</h1>
${errorList(errors)}
<p>Thank you for taking a moment. Your answers go to HR and are used for analytics. This link works once.</p>
<form method="post" novalidate>
<label for="reason">What is the main reason you are leaving?</label>
<select id="reason" name="reason" required${invalid('reason')}><option value="">Choose one</option>${options}</select>
<fieldset class="choice" id="rating"><legend>Overall, how would you rate working here? (1 = poor, 5 = excellent)</legend>
${radios(
  'rating',
  ['1', '2', '3', '4', '5'].map((n) => [n, n]),
)}</fieldset>
<fieldset class="choice" id="recommend"><legend>Would you recommend us as an employer?</legend>
${radios('recommend', [
  ['yes', 'Yes'],
  ['no', 'No'],
])}</fieldset>
<label for="comments">Anything else you would like to tell us? (optional, up to 2000 characters)</label>
<textarea id="comments" name="comments" rows="6" maxlength="2000"${invalid('comments')}>${escapeHtml(v.comments ?? '')}</textarea>
<button type="submit">Send answers</button>
</form>`,
    );
  }

  router.get('/survey/:token', async (req: Request, res: Response) => {
    await resolve(String(req.params.token), 'exit_survey');
    res.status(200).type('html').send(surveyPage());
  });

  router.post('/survey/:token', form, async (req: Request, res: Response) => {
    const r = await resolve(String(req.params.token), 'exit_survey');
    const body = obj(req.body);
    const parsed = surveyForm.safeParse(body);
    if (!parsed.success) {
      const values = Object.fromEntries(
        ['reason', 'rating', 'recommend', 'comments'].map((k) => [
          k,
          typeof body[k] === 'string' ? body[k] : '',
        ]),
      ) as Record<string, string>;
      res
        .status(httpStatusFor('validation_failed'))
        .type('html')
        .send(surveyPage(fieldErrorsOf(parsed.error), values));
      return;
    }
    const answeredAt = new Date();
    await db.$transaction(async (tx) => {
      // No IP is kept for survey answers: HR analytics does not need it.
      await useLink(tx, r.link, answeredAt, null);
      // `pending` too: the employee may sign before the activity that emailed the link has recorded it
      // as sent (the email goes out first).
      // The answers are the document's content too, so HR downloads them like any other document.
      const answers = Buffer.from(
        JSON.stringify({ answers: parsed.data, answeredAt: answeredAt.toISOString() }, null, 2),
        'utf8',
      );
      const upd = await tx.document.updateMany({
        where: { id: r.doc.id, status: { in: ['pending', 'sent'] } },
        data: {
          status: 'answered',
          completedAt: answeredAt,
          content: new Uint8Array(answers),
          contentType: 'application/json',
          sha256: sha256Hex(answers),
          meta: { ...obj(r.doc.meta), answers: parsed.data, answeredAt: answeredAt.toISOString() },
        },
      });
      if (upd.count !== 1) throw gone('answered');
      await audit(tx, {
        actor: 'leaver:exit-survey',
        action: 'exit_survey_answered',
        departureId: r.doc.departureId,
        details: { documentId: r.doc.id, linkId: r.link.id },
      });
    });
    res
      .status(200)
      .type('html')
      .send(page('Thank you', '<h1>Thank you</h1><p>Your answers were saved. We wish you all the best.</p>'));
  });

  // Errors of these pages are pages, not JSON.
  router.use(['/sign', '/survey'], (err: unknown, req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    let e: AppError;
    if (err instanceof AppError) e = err;
    // The router could not decode the token in the path (e.g. `%zz`).
    else if (err instanceof URIError)
      e = new AppError('bad_request', 'This link is not valid. Check that you copied all of it.');
    else if (isBodyParserError(err))
      e =
        err.type === 'entity.too.large'
          ? new AppError('payload_too_large', 'The form was too large.')
          : err.status === 415
            ? new AppError(
                'unsupported_media_type',
                'The form was sent in a charset or encoding this page does not read.',
              )
            : new AppError('bad_request', 'The form could not be read.');
    else {
      ((res.locals.log as Logger | undefined) ?? logger).error(
        { err, path: req.baseUrl },
        'public page failed',
      );
      e = new AppError('internal', 'Something went wrong on our side. Please try again later.');
    }
    const status = httpStatusFor(e.code);
    const heading =
      status === 404
        ? 'Link not found'
        : status === 410
          ? e.details?.reason === 'expired'
            ? 'Link expired'
            : 'Link already used'
          : status >= 500
            ? 'Something went wrong'
            : status === 429
              ? 'Too many requests'
              : 'Request not accepted';
    res
      .status(status)
      .type('html')
      .send(page(heading, `<h1>${escapeHtml(heading)}</h1><p>${escapeHtml(e.message)}</p>`));
  });

  return router;
}

/**
 * An error of reading the body: a 4xx status set by the body parser (a body that does not inflate is a
 * zlib error with status 400 and no `type`).
 */
function isBodyParserError(e: unknown): e is { type?: string; message: string; status: number } {
  const status = typeof e === 'object' && e !== null && 'status' in e ? e.status : undefined;
  return typeof status === 'number' && status >= 400 && status < 500;
}

/**
 * Refuses a form body no browser sends (the body parser would keep `%zz` undecoded, or turn bytes that
 * are not UTF-8 into U+FFFD, and the page would store either as typed): a `%` not followed by two hex
 * digits, or, in UTF-8, raw or percent-encoded bytes that are not UTF-8 (encoded surrogates included).
 */
function verifyFormBody(_req: unknown, _res: unknown, buf: Buffer, encoding: string): void {
  const raw = buf.toString('latin1');
  const bytes = () =>
    Buffer.from(
      raw.replace(/%([0-9a-f]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))),
      'latin1',
    );
  if (/%(?![0-9a-f]{2})/i.test(raw) || (encoding === 'utf-8' && !isUtf8(bytes())))
    throw new AppError('bad_request', 'The form could not be read: it is not valid percent-encoded UTF-8.');
}
