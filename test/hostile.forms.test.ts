/**
 * Hostile input at the public pages (server/public-pages.ts), as fast-check properties against the real
 * API, PostgreSQL, SMTP catcher and Temporal: the NDA signing page `/sign/<token>` and the exit survey
 * `/survey/<token>`, both without an operator token (the link's token is the credential) and posted as
 * HTML forms (PRODUCT.md, "Bars it must clear": bad input gets a clear error and changes nothing).
 *
 * - Garbled, unknown and wrong-purpose tokens, GET and POST: 404, or 400 for a path that is not valid
 *   percent-encoded UTF-8 or holds a NUL; never 2xx or 5xx.
 * - Expired, replaced and used links: 410 whatever is sent (or the refusal of a body that cannot be read).
 * - Bodies at a live link: one field broken (NUL, unpaired surrogates, control characters, too long,
 *   out-of-range values, missing, renamed or repeated): 400 naming the field; broken percent-encoding
 *   or bytes that are not UTF-8 anywhere, random bytes, JSON sent as a form, too many fields: 400; other
 *   content types and content encodings: 415 (or 400 for a body that does not inflate); above the 32 kB
 *   limit, inflated or not: 413. Each answer is an HTML page, never internals.
 * - A replayed submission after a success, and concurrent submissions: 410, the first one stands.
 * - Every refusal changes nothing: documents (status, signed copy, answers), links (unused), audit rows
 *   and the signals each offboarding workflow got stay as they were; the links that got the hostile input
 *   still work afterwards, and so does signing from the email.
 *
 * No worker: each NDA's offboarding workflow waits on a task queue nobody polls, so its history shows every
 * signal the signing page sent. A failing property prints its seed and counterexample; replay it with
 * `fc.assert(..., { seed, path })`. Properties that post to a live link stop at their first failure
 * without shrinking (`endOnFailure`): a wrongly accepted body uses the link up, and every shrunk retry
 * would then fail for that reason instead.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import fc from 'fast-check';
import { gzipSync } from 'node:zlib';
import type { z } from 'zod';
import { createDocumentActivities, type DocumentActivities } from '../activities/documents';
import { linkTokenSha256 } from '../activities/esign';
import { OFFBOARDING_WORKFLOW } from '../contract';
import type { RunningServer } from '../server/main';
import { LEAVING_REASONS, signForm, surveyForm } from '../server/public-pages';
import { errorOf, rawRequest, type RawAnswer } from './support/hostile';
import {
  createDeparture,
  eventually,
  signNdaFromMail,
  startApi,
  startStack,
  uniq,
  type Stack,
} from './support/harness';

jest.setTimeout(180_000);

let stack: Stack;
let api: RunningServer;
let acts: DocumentActivities;

type Kind = 'sign' | 'survey';
interface Link {
  kind: Kind;
  departureId: string;
  employeeId: string;
  personalEmail: string;
  documentId: string;
  token: string;
  /** Its offboarding workflow, waiting on a queue nobody polls. */
  workflowId: string;
}

/** Offboarding workflows waiting on a queue nobody polls: their histories count the signals. */
const workflows: string[] = [];
const nobody = uniq('tq-nobody');

/** A departure whose offboarding has started (the dispatcher leaves it alone), and its workflow. */
async function leaver() {
  const employeeId = uniq('E-HF');
  const { departureId } = await createDeparture(stack.db, employeeId);
  const d = await stack.db.departure.update({
    where: { id: departureId },
    data: { status: 'running', workflowStartedAt: new Date() },
  });
  // (Under load the client may retry a start the server already took: the workflow is there.)
  await stack.client.workflow
    .start(OFFBOARDING_WORKFLOW, { workflowId: d.workflowId, taskQueue: nobody, args: [{ departureId }] })
    .catch((e: unknown) => {
      if (!(e instanceof WorkflowExecutionAlreadyStartedError)) throw e;
    });
  workflows.push(d.workflowId);
  return { ...d, personalEmail: d.personalEmail! };
}

const TOKEN_IN: Record<Kind, RegExp> = {
  sign: /\/sign\/([A-Za-z0-9_-]{43})/,
  survey: /\/survey\/([A-Za-z0-9_-]{43})/,
};

/** The token of the newest email of `purpose` to `to`, once there are `count` of them. */
async function mailedToken(to: string, kind: Kind, purpose: string, count = 1): Promise<string> {
  const mails = () => stack.mail.to(to).filter((m) => m.purpose === purpose);
  await eventually(async () => mails().length >= count, 30_000, `${count} ${purpose} email(s) to ${to}`);
  return TOKEN_IN[kind].exec(mails().at(-1)!.text)![1]!;
}

/** A departure with an NDA signing link mailed (and its workflow waiting for the signal). */
async function ndaLink(): Promise<Link> {
  const d = await leaver();
  const sent = await acts.sendNdaForSignature({ departureId: d.id });
  const token = await mailedToken(d.personalEmail, 'sign', 'nda_signature_request');
  return { kind: 'sign', ...ids(d), documentId: sent.documentId, token };
}

