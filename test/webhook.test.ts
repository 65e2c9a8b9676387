/**
 * The HRIS webhook contract (PRODUCT.md): Standard Webhooks signatures, 5-minute tolerance, webhook-id
 * idempotency, status rules, answers and codes; every delivery logged before it is answered; nothing
 * refused starts work; accepted events survive Temporal being down.
 */
import { Webhook } from 'standardwebhooks';
import { signDelivery } from '../lib/webhook-sign';
import type { RunningServer } from '../server/main';
import { freePort } from './support/services';
import {
  TOKENS,
  WEBHOOK_SECRET,
  eventually,
  hrisEvent,
  post,
  startApi,
  startStack,
  uniq,
  type Stack,
} from './support/harness';

let stack: Stack;
let api: RunningServer;

beforeAll(async () => {
  stack = await startStack();
  api = await startApi(stack); // no worker: these tests are about intake, not revocation
});
afterAll(async () => {
  await api?.close();
  await stack?.stop();
});

const url = () => `${api.url}/webhooks/hris`;

async function workflowExists(employeeId: string): Promise<boolean> {
  try {
    await stack.client.workflow.getHandle(`offboarding:${employeeId}`).describe();
    return true;
  } catch {
    return false;
  }
}

async function eventsFor(webhookId: string) {
  return stack.db.triggerEvent.findMany({ where: { webhookId }, orderBy: { createdAt: 'asc' } });
}

test('a confirmed termination is stored, logged and started once', async () => {
  const id = uniq('W');
  const d = signDelivery(WEBHOOK_SECRET, hrisEvent(id));
  const r = await post(url(), d.body, d.headers);
  expect(r.status).toBe(202);
  expect(r.json).toEqual({
    departureId: expect.stringMatching(/^dep_/),
    workflowId: `offboarding:${id}`,
    action: 'started',
  });
  const [ev] = await eventsFor(d.headers['webhook-id']!);
  expect(ev).toMatchObject({
    signatureResult: 'valid',
    outcome: 'started',
    hrisStatus: 'terminated',
    employeeId: id,
  });
  expect(ev!.receivedAt.getTime()).toBeLessThanOrEqual(Date.now());
  expect(await workflowExists(id)).toBe(true);
  const dep = await stack.db.departure.findUniqueOrThrow({ where: { id: r.json.departureId as string } });
  expect(dep.workflowStartedAt).not.toBeNull();
});

test('the stored rows hold what was received, with UTC timestamps whatever the server time zone', async () => {
  // Intake writes a new departure with raw SQL on the pg pool: its timestamps must be the instants the
  // Prisma client reads back. globalSetup runs the suite in a zone far from UTC, where a local-time
  // write is hours off.
  expect(new Date('2026-11-26T00:00:00Z').getTimezoneOffset()).not.toBe(0);
  const id = uniq('WZ');
  const event = hrisEvent(id, { lastDay: '2026-11-25' });
  const d = signDelivery(WEBHOOK_SECRET, event);
  const before = Date.now();
  const r = await post(url(), d.body, d.headers);
  const after = Date.now();
  expect(r.json.action).toBe('started');
  const dep = await stack.db.departure.findUniqueOrThrow({ where: { id: r.json.departureId as string } });
  const body = JSON.parse(d.body) as typeof event;
  expect(dep).toMatchObject({
    employeeId: id,
    employeeName: body.employee.name,
    workEmail: body.employee.workEmail,
    department: body.employee.department,
    workLocation: body.employee.workLocation,
    terminationType: body.termination!.type,
    lastDay: body.termination!.lastDay,
    status: 'started',
    startAttempts: 1,
  });
  expect(dep.confirmedAt.toISOString()).toBe(new Date(body.termination!.confirmedAt).toISOString());
  expect(dep.occurredAt.toISOString()).toBe(new Date(body.occurredAt).toISOString());
  for (const at of [dep.createdAt, dep.updatedAt, dep.workflowStartedAt!]) {
    expect(at.getTime()).toBeGreaterThanOrEqual(before - 5);
    expect(at.getTime()).toBeLessThanOrEqual(after + 5);
  }
  const [ev] = await eventsFor(d.headers['webhook-id']!);
  expect(ev!.receivedAt.getTime()).toBeGreaterThanOrEqual(before - 5);
  expect(ev!.receivedAt.getTime()).toBeLessThanOrEqual(after + 5);
  expect(ev!.payload).toEqual(body);
  expect(ev!.departureId).toBe(dep.id);
  const trail = await stack.db.auditEvent.findMany({
    where: { departureId: dep.id },
    orderBy: { seq: 'asc' },
  });
  expect(trail.map((a) => [a.actor, a.action, a.details])).toEqual([
    [
      'hris',
      'departure_accepted',
      { webhookId: d.headers['webhook-id'], status: 'terminated', terminationType: body.termination!.type },
    ],
    ['hris-webhook', 'workflow_started', { workflowId: `offboarding:${id}` }],
  ]);
  expect(trail[0]!.at.getTime()).toBeGreaterThanOrEqual(before - 5);
  expect(trail[0]!.at.getTime()).toBeLessThanOrEqual(after + 5);
});

