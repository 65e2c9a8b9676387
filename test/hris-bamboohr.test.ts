/**
 * BambooHR's own webhook (`POST /webhooks/hris/bamboohr`, docs/hris.md) against the BambooHR stand-in: a
 * signed delivery is a hint, the employee is read from the API and fed to the one intake; forged, stale
 * and replayed deliveries are refused and store nothing but their refusal; the API's rate-limit answers
 * are honoured.
 */
import { createHash } from 'node:crypto';
import type { RunningServer } from '../server/main';
import { BambooHrStandIn } from '../standins/bamboohr';
import { post, startApi, startStack, uniq, type Stack } from './support/harness';
import { bambooEnv } from './support/hris';

let stack: Stack;
let api: RunningServer;
const bamboo = new BambooHrStandIn({ retryDelaysMs: [200, 200] });

beforeAll(async () => {
  stack = await startStack();
  await bamboo.start();
  api = await startApi(stack, bambooEnv(bamboo)); // no worker: intake, not revocation
});
afterAll(async () => {
  await api?.close();
  await bamboo.stop();
  await stack?.stop();
});

const url = () => `${api.url}/webhooks/hris/bamboohr`;

/** A manager and an employee whose termination HR has entered in BambooHR. */
function leaver(o: { lastDay?: string; type?: string; location?: string } = {}) {
  const mgr = uniq('BHM');
  bamboo.upsert({
    id: mgr,
    firstName: 'Lee',
    lastName: 'Park',
    workEmail: `${mgr}@example.com`,
    department: 'Finance',
  });
  const id = uniq('BH');
  bamboo.upsert({
    id,
    firstName: 'Dana',
    lastName: 'Reyes',
    workEmail: `${id}@example.com`,
    homeEmail: `${id}@home.example.net`,
    department: 'Finance',
    location: o.location ?? 'Remote',
    supervisorEId: mgr,
  });
  bamboo.terminate(id, { date: o.lastDay ?? '2026-11-25', type: o.type });
  return { id, mgr };
}

const departures = (employeeId: string) => stack.db.departure.findMany({ where: { employeeId } });
const bodyHash = (body: string) => createHash('sha256').update(body).digest('hex');

test('a signed delivery starts one offboarding with the dates and addresses read from the API', async () => {
  const { id, mgr } = leaver({ lastDay: '2030-03-31', type: 'Resignation (Voluntary)', location: 'Remote' });
  const d = bamboo.signed(id);
  const r = await post(url(), d.body, d.headers);
  expect(r.status).toBe(202);
  expect(r.json).toEqual({
    vendor: 'bamboohr',
    type: 'employee.updated',
    results: [
      {
        employeeId: id,
        departureId: expect.stringMatching(/^dep_/),
        workflowId: `offboarding:${id}`,
        action: 'started',
      },
    ],
  });
  const [dep, ...more] = await departures(id);
  expect(more).toEqual([]);
  expect(dep).toMatchObject({
    employeeName: 'Dana Reyes',
    workEmail: `${id}@example.com`,
    personalEmail: `${id}@home.example.net`,
    managerEmail: `${mgr}@example.com`,
    department: 'Finance',
    workLocation: 'remote',
    terminationType: 'voluntary',
    lastDay: '2030-03-31',
  });
  const [ev] = await stack.db.triggerEvent.findMany({ where: { employeeId: id } });
  expect(ev).toMatchObject({
    source: 'hris',
    signatureResult: 'valid',
    hrisStatus: 'resigned_confirmed',
    outcome: 'started',
    bodySha256: bodyHash(d.body),
  });
  expect(ev!.webhookId).toMatch(/^bamboohr:[0-9a-f]{40}$/);
  expect(await stack.client.workflow.getHandle(`offboarding:${id}`).describe()).toBeTruthy();

  // BambooHR announces the same change again (a new delivery, signed anew a second later; the same
  // bytes under the same timestamp are a replay): the same offboarding.
  await new Promise((r) => setTimeout(r, 1100));
  expect(await bamboo.deliver(url(), id)).toBe(202);
  expect(await departures(id)).toHaveLength(1);
  const events = await stack.db.triggerEvent.findMany({
    where: { employeeId: id },
    orderBy: { createdAt: 'asc' },
  });
  expect(events.map((e) => e.outcome)).toEqual(['started', 'duplicate']);

  // HR moves the last day: the running offboarding is told (the same intake as the canonical webhook).
  bamboo.employees.get(id)!.terminationDate = '2030-04-15';
  await new Promise((r) => setTimeout(r, 1100));
  expect(await bamboo.deliver(url(), id)).toBe(202);
  const [moved] = await departures(id);
  expect(moved!.lastDay).toBe('2030-04-15');
  expect(
    await stack.db.workflowMessage.count({ where: { departureId: moved!.id, kind: 'lastDayChanged' } }),
  ).toBe(1);
});

