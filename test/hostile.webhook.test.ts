/**
 * Hostile input at the HRIS webhook, as fast-check properties against the real API and PostgreSQL
 * (PRODUCT.md, "Bars it must clear": every bad input gets a clear error and changes nothing). Random
 * bytes and JSON, events with one field broken, wrong content types, oversized bodies, every part of
 * the signature tampered with, clock skew, replayed ids: each answer is a 4xx naming the problem (never
 * a 5xx), only the refusal is logged (TriggerEvent `rejected`/`invalid`, no payload, no idempotency
 * key), no departure is stored and no workflow starts. The properties that accept events run last.
 * A refusal no valid signature vouches for (`rejected`) is counted per sender, reason and hour and kept
 * as a row only within REJECTED_SAMPLES_PER_HOUR, which this file sets high enough to keep every one.
 *
 * No worker: accepted departures start workflows that wait on this stack's own task queue. A failing
 * property prints its seed and shrunk counterexample; replay it with `fc.assert(..., { seed, path })`.
 */
import fc from 'fast-check';
import { Webhook } from 'standardwebhooks';
import { signDelivery } from '../lib/webhook-sign';
import type { RunningServer } from '../server/main';
import { errorOf, rawRequest } from './support/hostile';
import { WEBHOOK_SECRET, hrisEvent, post, startApi, startStack, uniq, type Stack } from './support/harness';

let stack: Stack;
let api: RunningServer;

beforeAll(async () => {
  stack = await startStack();
  // Every refusal here is checked for its sample row: keep them all (by default only the first 20 per
  // sender, reason and hour are kept, the rest counted: test/abuse.test.ts).
  api = await startApi(stack, { REJECTED_SAMPLES_PER_HOUR: '10000' });
});
afterAll(async () => {
  await api?.close();
  await stack?.stop();
});

/** WEBHOOK_MAX_BODY_BYTES's default (startApi does not set it). */
const MAX_BODY = 262_144;
const url = () => `${api.url}/webhooks/hris`;
type Json = Record<string, unknown>;

async function send(body: string | Buffer, headers: Record<string, string>) {
  const res = await fetch(url(), { method: 'POST', body, headers });
  const text = await res.text();
  let json: Json | null = null;
  try {
    json = JSON.parse(text) as Json;
  } catch {
    /* not JSON */
  }
  return { status: res.status, json, text };
}

async function workflowExists(employeeId: string): Promise<boolean> {
  try {
    await stack.client.workflow.getHandle(`offboarding:${employeeId}`).describe();
    return true;
  } catch {
    return false;
  }
}

/** What a refused delivery must leave untouched. */
async function state() {
  const [departures, audits, messages, keyed, workflowsStarted] = await Promise.all([
    stack.db.departure.count(),
    stack.db.auditEvent.count(),
    stack.db.workflowMessage.count(),
    stack.db.triggerEvent.count({ where: { idempotencyKey: { not: null } } }),
    stack.db.departure.count({ where: { workflowStartedAt: { not: null } } }),
  ]);
  return { departures, audits, messages, keyed, workflowsStarted };
}

/** Runs a property and checks that nothing but refusal log rows changed. */
async function changesNothing(property: () => Promise<void>): Promise<void> {
  const before = await state();
  await property();
  expect(await state()).toEqual(before);
}

/** The delivery was logged as refused (before it was answered) and nothing of it kept. */
async function expectRefusalLogged(webhookId: string, outcome: 'rejected' | 'invalid', signature?: string) {
  const rows = await stack.db.triggerEvent.findMany({ where: { webhookId } });
  expect(rows.length).toBeGreaterThanOrEqual(1);
  for (const row of rows)
    expect(row).toMatchObject({
      outcome,
      payload: null,
      idempotencyKey: null,
      departureId: null,
      ...(signature ? { signatureResult: signature } : {}),
    });
}

// ------------------------------------------------------------------ generators