/** A departure with an exit survey link mailed. */
async function surveyLink(): Promise<Link> {
  const d = await leaver();
  const sent = await acts.sendExitSurvey({ departureId: d.id });
  const token = await mailedToken(d.personalEmail, 'survey', 'exit_survey');
  return { kind: 'survey', ...ids(d), documentId: sent.documentId, token };
}

const ids = (d: { id: string; employeeId: string; personalEmail: string; workflowId: string }) => ({
  departureId: d.id,
  employeeId: d.employeeId,
  personalEmail: d.personalEmail,
  workflowId: d.workflowId,
});

/** Links that get the hostile input and must still work afterwards. */
let live: Record<Kind, Link>;
/** Links that must answer 410 "expired": past their time, ended by the deadline, or replaced. */
let expired: Link[];
/** Links used by a valid submission in the replay test. */
let used: Record<Kind, Link>;

beforeAll(async () => {
  stack = await startStack();
  api = await startApi(stack); // no worker: nothing here may get further than the pages themselves
  acts = createDocumentActivities({
    db: stack.db,
    catalog: stack.catalog,
    mailer: stack.mailer,
    publicUrl: api.url,
  });
  live = { sign: await ndaLink(), survey: await surveyLink() };
  used = { sign: await ndaLink(), survey: await surveyLink() };

  const pastTime = async (link: Link) => {
    await stack.db.accessLink.update({
      where: { tokenSha256: linkTokenSha256(link.token) },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    return link;
  };
  const deadline = await ndaLink();
  expect(await acts.expireNda({ departureId: deadline.departureId })).toMatchObject({ status: 'expired' });
  // A reminder mails a fresh link and ends the one before it.
  const replaced = await ndaLink();
  expect(await acts.remindNda({ departureId: replaced.departureId, reminder: 1 })).toMatchObject({
    reminded: true,
  });
  await mailedToken(replaced.personalEmail, 'sign', 'nda_signature_reminder');
  expired = [await pastTime(await ndaLink()), await pastTime(await surveyLink()), deadline, replaced];
}, 180_000);

afterAll(async () => {
  for (const id of workflows)
    await stack?.client.workflow
      .getHandle(id)
      .terminate('test done')
      .catch(() => undefined);
  await api?.close();
  await stack?.stop();
});

// ------------------------------------------------------------------ state and answers

async function signalsOf(workflowId: string): Promise<number> {
  const history = await stack.client.workflow.getHandle(workflowId).fetchHistory();
  return (history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes).length;
}

/** What a refused request must leave untouched. */
async function state() {
  const db = stack.db;
  const [documents, links, audits, signals] = await Promise.all([
    db.document.findMany({
      orderBy: { id: 'asc' },
      select: { id: true, status: true, sha256: true, completedAt: true, meta: true },
    }),
    db.accessLink.findMany({
      orderBy: { id: 'asc' },
      select: { id: true, usedAt: true, usedFromIp: true, expiresAt: true },
    }),
    db.auditEvent.count(),
    Promise.all(workflows.map(signalsOf)),
  ]);
  return { documents, links, audits, signals };
}

async function changesNothing(property: () => Promise<void>): Promise<void> {
  const before = await state();
  await property();
  expect(await state()).toEqual(before);
}

const FORM = 'application/x-www-form-urlencoded';
/** The pages' body limit (32 kB). */
const FORM_LIMIT = 32 * 1024;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const pathOf = (link: Link) => `/${link.kind}/${link.token}`;

function send(
  method: 'GET' | 'POST',
  path: string,
  opts: { body?: string | Buffer; contentType?: string | null; headers?: [string, string][] } = {},
): Promise<RawAnswer> {
  const headers: [string, string][] = [...(opts.headers ?? [])];
  const ct = opts.contentType === undefined ? FORM : opts.contentType;
  if (opts.body !== undefined && ct !== null) headers.push(['Content-Type', ct]);
  return rawRequest(api.url, { method, path, headers, body: opts.body });
}

const visible = (html: string) =>
  html
    .replace(/<style>[\s\S]*?<\/style>/, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
const headingOf = (html: string) => /<h1>([^<]*)<\/h1>/.exec(html)?.[1] ?? '';

/** Internals that must never reach a page (checked before the form, where no value is echoed). */
const LEAK = /\n\s+at |Prisma|ZodError|TypeError|URIError|ReferenceError|invalid input syntax|jsonb/;

/**
 * An answer of the public pages: one of the `allowed` statuses, as an HTML page with a heading and a
 * plain message (no internals, no "something went wrong"), not cached. Returns the page.
 */
function expectPage(r: RawAnswer, allowed: number[], what = ''): string {
  if (!allowed.includes(r.status) || !/^text\/html/.test(r.headers['content-type'] ?? ''))
    throw new Error(
      `${what}: answered ${r.status} ${r.headers['content-type'] ?? ''} "${visible(r.body).slice(0, 300)}"; expected a page with ${allowed.join('/')}`,
    );
  expect(r.headers['cache-control']).toBe('no-store');
  expect(headingOf(r.body)).not.toBe('');
  const beforeForm = r.body.split('<form')[0]!;
  expect(beforeForm).not.toMatch(LEAK);
  expect(beforeForm).not.toContain('Something went wrong');
  return r.body;
}

/**
 * A refusal by the pages or, for a URL no page route reaches (a NUL in it, extra path segments), by the
 * API in its JSON error shape.
 */
function expectRefused(r: RawAnswer, allowed: number[], what = ''): void {
  if (r.json !== null) {
    if (!allowed.includes(r.status))
      throw new Error(`${what}: answered ${r.status} ${JSON.stringify(r.json).slice(0, 300)}`);
    errorOf(r.json);
  } else expectPage(r, allowed, what);
}

// ------------------------------------------------------------------ forms and their hostile variants

type Pairs = [string, string][];

/** UTF-8 of one code point, lone surrogates included (as WTF-8: what a careless encoder sends). */
function wtf8(cp: number): Buffer {
  if (cp < 0x80) return Buffer.from([cp]);
  if (cp < 0x800) return Buffer.from([0xc0 | (cp >> 6), 0x80 | (cp & 0x3f)]);
  if (cp < 0x10000) return Buffer.from([0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f)]);
  return Buffer.from([
    0xf0 | (cp >> 18),
    0x80 | ((cp >> 12) & 0x3f),
    0x80 | ((cp >> 6) & 0x3f),
    0x80 | (cp & 0x3f),
  ]);
}

/** Percent-encodes like a browser (`+` for a space when `plus`), lone surrogates as `%ED%A0%80` & co. */
function encode(s: string, plus = false): string {
  let out = '';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (cp >= 0xd800 && cp <= 0xdfff)
      out += [...wtf8(cp)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
    else out += plus && ch === ' ' ? '+' : encodeURIComponent(ch);
  }
  return out;
}

const formBody = (pairs: Pairs, plus = false) =>
  pairs.map(([k, v]) => `${encode(k, plus)}=${encode(v, plus)}`).join('&');

interface FormPage {
  kind: Kind;
  /** A valid submission, field by field. */
  valid: Pairs;
  /** The page's own check of a submission. */
  schema: z.ZodType;
  /** Values each field must refuse with a 400 naming it. */
  invalid: Record<string, fc.Arbitrary<string>>;
  /** Fields that may be left out. */
  optional: string[];
}

const ascii = (maxLength: number) => fc.string({ unit: 'grapheme-ascii', maxLength });
/** Text with a NUL or an unpaired surrogate somewhere (PostgreSQL can store neither). */
const unstorable = fc
  .tuple(ascii(10), fc.constantFrom('\u0000', '\ud800', '\udbff', '\udc00', '\udfff'), ascii(10))
  .map(([a, bad, b]) => `Dana ${a}${bad}${b} Reyes`);
/** A name with a control character inside (a text input never sends one; the signed PDF cannot show it). */
const withControl = fc
  .tuple(
    fc.constantFrom(
      '\u0001',
      '\u0008',
      '\t',
      '\n',
      '\r',
      '\u000b',
      '\u001b',
      '\u007f',
      '\u0085',
      '\u009b',
      '\u001b[31m',
    ),
    ascii(10),
  )
  .map(([c, a]) => `Dana${c}Reyes${a}`);
const longText = (min: number, max: number) =>
  fc.tuple(fc.integer({ min, max }), fc.constantFrom('x', 'é', ' x')).map(([n, c]) => `a${c.repeat(n)}`);

const PAGES: Record<Kind, FormPage> = {
  sign: {
    kind: 'sign',
    valid: [
      ['fullName', 'Dana Reyes'],
      ['acknowledge', 'yes'],
    ],
    schema: signForm,
    invalid: {
      fullName: fc.oneof(
        unstorable,
        withControl,
        longText(200, 5000),
        fc.constantFrom('', ' ', 'a', '  a  ', '\u00a0\u00a0', '\u3000x\u3000'),
      ),
      acknowledge: fc.constantFrom(
        '',
        'no',
        'on',
        'YES',
        'Yes',
        'yes ',
        ' yes',
        'true',
        '1',
        'y',
        'yes\u0000',
      ),
    },
    optional: [],
  },
  survey: {
    kind: 'survey',
    valid: [
      ['reason', 'career_growth'],
      ['rating', '4'],
      ['recommend', 'yes'],
      ['comments', 'Good team.'],
    ],
    schema: surveyForm,
    invalid: {
      reason: fc.oneof(
        fc.constantFrom(
          '',
          'OTHER',
          ' other',
          'other\u0000',
          '__proto__',
          'constructor',
          'toString',
          'hasOwnProperty',
        ),
        ascii(20).filter((s) => !Object.keys(LEAVING_REASONS).includes(s)),
      ),
      rating: fc.oneof(
        fc.constantFrom(
          '',
          '0',
          '6',
          '-1',
          '4.0',
          ' 4',
          '4 ',
          '04',
          '+4',
          '1e0',
          'Infinity',
          'NaN',
          '٤',
          '４',
          '3\u0000',
        ),
        fc
          .integer()
          .filter((n) => n < 1 || n > 5)
          .map(String),
      ),
      recommend: fc.constantFrom('', 'Yes', 'YES', 'no ', 'maybe', 'true', 'y', 'on', 'yes\u0000'),
      comments: fc.oneof(unstorable, longText(2000, 25_000)),
    },
    optional: ['comments'],
  },
};

interface Hostile {
  body: Buffer;
  contentType: string | null;
  headers: [string, string][];
  /** The statuses a live link answers. */
  expect: number[];
  /** The field a 400 names, if any; `unreadable`: the body is refused as a whole. */
  field?: string;
  unreadable?: boolean;
}

const hostile = (h: Partial<Omit<Hostile, 'body'>> & { body: Buffer | string }): Hostile => ({
  contentType: FORM,
  headers: [],
  expect: [400],
  ...h,
  body: Buffer.isBuffer(h.body) ? h.body : Buffer.from(h.body),
});

/** One field of a valid submission broken: a value it refuses, left out, renamed or sent twice. */
function brokenField(p: FormPage): fc.Arbitrary<Hostile> {
  const fields = p.valid.map(([k]) => k);
  const required = fields.filter((f) => !p.optional.includes(f));
  const valueOf = (f: string) => p.valid.find(([k]) => k === f)![1];
  const set = (f: string, v: string): Pairs => p.valid.map(([k, x]) => [k, k === f ? v : x]);
  return fc
    .oneof(
      fc.constantFrom(...fields).chain((f) => p.invalid[f]!.map((v) => ({ pairs: set(f, v), field: f }))),
      fc
        .tuple(
          fc.constantFrom(...required),
          fc.constantFrom(null, '[]', '[0]', '[a]', '.x', ' ', 'X', 'UPPER'),
        )
        .map(([f, rename]) => ({
          pairs: p.valid
            .filter(([k]) => k !== f)
            .concat(
              rename === null ? [] : [[rename === 'UPPER' ? f.toUpperCase() : `${f}${rename}`, valueOf(f)]],
            ),
          field: f,
        })),
      fc.tuple(fc.constantFrom(...fields), fc.boolean()).map(([f, same]) => ({
        pairs: [...p.valid, [f, same ? valueOf(f) : 'other']] as Pairs,
        field: f,
      })),
    )
    .chain(({ pairs, field }) =>
      fc.boolean().map((plus) => {
        const body = formBody(pairs, plus);
        // A long value percent-encoded (`é` is `%C3%A9`) may take the body above the limit; an encoded
        // lone surrogate is not UTF-8, so the body is refused as a whole.
        if (Buffer.byteLength(body) > FORM_LIMIT) return hostile({ body, expect: [413] });
        if (pairs.some(([k, v]) => LONE_SURROGATE.test(k + v))) return hostile({ body, unreadable: true });
        return hostile({ body, field });
      }),
    );
}

/** Broken percent-encoding, or bytes that are not UTF-8, at the end of one key or value of a valid body. */
function unreadableBody(p: FormPage): fc.Arbitrary<Hostile> {
  const escape = fc.constantFrom(
    '%',
    '%2',
    '%z',
    '%zz',
    '%%',
    '%G0',
    '%E0%A4%A',
    '%C3',
    '%C3%28',
    '%ED%A0%80', // an encoded lone surrogate
    '%ED%BF%BF',
    '%C0%80', // an overlong NUL
    '%C0%AF',
    '%F4%90%80%80', // above U+10FFFF
    '%FF',
    '%FE%FF',
  );
  const bytes = fc
    .constantFrom(
      [0xff],
      [0xc3],
      [0xc3, 0x28],
      [0xed, 0xa0, 0x80],
      [0xc0, 0x80],
      [0xf4, 0x90, 0x80, 0x80],
      [0x80],
    )
    .map((b) => Buffer.from(b));
  return fc
    .tuple(
      fc.constantFrom(...p.valid.map(([k]) => k)),
      fc.oneof(
        escape.map((s) => Buffer.from(s)),
        bytes,
      ),
      fc.boolean(),
    )
    .map(([f, piece, inKey]) =>
      hostile({
        body: Buffer.concat(
          p.valid.flatMap(([k, v], i) => {
            const sep = Buffer.from(i ? '&' : '');
            if (k !== f) return [sep, Buffer.from(`${encode(k)}=${encode(v)}`)];
            return inKey
              ? [sep, Buffer.from(encode(k)), piece, Buffer.from(`=${encode(v)}`)]
              : [sep, Buffer.from(`${encode(k)}=${encode(v)}`), piece];
          }),
        ),
        unreadable: true,
      }),
    );
}

/** Whether a body would pass the page's check, read as leniently as possible (such bodies are skipped). */
function looksValid(p: FormPage, body: Buffer): boolean {
  const fields: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(body.toString('utf8'))) fields[k] = v;
  return p.schema.safeParse(fields).success;
}

/** Whatever arrives as a form: random bytes and text, JSON, too many fields. */
function randomBody(p: FormPage): fc.Arbitrary<Hostile> {
  const valid = formBody(p.valid);
  return fc
    .oneof(
      fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)),
      fc.string({ unit: 'binary', maxLength: 300 }).map((s) => Buffer.from(s)),
      ascii(300).map((s) => Buffer.from(s)),
      fc
        .dictionary(ascii(12), fc.string({ maxLength: 12 }), { maxKeys: 8 })
        .map((o) => Buffer.from(new URLSearchParams(o).toString())),
      fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v))),
      fc.constant(Buffer.from(JSON.stringify(Object.fromEntries(p.valid)))),
      fc
        .constantFrom('', '=', '&', '&&&', '=&=', '==', '+', '%', valid.replace(/=/g, ':'))
        .map((s) => Buffer.from(s)),
      fc
        .integer({ min: 20, max: 400 })
        .map((n) => Buffer.from(`${valid}&${Array.from({ length: n }, (_, i) => `x${i}=1`).join('&')}`)),
    )
    .filter((b) => !looksValid(p, b))
    .map((body) => hostile({ body }));
}

