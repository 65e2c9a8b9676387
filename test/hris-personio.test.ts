/**
 * Personio's own webhook (`POST /webhooks/hris/personio`), its reconciliation and the write-back
 * (docs/hris.md) against the Personio stand-in: a signed delivery starts one offboarding from the record
 * read through the v1 API; forged, stale and replayed deliveries are refused and store nothing but their
 * refusal; a termination no webhook announced is found (through every page of the changed-since
 * listing) and started once; a withdrawn termination is a rescission; the certificate and the signed NDA
 * land in the employee's documents and are listed back; the configuration's errors name the setting; the
 * calls are paced under Personio's published rate limits.
 */
import { createHash } from 'node:crypto';
import { createHrisActivities } from '../activities/hris-reconcile';
import { loadConfig } from '../config/env';
import { createAdapters } from '../hris';
import { ensureReconciliationSchedules } from '../server/hris-schedules';
import type { RunningServer } from '../server/main';
import { PersonioStandIn } from '../standins/personio';
import { post, quietLogger, startApi, startStack, type Stack } from './support/harness';
import { personioEnv } from './support/hris';

let stack: Stack;
let api: RunningServer;
let activities: ReturnType<typeof createHrisActivities>;
const personio = new PersonioStandIn({ retryDelaysMs: [100] });

beforeAll(async () => {
  stack = await startStack();
  await personio.start();
  const env = { ...personioEnv(personio), HRIS_RECONCILE_INTERVAL: '365d' };
  api = await startApi(stack, env); // no worker: intake, not revocation
  const cfg = loadConfig({ DATABASE_URL: stack.databaseUrl, ...env });
  activities = createHrisActivities({
    db: stack.db,
    mailer: stack.mailer,
    catalog: stack.catalog,
    logger: quietLogger,
    adapters: createAdapters(cfg),
    remoteLocations: cfg.HRIS_REMOTE_LOCATIONS,
    triggerStatuses: cfg.TRIGGER_STATUSES,
    reportTo: 'hr-personio@example.com',
  });
});
afterAll(async () => {
  await api?.close();
  await personio.stop();
  await stack?.stop();
});

const url = () => `${api.url}/webhooks/hris/personio`;
const departures = (id: number) => stack.db.departure.findMany({ where: { employeeId: String(id) } });
const bodyHash = (body: string) => createHash('sha256').update(body).digest('hex');
const message = (r: { json: Record<string, unknown> }) => (r.json.error as { message: string }).message;

/** A manager and an employee whose termination HR has entered in Personio (no webhook sent). */
function leaver(o: { date?: string; lastWorkingDay?: string; type?: string; office?: string } = {}) {
  const mgr = personio.nextId();
  personio.upsert({ id: mgr, first_name: 'Jonas', last_name: 'Weber', email: `mgr-${mgr}@example.com` });
  const id = personio.nextId();
  personio.upsert({
    id,
    first_name: 'Lena',
    last_name: 'Schmidt',
    email: `${id}@example.com`,
    personalEmail: `${id}@home.example.net`,
    department: 'Engineering',
    office: o.office ?? 'Remote',
    supervisorId: mgr,
  });
  personio.terminate(id, { date: o.date ?? '2030-03-31', lastWorkingDay: o.lastWorkingDay, type: o.type });
  return { id, mgr };
}

let announced: number;
let inOffice: number;