const asciiText = (maxLength: number) => fc.string({ unit: 'grapheme-ascii', maxLength });
/** A value of another JSON type than a string. */
const notAString = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant([]),
  fc.array(asciiText(5), { minLength: 1, maxLength: 3 }),
  fc.dictionary(asciiText(5), asciiText(5), { maxKeys: 3 }),
);
/** A JSON value that is not an object (for `employee`). */
const notAnObject = fc.oneof(
  fc.integer(),
  fc.boolean(),
  asciiText(10),
  fc.array(fc.integer(), { maxLength: 3 }),
);
/** Text with a NUL or an unpaired surrogate somewhere (PostgreSQL cannot store either). */
const unstorableText = fc
  .tuple(asciiText(20), fc.constantFrom('\u0000', '\ud800', '\udbff', '\udc00', '\udfff'), asciiText(20))
  .map(([a, bad, b]) => `Name ${a}${bad}${b}`);
const notAnEmail = fc.oneof(
  fc.constantFrom('not-an-email', 'a@', '@example.com', 'a b@example.com', 'a@@example.com', 'a@example', ''),
  asciiText(40).filter((s) => !s.includes('@')),
);
const longEmail = fc.integer({ min: 243, max: 2000 }).map((n) => `${'a'.repeat(n)}@example.com`);
/** Instants the schema must refuse: malformed, impossible, without an offset, or outside 1900-9999. */
const badInstant = fc.oneof(
  fc.constantFrom(
    'yesterday',
    '',
    '2026-02-30T00:00:00Z',
    '2026-02-29T12:00:00Z',
    '2026-13-01T00:00:00Z',
    '2026-11-25T24:00:00Z',
    '2026-11-25T23:59:60Z',
    '2026-11-25 14:00:00Z',
    '2026-11-25T14:00:00',
    '2026-11-25',
    '0000-01-01T00:00:00Z',
    '1899-12-31T23:59:59Z',
    '9999-12-31T23:59:59-23:59',
  ),
  fc
    .date({ noInvalidDate: true })
    .filter((d) => d.getUTCFullYear() < 1900 || d.getUTCFullYear() > 9999)
    .map((d) => d.toISOString()),
  asciiText(30).filter((s) => !/^\d{4}-/.test(s)),
);
const badDate = fc.constantFrom(
  '2026-02-30',
  '2026-04-31',
  '25.11.2026',
  '2026-11-25T00:00:00Z',
  'tomorrow',
  '20261125',
  '0000-01-01',
  '',
);
const notIn = (allowed: readonly string[]) => asciiText(20).filter((s) => !allowed.includes(s));
const badEmployeeId = fc.oneof(
  fc.constantFrom('', ' E-1', '-E1', '.E1', 'E 1', 'E/1', 'E\u00e91', 'E1\u0000', 'A'.repeat(65)),
  asciiText(30).filter((s) => !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(s) || s.length > 64),
);

const DELETE = Symbol('delete');
interface Mutation {
  /** The field changed, as the API names it in `fields`. */
  field: string;
  kind: string;
  value: unknown;
}
const set = (field: string, kind: string, value: fc.Arbitrary<unknown>) =>
  value.map((v): Mutation => ({ field, kind, value: v }));