/**
 * A valid body sent as something else than a form, or in a content encoding it is not in. (A malformed
 * parameter, e.g. `charset="`, is dropped by the parser: the body is read as UTF-8, and must be UTF-8.)
 */
function notAForm(p: FormPage): fc.Arbitrary<Hostile> {
  const valid = formBody(p.valid);
  const json = JSON.stringify(Object.fromEntries(p.valid));
  const type = fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'text/plain',
    'text/plain; charset=utf-8',
    'text/html',
    'multipart/form-data; boundary=x',
    'application/xml',
    'application/octet-stream',
    'application/x-www-form-urlencodedx',
    'application/x-www-form',
    'form',
    '*/*',
    '',
    'application/x-www-form-urlencoded; charset=utf-16',
    'application/x-www-form-urlencoded; charset=koi8-r',
    'application/x-www-form-urlencoded; charset=nonsense',
    null,
  );
  return fc.oneof(
    fc
      .tuple(type, fc.constantFrom(valid, json))
      .map(([contentType, body]) => hostile({ body, contentType, expect: [415] })),
    fc
      .constantFrom(
        'gzip',
        'deflate',
        'br',
        'compress',
        'zstd',
        'x-unknown',
        'gzip, identity',
        'identity, gzip',
      )
      .map((enc) => hostile({ body: valid, headers: [['Content-Encoding', enc]], expect: [400, 415] })),
  );
}