test('resigned_confirmed also triggers; the answer carries the departure', async () => {
  const id = uniq('W');
  const d = signDelivery(WEBHOOK_SECRET, hrisEvent(id, { status: 'resigned_confirmed', type: 'voluntary' }));
  const r = await post(url(), d.body, d.headers);
  expect(r.status).toBe(202);
  expect(r.json.action).toBe('started');
});

test.each([
  ['pending_resignation', /pending_resignation is not a confirmed departure/],
  ['active', /does not start an offboarding/],
  ['termination_rescinded', /no offboarding of this employee to rescind/],
])(
  'status %s (for an employee without an offboarding) is logged and ignored, starting nothing',
  async (status, reason) => {
    const id = uniq('W');
    const d = signDelivery(WEBHOOK_SECRET, hrisEvent(id, { status }));
    const r = await post(url(), d.body, d.headers);
    expect(r.status).toBe(200);
    expect(r.json.action).toBe('ignored');
    expect(r.json.reason).toMatch(reason);
    expect(await stack.db.departure.count({ where: { employeeId: id } })).toBe(0);
    expect(await workflowExists(id)).toBe(false);
    const [ev] = await eventsFor(d.headers['webhook-id']!);
    expect(ev).toMatchObject({ outcome: 'ignored', hrisStatus: status });
  },
);