const EMAILS = [
  'employee.workEmail',
  'employee.personalEmail',
  'employee.managerEmail',
  'employee.departmentHeadEmail',
];
const REQUIRED_STRINGS = [
  'type',
  'occurredAt',
  'employee.id',
  'employee.name',
  'employee.workEmail',
  'employee.department',
  'employee.workLocation',
  'status',
  'termination.type',
  'termination.confirmedAt',
];
/** One field of a valid event broken in one way; every one must be refused naming that field. */
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc
    .constantFrom(...REQUIRED_STRINGS)
    .chain((f) => set(f, 'wrong type', fc.oneof(notAString, fc.constant(null)))),
  fc.constantFrom(...EMAILS, 'termination.lastDay').chain((f) => set(f, 'wrong type', notAString)),
  fc.constantFrom('employee', 'termination').chain((f) => set(f, 'wrong type', notAnObject)),
  fc
    .constantFrom(...REQUIRED_STRINGS, 'employee', 'termination')
    .map((f) => ({ field: f, kind: 'missing', value: DELETE })),
  set('termination', 'null for a trigger status', fc.constant(null)),
  set('employee.id', 'invalid', badEmployeeId),
  fc.constantFrom('employee.name', 'employee.department').chain((f) =>
    fc.oneof(
      set(
        f,
        'too long',
        fc.integer({ min: 201, max: 5000 }).map((n) => 'x'.repeat(n)),
      ),
      set(f, 'blank', fc.constantFrom('', ' ', '\t\n ')),
      set(f, 'unstorable', unstorableText),
    ),
  ),
  fc
    .constantFrom(...EMAILS)
    .chain((f) => fc.oneof(set(f, 'bad email', notAnEmail), set(f, 'too long', longEmail))),
  fc.constantFrom('occurredAt', 'termination.confirmedAt').chain((f) => set(f, 'bad instant', badInstant)),
  set('termination.lastDay', 'bad date', badDate),
  set('type', 'unknown enum', notIn(['employee.status_changed'])),
  set(
    'status',
    'unknown enum',
    notIn(['terminated', 'resigned_confirmed', 'pending_resignation', 'active', 'termination_rescinded']),
  ),
  set('employee.workLocation', 'unknown enum', notIn(['remote', 'in_office', 'hybrid'])),
  set('termination.type', 'unknown enum', notIn(['voluntary', 'involuntary'])),
);

function apply(event: Json, m: Mutation): Json {
  const copy = structuredClone(event);
  const path = m.field.split('.');
  let target = copy;
  for (const p of path.slice(0, -1)) target = target[p] as Json;
  const last = path.at(-1)!;
  if (m.value === DELETE) delete target[last];
  else target[last] = m.value;
  return copy;
}

/** Replaces the character at `index` of `s` by `replacement` (a different one). */
const flip = (s: string, index: number, replacement: string) =>
  s.slice(0, index) + replacement + s.slice(index + 1);

// ------------------------------------------------------------------ refused: body

test('arbitrary bytes, correctly signed: 400 (not JSON or not an event), never 5xx, nothing kept', async () => {
  await changesNothing(() =>
    fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), async (bytes) => {
        const body = Buffer.from(bytes);
        // The Standard Webhooks library signs the body as text (UTF-8 decoded), as the server verifies it.
        const d = signDelivery(WEBHOOK_SECRET, body.toString('utf8'));
        const r = await send(body, d.headers);
        expect(r.status).toBe(400);
        const e = errorOf(r.json);
        expect(['bad_request', 'validation_failed']).toContain(e.code);
        expect(e.fields?.length).toBeGreaterThan(0);
        await expectRefusalLogged(d.headers['webhook-id']!, 'invalid', 'valid');
      }),
      { numRuns: 60 },
    ),
  );
});

test('arbitrary bytes and headers, unsigned: 401, never 5xx, nothing kept', async () => {
  const header = fc.oneof(fc.constant(''), asciiText(60), fc.string({ unit: 'binary-ascii', maxLength: 60 }));
  await changesNothing(() =>
    fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 2048 }),
        fc.record(
          {
            'webhook-id': header,
            'webhook-timestamp': fc.oneof(header, fc.integer().map(String)),
            'webhook-signature': fc.oneof(
              header,
              header.map((s) => `v1,${s}`),
            ),
          },
          { requiredKeys: [] },
        ),
        async (bytes, headers) => {
          // fetch refuses control characters in header values; the raw client sends them as they are.
          const r = await rawRequest(api.url, {
            method: 'POST',
            path: '/webhooks/hris',
            headers: [['content-type', 'application/json'], ...Object.entries(headers)],
            body: Buffer.from(bytes),
          });
          // 400 only from Node's HTTP parser, for a header value no HTTP client may send.
          if (r.status === 400 && r.json === null) {
            // eslint-disable-next-line no-control-regex -- control characters are the point here
            expect(Object.values(headers).join('')).toMatch(/[\x00-\x08\x0a-\x1f\x7f]/);
            return;
          }
          expect(r.status).toBe(401);
          expect(errorOf(r.json).code).toBe('signature_invalid');
        },
      ),
      { numRuns: 60 },
    ),
  );
});