function hostileSubmission(p: FormPage): fc.Arbitrary<Hostile> {
  return fc.oneof(
    { arbitrary: brokenField(p), weight: 4 },
    { arbitrary: unreadableBody(p), weight: 2 },
    { arbitrary: randomBody(p), weight: 2 },
    { arbitrary: notAForm(p), weight: 1 },
  );
}

function post(link: Link, h: Hostile): Promise<RawAnswer> {
  return send('POST', pathOf(link), { body: h.body, contentType: h.contentType, headers: h.headers });
}

const describeBody = (h: Hostile) =>
  `${h.contentType ?? '(no type)'} ${JSON.stringify(h.headers)} ${JSON.stringify(h.body.toString('latin1').slice(0, 200))}`;

/** A live link's answer to a hostile submission: the expected refusal, naming the field if there is one. */
function expectRefusal(r: RawAnswer, h: Hostile): void {
  const html = expectPage(r, h.expect, describeBody(h));
  if (h.field) expect(html).toContain(`href="#${h.field}"`);
  if (h.unreadable) expect(visible(html)).toMatch(/could not be read/);
}

const validBody = (kind: Kind) => formBody(PAGES[kind].valid);

// ------------------------------------------------------------------ tokens

/** A path segment that is no live token of the page: garbled, unknown, broken, very long. */
function garbledSegment(): fc.Arbitrary<string> {
  const real = [live.sign.token, live.survey.token];
  const ALPHABET = 'ABCxyz019_-';
  return fc.oneof(
    fc.stringMatching(/^[A-Za-z0-9_-]{43}$/),
    fc
      .tuple(fc.constantFrom(...real), fc.nat(42), fc.constantFrom(...ALPHABET))
      .map(([t, i, c]) => `${t.slice(0, i)}${t[i] === c ? (c === 'A' ? 'B' : 'A') : c}${t.slice(i + 1)}`),
    fc
      .constantFrom(...real)
      .chain((t) =>
        fc.constantFrom(
          t.slice(0, -1),
          `${t}A`,
          `A${t}`,
          `${t}${t}`,
          t.toUpperCase(),
          t.toLowerCase(),
          `${t}%00`,
          `${t}%zz`,
          `${t}%20`,
          `${t}.`,
          `${t}%E0%A4%A`,
          linkTokenSha256(t),
        ),
      )
      .filter((s) => !real.includes(s)),
    fc.string({ unit: 'grapheme', minLength: 1, maxLength: 60 }).map(encodeURIComponent),
    fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 60 }).map(encodeURIComponent),
    fc.integer({ min: 44, max: 6000 }).map((n) => 'A'.repeat(n)),
    fc.constantFrom(
      '%zz',
      '%',
      '%2',
      '%E0%A4%A',
      '%ED%A0%80',
      '%C0%80',
      '%FF',
      '%00',
      'a%00b',
      '..',
      '.',
      '%2e%2e',
      '..%2F..%2Fetc%2Fpasswd',
      '%2F',
      '%20',
      '+',
      '%25',
      encodeURIComponent('\'; DROP TABLE "AccessLink"; --'),
      'null',
      'undefined',
      '0',
      'A'.repeat(43),
    ),
  );
}

