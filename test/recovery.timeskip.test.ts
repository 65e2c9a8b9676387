/**
 * Asset recovery and document timers on the time-skipping test server, without waiting real days:
 * an asset received in time, one received after the first escalation, one never received (second
 * escalation with a recovery plan), remote vs in-office vs hybrid routing, a departure without assets,
 * and an NDA that is signed vs one that is never signed (reminders, then expired at the deadline).
 * Real activities underneath: PostgreSQL (built-in asset register), SMTP catcher, SCIM stand-in.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  archiveConfirmedSignal,
  assetReceivedSignal,
  contactUpdatedSignal,
  documentSignedSignal,
  statusQuery,
  type OffboardingInput,
  type OffboardingStatus,
} from '../contract';
import {
  catalogOf,
  createDeparture,
  seedEmployee,
  startStack,
  uniq,
  withWorkerOn,
  type Stack,
  startTimeSkipping,
  resultAfterSignOff,
  FOLLOWUP_PART_ACTIVITIES,
} from './support/harness';
import { skipTime } from './support/timeskip';

// Each test starts a time-skipping server and a worker and runs an offboarding to its end (3–4 s
// alone, up to about 20 s on a busy machine). Time moves with `skipTime` (support/timeskip.ts), which
// leaves no timer due right after a skip for a signal to race (temporalio/sdk-java#3088).
jest.setTimeout(60_000);

let testEnv: TestWorkflowEnvironment;
let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
}, 60_000);

// A fresh test server per test: its clock starts at real time, like the activities' clock.
beforeEach(async () => {
  testEnv = await startTimeSkipping();
}, 30_000);

afterEach(async () => {
  await testEnv?.teardown();
});

afterAll(async () => {
  await stack?.stop();
});

type Handle = Awaited<ReturnType<typeof testEnv.client.workflow.start>>;

async function run<T>(
  input: OffboardingInput,
  fn: (h: Handle) => Promise<T>,
  options: { followupFirstRound?: boolean; dataSources?: boolean } = {},
): Promise<T> {
  const taskQueue = uniq('recovery');
  const catalog = catalogOf(stack, ['crm']);
  catalog.assets = { ...catalog.assets, holidays: { country: 'DE' } };
  if (options.dataSources)
    catalog.dataSources = ['mailbox', 'drive'].map((sourceId) => ({
      id: sourceId,
      name: `The ${sourceId}`,
      retentionPolicy: 'keep-3y',
      archiveLocation: `s3://archive/${sourceId}`,
      deleteAfterArchive: false,
      owner: { name: 'Data Owner', email: 'data-owner@example.com' },
      connector: { kind: 'manual' as const },
    }));
  return withWorkerOn(
    testEnv.nativeConnection,
    stack,
    taskQueue,
    catalog,
    async () => {
      const h = await testEnv.client.workflow.start('offboardingWorkflow', {
        taskQueue,
        workflowId: `offboarding:${input.employeeId}`,
        args: [input],
      });
      return fn(h);
    },
    options.followupFirstRound === false ? { firstRound: false } : undefined,
  );
}

/** The follow-up activities a workflow scheduled (types, in order), from its history. */
async function scheduledActivities(h: Handle): Promise<string[]> {
  const events = (await h.fetchHistory()).events ?? [];
  return events
    .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)
    .filter((t): t is string => !!t);
}

async function until(h: Handle, ok: (s: OffboardingStatus) => boolean): Promise<OffboardingStatus> {
  let last: OffboardingStatus | null = null;
  for (let i = 0; i < 300; i++) {
    last = (await h.query(statusQuery)) as OffboardingStatus;
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`workflow never reached the expected state: ${JSON.stringify(last)}`);
}

async function giveAsset(employeeId: string, name = 'Laptop'): Promise<string> {
  const tag = uniq('TAG').toUpperCase();
  await stack.db.asset.create({
    data: { tag, name, category: 'laptop', assignedToEmployeeId: employeeId },
  });
  return tag;
}

const signNda = (h: Handle) =>
  h.signal(documentSignedSignal, {
    documentId: 'x',
    type: 'nda_acknowledgment',
    signedAt: new Date().toISOString(),
  });

const receipt = (assetTag: string) => ({
  assetTag,
  receivedBy: 'desk-alex',
  condition: 'good',
  inspectedBy: 'desk-sam',
  notes: 'wiped and shelved',
});