test('arbitrary JSON, correctly signed: 400 with field errors', async () => {
  await changesNothing(() =>
    fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 4 }), async (value) => {
        const d = signDelivery(WEBHOOK_SECRET, JSON.stringify(value));
        const r = await send(d.body, d.headers);
        expect(r.status).toBe(400);
        const e = errorOf(r.json);
        expect(e.code).toBe('validation_failed');
        expect(e.fields!.length).toBeGreaterThan(0);
        await expectRefusalLogged(d.headers['webhook-id']!, 'invalid', 'valid');
      }),
      { numRuns: 60 },
    ),
  );
});

test('an event with one field broken (wrong type, missing, too long, bad email, bad date, unknown enum, unstorable text): 400 naming that field, no departure, no workflow', async () => {
  await changesNothing(() =>
    fc.assert(
      fc.asyncProperty(mutation, async (m) => {
        const id = uniq('HW');
        const event = apply(hrisEvent(id) as unknown as Json, m);
        const d = signDelivery(WEBHOOK_SECRET, event);
        const r = await send(d.body, d.headers);
        expect({ mutation: m.kind, status: r.status }).toEqual({ mutation: m.kind, status: 400 });
        const e = errorOf(r.json);
        expect(e.code).toBe('validation_failed');
        expect(e.fields!.map((f) => f.field)).toContain(m.field);
        await expectRefusalLogged(d.headers['webhook-id']!, 'invalid', 'valid');
        expect(await stack.db.departure.count({ where: { employeeId: id } })).toBe(0);
        expect(await workflowExists(id)).toBe(false);
      }),
      { numRuns: 150 },
    ),
  );
});

test('a signed body in a content type other than JSON: 415 (after the signature is checked), nothing kept', async () => {
  const token = fc.stringMatching(/^[a-z][a-z0-9.+-]{0,15}$/);
  const contentType = fc.oneof(
    fc.constantFrom(
      'text/plain',
      'text/plain; charset=utf-8',
      'text/json',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=xyz',
      'application/xml',
      'application/x-json',
      'application/jsonl',
      'application/json5',
      'application/ld+jsonp',
      '*/*',
      'json',
      'application',
    ),
    fc
      .tuple(token, token)
      .filter(([, sub]) => !sub.includes('json'))
      .map(([t, sub]) => `${t}/${sub}`),
    fc.constant(null), // no content-type at all
  );
  await changesNothing(() =>
    fc.assert(
      fc.asyncProperty(contentType, async (ct) => {
        const id = uniq('HW');
        const d = signDelivery(WEBHOOK_SECRET, hrisEvent(id));
        const headers = Object.entries(d.headers).filter(([k]) => k !== 'content-type');
        const r = await rawRequest(api.url, {
          method: 'POST',
          path: '/webhooks/hris',
          headers: ct === null ? headers : [...headers, ['content-type', ct]],
          body: d.body,
        });
        expect({ ct, status: r.status }).toEqual({ ct, status: 415 });
        expect(errorOf(r.json).code).toBe('unsupported_media_type');
        await expectRefusalLogged(d.headers['webhook-id']!, 'invalid', 'valid');
        expect(await stack.db.departure.count({ where: { employeeId: id } })).toBe(0);
      }),
      { numRuns: 30 },
    ),
  );
});

test('a body over WEBHOOK_MAX_BODY_BYTES: 413 before it is read, the refusal logged; one of exactly the limit is read', async () => {
  await changesNothing(() =>
    fc.assert(
      fc.asyncProperty(fc.integer({ min: MAX_BODY + 1, max: 4 * MAX_BODY }), async (size) => {
        const id = uniq('HW');
        const event = hrisEvent(id) as unknown as Json;
        const bare = JSON.stringify({ ...event, padding: '' });
        const d = signDelivery(WEBHOOK_SECRET, { ...event, padding: 'x'.repeat(size - bare.length) });
        expect(Buffer.byteLength(d.body)).toBe(size);
        const r = await send(d.body, d.headers);
        expect(r.status).toBe(413);
        const e = errorOf(r.json);
        expect(e).toMatchObject({ code: 'payload_too_large', message: `body exceeds ${MAX_BODY} bytes` });
        await expectRefusalLogged(d.headers['webhook-id']!, 'rejected');
        expect(await stack.db.departure.count({ where: { employeeId: id } })).toBe(0);
      }),
      { numRuns: 8 },
    ),
  );
  // The boundary: exactly the limit is read and verified (a non-trigger status: nothing starts).
  const event = hrisEvent(uniq('HW'), { status: 'active' }) as unknown as Json;
  const bare = JSON.stringify({ ...event, padding: '' });
  const d = signDelivery(WEBHOOK_SECRET, { ...event, padding: 'x'.repeat(MAX_BODY - bare.length) });
  expect(Buffer.byteLength(d.body)).toBe(MAX_BODY);
  const r = await send(d.body, d.headers);
  expect(r.status).toBe(200);
  expect(r.json).toMatchObject({ action: 'ignored' });
});