test('garbled, unknown and wrong-purpose tokens, GET and POST on both pages: 404 (400 for a broken URL), never 2xx or 5xx, nothing changes', async () => {
  await changesNothing(() =>
    fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Kind>('sign', 'survey'),
        garbledSegment(),
        fc.constantFrom('', '/', '/x', '?token=x'),
        fc.boolean(),
        fc.constantFrom<'GET' | 'POST'>('GET', 'POST'),
        async (kind, segment, suffix, upper, method) => {
          const path = `/${upper ? kind.toUpperCase() : kind}/${segment}${suffix}`;
          const r = await send(method, path, method === 'POST' ? { body: validBody(kind) } : {});
          expectRefused(r, [400, 404], `${method} ${path.slice(0, 200)}`);
          if (r.status === 404 && r.json === null) expect(headingOf(r.body)).toBe('Link not found');
        },
      ),
      { numRuns: 200 },
    ),
  );
  // A link of one page is no link of the other; a NUL anywhere in the URL is refused before any page.
  await changesNothing(async () => {
    for (const [kind, other] of [
      ['sign', 'survey'],
      ['survey', 'sign'],
    ] as const) {
      const path = `/${other}/${live[kind].token}`;
      expectPage(await send('GET', path), [404], path);
      expectPage(await send('POST', path, { body: validBody(other) }), [404], path);
      const nul = await send('POST', `${pathOf(live[kind])}%00`, { body: validBody(kind) });
      expect(nul.status).toBe(400);
      expect(errorOf(nul.json).code).toBe('bad_request');
    }
  });
});