test('a signed delivery starts one offboarding with the dates and addresses read from the API', async () => {
  const { id, mgr } = leaver({ date: '2030-03-31', lastWorkingDay: '2030-03-27', type: 'Resignation' });
  announced = id;
  const d = personio.signed(id);
  const r = await post(url(), d.body, d.headers);
  expect(r.status).toBe(202);
  expect(r.json).toEqual({
    vendor: 'personio',
    type: 'employment.updated',
    results: [
      {
        employeeId: String(id),
        departureId: expect.stringMatching(/^dep_/),
        workflowId: `offboarding:${id}`,
        action: 'started',
      },
    ],
  });
  const [dep, ...more] = await departures(id);
  expect(more).toEqual([]);
  expect(dep).toMatchObject({
    employeeName: 'Lena Schmidt',
    workEmail: `${id}@example.com`,
    personalEmail: `${id}@home.example.net`,
    managerEmail: `mgr-${mgr}@example.com`,
    department: 'Engineering',
    workLocation: 'remote',
    terminationType: 'voluntary',
    lastDay: '2030-03-27',
  });
  const [ev] = await stack.db.triggerEvent.findMany({ where: { employeeId: String(id) } });
  expect(ev).toMatchObject({
    source: 'hris',
    signatureResult: 'valid',
    hrisStatus: 'resigned_confirmed',
    outcome: 'started',
    bodySha256: bodyHash(d.body),
  });
  expect(ev!.webhookId).toMatch(/^personio:[0-9a-f]{40}$/);

  // Personio announces it again (signed anew a second later): the same offboarding.
  const again = personio.signed(id, { timestamp: Math.floor(Date.now() / 1000) + 1 });
  expect((await post(url(), again.body, again.headers)).status).toBe(202);
  expect(await departures(id)).toHaveLength(1);
});

test('an involuntary termination in an office maps to terminated, in_office', async () => {
  const { id } = leaver({ date: '2030-05-31', type: 'Termination by employer', office: 'Berlin' });
  inOffice = id;
  expect(await personio.deliver(url(), id)).toBe(202);
  const [dep] = await departures(id);
  expect(dep).toMatchObject({
    terminationType: 'involuntary',
    workLocation: 'in_office',
    lastDay: '2030-05-31',
  });
});

test('forged, stale, unauthenticated and replayed deliveries are refused and store nothing', async () => {
  const { id } = leaver();
  const d = personio.signed(id);
  const sig = personio.signatureHeader.toLowerCase();
  const forged = await post(url(), d.body, { ...d.headers, [sig]: 'ab'.repeat(32) });
  expect(forged.status).toBe(401);
  expect(forged.json).toEqual({
    error: { code: 'signature_invalid', message: 'X-Personio-Signature does not match' },
  });
  const tampered = await post(url(), d.body.replace(String(id), `${id}1`), d.headers);
  expect(tampered.status).toBe(401);
  const { [sig]: _dropped, ...unsigned } = d.headers;
  expect((await post(url(), d.body, unsigned)).status).toBe(401);
  const wrongToken = await post(url(), d.body, { ...d.headers, authorization: 'Bearer not-the-token' });
  expect(wrongToken.status).toBe(401);
  expect(message(wrongToken)).toMatch(/PERSONIO_WEBHOOK_TOKEN/);
  const old = personio.signed(id, { timestamp: Math.floor(Date.now() / 1000) - 600 });
  const stale = await post(url(), old.body, old.headers);
  expect(stale.status).toBe(401);
  expect(message(stale)).toMatch(/outside the 300-second tolerance/);
  expect(await departures(id)).toEqual([]);
  const refused = await stack.db.triggerEvent.findMany({
    where: { reason: { startsWith: 'Personio:' } },
    orderBy: { createdAt: 'asc' },
  });
  expect(
    refused.map((r) => [r.signatureResult, r.outcome, r.payload, r.departureId, r.idempotencyKey]),
  ).toEqual([
    ['invalid', 'rejected', null, null, null],
    ['invalid', 'rejected', null, null, null],
    ['missing', 'rejected', null, null, null],
    ['invalid', 'rejected', null, null, null],
    ['stale', 'rejected', null, null, null],
  ]);

  // Accepted once; the same signed bytes again are a replay.
  expect((await post(url(), d.body, d.headers)).status).toBe(202);
  const replay = await post(url(), d.body, d.headers);
  expect(replay.status).toBe(401);
  expect(message(replay)).toMatch(/already received .*replay is refused/);
  const rows = await stack.db.triggerEvent.findMany({
    where: { bodySha256: bodyHash(d.body), outcome: { not: 'rejected' } },
  });
  expect(rows.map((r) => r.outcome)).toEqual(['started']);
  expect(await departures(id)).toHaveLength(1);
});