// ------------------------------------------------------------------ refused: signature

/** A valid delivery of a confirmed termination for a new employee (it would start an offboarding). */
function trigger() {
  const id = uniq('HW');
  return { id, d: signDelivery(WEBHOOK_SECRET, hrisEvent(id)) };
}

async function expectSignatureRefused(
  id: string,
  headers: Record<string, string>,
  body: string | Buffer,
  result?: 'invalid' | 'stale' | 'missing',
) {
  const r = await send(body, headers);
  expect(r.status).toBe(401);
  expect(errorOf(r.json).code).toBe('signature_invalid');
  await expectRefusalLogged(headers['webhook-id']!, 'rejected', result);
  expect(await stack.db.departure.count({ where: { employeeId: id } })).toBe(0);
  expect(await workflowExists(id)).toBe(false);
}

test('one character of the signature changed: 401', async () => {
  await changesNothing(() =>
    fc.assert(
      fc.asyncProperty(fc.nat(), fc.integer({ min: 0x21, max: 0x7e }), async (at, code) => {
        const { id, d } = trigger();
        const sig = d.headers['webhook-signature']!;
        const i = at % sig.length;
        fc.pre(sig[i] !== String.fromCharCode(code));
        const changed = flip(sig, i, String.fromCharCode(code));
        await expectSignatureRefused(id, { ...d.headers, 'webhook-signature': changed }, d.body);
      }),
      { numRuns: 30 },
    ),
  );
});

test('one byte of the body changed (to any byte): 401', async () => {
  await changesNothing(() =>
    fc.assert(
      fc.asyncProperty(fc.nat(), fc.integer({ min: 0, max: 255 }), async (at, byte) => {
        const { id, d } = trigger();
        const body = Buffer.from(d.body);
        const i = at % body.length;
        fc.pre(body[i] !== byte);
        body[i] = byte;
        await expectSignatureRefused(id, d.headers, body, 'invalid');
      }),
      { numRuns: 30 },
    ),
  );
});

test('one character of the webhook-id changed: 401', async () => {
  await changesNothing(() =>
    fc.assert(
      fc.asyncProperty(fc.nat(), fc.integer({ min: 0x21, max: 0x7e }), async (at, code) => {
        const { id, d } = trigger();
        const wid = d.headers['webhook-id']!;
        const i = at % wid.length;
        fc.pre(wid[i] !== String.fromCharCode(code));
        await expectSignatureRefused(
          id,
          { ...d.headers, 'webhook-id': flip(wid, i, String.fromCharCode(code)) },
          d.body,
        );
      }),
      { numRuns: 30 },
    ),
  );
});

test('one character of the webhook-timestamp changed: 401', async () => {
  await changesNothing(() =>
    fc.assert(
      fc.asyncProperty(fc.nat(), fc.integer({ min: 0x21, max: 0x7e }), async (at, code) => {
        const { id, d } = trigger();
        const ts = d.headers['webhook-timestamp']!;
        const i = at % ts.length;
        fc.pre(ts[i] !== String.fromCharCode(code));
        await expectSignatureRefused(
          id,
          { ...d.headers, 'webhook-timestamp': flip(ts, i, String.fromCharCode(code)) },
          d.body,
        );
      }),
      { numRuns: 30 },
    ),
  );
});