test('a bad signature, a stale or future timestamp and missing headers get 401 and start nothing', async () => {
  const id = uniq('W');
  const good = signDelivery(WEBHOOK_SECRET, hrisEvent(id));
  const wrongKey = signDelivery(
    `whsec_${Buffer.from('another-key-another-key-another').toString('base64')}`,
    hrisEvent(id),
  );
  const stale = signDelivery(WEBHOOK_SECRET, hrisEvent(id), { timestamp: new Date(Date.now() - 6 * 60_000) });
  const future = signDelivery(WEBHOOK_SECRET, hrisEvent(id), {
    timestamp: new Date(Date.now() + 6 * 60_000),
  });
  const tampered = { ...good, body: good.body.replace('Finance', 'Finanse') };
  const cases: [string, { headers: Record<string, string>; body: string }, string][] = [
    ['wrong key', wrongKey, 'invalid'],
    ['stale', stale, 'stale'],
    ['future', future, 'stale'],
    ['tampered body', tampered, 'invalid'],
    ['no signature', { ...good, headers: { ...good.headers, 'webhook-signature': '' } }, 'missing'],
    [
      'timestamp not a number',
      { ...good, headers: { ...good.headers, 'webhook-timestamp': 'yesterday' } },
      'invalid',
    ],
  ];
  const messages: Record<string, RegExp> = {
    'wrong key': /webhook-signature does not match/,
    stale: /outside the 5-minute tolerance/,
    'timestamp not a number': /webhook-timestamp must be a Unix time in seconds/,
  };
  for (const [name, d, result] of cases) {
    const r = await post(url(), d.body, d.headers);
    expect({ name, status: r.status }).toEqual({ name, status: 401 });
    expect(r.json.error).toMatchObject({ code: 'signature_invalid' });
    if (messages[name]) expect((r.json.error as { message: string }).message).toMatch(messages[name]);
    const evs = await eventsFor(d.headers['webhook-id']!);
    expect(evs.at(-1)).toMatchObject({
      signatureResult: result,
      outcome: 'rejected',
      payload: null,
      idempotencyKey: null,
    });
  }
  expect(await stack.db.departure.count({ where: { employeeId: id } })).toBe(0);
  expect(await workflowExists(id)).toBe(false);
  // A forged delivery under a real id does not poison that id: the genuine one is still accepted.
  const forged = signDelivery(
    `whsec_${Buffer.from('forger-key-forger-key-forger-key').toString('base64')}`,
    hrisEvent(id),
    { id: good.headers['webhook-id'] },
  );
  expect((await post(url(), forged.body, forged.headers)).status).toBe(401);
  const ok = await post(url(), good.body, good.headers);
  expect(ok.status).toBe(202);
  expect(ok.json.action).toBe('started');
});

test('key rotation: a delivery signed with old and new keys verifies', async () => {
  const id = uniq('W');
  const d = signDelivery(
    `whsec_${Buffer.from('retired-key-retired-key-retired!').toString('base64')}`,
    hrisEvent(id),
    {
      extraSecrets: [WEBHOOK_SECRET],
    },
  );
  expect(d.headers['webhook-signature']!.split(' ')).toHaveLength(2);
  const r = await post(url(), d.body, d.headers);
  expect(r.status).toBe(202);
});

test('malformed bodies get 400 with field-level errors and start nothing', async () => {
  const id = uniq('W');
  const bad = hrisEvent(id) as Record<string, unknown>;
  (bad.employee as Record<string, unknown>).workEmail = 'not-an-email';
  (bad.employee as Record<string, unknown>).workLocation = 'moon';
  delete bad.occurredAt;
  let d = signDelivery(WEBHOOK_SECRET, bad);
  let r = await post(url(), d.body, d.headers);
  expect(r.status).toBe(400);
  const fields = (r.json.error as { fields: { field: string }[] }).fields.map((f) => f.field).sort();
  expect(fields).toEqual(['employee.workEmail', 'employee.workLocation', 'occurredAt']);
  expect((await eventsFor(d.headers['webhook-id']!))[0]).toMatchObject({
    outcome: 'invalid',
    signatureResult: 'valid',
  });

  // A terminated status without termination details.
  const noTermination = { ...hrisEvent(id), termination: undefined };
  d = signDelivery(WEBHOOK_SECRET, noTermination);
  r = await post(url(), d.body, d.headers);
  expect(r.status).toBe(400);
  expect((r.json.error as { fields: { field: string; message: string }[] }).fields[0]).toMatchObject({
    field: 'termination',
  });

  // Signed but not JSON.
  d = signDelivery(WEBHOOK_SECRET, '{"type": "employee.status_changed",');
  r = await post(url(), d.body, d.headers);
  expect(r.status).toBe(400);
  expect(r.json.error).toMatchObject({ code: 'bad_request' });

  // Wrong content type.
  d = signDelivery(WEBHOOK_SECRET, hrisEvent(id));
  r = await post(url(), d.body, { ...d.headers, 'content-type': 'text/plain' });
  expect(r.status).toBe(415);

  // Oversized body: refused before it is read, and logged.
  const huge = signDelivery(WEBHOOK_SECRET, { ...hrisEvent(id), padding: 'x'.repeat(300_000) });
  r = await post(url(), huge.body, huge.headers);
  expect(r.status).toBe(413);
  expect((await eventsFor(huge.headers['webhook-id']!))[0]).toMatchObject({ outcome: 'rejected' });

  expect(await stack.db.departure.count({ where: { employeeId: id } })).toBe(0);
  expect(await workflowExists(id)).toBe(false);
});

