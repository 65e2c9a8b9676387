/**
 * HiBob's own webhook and its reconciliation (docs/hris.md) against the HiBob stand-in: a signed
 * delivery starts one offboarding from the record read through people search; forged, stale and
 * replayed deliveries are refused; a termination no webhook announced is found and started once; a
 * deleted lifecycle entry (a rescission Bob never announces) is found and handled as a rescission.
 */
import { createHrisActivities } from '../activities/hris-reconcile';
import { loadConfig } from '../config/env';
import { createAdapters } from '../hris';
import type { RunningServer } from '../server/main';
import { HiBobStandIn } from '../standins/hibob';
import { post, quietLogger, startApi, startStack, uniq, type Stack } from './support/harness';
import { hibobEnv } from './support/hris';

let stack: Stack;
let api: RunningServer;
let activities: ReturnType<typeof createHrisActivities>;
const bob = new HiBobStandIn({ retryDelaysMs: [100] });

beforeAll(async () => {
  stack = await startStack();
  await bob.start();
  const env = { ...hibobEnv(bob), HRIS_RECONCILE_INTERVAL: '365d' };
  api = await startApi(stack, env);
  const cfg = loadConfig({ DATABASE_URL: stack.databaseUrl, ...env });
  activities = createHrisActivities({
    db: stack.db,
    mailer: stack.mailer,
    catalog: stack.catalog,
    logger: quietLogger,
    adapters: createAdapters(cfg),
    remoteLocations: cfg.HRIS_REMOTE_LOCATIONS,
    triggerStatuses: cfg.TRIGGER_STATUSES,
  });
});
afterAll(async () => {
  await api?.close();
  await bob.stop();
  await stack?.stop();
});

const url = () => `${api.url}/webhooks/hris/hibob`;
const inDays = (n: number) => new Date(Date.now() + n * 86_400_000).toISOString().slice(0, 10);
const departures = (employeeId: string) => stack.db.departure.findMany({ where: { employeeId } });

function leaver(o: { date?: string; type?: string; site?: string } = {}) {
  const id = uniq('HB');
  bob.upsert({
    id,
    firstName: 'Noa',
    surname: 'Levi',
    email: `${id}@example.com`,
    privateEmail: `${id}@home.example.net`,
    managerEmail: 'mgr@example.com',
    department: 'R&D',
    site: o.site ?? 'Remote',
  });
  bob.terminate(id, { date: o.date ?? inDays(14), type: o.type ?? 'Voluntary' });
  return id;
}

let announced: string;

test('a signed delivery starts one offboarding with the dates and addresses read from people search', async () => {
  announced = leaver({ date: inDays(14), type: 'Voluntary', site: 'Remote' });
  expect(await bob.deliver(url(), announced, 'table.entry.created')).toBe(202);
  const [dep, ...more] = await departures(announced);
  expect(more).toEqual([]);
  expect(dep).toMatchObject({
    employeeName: 'Noa Levi',
    workEmail: `${announced}@example.com`,
    personalEmail: `${announced}@home.example.net`,
    managerEmail: 'mgr@example.com',
    department: 'R&D',
    workLocation: 'remote',
    terminationType: 'voluntary',
    lastDay: inDays(14),
  });
  const [ev] = await stack.db.triggerEvent.findMany({ where: { employeeId: announced } });
  expect(ev).toMatchObject({ source: 'hris', signatureResult: 'valid', outcome: 'started' });
  expect(ev!.webhookId).toMatch(/^hibob:/);
});

test('forged, stale and replayed deliveries are refused and start nothing', async () => {
  const id = leaver();
  const d = bob.signed(id);
  const forged = await post(url(), d.body, {
    ...d.headers,
    'bob-signature': Buffer.alloc(64).toString('base64'),
  });
  expect(forged.status).toBe(401);
  expect((forged.json.error as { message: string }).message).toBe('Bob-Signature does not match');
  const missing = await post(url(), d.body, { 'content-type': 'application/json' });
  expect(missing.status).toBe(401);
  const old = bob.signed(id, { triggeredAt: new Date(Date.now() - 5 * 86_400_000).toISOString() });
  const stale = await post(url(), old.body, old.headers);
  expect(stale.status).toBe(401);
  expect((stale.json.error as { message: string }).message).toMatch(/HIBOB_WEBHOOK_MAX_AGE/);
  expect(await departures(id)).toEqual([]);
  const rows = await stack.db.triggerEvent.findMany({ where: { reason: { startsWith: 'HiBob:' } } });
  expect(rows.map((r) => [r.signatureResult, r.outcome, r.payload, r.departureId])).toEqual([
    ['invalid', 'rejected', null, null],
    ['missing', 'rejected', null, null],
    ['stale', 'rejected', null, null],
  ]);

  // Accepted once; the same bytes again are a replay.
  expect((await post(url(), d.body, d.headers)).status).toBe(202);
  const replay = await post(url(), d.body, d.headers);
  expect(replay.status).toBe(401);
  expect((replay.json.error as { message: string }).message).toMatch(/replay is refused/);
  expect(await departures(id)).toHaveLength(1);
});

test("Bob's ping at set-up is answered 200", async () => {
  const d = bob.signed(null, { type: 'ping' });
  const r = await post(url(), d.body, d.headers);
  expect(r.status).toBe(200);
  expect(r.json).toMatchObject({ vendor: 'hibob', results: [] });
});

test('reconciliation: a missed termination is started once; a deleted lifecycle entry is a rescission', async () => {
  const missed = leaver({ date: inDays(3), type: 'Involuntary', site: 'Tel Aviv' }); // no webhook
  const first = await activities.reconcileHris({ vendor: 'hibob' });
  expect(first.missed.map((m) => m.employeeId)).toEqual([missed]);
  const [dep, ...more] = await departures(missed);
  expect(more).toEqual([]);
  expect(dep).toMatchObject({
    terminationType: 'involuntary',
    workLocation: 'in_office',
    lastDay: inDays(3),
  });
  const [ev] = await stack.db.triggerEvent.findMany({ where: { employeeId: missed } });
  expect(ev).toMatchObject({ source: 'reconciliation', signatureResult: 'api_read', outcome: 'queued' });

  // HR deletes the announced termination's lifecycle entry: Bob sends nothing.
  bob.deleteTermination(announced);
  const second = await activities.reconcileHris({ vendor: 'hibob' });
  expect(second.rescinded.map((r) => r.employeeId)).toEqual([announced]);
  expect(second.missed).toEqual([]);
  const [gone] = await departures(announced);
  expect(await stack.db.workflowMessage.count({ where: { departureId: gone!.id, kind: 'rescind' } })).toBe(1);

  // Nothing changed: nothing read again, nothing started twice.
  const third = await activities.reconcileHris({ vendor: 'hibob' });
  expect(third.checked).toBe(0);
  expect(await departures(missed)).toHaveLength(1);
});

test("people search's rate limit (50 a minute, then 429) is waited out", async () => {
  const id = leaver();
  bob.control.inject({ status: 429, times: 1, retryAfterSeconds: 1, pathIncludes: '/v1/people/search' });
  const d = bob.signed(id);
  expect((await post(url(), d.body, d.headers)).status).toBe(202);
  expect(await departures(id)).toHaveLength(1);
});