test('an involuntary termination in the office maps to terminated, in_office', async () => {
  const { id } = leaver({ location: 'Berlin HQ', type: 'Termination (Involuntary)' });
  const d = bamboo.signed(id);
  const r = await post(url(), d.body, d.headers);
  expect(r.status).toBe(202);
  const [dep] = await departures(id);
  expect(dep).toMatchObject({
    terminationType: 'involuntary',
    workLocation: 'in_office',
    lastDay: '2026-11-25',
  });
});

describe('refused deliveries store nothing but their refusal', () => {
  async function refusedRows(body: string) {
    return stack.db.triggerEvent.findMany({
      where: { bodySha256: bodyHash(body) },
      orderBy: { createdAt: 'asc' },
    });
  }

  test('a forged signature', async () => {
    const { id } = leaver();
    const d = bamboo.signed(id);
    const r = await post(url(), d.body, { ...d.headers, 'x-bamboohr-signature': '0'.repeat(64) });
    expect(r.status).toBe(401);
    expect(r.json).toEqual({
      error: { code: 'signature_invalid', message: 'X-BambooHR-Signature does not match' },
    });
    // A body changed after signing.
    const tampered = d.body.replace(id, `${id}x`);
    expect((await post(url(), tampered, d.headers)).status).toBe(401);
    expect(await departures(id)).toEqual([]);
    const [row] = await refusedRows(d.body);
    expect(row).toMatchObject({
      signatureResult: 'invalid',
      outcome: 'rejected',
      payload: null,
      departureId: null,
      idempotencyKey: null,
    });
  });

  test('missing headers', async () => {
    const { id } = leaver();
    const d = bamboo.signed(id);
    const r = await post(url(), d.body, { 'content-type': 'application/json' });
    expect(r.status).toBe(401);
    expect((await refusedRows(d.body))[0]).toMatchObject({ signatureResult: 'missing', outcome: 'rejected' });
    expect(await departures(id)).toEqual([]);
  });

  test('a stale timestamp, correctly signed', async () => {
    const { id } = leaver();
    const d = bamboo.signed(id, { timestamp: Math.floor(Date.now() / 1000) - 600 });
    const r = await post(url(), d.body, d.headers);
    expect(r.status).toBe(401);
    expect(String(r.json.error && (r.json.error as { message: string }).message)).toMatch(
      /outside the 300-second tolerance/,
    );
    expect((await refusedRows(d.body))[0]).toMatchObject({
      signatureResult: 'stale',
      outcome: 'rejected',
      payload: null,
    });
    expect(await departures(id)).toEqual([]);
  });

  test('a replay of a delivery already received', async () => {
    const { id } = leaver();
    const d = bamboo.signed(id);
    expect((await post(url(), d.body, d.headers)).status).toBe(202);
    const again = await post(url(), d.body, d.headers);
    expect(again.status).toBe(401);
    expect((again.json.error as { message: string }).message).toMatch(/already received .*replay is refused/);
    const rows = await refusedRows(d.body);
    expect(rows.map((r) => [r.outcome, r.signatureResult, r.payload === null])).toEqual([
      ['started', 'valid', false],
      ['rejected', 'stale', true],
    ]);
    expect(await departures(id)).toHaveLength(1);
  });

  test('an unknown vendor is 404', async () => {
    const r = await post(`${api.url}/webhooks/hris/workday`, '{}', { 'content-type': 'application/json' });
    expect(r.status).toBe(404);
  });
});

describe("BambooHR's rate-limit answers", () => {
  test('a short Retry-After (503, as before 2026-09-16) is waited out', async () => {
    const { id } = leaver();
    bamboo.throttle(1, 1, 503);
    const d = bamboo.signed(id);
    const started = Date.now();
    const r = await post(url(), d.body, d.headers);
    expect(r.status).toBe(202);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(await departures(id)).toHaveLength(1);
  });

  test('a long 429 answers 503 so that BambooHR retries; its retry is accepted', async () => {
    const { id } = leaver();
    bamboo.control.clearFaults();
    bamboo.throttle(1, 600, 429);
    const status = await bamboo.deliver(url(), id);
    expect(status).toBe(202);
    const attempts = bamboo.deliveries.filter((x) => x.employeeId === id).map((x) => x.status);
    expect(attempts).toEqual([503, 202]);
    const rows = await stack.db.triggerEvent.findMany({
      where: { webhookId: { startsWith: 'bamboohr:' }, reason: { contains: id } },
    });
    expect(rows.map((r) => [r.outcome, r.payload])).toEqual([['rejected', null]]);
    expect(await departures(id)).toHaveLength(1);
  });
});