test('remote: return request to the personal email, label request, received in time and checked in', async () => {
  const id = uniq('A');
  seedEmployee(stack.standIns, id, { ldap: false });
  const tag = await giveAsset(id);
  const input = await createDeparture(stack.db, id, { workLocation: 'remote' });
  const final = await run(input, async (h) => {
    const s = await until(h, (x) => x.assets[0]?.status === 'requested');
    expect(s.assets[0]).toMatchObject({ assetTag: tag, route: 'remote' });
    // Seven business days (German holidays excluded) are more than seven calendar days.
    expect(Date.parse(s.assets[0]!.dueAt) - Date.now()).toBeGreaterThan(7 * 86_400_000);
    await skipTime(testEnv, h, 2 * 86_400_000);
    await h.signal(assetReceivedSignal, receipt(tag));
    await signNda(h);
    return resultAfterSignOff(testEnv.client, h);
  });
  expect(final.phase).toBe('completed');
  expect(final.assets[0]).toMatchObject({ assetTag: tag, status: 'received' });
  const rec = await stack.db.assetRecovery.findFirstOrThrow({
    where: { departureId: input.departureId },
    include: { custody: { orderBy: { id: 'asc' } } },
  });
  expect(rec).toMatchObject({ status: 'received', receivedBy: 'desk-alex', inspectedBy: 'desk-sam' });
  expect(rec.custody.map((c) => c.event)).toEqual(
    expect.arrayContaining(['requested', 'marked_return_in_progress', 'received', 'checked_in']),
  );
  expect((await stack.db.asset.findUniqueOrThrow({ where: { tag } })).status).toBe('returned');
  // The return request went to the personal address only; the IT desk got the label request.
  const personal = `${id.toLowerCase()}@personal.example.net`;
  expect(stack.mail.to(personal).some((m) => m.text.includes(tag))).toBe(true);
  expect(stack.mail.to(`${id.toLowerCase()}@example.com`).some((m) => m.text.includes(tag))).toBe(false);
  expect(stack.mail.to('it-desk@example.com').some((m) => m.text.includes(tag))).toBe(true);
  // Documents: NDA signed, payroll/benefits delivered, certificate generated.
  const byType = Object.fromEntries(final.documents.map((d) => [d.type, d.status]));
  expect(byType).toMatchObject({
    nda_acknowledgment: 'signed',
    payroll_notification: 'delivered',
    benefits_notification: 'delivered',
    completion_certificate: 'generated',
  });
});

test('in office: an appointment invite; late, the IT owner is told; received after that', async () => {
  const id = uniq('A');
  seedEmployee(stack.standIns, id, { ldap: false });
  const tag = await giveAsset(id, 'Phone');
  const input = await createDeparture(stack.db, id, { workLocation: 'in_office' });
  const final = await run(input, async (h) => {
    const s = await until(h, (x) => x.assets[0]?.status === 'requested');
    expect(s.assets[0]!.route).toBe('in_office');
    await signNda(h);
    await skipTime(testEnv, h, Date.parse(s.assets[0]!.dueAt) - (await testEnv.currentTimeMs()) + 3_600_000);
    await until(h, (x) => x.assets[0]?.status === 'escalated_it');
    await h.signal(assetReceivedSignal, receipt(tag));
    return resultAfterSignOff(testEnv.client, h);
  });
  expect(final.assets[0]!.status).toBe('received');
  expect(stack.mail.to('it-assets@example.com').some((m) => m.text.includes(tag))).toBe(true);
  expect(stack.mail.to('head@example.com').some((m) => m.text.includes(tag))).toBe(false);
  const invite = stack.mail
    .to(`${id.toLowerCase()}@personal.example.net`)
    .find((m) =>
      m.attachments.some((a) => a.contentType.startsWith('text/calendar') || a.filename?.endsWith('.ics')),
    );
  expect(invite).toBeDefined();
});