test('an event about something other than a person is answered 200; one naming no person is 400', async () => {
  const d = personio.signed(1, { event: 'absence_period.created', payload: { id: 'abs-1' } });
  const r = await post(url(), d.body, d.headers);
  expect(r.status).toBe(200);
  expect(r.json).toEqual({ vendor: 'personio', type: 'absence_period.created', results: [] });
  // An employment event that names no person is not Personio's shape: 400, logged, nothing else.
  const bad = personio.signed(1, { event: 'employment.updated', payload: { id: 'emp-1' } });
  const refused = await post(url(), bad.body, bad.headers);
  expect(refused.status).toBe(400);
  expect(message(refused)).toMatch(/payload names no person/);
  const [row] = await stack.db.triggerEvent.findMany({ where: { bodySha256: bodyHash(bad.body) } });
  expect(row).toMatchObject({
    signatureResult: 'valid',
    outcome: 'invalid',
    payload: null,
    departureId: null,
  });
});

test("Personio's 429 is waited out", async () => {
  const { id } = leaver();
  personio.control.inject({
    status: 429,
    times: 1,
    retryAfterSeconds: 1,
    pathIncludes: '/v1/company/employees/',
  });
  const d = personio.signed(id, { event: 'employment.terminated' });
  expect((await post(url(), d.body, d.headers)).status).toBe(202);
  expect(await departures(id)).toHaveLength(1);
});