test('clock skew beyond ±5 minutes, even correctly signed: 401 stale', async () => {
  const year = 365 * 24 * 3600;
  await changesNothing(() =>
    fc.assert(
      fc.asyncProperty(fc.integer({ min: 310, max: 10 * year }), fc.boolean(), async (skew, future) => {
        const id = uniq('HW');
        const d = signDelivery(WEBHOOK_SECRET, hrisEvent(id), {
          timestamp: new Date(Date.now() + (future ? skew : -skew) * 1000),
        });
        const r = await send(d.body, d.headers);
        expect(r.status).toBe(401);
        expect(errorOf(r.json).message).toMatch(/5-minute tolerance/);
        await expectRefusalLogged(d.headers['webhook-id']!, 'rejected', 'stale');
        expect(await stack.db.departure.count({ where: { employeeId: id } })).toBe(0);
      }),
      { numRuns: 30 },
    ),
  );
});

/** Signature entries that must not verify (other keys, other versions, garbage). */
const bogusEntry = fc.oneof(
  fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => `v1,${Buffer.from(b).toString('base64')}`),
  fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => `v1a,${Buffer.from(b).toString('base64')}`),
  fc.constantFrom('v1,', 'v1', ',', 'v2,abc', 'v1,=', 'V1,AAAA'),
  fc.stringMatching(/^[A-Za-z0-9+/=,]{1,60}$/),
);

test('several signature entries: accepted when one of them is valid (key rotation), 401 when none is', async () => {
  const otherKey = `whsec_${Buffer.from('a-retired-key-a-retired-key-0123').toString('base64')}`;
  await fc.assert(
    fc.asyncProperty(fc.array(bogusEntry, { maxLength: 6 }), fc.nat(), async (bogus, at) => {
      // A non-trigger status: a delivery that verifies is logged and answered "ignored", nothing starts.
      const event = hrisEvent(uniq('HW'), { status: 'active' });
      const d = signDelivery(WEBHOOK_SECRET, event);
      const [valid] = d.headers['webhook-signature']!.split(' ');
      const retired = new Webhook(otherKey).sign(d.headers['webhook-id']!, new Date(), d.body);
      const entries = [...bogus, retired];
      // Refused first: a refused delivery does not take the id, so the genuine one is still accepted.
      const refused = await send(d.body, { ...d.headers, 'webhook-signature': entries.join(' ') });
      expect(refused.status).toBe(401);
      const withValid = [...entries];
      withValid.splice(at % (entries.length + 1), 0, valid!);
      const ok = await send(d.body, { ...d.headers, 'webhook-signature': withValid.join(' ') });
      expect(ok.status).toBe(200);
      expect(ok.json).toMatchObject({ action: 'ignored' });
    }),
    { numRuns: 30 },
  );
});

test('webhook-ids of up to 200 characters are the idempotency key as sent; longer ones get 400 naming the header', async () => {
  const idChar = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c));
  await changesNothing(() =>
    fc.assert(
      fc.asyncProperty(fc.string({ unit: idChar, minLength: 201, maxLength: 4000 }), async (wid) => {
        const id = uniq('HW');
        const d = signDelivery(WEBHOOK_SECRET, hrisEvent(id), { id: wid });
        const r = await send(d.body, d.headers);
        expect(r.status).toBe(400);
        const e = errorOf(r.json);
        expect(e.fields).toEqual([{ field: 'webhook-id', message: 'must be at most 200 characters' }]);
        await expectRefusalLogged(wid.slice(0, 200), 'invalid', 'valid');
        expect(await stack.db.departure.count({ where: { employeeId: id } })).toBe(0);
      }),
      { numRuns: 20 },
    ),
  );
  // Ids that fit are kept whole (a non-trigger status: logged and ignored, nothing starts).
  await fc.assert(
    fc.asyncProperty(fc.string({ unit: idChar, minLength: 1, maxLength: 200 }), async (wid) => {
      const d = signDelivery(WEBHOOK_SECRET, hrisEvent(uniq('HW'), { status: 'active' }), { id: wid });
      const r = await send(d.body, d.headers);
      expect(r.status).toBe(200);
      const row = await stack.db.triggerEvent.findUnique({ where: { idempotencyKey: wid } });
      expect(row).toMatchObject({ webhookId: wid, outcome: 'ignored' });
    }),
    { numRuns: 20 },
  );
});