test('a redelivered event and a double submission start nothing new', async () => {
  const id = uniq('W');
  const event = hrisEvent(id);
  const d = signDelivery(WEBHOOK_SECRET, event);
  const first = await post(url(), d.body, d.headers);
  expect(first.json.action).toBe('started');
  // Redelivery: same webhook-id (re-signed with a new timestamp, as senders do).
  const again = signDelivery(WEBHOOK_SECRET, event, { id: d.headers['webhook-id'] });
  const second = await post(url(), again.body, again.headers);
  expect(second.status).toBe(202);
  expect(second.json).toEqual({ ...first.json, action: 'duplicate' });
  // Double submission: a new webhook-id for the same termination.
  const other = signDelivery(WEBHOOK_SECRET, event);
  const third = await post(url(), other.body, other.headers);
  expect(third.json).toEqual({ ...first.json, action: 'duplicate' });
  // Concurrent duplicates.
  const burst = await Promise.all(
    Array.from({ length: 8 }, () => {
      const x = signDelivery(WEBHOOK_SECRET, event);
      return post(url(), x.body, x.headers);
    }),
  );
  expect(burst.map((b) => b.json.action)).toEqual(Array(8).fill('duplicate'));
  expect(await stack.db.departure.count({ where: { employeeId: id } })).toBe(1);
  const runs = [];
  for await (const w of stack.client.workflow.list({ query: `WorkflowId = 'offboarding:${id}'` }))
    runs.push(w);
  expect(runs).toHaveLength(1);
  const logged = await stack.db.triggerEvent.findMany({ where: { employeeId: id } });
  expect(logged.map((e) => e.outcome).sort()).toEqual(
    ['duplicate', ...Array(9).fill('duplicate'), 'started'].sort(),
  );
});