test('reconciliation: a missed termination is started once; a withdrawn one is a rescission', async () => {
  for (let i = 0; i < 105; i++) {
    const id = personio.nextId();
    personio.upsert({ id, first_name: 'Filler', last_name: String(id), email: `${id}@example.com` });
  }
  const noDate = personio.nextId();
  personio.upsert({ id: noDate, first_name: 'Kai', last_name: 'Unklar', status: 'inactive' });
  const { id: missed } = leaver({ date: '2030-01-15', office: 'Munich' }); // no webhook
  personio.rescind(announced); // HR withdraws the termination; no webhook either
  personio.control.calls.length = 0;

  const first = await activities.reconcileHris({ vendor: 'personio' });
  expect(first.missed.map((m) => m.employeeId)).toEqual([String(missed)]);
  expect(first.rescinded.map((m) => m.employeeId)).toEqual([String(announced)]);
  expect(first.unclear.map((u) => u.employeeId)).toEqual([String(noDate)]);
  // Every page of the listing, at most 100 each.
  const pages = personio.control.calls.filter((c) => c.path.startsWith('/v1/company/employees?'));
  expect(pages.map((c) => new URL(c.path, 'http://x').searchParams.get('offset'))).toEqual(['0', '100']);
  expect(pages.every((c) => new URL(c.path, 'http://x').searchParams.get('limit') === '100')).toBe(true);

  const [dep, ...more] = await departures(missed);
  expect(more).toEqual([]);
  expect(dep).toMatchObject({
    terminationType: 'involuntary',
    workLocation: 'in_office',
    lastDay: '2030-01-15',
  });
  const [ev] = await stack.db.triggerEvent.findMany({ where: { employeeId: String(missed) } });
  expect(ev).toMatchObject({ source: 'reconciliation', signatureResult: 'api_read', outcome: 'queued' });
  expect(
    await stack.db.auditEvent.count({ where: { departureId: dep!.id, action: 'hris_notification_missing' } }),
  ).toBe(1);
  const [gone] = await departures(announced);
  expect(await stack.db.workflowMessage.count({ where: { departureId: gone!.id, kind: 'rescind' } })).toBe(1);

  // HR's report names the missed notification and the record it must fix; nothing is done about the latter.
  const report = await activities.reportHrisDataQuality({
    vendor: 'personio',
    summary: first,
    runAt: 'run-1',
  });
  expect(report.findings.terminatedWithoutDate).toContain(String(noDate));
  const mail = await stack.mail.waitFor((m) => m.to.includes('hr-personio@example.com'));
  expect(mail.text).toMatch(/Personio's notification did not arrive/);
  expect(mail.text).toContain(String(missed));
  expect(await departures(noDate)).toEqual([]);

  // Nothing changed since: nothing read again, nothing started twice.
  const second = await activities.reconcileHris({ vendor: 'personio' });
  expect(second.checked).toBe(0);
  expect(await departures(missed)).toHaveLength(1);
});

test('the certificate and the signed NDA land in the Personio record and are listed back', async () => {
  const dep = (await departures(inOffice))[0]!;
  await stack.db.departure.update({ where: { id: dep.id }, data: { status: 'completed' } });
  const pdf = (what: string) => Buffer.from(`%PDF-1.7\n% Offboard ${what} (test)\n%%EOF\n`);
  const docs = [
    { type: 'completion_certificate', status: 'generated', bytes: pdf('completion certificate') },
    { type: 'nda_acknowledgment', status: 'signed', bytes: pdf('signed NDA') },
  ];
  for (const d of docs)
    await stack.db.document.create({
      data: {
        departureId: dep.id,
        type: d.type,
        status: d.status,
        content: d.bytes,
        sha256: createHash('sha256').update(d.bytes).digest('hex'),
        contentType: 'application/pdf',
      },
    });
  const run = await activities.writeBackHrisRecords({ vendor: 'personio' });
  expect(run.written).toHaveLength(2);
  const stored = personio.employees.get(inOffice)!.documents;
  expect(
    stored.map((f) => [
      f.categoryId,
      f.title.split(` ${inOffice} `)[0],
      f.bytes.equals(docs[stored.indexOf(f)]!.bytes),
    ]),
  ).toEqual([
    [7, 'Offboarding completion certificate', true],
    [7, 'Signed NDA acknowledgment', true],
  ]);
  const rows = await stack.db.auditEvent.findMany({
    where: { departureId: dep.id, action: 'hris_record_written' },
    orderBy: { createdAt: 'asc' },
  });
  expect(rows.map((r) => (r.details as { fileId: string }).fileId)).toEqual(stored.map((f) => String(f.id)));
  expect(rows[0]!.details).toMatchObject({
    vendor: 'personio',
    confirmedBy: 'listed back from the employee record',
  });
  // Listed back through the v2 document list, and never written twice.
  expect(personio.control.count('/v2/document-management/documents?owner_id=')).toBeGreaterThanOrEqual(4);
  expect((await activities.writeBackHrisRecords({ vendor: 'personio' })).written).toEqual([]);
  expect(personio.employees.get(inOffice)!.documents).toHaveLength(2);
});

test('the reconciliation runs as a Temporal schedule for Personio', async () => {
  const [scheduleId] = await ensureReconciliationSchedules(stack.client, {
    vendors: ['personio'],
    intervalMs: 3_600_000,
    taskQueue: `${stack.taskQueue}-personio`,
  });
  const handle = stack.client.schedule.getHandle(scheduleId!);
  try {
    expect(scheduleId).toMatch(/^hris-reconcile-personio\./);
    const d = await handle.describe();
    expect(d.action).toMatchObject({ type: 'startWorkflow', workflowType: 'hrisReconciliationWorkflow' });
    expect(d.action.type === 'startWorkflow' && d.action.args).toEqual([{ vendor: 'personio' }]);
  } finally {
    await handle.delete();
  }
});

test('the configuration names what is missing or wrong, and the header names can be changed', () => {
  const base = { DATABASE_URL: stack.databaseUrl, ...personioEnv(personio) };
  const { PERSONIO_CLIENT_SECRET: _secret, ...withoutSecret } = base;
  expect(() => loadConfig(withoutSecret)).toThrow(
    /PERSONIO_CLIENT_SECRET: is required when HRIS_VENDORS lists personio/,
  );
  expect(() => loadConfig({ ...base, PERSONIO_WEBHOOK_SIGNATURE_HEADER: 'X Sig' })).toThrow(
    /PERSONIO_WEBHOOK_SIGNATURE_HEADER: must be an HTTP header name/,
  );
  expect(() => loadConfig({ ...base, PERSONIO_DOCUMENT_CATEGORY: 'Offboarding' })).toThrow(
    /PERSONIO_DOCUMENT_CATEGORY: must be a document category id/,
  );

  // Deliveries carrying the signature in other headers, once configured so.
  const adapter = createAdapters(
    loadConfig({
      ...base,
      PERSONIO_WEBHOOK_SIGNATURE_HEADER: 'Personio-Signature',
      PERSONIO_WEBHOOK_TIMESTAMP_HEADER: 'Personio-Timestamp',
    }),
  ).get('personio')!;
  const d = personio.signed(announced);
  const moved = {
    authorization: d.headers.authorization,
    'personio-timestamp': d.headers['x-personio-timestamp']!,
    'personio-signature': d.headers['x-personio-signature']!,
  };
  const verify = (headers: Record<string, string>) =>
    adapter.verify({ headers, body: Buffer.from(d.body), receivedAt: new Date() }, new Date());
  expect(verify(moved)).toMatchObject({ ok: true, employeeIds: [String(announced)] });
  expect(verify(d.headers)).toMatchObject({ ok: false, signatureResult: 'missing' });
  // Base64 and a `sha256=` prefix are the same signature; another secret's is not.
  const b64 = Buffer.from(moved['personio-signature'], 'hex').toString('base64');
  expect(verify({ ...moved, 'personio-signature': `sha256=${b64}` })).toMatchObject({ ok: true });
  expect(verify({ ...moved, 'personio-signature': `v1,${'A'.repeat(43)}=` })).toMatchObject({
    ok: false,
    signatureResult: 'invalid',
  });
});

test("Offboard paces itself under Personio's published limits (15 a second): no 429 in a burst", async () => {
  const adapter = createAdapters(
    loadConfig({ DATABASE_URL: stack.databaseUrl, ...personioEnv(personio) }),
  ).get('personio')!;
  const ids = Array.from({ length: 20 }, () => leaver().id);
  personio.control.calls.length = 0;
  const started = Date.now();
  const read = await Promise.all(ids.map((id) => adapter.fetchEmployee(String(id))));
  expect(read.map((e) => e?.employment)).toEqual(ids.map(() => 'terminated'));
  // 40 reads (each employee and its supervisor), started 100 ms apart on this side.
  const reads = personio.control.calls.filter((c) => c.path.startsWith('/v1/company/employees/'));
  expect(reads).toHaveLength(40);
  expect(reads.filter((c) => c.status === 429)).toEqual([]);
  expect(Date.now() - started).toBeGreaterThanOrEqual(3_800);
});

test('wrong API credentials are named, and nothing is read with them', async () => {
  const adapter = createAdapters(
    loadConfig({
      DATABASE_URL: stack.databaseUrl,
      ...personioEnv(personio),
      PERSONIO_CLIENT_SECRET: 'wrong',
    }),
  ).get('personio')!;
  const reads = personio.control.count('/v1/company/employees');
  await expect(adapter.fetchEmployee(String(announced))).rejects.toThrow(
    /POST \/v2\/auth\/token refused the client credentials \(PERSONIO_CLIENT_ID, PERSONIO_CLIENT_SECRET\)/,
  );
  expect(personio.control.count('/v1/company/employees')).toBe(reads);
});
