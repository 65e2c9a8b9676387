/**
 * The reconciliation with BambooHR (workflows/hris-reconcile.ts, docs/hris.md) on the Temporal dev
 * server against the BambooHR stand-in: a departure no webhook announced is found and started once
 * (recorded as found by reconciliation, flagged "notification did not arrive"); a silent rescission is
 * rescinded; the data-quality findings go to HR without anything being done; the run is a Temporal
 * schedule.
 */
import { createHash } from 'node:crypto';
import { Worker } from '@temporalio/worker';
import { createHrisActivities } from '../activities/hris-reconcile';
import { createVerificationActivities } from '../activities/verification';
import { loadConfig } from '../config/env';
import { createAdapters } from '../hris';
import type { RunningServer } from '../server/main';
import { ensureReconciliationSchedules } from '../server/hris-schedules';
import { BambooHrStandIn } from '../standins/bamboohr';
import {
  dataConverter,
  eventually,
  post,
  quietLogger,
  startApi,
  startStack,
  uniq,
  workflowBundlePath,
  type Stack,
  createDeparture,
} from './support/harness';
import { bambooEnv } from './support/hris';

let stack: Stack;
let api: RunningServer;
let worker: Worker;
let running: Promise<void>;
const bamboo = new BambooHrStandIn();
const hrisQueue = uniq('tq-hris');

beforeAll(async () => {
  stack = await startStack();
  await bamboo.start();
  const env = { ...bambooEnv(bamboo), HRIS_RECONCILE_INTERVAL: '365d' };
  // The API: the vendor webhook, and the dispatcher that starts what the reconciliation queues.
  api = await startApi(stack, env);
  const cfg = loadConfig({ DATABASE_URL: stack.databaseUrl, ...env });
  // A worker serving only the reconciliation (the offboardings it queues wait on the stack's queue).
  worker = await Worker.create({
    connection: stack.nativeConnection,
    namespace: 'default',
    taskQueue: hrisQueue,
    workflowBundle: { codePath: workflowBundlePath() },
    dataConverter,
    activities: createHrisActivities({
      db: stack.db,
      mailer: stack.mailer,
      catalog: stack.catalog,
      logger: quietLogger,
      adapters: createAdapters(cfg),
      remoteLocations: cfg.HRIS_REMOTE_LOCATIONS,
      triggerStatuses: cfg.TRIGGER_STATUSES,
      reportTo: 'hr-data@example.com',
    }),
  });
  running = worker.run();
});
afterAll(async () => {
  worker?.shutdown();
  await running;
  await api?.close();
  await bamboo.stop();
  await stack?.stop();
});

type Run = Awaited<ReturnType<typeof reconcile>>;
const reconcile = () =>
  stack.client.workflow.execute('hrisReconciliationWorkflow', {
    taskQueue: hrisQueue,
    workflowId: uniq('hris-reconcile-test'),
    args: [{ vendor: 'bamboohr' }],
  }) as Promise<{
    summary: {
      missed: { employeeId: string }[];
      rescinded: { employeeId: string }[];
      unclear: { employeeId: string }[];
    };
    findings: {
      duplicates: string[][];
      terminatedWithoutDate: string[];
      sharedWorkEmails: { email: string; employeeIds: string[] }[];
      statusFlips: { employeeId: string; from: string; to: string }[];
    };
  }>;

function person(id: string, o: Partial<Parameters<BambooHrStandIn['upsert']>[0]> = {}) {
  return bamboo.upsert({
    id,
    firstName: 'Ana',
    lastName: id,
    workEmail: `${id}@example.com`,
    homeEmail: `${id}@home.example.net`,
    department: 'Sales',
    location: 'Lisbon',
    ...o,
  });
}

const ids = {
  missed: uniq('RM'),
  announced: uniq('RA'),
  silent: uniq('RS'),
  noDate: uniq('RD'),
  shared1: uniq('RW'),
  shared2: uniq('RW'),
  dup1: uniq('RP'),
  dup2: uniq('RP'),
  flip: uniq('RF'),
};

let first: Run;