test('expired, deadline-ended and replaced links: 410 "Link expired" on GET and POST, whatever is sent; nothing changes', async () => {
  await changesNothing(() =>
    fc.assert(
      fc.asyncProperty(
        fc
          .constantFrom(...expired)
          .chain((link) =>
            fc.tuple(
              fc.constant(link),
              fc.oneof(fc.constantFrom('GET', 'valid'), hostileSubmission(PAGES[link.kind])),
            ),
          ),
        async ([link, h]) => {
          if (typeof h === 'string') {
            const r =
              h === 'GET'
                ? await send('GET', pathOf(link))
                : await send('POST', pathOf(link), { body: validBody(link.kind) });
            expect(headingOf(expectPage(r, [410], h))).toBe('Link expired');
            return;
          }
          const r = await post(link, h);
          // A body that cannot be read is refused before the link is looked at.
          const page = expectPage(r, [410, ...h.expect], describeBody(h));
          if (r.status === 410) expect(headingOf(page)).toBe('Link expired');
        },
      ),
      { numRuns: 120 },
    ),
  );
});

// ------------------------------------------------------------------ bodies at a live link

test.each(['sign', 'survey'] as const)(
  'hostile form bodies at a live %s link: a 400/413/415 page (naming the field where there is one), nothing stored, no audit row, no signal',
  async (kind) => {
    const link = live[kind];
    await changesNothing(() =>
      fc.assert(
        fc.asyncProperty(hostileSubmission(PAGES[kind]), async (h) => {
          expectRefusal(await post(link, h), h);
        }),
        { numRuns: 250, endOnFailure: true },
      ),
    );
  },
);

test('bodies above the 32 kB limit, sent as they are or inflating to it: 413 "too large", at live and unknown links alike', async () => {
  await changesNothing(() =>
    fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Kind>('sign', 'survey'),
        fc.integer({ min: FORM_LIMIT + 1, max: 2_000_000 }),
        fc.constantFrom('live', 'unknown'),
        fc.constantFrom('plain', 'gzip', 'random'),
        async (kind, size, which, how) => {
          const [field, rest] =
            kind === 'sign' ? ['fullName', 'acknowledge=yes'] : ['comments', validBody(kind)];
          const big = Buffer.from(`${rest}&${field}=${'x'.repeat(size)}`);
          const body = how === 'random' ? Buffer.alloc(size, 0xff) : how === 'gzip' ? gzipSync(big) : big;
          const path = which === 'live' ? pathOf(live[kind]) : `/${kind}/${'A'.repeat(43)}`;
          const r = await send('POST', path, {
            body,
            headers: how === 'gzip' ? [['Content-Encoding', 'gzip']] : [],
          });
          const page = expectPage(r, [413], `${how} ${size}`);
          expect(visible(page)).toMatch(/too large/);
        },
      ),
      { numRuns: 16, endOnFailure: true },
    ),
  );
});