test('the same termination re-sent with a personal email it lacked fills it in ("updated"); sent again it is a duplicate', async () => {
  const id = uniq('W');
  const event = hrisEvent(id);
  const { personalEmail, ...withoutPersonal } = event.employee;
  const d = signDelivery(WEBHOOK_SECRET, { ...event, employee: withoutPersonal });
  const first = await post(url(), d.body, d.headers);
  expect(first.json.action).toBe('started');
  const departureId = first.json.departureId as string;
  expect(
    (await stack.db.departure.findUniqueOrThrow({ where: { id: departureId } })).personalEmail,
  ).toBeNull();
  // The HRIS corrects its record and sends the termination again (a new webhook-id).
  const corrected = signDelivery(WEBHOOK_SECRET, event);
  const second = await post(url(), corrected.body, corrected.headers);
  expect(second.status).toBe(202);
  expect(second.json).toEqual({ ...first.json, action: 'updated' });
  expect((await stack.db.departure.findUniqueOrThrow({ where: { id: departureId } })).personalEmail).toBe(
    personalEmail,
  );
  const audit = await stack.db.auditEvent.findFirstOrThrow({
    where: { departureId, action: 'contact_updated' },
  });
  expect(audit.details).toMatchObject({ changes: { personalEmail: { from: null, to: personalEmail } } });
  // The running offboarding is told which field changed (never the address), to send again what
  // failed for want of it.
  // (Delivered while answering; on a loaded machine the dispatcher may deliver it a moment later.)
  const message = await eventually(
    () =>
      stack.db.workflowMessage.findFirst({
        where: { departureId, kind: 'contactUpdated', status: 'delivered' },
      }),
    30_000,
    'contactUpdated delivered',
  );
  expect(message).toMatchObject({
    status: 'delivered',
    payload: { fields: ['personalEmail'], source: `hris:${corrected.headers['webhook-id']}` },
  });
  expect(JSON.stringify(message.payload)).not.toContain(personalEmail);
  const history = await stack.client.workflow.getHandle(`offboarding:${id}`).fetchHistory();
  expect(
    history.events?.filter(
      (e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'contactUpdated',
    ),
  ).toHaveLength(1);
  // Nothing new to fill in: a duplicate; an address left out is not erased.
  const again = signDelivery(WEBHOOK_SECRET, event);
  expect((await post(url(), again.body, again.headers)).json.action).toBe('duplicate');
  const omitted = signDelivery(WEBHOOK_SECRET, { ...event, employee: withoutPersonal });
  expect((await post(url(), omitted.body, omitted.headers)).json.action).toBe('duplicate');
  expect((await stack.db.departure.findUniqueOrThrow({ where: { id: departureId } })).personalEmail).toBe(
    personalEmail,
  );
  expect(await stack.db.departure.count({ where: { employeeId: id } })).toBe(1);
});

test('a concurrent burst of the same webhook-id starts exactly one workflow', async () => {
  const id = uniq('W');
  const d = signDelivery(WEBHOOK_SECRET, hrisEvent(id));
  const answers = await Promise.all(Array.from({ length: 6 }, () => post(url(), d.body, d.headers)));
  expect(answers.every((a) => a.status === 202)).toBe(true);
  expect(answers.filter((a) => a.json.action === 'started')).toHaveLength(1);
  expect(await stack.db.departure.count({ where: { employeeId: id } })).toBe(1);
});

test('a burst of distinct departures: a few start while answering, the rest are answered "queued" and started at once in the background', async () => {
  // More concurrent new departures than intake starts inline (8): the answer does not wait for Temporal.
  const ids = Array.from({ length: 24 }, () => uniq('WB'));
  const answers = await Promise.all(
    ids.map((id) => {
      const d = signDelivery(WEBHOOK_SECRET, hrisEvent(id));
      return post(url(), d.body, d.headers);
    }),
  );
  expect(answers.map((a) => a.status)).toEqual(Array(24).fill(202));
  const actions = answers.map((a) => a.json.action as string);
  expect(actions.filter((a) => a !== 'started' && a !== 'queued')).toEqual([]);
  expect(actions.filter((a) => a === 'queued').length).toBeGreaterThan(0);
  // Woken, the dispatcher starts the queued ones well before its next interval would come round.
  await eventually(
    async () =>
      (await stack.db.departure.count({
        where: { employeeId: { in: ids }, workflowStartedAt: { not: null } },
      })) === ids.length,
    30_000,
    'every departure of the burst started',
  );
  for (const id of ids) {
    const runs = [];
    for await (const w of stack.client.workflow.list({ query: `WorkflowId = 'offboarding:${id}'` }))
      runs.push(w);
    expect(runs).toHaveLength(1);
  }
  // A queued departure's start was counted once (no "retry" of a start never tried).
  const rows = await stack.db.departure.findMany({ where: { employeeId: { in: ids } } });
  expect(rows.map((r) => r.startAttempts)).toEqual(Array(24).fill(1));
});

test('with Temporal unreachable an event is stored and answered "queued", then started once Temporal is back', async () => {
  const deadPort = await freePort();
  // An API whose Temporal address points nowhere: the event must still be accepted durably.
  const down = await startApi(stack, { TEMPORAL_ADDRESS: `127.0.0.1:${deadPort}`, DISPATCH_INTERVAL: '1h' });
  const id = uniq('W');
  const d = signDelivery(WEBHOOK_SECRET, hrisEvent(id));
  let r;
  try {
    r = await post(`${down.url}/webhooks/hris`, d.body, d.headers);
  } finally {
    await down.close();
  }
  expect(r.status).toBe(202);
  expect(r.json.action).toBe('queued');
  const dep = await stack.db.departure.findUniqueOrThrow({ where: { id: r.json.departureId as string } });
  const [ev] = await eventsFor(d.headers['webhook-id']!);
  expect(ev).toMatchObject({ outcome: 'queued', departureId: dep.id });
  // The running API's dispatcher (Temporal reachable) picks it up.
  await eventually(() => workflowExists(id), 15_000, 'queued departure started');
  const started = await eventually(async () => {
    const x = await stack.db.departure.findUniqueOrThrow({ where: { id: dep.id } });
    return x.workflowStartedAt ? x : null;
  });
  expect(started.status).toBe('started');
  // And a redelivery after that is a duplicate, not a second start.
  const again = signDelivery(WEBHOOK_SECRET, hrisEvent(id), { id: d.headers['webhook-id'] });
  expect((await post(url(), again.body, again.headers)).json.action).toBe('duplicate');
});

test('acknowledging a report while Temporal is unreachable answers 503 naming Temporal, not a missing worker', async () => {
  const id = uniq('W');
  const d = signDelivery(WEBHOOK_SECRET, hrisEvent(id));
  const accepted = await post(url(), d.body, d.headers);
  expect(accepted.status).toBe(202);
  const departureId = accepted.json.departureId as string;
  const down = await startApi(stack, {
    TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`,
    DISPATCH_INTERVAL: '1h',
  });
  try {
    const call = (path: string, token: string, body: unknown) =>
      fetch(`${down.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      }).then(async (r) => ({
        status: r.status,
        json: (await r.json()) as { error: { code: string; message: string } },
      }));
    // The update waits out its deadline; the API then tells "Temporal unreachable" from "no worker".
    const r = await call(`/departures/${departureId}/acknowledge`, TOKENS.hr, { note: 'report read' });
    expect(r.status).toBe(503);
    expect(r.json.error.code).toBe('unavailable');
    expect(r.json.error.message).toMatch(/^Temporal could not be reached .*retry later$/);
  } finally {
    await down.close();
  }
});

test('health answers 200 only when the database and Temporal are reachable', async () => {
  const ok = await fetch(`${api.url}/health`);
  expect(ok.status).toBe(200);
  expect(await ok.json()).toEqual({ status: 'ok', database: 'ok', temporal: 'ok' });
  const down = await startApi(stack, {
    TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}`,
    DISPATCH_INTERVAL: '1h',
  });
  try {
    const bad = await fetch(`${down.url}/health`);
    expect(bad.status).toBe(503);
    const body = (await bad.json()) as { database: string; temporal: string };
    expect(body.database).toBe('ok');
    expect(body.temporal).toMatch(/^unreachable/);
  } finally {
    await down.close();
  }
});

test('operator routes need a token, and the right role', async () => {
  const none = await fetch(`${api.url}/departures`);
  expect(none.status).toBe(401);
  const wrong = await fetch(`${api.url}/departures`, { headers: { authorization: 'Bearer nope' } });
  expect(wrong.status).toBe(401);
  const hrConfirm = await fetch(`${api.url}/tickets/x/confirm`, {
    method: 'POST',
    headers: { authorization: 'Bearer hr-token-for-tests', 'content-type': 'application/json' },
    body: '{"note":"done"}',
  });
  expect(hrConfirm.status).toBe(403);
  const missing = await fetch(`${api.url}/departures/dep_missing`, {
    headers: { authorization: 'Bearer hr-token-for-tests' },
  });
  expect(missing.status).toBe(404);
});

test('the signature helper and the server agree with the Standard Webhooks reference library', () => {
  const d = signDelivery(WEBHOOK_SECRET, { a: 1 });
  expect(new Webhook(WEBHOOK_SECRET).verify(d.body, d.headers)).toEqual({ a: 1 });
});