test('a departure no webhook announced is found by reconciliation and started once; a silent rescission is rescinded', async () => {
  const hook = `${api.url}/webhooks/hris/bamboohr`;
  person(ids.missed);
  bamboo.terminate(ids.missed, { date: '2026-11-30' }); // no webhook
  person(ids.announced);
  bamboo.terminate(ids.announced, { date: '2026-11-30' });
  expect(await bamboo.deliver(hook, ids.announced)).toBe(202);
  person(ids.silent);
  bamboo.terminate(ids.silent, { date: '2026-11-30' });
  expect(await bamboo.deliver(hook, ids.silent)).toBe(202);
  bamboo.rescind(ids.silent); // HR deletes the row: no webhook
  person(ids.noDate, { status: 'Inactive' });
  person(ids.shared1, { workEmail: 'team@example.com' });
  person(ids.shared2, { workEmail: 'team@example.com' });
  person(ids.dup1, { lastName: 'Twin', homeEmail: 'twin@home.example.net' });
  person(ids.dup2, { lastName: 'Twin', homeEmail: 'twin@home.example.net' });
  person(ids.flip);

  first = await reconcile();
  expect(first.summary.missed.map((m) => m.employeeId)).toEqual([ids.missed]);
  expect(first.summary.rescinded.map((m) => m.employeeId)).toEqual([ids.silent]);
  expect(first.summary.unclear.map((m) => m.employeeId)).toEqual([ids.noDate]);

  // Found by the reconciliation, recorded as such, and flagged.
  const [dep, ...more] = await stack.db.departure.findMany({ where: { employeeId: ids.missed } });
  expect(more).toEqual([]);
  expect(dep).toMatchObject({
    lastDay: '2026-11-30',
    terminationType: 'involuntary',
    workLocation: 'in_office',
  });
  const [ev] = await stack.db.triggerEvent.findMany({ where: { employeeId: ids.missed } });
  expect(ev).toMatchObject({
    source: 'reconciliation',
    signatureResult: 'api_read',
    hrisStatus: 'terminated',
  });
  expect(
    await stack.db.auditEvent.count({ where: { departureId: dep!.id, action: 'hris_notification_missing' } }),
  ).toBe(1);
  // The API's dispatcher starts it.
  await eventually(
    async () => (await stack.db.departure.findUnique({ where: { id: dep!.id } }))?.workflowStartedAt,
    20_000,
    'the dispatcher started the reconciled departure',
  );

  // The one the webhook announced was not started again.
  expect(await stack.db.departure.count({ where: { employeeId: ids.announced } })).toBe(1);
  const announcedEvents = await stack.db.triggerEvent.findMany({
    where: { employeeId: ids.announced },
    orderBy: { createdAt: 'asc' },
  });
  expect(announcedEvents.map((e) => [e.source, e.outcome])).toEqual([
    ['hris', 'started'],
    ['reconciliation', 'duplicate'],
  ]);

  // The silent rescission: the same rescission message as an HRIS termination_rescinded.
  const silent = await stack.db.departure.findFirstOrThrow({ where: { employeeId: ids.silent } });
  expect(await stack.db.workflowMessage.count({ where: { departureId: silent.id, kind: 'rescind' } })).toBe(
    1,
  );
  const rescinded = await stack.db.triggerEvent.findFirstOrThrow({
    where: { employeeId: ids.silent, outcome: 'rescinded' },
  });
  expect(rescinded.source).toBe('reconciliation');

  // The report to HR names the missed notification.
  const mail = await stack.mail.waitFor((m) => m.to.includes('hr-data@example.com'));
  expect(mail.text).toMatch(/notification did not arrive/);
  expect(mail.text).toContain(ids.missed);
});

test("the departure's verification report says the HR system's notification did not arrive", async () => {
  const dep = await stack.db.departure.findFirstOrThrow({ where: { employeeId: ids.missed } });
  const verification = createVerificationActivities({
    db: stack.db,
    catalog: stack.catalog,
    connectors: stack.connectors,
    mailer: stack.mailer,
    publicUrl: 'http://127.0.0.1:3000',
  });
  await verification.sendVerificationReport({
    departureId: dep.id,
    items: [],
    audit: { at: new Date().toISOString(), rows: [] },
    compiledAt: new Date().toISOString(),
  });
  const report = await stack.mail.waitFor(
    (m) => m.subject.includes('Verification report') && m.text.includes(ids.missed),
  );
  expect(report.text).toMatch(
    /NOTE: the HR system's notification did not arrive\. Offboard's reconciliation found this departure at /,
  );
});

test('the next run starts nothing twice', async () => {
  person(ids.missed); // another change to the record: listed again
  const again = await reconcile();
  expect(again.summary.missed).toEqual([]);
  expect(await stack.db.departure.count({ where: { employeeId: ids.missed } })).toBe(1);
  const events = await stack.db.triggerEvent.findMany({
    where: { employeeId: ids.missed },
    orderBy: { createdAt: 'asc' },
  });
  expect(events.map((e) => e.outcome).slice(1)).toEqual(['duplicate']);
});

test('a completed offboarding is not started again when HR edits the record afterwards', async () => {
  // Offboarded before (its workflow long finished); HR then edits the record, which lists it again.
  const id = uniq('RX');
  person(id);
  bamboo.terminate(id, { date: '2026-11-20' });
  const done = await createDeparture(stack.db, id, { lastDay: '2026-11-20' });
  await stack.db.departure.update({
    where: { id: done.departureId },
    data: { status: 'completed', completedAt: new Date() },
  });
  person(id, { department: 'Sales EMEA' });
  const run = await reconcile();
  expect(run.summary.missed).toEqual([]);
  expect(await stack.db.departure.count({ where: { employeeId: id } })).toBe(1);
  // Read, recognised as offboarded, and (like every record that means nothing) not logged.
  expect(await stack.db.triggerEvent.count({ where: { employeeId: id } })).toBe(0);
  // A new termination (another last day: a rehire who left again) starts a new offboarding.
  bamboo.terminate(id, { date: '2026-12-01' });
  expect((await reconcile()).summary.missed.map((m) => m.employeeId)).toEqual([id]);
  expect(await stack.db.departure.count({ where: { employeeId: id } })).toBe(2);
});