test('hybrid (in office by default): never returned, the department head is told and a recovery plan recorded', async () => {
  const id = uniq('A');
  seedEmployee(stack.standIns, id, { ldap: false });
  const tag = await giveAsset(id, 'Monitor');
  const input = await createDeparture(stack.db, id, { workLocation: 'hybrid' });
  const final = await run(input, async (h) => {
    await signNda(h);
    return resultAfterSignOff(testEnv.client, h); // skips both windows
  });
  expect(final.assets[0]).toMatchObject({ route: 'in_office', status: 'escalated_department_head' });
  const rec = await stack.db.assetRecovery.findFirstOrThrow({ where: { departureId: input.departureId } });
  expect(rec.status).toBe('escalated_department_head');
  expect(rec.recoveryPlan).toBeTruthy();
  expect(stack.mail.to('it-assets@example.com').some((m) => m.text.includes(tag))).toBe(true);
  expect(stack.mail.to('head@example.com').some((m) => m.text.includes(tag))).toBe(true);
});

test('no assets: recorded; an NDA never signed gets reminders, then turns expired at the deadline', async () => {
  const id = uniq('A');
  seedEmployee(stack.standIns, id, { ldap: false });
  const input = await createDeparture(stack.db, id, { workLocation: 'remote' });
  const final = await run(input, (h) => resultAfterSignOff(testEnv.client, h));
  expect(final.assets).toEqual([]);
  expect(
    await stack.db.auditEvent.count({
      where: { departureId: input.departureId, action: 'no_assets_assigned' },
    }),
  ).toBe(1);
  const nda = final.documents.find((d) => d.type === 'nda_acknowledgment')!;
  expect(nda.status).toBe('expired');
  const doc = await stack.db.document.findFirstOrThrow({
    where: { departureId: input.departureId, type: 'nda_acknowledgment' },
  });
  expect(doc.status).toBe('expired');
  // One request and a reminder each day until the 7-day deadline.
  const ndaMails = stack.mail
    .to(`${id.toLowerCase()}@personal.example.net`)
    .filter((m) => /\/sign\//.test(m.text));
  expect(ndaMails.length).toBeGreaterThanOrEqual(6);
});

// One test per mode: each needs a fresh time-skipping server (one whose clock has skipped days would
// find the asset's deadlines, computed by the activities from the real clock, already past).
test.each([
  ['the first round does every part in one activity', true],
  ['a plan without the first round (older workers): every part an activity of its own', false],
])('%s: the same outcome, each email once', async (_name, followupFirstRound) => {
  const id = uniq('A');
  seedEmployee(stack.standIns, id, { ldap: false });
  const tag = await giveAsset(id);
  const input = await createDeparture(stack.db, id, { workLocation: 'remote' });
  const { final, scheduled } = await run(
    input,
    async (h) => {
      await until(h, (x) => x.assets[0]?.status === 'requested');
      await h.signal(assetReceivedSignal, receipt(tag));
      await signNda(h);
      // The archives wait for their owners' word: the confirmation stays pending (yellow) until then.
      await until(
        h,
        (x) => x.documents.find((d) => d.type === 'data_archiving_confirmation')?.status === 'pending',
      );
      for (const sourceId of ['drive', 'mailbox'])
        await h.signal(archiveConfirmedSignal, {
          sourceId,
          items: 42,
          confirmedBy: 'it-user',
          note: 'owner confirmed by mail',
          at: new Date().toISOString(),
        });
      await until(
        h,
        (x) => x.documents.find((d) => d.type === 'data_archiving_confirmation')?.status === 'generated',
      );
      const final = await resultAfterSignOff(testEnv.client, h);
      return { final, scheduled: await scheduledActivities(h) };
    },
    { followupFirstRound, dataSources: true },
  );
  const parts = scheduled.filter((t) => FOLLOWUP_PART_ACTIVITIES.includes(t)).sort();
  // Each archive confirmed: recorded, and the data-archiving confirmation generated again.
  expect(scheduled.filter((t) => t === 'confirmArchive')).toHaveLength(2);
  const regenerated = ['recordDataArchivingConfirmation', 'recordDataArchivingConfirmation'];
  if (followupFirstRound) {
    expect(scheduled.filter((t) => t === 'firstFollowupRound')).toHaveLength(1);
    expect(parts).toEqual(regenerated);
  } else {
    expect(scheduled).not.toContain('firstFollowupRound');
    // Two data sources: each archived on its own.
    expect(parts).toEqual([...FOLLOWUP_PART_ACTIVITIES, 'archiveDataSource', ...regenerated].sort());
  }
  const personal = `${id.toLowerCase()}@personal.example.net`;
  expect({
    assets: final.assets.map((a) => a.status),
    documents: Object.fromEntries(final.documents.map((d) => [d.type, d.status])),
    returnRequests: stack.mail.to(personal).filter((m) => m.text.includes(tag)).length,
    surveys: stack.mail.to(personal).filter((m) => /survey/i.test(m.subject)).length,
    ndaRequests: stack.mail.to(personal).filter((m) => /\/sign\//.test(m.text)).length,
    archived: (
      await stack.db.archiveRecord.findMany({
        where: { departureId: input.departureId },
        orderBy: { sourceId: 'asc' },
      })
    ).map((r) => [r.sourceId, r.status, r.items]),
  }).toEqual({
    assets: ['received'],
    documents: {
      nda_acknowledgment: 'signed',
      payroll_notification: 'delivered',
      benefits_notification: 'delivered',
      exit_survey: 'sent',
      data_archiving_confirmation: 'generated',
      completion_certificate: 'generated',
    },
    returnRequests: 1,
    surveys: 1,
    ndaRequests: 1,
    archived: [
      ['drive', 'archived', 42],
      ['mailbox', 'archived', 42],
    ],
  });
  // Each confirmation audited once; the regenerated confirmation says archived.
  expect(
    await stack.db.auditEvent.count({
      where: { departureId: input.departureId, action: 'archive_confirmed' },
    }),
  ).toBe(2);
  const pdf = await stack.db.document.findFirstOrThrow({
    where: { departureId: input.departureId, type: 'data_archiving_confirmation' },
  });
  expect(pdf.meta).toMatchObject({ sources: [{ status: 'archived' }, { status: 'archived' }] });
});

test('a part the first round could not do runs again as its own activity, with its own retries and error', async () => {
  const id = uniq('A');
  seedEmployee(stack.standIns, id, { ldap: false });
  const tag = await giveAsset(id);
  const input = await createDeparture(stack.db, id, { workLocation: 'remote' });
  // No personal address: the return request, the exit survey and the NDA cannot reach the leaver.
  await stack.db.departure.update({ where: { id: input.departureId }, data: { personalEmail: null } });
  const { status, scheduled } = await run(
    input,
    async (h) => {
      const status = await until(
        h,
        (x) =>
          x.assets[0]?.status === 'failed' &&
          ['exit_survey', 'nda_acknowledgment'].every(
            (t) => x.documents.find((d) => d.type === t)?.status === 'failed',
          ),
      );
      return { status, scheduled: await scheduledActivities(h) };
    },
    { dataSources: true },
  );
  // The round did what it could (plan, notifications, archiving); the three parts it reported failed
  // ran again on their own and failed the same way (a missing address is not retried).
  expect(scheduled.filter((t) => t === 'firstFollowupRound')).toHaveLength(1);
  expect(scheduled.filter((t) => FOLLOWUP_PART_ACTIVITIES.includes(t)).sort()).toEqual([
    'requestAssetReturn',
    'sendExitSurvey',
    'sendNdaForSignature',
  ]);
  expect(status.assets[0]).toMatchObject({ assetTag: tag, status: 'failed' });
  expect(status.assets[0]!.lastError).toMatch(/personalEmail/);
  const byType = Object.fromEntries(status.documents.map((d) => [d.type, d]));
  expect(byType.exit_survey!.lastError).toMatch(/personalEmail/);
  expect(byType.nda_acknowledgment!.lastError).toMatch(/personalEmail/);
  expect(byType).toMatchObject({
    payroll_notification: { status: 'delivered' },
    benefits_notification: { status: 'delivered' },
    // The archives were tasked; their owners have not confirmed them yet.
    data_archiving_confirmation: { status: 'pending' },
  });
});

test('the personal email filled in later: the return request, the exit survey and the NDA go out to it, once', async () => {
  const id = uniq('A');
  seedEmployee(stack.standIns, id, { ldap: false });
  const tag = await giveAsset(id);
  const input = await createDeparture(stack.db, id, { workLocation: 'remote' });
  await stack.db.departure.update({ where: { id: input.departureId }, data: { personalEmail: null } });
  const personal = `${id.toLowerCase()}@later.example.net`;
  const failedForWant = (x: OffboardingStatus) =>
    x.assets[0]?.status === 'failed' &&
    ['exit_survey', 'nda_acknowledgment'].every(
      (t) => x.documents.find((d) => d.type === t)?.status === 'failed',
    );
  const { final, scheduled } = await run(input, async (h) => {
    await until(h, failedForWant);
    // The HRIS fills the address in; the intake stores it and signals (names only, no address).
    await stack.db.departure.update({ where: { id: input.departureId }, data: { personalEmail: personal } });
    await h.signal(contactUpdatedSignal, { fields: ['personalEmail'], source: 'hris:msg_later' });
    const s = await until(
      h,
      (x) =>
        x.assets[0]?.status === 'requested' &&
        x.documents.find((d) => d.type === 'exit_survey')?.status === 'sent' &&
        x.documents.find((d) => d.type === 'nda_acknowledgment')?.status === 'sent',
    );
    expect(s.assets[0]!.lastError).toBeNull();
    // The same update delivered again: nothing failed since, so nothing goes out twice.
    await h.signal(contactUpdatedSignal, { fields: ['personalEmail'], source: 'hris:msg_later' });
    await h.signal(assetReceivedSignal, receipt(tag));
    await signNda(h);
    const final = await resultAfterSignOff(testEnv.client, h);
    return { final, scheduled: await scheduledActivities(h) };
  });
  expect(final.phase).toBe('completed');
  expect(final.assets[0]).toMatchObject({ assetTag: tag, status: 'received' });
  const byType = Object.fromEntries(final.documents.map((d) => [d.type, d.status]));
  expect(byType).toMatchObject({ exit_survey: 'sent', nda_acknowledgment: 'signed' });
  // Each ran once on its own and failed, then once more after the correction.
  for (const t of ['requestAssetReturn', 'sendExitSurvey', 'sendNdaForSignature'])
    expect(scheduled.filter((x) => x === t)).toHaveLength(2);
  const inbox = stack.mail.to(personal);
  expect(inbox.filter((m) => m.subject.includes(tag))).toHaveLength(1);
  expect(inbox.filter((m) => m.subject.includes('exit survey'))).toHaveLength(1);
  expect(inbox.filter((m) => m.subject.startsWith('Please sign'))).toHaveLength(1);
  expect(
    (await stack.db.assetRecovery.findFirstOrThrow({ where: { departureId: input.departureId } })).status,
  ).toBe('received');
});

test('a late return after the department head was told is still recorded: custody, check-in, received', async () => {
  const id = uniq('A');
  seedEmployee(stack.standIns, id, { ldap: false });
  const tag = await giveAsset(id, 'Monitor');
  const input = await createDeparture(stack.db, id, { workLocation: 'in_office' });
  const final = await run(input, async (h) => {
    await signNda(h);
    const s = await until(h, (x) => x.assets[0]?.status === 'requested');
    await skipTime(
      testEnv,
      h,
      Date.parse(s.assets[0]!.secondDueAt) - (await testEnv.currentTimeMs()) + 3_600_000,
    );
    await until(h, (x) => x.assets[0]?.status === 'escalated_department_head');
    // Nothing waits for the asset any more; the IT desk gets it back anyway.
    await h.signal(assetReceivedSignal, receipt(tag));
    const back = await until(h, (x) => x.assets[0]?.status === 'received');
    expect(back.assets[0]!.lastError).toBeNull();
    return resultAfterSignOff(testEnv.client, h);
  });
  expect(final.assets[0]).toMatchObject({ assetTag: tag, status: 'received' });
  const rec = await stack.db.assetRecovery.findFirstOrThrow({
    where: { departureId: input.departureId },
    include: { custody: { orderBy: { id: 'asc' } } },
  });
  expect(rec).toMatchObject({ status: 'received', receivedBy: 'desk-alex', inspectedBy: 'desk-sam' });
  expect(rec.recoveryPlan).toBeTruthy();
  expect(rec.custody.map((c) => c.event)).toEqual(expect.arrayContaining(['received', 'checked_in']));
  expect(rec.custody.find((c) => c.event === 'received')?.details).toMatchObject({
    previousStatus: 'escalated_department_head',
  });
  expect((await stack.db.asset.findUniqueOrThrow({ where: { tag } })).status).toBe('returned');
});