test('regressions found by these properties: each was a 5xx or a lost event, now a 400 naming the field', async () => {
  const cases: [string, (e: Json) => void, string][] = [
    ['a NUL in the name', (e) => ((e.employee as Json).name = 'Dana\u0000Reyes'), 'employee.name'],
    [
      'an unpaired surrogate',
      (e) => ((e.employee as Json).department = 'Fin\ud800ance'),
      'employee.department',
    ],
    [
      'year 0',
      (e) => ((e.termination as Json).confirmedAt = '0000-01-01T00:00:00Z'),
      'termination.confirmedAt',
    ],
    ['year 10000 by its offset', (e) => (e.occurredAt = '9999-12-31T23:59:59-23:59'), 'occurredAt'],
  ];
  await changesNothing(async () => {
    for (const [name, fn, field] of cases) {
      const event = hrisEvent(uniq('HW')) as unknown as Json;
      fn(event);
      const d = signDelivery(WEBHOOK_SECRET, event);
      const r = await send(d.body, d.headers);
      expect({ name, status: r.status }).toEqual({ name, status: 400 });
      expect(errorOf(r.json).fields!.map((f) => f.field)).toContain(field);
    }
    // Two different 201-character ids with the same first 200 characters: the second was answered as a
    // redelivery of the first (its departure silently lost). Now neither is cut; both are refused.
    const prefix = `msg_${'x'.repeat(196)}`;
    for (const last of ['a', 'b']) {
      const d = signDelivery(WEBHOOK_SECRET, hrisEvent(uniq('HW')), { id: `${prefix}${last}` });
      expect((await send(d.body, d.headers)).status).toBe(400);
    }
  });
});

// ------------------------------------------------------------------ accepted: unknown fields, skew, replays

test('unknown fields are ignored (forward compatible) and never stored; the event is handled as without them', async () => {
  const known = new Set([
    'type',
    'occurredAt',
    'employee',
    'status',
    'termination',
    'id',
    'name',
    'workEmail',
    'personalEmail',
    'department',
    'managerEmail',
    'departmentHeadEmail',
    'workLocation',
    'confirmedAt',
    'lastDay',
  ]);
  const key = asciiText(12).filter((k) => k.length > 0 && !known.has(k) && k !== '__proto__');
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('', 'employee', 'termination'),
      key,
      fc.jsonValue({ maxDepth: 2 }),
      async (where, k, v) => {
        const event = hrisEvent(uniq('HW'), { status: 'active' }) as unknown as Json;
        (where ? (event[where] as Json) : event)[k] = v;
        const d = signDelivery(WEBHOOK_SECRET, event);
        const r = await send(d.body, d.headers);
        expect(r.status).toBe(200);
        expect(r.json).toMatchObject({ action: 'ignored' });
        const row = await stack.db.triggerEvent.findUniqueOrThrow({
          where: { idempotencyKey: d.headers['webhook-id']! },
        });
        const stored = row.payload as Json;
        expect(where ? Object.keys(stored[where] as Json) : Object.keys(stored)).not.toContain(k);
      },
    ),
    { numRuns: 30 },
  );
  // `__proto__` in the JSON text is just another unknown key.
  const id = uniq('HW');
  const body = JSON.stringify(hrisEvent(id, { status: 'active' })).replace(
    '{',
    '{"__proto__":{"status":"terminated"},',
  );
  const d = signDelivery(WEBHOOK_SECRET, body);
  const r = await send(d.body, d.headers);
  expect(r.status).toBe(200);
  expect(r.json).toMatchObject({ action: 'ignored' });
});

test('clock skew within ±5 minutes is tolerated', async () => {
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: -290, max: 290 }), async (skew) => {
      const d = signDelivery(WEBHOOK_SECRET, hrisEvent(uniq('HW'), { status: 'active' }), {
        timestamp: new Date(Date.now() + skew * 1000),
      });
      const r = await send(d.body, d.headers);
      expect({ skew, status: r.status }).toEqual({ skew, status: 200 });
    }),
    { numRuns: 20 },
  );
});