test('data quality is reported to HR, and nothing is done about it', async () => {
  const f = first.findings;
  expect(f.terminatedWithoutDate).toContain(ids.noDate);
  expect(f.sharedWorkEmails).toContainEqual({
    email: 'team@example.com',
    employeeIds: [ids.shared1, ids.shared2],
  });
  expect(f.duplicates).toContainEqual([ids.dup1, ids.dup2]);
  for (const id of [ids.noDate, ids.shared1, ids.dup1])
    expect(await stack.db.departure.count({ where: { employeeId: id } })).toBe(0);

  // A status that goes and comes back is a flip.
  bamboo.employees.get(ids.flip)!.status = 'Inactive';
  await reconcile();
  bamboo.employees.get(ids.flip)!.status = 'Active';
  const third = await reconcile();
  expect(third.findings.statusFlips).toContainEqual({ employeeId: ids.flip, from: 'Inactive', to: 'Active' });
});

test('the reconciliation runs as a Temporal schedule', async () => {
  const [scheduleId] = await ensureReconciliationSchedules(stack.client, {
    vendors: ['bamboohr'],
    intervalMs: 3_600_000,
    taskQueue: hrisQueue,
  });
  const handle = stack.client.schedule.getHandle(scheduleId!);
  try {
    const d = await handle.describe();
    expect(d.action).toMatchObject({
      type: 'startWorkflow',
      workflowType: 'hrisReconciliationWorkflow',
      taskQueue: hrisQueue,
    });
    expect(d.spec.intervals?.map((i) => i.every)).toEqual([3_600_000]);
    // Ensuring again updates it in place (another API instance, a new interval).
    await ensureReconciliationSchedules(stack.client, {
      vendors: ['bamboohr'],
      intervalMs: 7_200_000,
      taskQueue: hrisQueue,
    });
    expect((await handle.describe()).spec.intervals?.map((i) => i.every)).toEqual([7_200_000]);
    const before =
      (await stack.db.hrisSync.findUnique({ where: { vendor: 'bamboohr' } }))?.lastRunAt ?? new Date(0);
    await handle.trigger();
    let started: string | undefined;
    await eventually(
      async () => {
        started = (await handle.describe()).info.recentActions.at(-1)?.action.workflow.workflowId;
        return !!started;
      },
      30_000,
      'the scheduled run to start',
    );
    // The whole run (reconcile, write-back, report), so none of it overlaps the next test.
    await stack.client.workflow.getHandle(started!).result();
    const s = await stack.db.hrisSync.findUnique({ where: { vendor: 'bamboohr' } });
    expect(s!.lastRunAt!.getTime()).toBeGreaterThan(before.getTime());
  } finally {
    await handle.delete();
  }
});

test('the certificate of a completed offboarding lands in the BambooHR record and is listed back', async () => {
  const dep = await stack.db.departure.findFirstOrThrow({ where: { employeeId: ids.announced } });
  await stack.db.departure.update({ where: { id: dep.id }, data: { status: 'completed' } });
  const pdf = Buffer.from('%PDF-1.7\n% Offboard completion certificate (test)\n%%EOF\n');
  const sha256 = createHash('sha256').update(pdf).digest('hex');
  const doc = await stack.db.document.create({
    data: {
      departureId: dep.id,
      type: 'completion_certificate',
      status: 'generated',
      content: pdf,
      sha256,
      contentType: 'application/pdf',
    },
  });
  const run = (await reconcile()) as Run & { written: number };
  expect(run.written).toBe(1);
  const files = bamboo.employees.get(ids.announced)!.files;
  expect(files.map((f) => [f.category, f.name, f.bytes.equals(pdf)])).toEqual([
    ['17', `Offboarding completion certificate ${ids.announced} ${sha256.slice(0, 12)}.pdf`, true],
  ]);
  const [row] = await stack.db.auditEvent.findMany({
    where: { departureId: dep.id, action: 'hris_record_written' },
  });
  expect(row!.details).toMatchObject({
    vendor: 'bamboohr',
    documentId: doc.id,
    fileId: files[0]!.id,
    confirmedBy: 'listed back from the employee record',
  });
  // The next run writes nothing twice.
  expect(((await reconcile()) as Run & { written: number }).written).toBe(0);
  expect(bamboo.employees.get(ids.announced)!.files).toHaveLength(1);
});

test('a forged delivery to the same API still stores nothing', async () => {
  const r = await post(
    `${api.url}/webhooks/hris/bamboohr`,
    '{"type":"employee.updated","data":{"employeeId":"1"}}',
    {
      'content-type': 'application/json',
      'x-bamboohr-timestamp': String(Math.floor(Date.now() / 1000)),
      'x-bamboohr-signature': 'ab'.repeat(32),
    },
  );
  expect(r.status).toBe(401);
});