test('regressions found by these properties: 500s, and malformed input that was signed or stored, are now 4xx pages', async () => {
  const cases: [Kind, string | Buffer, string | null, number, RegExp, [string, string][]?][] = [
    // A NUL reached the database (PostgreSQL refuses it in jsonb): 500.
    ['sign', 'fullName=Dana%00Reyes&acknowledge=yes', FORM, 400, /Full name/],
    ['survey', 'reason=other&rating=3&recommend=no&comments=Good%00team', FORM, 400, /Comments/],
    // Broken percent-encoding was kept undecoded: "Dana%zzReyes" signed; a broken extra key accepted.
    ['sign', 'fullName=Dana%zzReyes&acknowledge=yes', FORM, 400, /could not be read/],
    ['sign', 'fullName=Dana%ED%A0%80&acknowledge=yes', FORM, 400, /could not be read/],
    ['survey', `${validBody('survey')}&x%E0%A4%A=1`, FORM, 400, /could not be read/],
    // Bytes that are not UTF-8 were signed as U+FFFD.
    [
      'sign',
      Buffer.from('fullName=Dana\xff Reyes&acknowledge=yes', 'latin1'),
      FORM,
      400,
      /could not be read/,
    ],
    // A control character was signed: the PDF showed `?` where the record kept the character.
    ['sign', 'fullName=Dana%1BReyes&acknowledge=yes', FORM, 400, /Full name/],
    // JSON (or any body of another type) was read as an empty form: "Full name is required".
    ['sign', '{"fullName":"Dana Reyes","acknowledge":"yes"}', 'application/json', 415, /form/],
    ['survey', validBody('survey'), 'text/plain', 415, /form/],
    // A body that does not inflate (a zlib error, with no body-parser `type`) was a 500.
    ['sign', validBody('sign'), FORM, 400, /could not be read/, [['Content-Encoding', 'gzip']]],
  ];
  await changesNothing(async () => {
    for (const [kind, body, contentType, status, message, headers] of cases) {
      const r = await send('POST', pathOf(live[kind]), { body, contentType, headers });
      const page = expectPage(r, [status], `${kind} ${String(body)}`);
      expect(visible(page)).toMatch(message);
    }
    // A token that is not valid percent-encoding was a 500 page ("Something went wrong").
    for (const path of ['/sign/%zz', '/survey/%E0%A4%A', '/sign/%ED%A0%80', '/survey/abc%C0%80'])
      for (const method of ['GET', 'POST'] as const)
        expectPage(await send(method, path, method === 'POST' ? { body: 'a=1' } : {}), [400], path);
  });
});

// ------------------------------------------------------------------ replays

test('a replayed submission after a success: 410 "Link already used" whatever is sent, the first answers stand; concurrent submissions: exactly one wins', async () => {
  const ok = {
    sign: await send('POST', pathOf(used.sign), {
      body: formBody([
        ['fullName', 'Dana Reyes'],
        ['acknowledge', 'yes'],
      ]),
    }),
    survey: await send('POST', pathOf(used.survey), { body: validBody('survey') }),
  };
  expectPage(ok.sign, [200], 'first signature');
  expectPage(ok.survey, [200], 'first answers');
  await changesNothing(() =>
    fc.assert(
      fc.asyncProperty(
        fc.constantFrom<Kind>('sign', 'survey').chain((kind) =>
          fc.tuple(
            fc.constant(kind),
            fc.oneof(
              fc.constantFrom('GET', 'valid'),
              fc.string({ unit: 'grapheme', minLength: 2, maxLength: 40 }).map((name) =>
                hostile({
                  body: formBody([
                    ['fullName', name],
                    ['acknowledge', 'yes'],
                  ]),
                }),
              ),
              hostileSubmission(PAGES[kind]),
            ),
          ),
        ),
        async ([kind, h]) => {
          if (typeof h === 'string') {
            const r =
              h === 'GET'
                ? await send('GET', pathOf(used[kind]))
                : await send('POST', pathOf(used[kind]), { body: validBody(kind) });
            expect(headingOf(expectPage(r, [410], h))).toBe('Link already used');
            return;
          }
          const r = await post(used[kind], h);
          const page = expectPage(r, [410, ...h.expect], describeBody(h));
          if (r.status === 410) expect(headingOf(page)).toBe('Link already used');
        },
      ),
      { numRuns: 100 },
    ),
  );
  const signed = await stack.db.document.findUniqueOrThrow({ where: { id: used.sign.documentId } });
  expect(signed.status).toBe('signed');
  expect((signed.meta as { signerName: string }).signerName).toBe('Dana Reyes');
  const answered = await stack.db.document.findUniqueOrThrow({ where: { id: used.survey.documentId } });
  expect((answered.meta as { answers: unknown }).answers).toEqual({
    reason: 'career_growth',
    rating: 4,
    recommend: 'yes',
    comments: 'Good team.',
  });
  expect(await signalsOf(used.sign.workflowId)).toBe(1);

  // Six submissions of one link at once: one is signed, the others are told the link is used.
  for (const link of [await ndaLink(), await surveyLink()]) {
    const bodies = Array.from({ length: 6 }, (_, i) =>
      link.kind === 'sign'
        ? formBody([
            ['fullName', `Racer Number ${i}`],
            ['acknowledge', 'yes'],
          ])
        : formBody([
            ['reason', 'other'],
            ['rating', String((i % 5) + 1)],
            ['recommend', 'no'],
          ]),
    );
    const answers = await Promise.all(bodies.map((body) => send('POST', pathOf(link), { body })));
    for (const r of answers) expectPage(r, [200, 410], 'a concurrent submission');
    expect(answers.map((r) => r.status).sort()).toEqual([200, 410, 410, 410, 410, 410]);
    const winner = bodies[answers.findIndex((r) => r.status === 200)]!;
    const doc = await stack.db.document.findUniqueOrThrow({ where: { id: link.documentId } });
    const action = link.kind === 'sign' ? 'nda_signed' : 'exit_survey_answered';
    expect(await stack.db.auditEvent.count({ where: { departureId: link.departureId, action } })).toBe(1);
    if (link.kind === 'sign') {
      expect((doc.meta as { signerName: string }).signerName).toBe(
        new URLSearchParams(winner).get('fullName'),
      );
      expect(await signalsOf(link.workflowId)).toBe(1);
    } else
      expect((doc.meta as { answers: { rating: number } }).answers.rating).toBe(
        Number(new URLSearchParams(winner).get('rating')),
      );
  }
});