test('a replayed webhook-id with the same body (re-signed or not, in sequence or at once): "duplicate", one departure, one workflow', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.constantFrom('same headers', 're-signed'), { minLength: 1, maxLength: 5 }),
      fc.boolean(),
      async (replays, concurrent) => {
        const id = uniq('HW');
        const event = hrisEvent(id);
        const first = signDelivery(WEBHOOK_SECRET, event);
        const deliveries = [
          first,
          ...replays.map((how) =>
            how === 'same headers'
              ? first
              : signDelivery(WEBHOOK_SECRET, event, { id: first.headers['webhook-id'] }),
          ),
        ];
        let answers: Awaited<ReturnType<typeof post>>[] = [];
        if (concurrent) answers = await Promise.all(deliveries.map((d) => post(url(), d.body, d.headers)));
        else for (const d of deliveries) answers.push(await post(url(), d.body, d.headers));
        expect(answers.map((a) => a.status)).toEqual(deliveries.map(() => 202));
        const actions = answers.map((a) => a.json.action as string).sort();
        expect(actions.filter((a) => a === 'started' || a === 'queued')).toHaveLength(1);
        expect(actions.filter((a) => a === 'duplicate')).toHaveLength(replays.length);
        expect(new Set(answers.map((a) => a.json.departureId)).size).toBe(1);
        expect(await stack.db.departure.count({ where: { employeeId: id } })).toBe(1);
        expect(await workflowExists(id)).toBe(true);
        // Each delivery logged; only the first holds the idempotency key.
        expect(
          await stack.db.triggerEvent.count({ where: { webhookId: first.headers['webhook-id']! } }),
        ).toBe(deliveries.length);
      },
    ),
    { numRuns: 12 },
  );
});

test('a replayed webhook-id with a different body: another employee or status is refused (409, naming the first), another detail is the redelivery of the first ("duplicate"); the second body starts nothing', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('another employee', 'another department', 'another status'),
      async (change) => {
        const id = uniq('HW');
        const first = signDelivery(WEBHOOK_SECRET, hrisEvent(id));
        const a = await post(url(), first.body, first.headers);
        expect(a.status).toBe(202);
        const other = uniq('HW');
        const second =
          change === 'another employee'
            ? hrisEvent(other)
            : change === 'another department'
              ? { ...hrisEvent(id), employee: { ...hrisEvent(id).employee, department: 'Sales' } }
              : hrisEvent(id, { status: 'termination_rescinded' });
        const d = signDelivery(WEBHOOK_SECRET, second, { id: first.headers['webhook-id'] });
        const b = await post(url(), d.body, d.headers);
        if (change === 'another department') {
          expect(b.status).toBe(202);
          expect(b.json).toEqual({ ...a.json, action: 'duplicate' });
        } else {
          expect(b.status).toBe(409);
          expect((b.json.error as { message: string }).message).toMatch(
            new RegExp(`already used for another event \\(employee ${id}, status terminated\\)`),
          );
        }
        expect(await stack.db.departure.count({ where: { employeeId: { in: [id, other] } } })).toBe(1);
        expect(await workflowExists(other)).toBe(false);
        // Nothing of the second body reached the offboarding: no rescission, no change.
        expect(
          await stack.db.workflowMessage.count({ where: { departureId: a.json.departureId as string } }),
        ).toBe(0);
        const dep = await stack.db.departure.findUniqueOrThrow({
          where: { id: a.json.departureId as string },
        });
        expect(dep.department).toBe('Finance');
      },
    ),
    { numRuns: 9 },
  );
});

test('after all of it the server is up, and every workflow on this stack belongs to an accepted departure', async () => {
  const health = await fetch(`${api.url}/health`);
  expect(health.status).toBe(200);
  const departures = new Set(
    (await stack.db.departure.findMany({ select: { workflowId: true } })).map((d) => d.workflowId),
  );
  for await (const w of stack.client.workflow.list({ query: `TaskQueue = '${stack.taskQueue}'` }))
    expect(departures).toContain(w.workflowId);
});