// ------------------------------------------------------------------ still up, and valid input kept as typed

test('unusual but valid input (accents, CJK, emoji, markup, percent and plus signs, CRLF) is stored exactly as typed, whichever way it is encoded', async () => {
  const name = fc.oneof(
    fc.constantFrom(
      'Zoë Ørsted-Łukasz',
      '山田 太郎',
      "O'Brien & <b>Co</b>",
      '100% Dana + Reyes',
      'Dana 🙂 Reyes',
      'José%20Ruiz',
      '  Dana Reyes  ',
    ),
    fc.string({ unit: 'grapheme', minLength: 2, maxLength: 60 }),
  );
  const comments = fc.oneof(
    fc.constantFrom('Line one\r\nline two', '50% + 50% = 100%', '<script>alert(1)</script>', 'a&b=c', ''),
    fc.string({ unit: 'grapheme', maxLength: 300 }),
  );
  await fc.assert(
    fc.asyncProperty(
      name.filter((n) => signForm.safeParse({ fullName: n, acknowledge: 'yes' }).success),
      comments.filter(
        (c) => surveyForm.safeParse({ ...Object.fromEntries(PAGES.survey.valid), comments: c }).success,
      ),
      fc.boolean(),
      async (fullName, text, plus) => {
        const nda = await ndaLink();
        const signed = await send('POST', pathOf(nda), {
          body: formBody(
            [
              ['fullName', fullName],
              ['acknowledge', 'yes'],
            ],
            plus,
          ),
        });
        expectPage(signed, [200], `signing as ${JSON.stringify(fullName)}`);
        const doc = await stack.db.document.findUniqueOrThrow({ where: { id: nda.documentId } });
        expect((doc.meta as { signerName: string }).signerName).toBe(fullName.trim());

        const survey = await surveyLink();
        const answers = PAGES.survey.valid.map(([k, v]): [string, string] => [
          k,
          k === 'comments' ? text : v,
        ]);
        expectPage(await send('POST', pathOf(survey), { body: formBody(answers, plus) }), [200], 'answers');
        const stored = await stack.db.document.findUniqueOrThrow({ where: { id: survey.documentId } });
        expect((stored.meta as { answers: { comments: string } }).answers.comments).toBe(
          text.replace(/\r\n/g, '\n').trim(),
        );
      },
    ),
    { numRuns: 6 },
  );
});

test('after all of it the server is up: the live links that got the hostile input still work, and signing from the email works', async () => {
  expect((await fetch(`${api.url}/health`)).status).toBe(200);
  for (const kind of ['sign', 'survey'] as const) {
    const link = live[kind];
    expectPage(await send('GET', pathOf(link)), [200], `GET ${kind}`);
    const auditsBefore = await stack.db.auditEvent.count({ where: { departureId: link.departureId } });
    expectPage(await send('POST', pathOf(link), { body: validBody(kind) }), [200], `POST ${kind}`);
    const doc = await stack.db.document.findUniqueOrThrow({ where: { id: link.documentId } });
    expect(doc.status).toBe(kind === 'sign' ? 'signed' : 'answered');
    expect(await stack.db.auditEvent.count({ where: { departureId: link.departureId } })).toBe(
      auditsBefore + 1,
    );
    if (kind === 'sign') expect(await signalsOf(link.workflowId)).toBe(1);
  }
  const fresh = await leaver();
  await acts.sendNdaForSignature({ departureId: fresh.id });
  await signNdaFromMail(stack, api.url, fresh.employeeId);
  await eventually(
    async () => (await signalsOf(fresh.workflowId)) === 1,
    10_000,
    'the documentSigned signal',
  );
});
