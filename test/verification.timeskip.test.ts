/**
 * The verification checkpoint on the time-skipping test server, without waiting real days: the report
 * at trigger + 24 h (not before), the one-business-day acknowledgment window (reminder and escalation to
 * the department head), the 48 h escalation of an unresolved red, the update validators, a final live
 * audit that finds an account re-enabled behind Offboard's back, and continue-as-new while waiting.
 * Real activities underneath: PostgreSQL, SMTP catcher, SCIM stand-in.
 */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  acknowledgeUpdate,
  documentSignedSignal,
  redriveUpdate,
  resolveUpdate,
  statusQuery,
  type OffboardingInput,
  type OffboardingStatus,
  type ResolveRequest,
} from '../contract';
import {
  catalogOf,
  eventually,
  createDeparture,
  seedEmployee,
  startStack,
  startTimeSkipping,
  uniq,
  withWorkerOn,
  type Stack,
} from './support/harness';
import { skipTime } from './support/timeskip';

jest.setTimeout(180_000);

let testEnv: TestWorkflowEnvironment;
let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
}, 60_000);

beforeEach(async () => {
  testEnv = await startTimeSkipping();
}, 30_000);

afterEach(async () => {
  await testEnv?.teardown();
  stack.standIns.scim.control.clearFaults();
});

afterAll(async () => {
  await stack?.stop();
});

type Handle = Awaited<ReturnType<typeof testEnv.client.workflow.start>>;
const HOUR = 3_600_000;

async function run<T>(
  input: OffboardingInput,
  fn: (h: Handle) => Promise<T>,
  opts: { continueAsNewAfterEvents?: number } = {},
): Promise<T> {
  departureId = input.departureId;
  const taskQueue = uniq('verify');
  const catalog = catalogOf(stack, ['crm']);
  catalog.verification = {
    reportAfterHours: 24,
    redEscalationAfterHours: 48,
    acknowledgmentBusinessDays: 1,
    reminderHour: 9,
    continueAsNewAfterEvents: opts.continueAsNewAfterEvents ?? 5_000,
  };
  catalog.assets = { ...catalog.assets, holidays: { country: 'DE' } };
  return withWorkerOn(testEnv.nativeConnection, stack, taskQueue, catalog, async () => {
    const h = await testEnv.client.workflow.start('offboardingWorkflow', {
      taskQueue,
      workflowId: `offboarding:${input.employeeId}`,
      args: [input],
      memo: { departureId: input.departureId },
    });
    return fn(h);
  });
}

async function until(
  h: Pick<Handle, 'query'>,
  ok: (s: OffboardingStatus) => boolean,
): Promise<OffboardingStatus> {
  let last: OffboardingStatus | null = null;
  for (let i = 0; i < 300; i++) {
    last = await h.query(statusQuery);
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`workflow never reached the expected state: ${JSON.stringify(last?.verification ?? last)}`);
}

/** Skips the test server's clock to `iso` (plus a minute), leaving the workflow settled (`skipTime`). */
async function skipTo(h: Pick<Handle, 'workflowId' | 'fetchHistory'>, iso: string): Promise<void> {
  await skipTime(testEnv, h, Date.parse(iso) - (await testEnv.currentTimeMs()) + 60_000);
}

const signNda = (h: Handle) =>
  h.signal(documentSignedSignal, {
    documentId: 'x',
    type: 'nda_acknowledgment',
    signedAt: new Date().toISOString(),
  });

let departureId = '';
const ack = (h: Handle, role: 'hr' | 'it') =>
  h.executeUpdate(acknowledgeUpdate, { args: [{ departureId, role, by: `${role}-alex` }] });

const resolve = (h: Handle, r: Omit<ResolveRequest, 'by' | 'role' | 'departureId'>) =>
  h.executeUpdate(resolveUpdate, { args: [{ ...r, departureId, by: 'it-sam', role: 'it' }] });

/** The failure type of a rejected update (NotFound, Conflict, Unprocessable). */
async function rejection(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof WorkflowUpdateFailedError && e.cause instanceof ApplicationFailure)
      return `${e.cause.type}: ${e.cause.message}`;
    throw e;
  }
  throw new Error('the update was accepted');
}

test('the report is compiled at trigger + 24 h, not before; HR and IT acknowledge; then it completes', async () => {
  const id = uniq('V');
  seedEmployee(stack.standIns, id, { ldap: false });
  const input = await createDeparture(stack.db, id);
  const dep = await stack.db.departure.findUniqueOrThrow({ where: { id: input.departureId } });
  const final = await run(input, async (h) => {
    await until(h, (s) => s.documents.some((d) => d.type === 'nda_acknowledgment' && d.status === 'sent'));
    await signNda(h);
    const waiting = await until(h, (s) => s.phase === 'awaiting_signoff');
    expect(waiting.verification).toMatchObject({ report: null, done: false });
    expect(Date.parse(waiting.verification!.reportAt)).toBe(dep.createdAt.getTime() + 24 * HOUR);
    expect(waiting.verification!.outstanding[0]).toMatch(/verification report \(due /);
    // Nothing to acknowledge yet.
    expect(await rejection(ack(h, 'hr'))).toMatch(/^Conflict: .*not been compiled yet/);

    await skipTime(testEnv, h, 23 * HOUR);
    expect((await h.query(statusQuery)).verification!.report).toBeNull();
    await skipTo(h, waiting.verification!.reportAt);
    const s = await until(h, (x) => x.verification?.report != null);
    const items = s.verification!.report!.items;
    expect(items.find((i) => i.itemId === 'step:crm')).toMatchObject({
      colour: 'green',
      reportColour: 'green',
    });
    expect(items.find((i) => i.itemId === 'access:crm')).toMatchObject({ kind: 'access', colour: 'green' });
    expect(items.find((i) => i.itemId === 'document:nda_acknowledgment')).toMatchObject({ colour: 'green' });
    expect(s.verification!.unresolved).toEqual([]);
    expect(s.verification!.outstanding).toEqual(['HR acknowledgment', 'IT acknowledgment']);
    const mail = await stack.mail.waitFor((m) => m.purpose === 'verification_report' && m.text.includes(id));
    expect(mail.to).toEqual(['hr-team@example.com']);
    expect(mail.cc).toEqual(['it-team@example.com']);
    expect(mail.text).toMatch(/GREEN +CRM: deactivate_user/);

    const first = await ack(h, 'hr');
    expect(first).toMatchObject({
      alreadyAcknowledged: false,
      acknowledgment: { role: 'hr', by: 'hr-alex' },
    });
    // Acknowledging twice is answered with the first acknowledgment, not recorded again.
    const again = await ack(h, 'hr');
    expect(again).toEqual({ acknowledgment: first.acknowledgment, alreadyAcknowledged: true });
    expect(
      await rejection(
        h.executeUpdate(acknowledgeUpdate, { args: [{ departureId, role: 'itdesk' as 'hr', by: 'x' }] }),
      ),
    ).toMatch(/^Unprocessable: only HR and IT/);
    expect((await h.query(statusQuery)).phase).toBe('awaiting_signoff');
    await ack(h, 'it');
    return (await h.result()) as OffboardingStatus;
  });
  expect(final.phase).toBe('completed');
  expect(final.verification).toMatchObject({ done: true, unresolved: [], outstanding: [] });
  expect(final.verification!.finalAudit!.rows).toEqual([
    {
      systemId: 'crm',
      systemName: 'CRM',
      active: 'no',
      detail: '1 account(s) found by externalId, userName, emails, none active',
      accounts: [],
    },
  ]);
  expect(final.documents.find((d) => d.type === 'completion_certificate')?.status).toBe('generated');
  const after = await stack.db.departure.findUniqueOrThrow({
    where: { id: input.departureId },
    include: { report: true },
  });
  expect(after.status).toBe('completed');
  expect(after.report).toMatchObject({
    hrAcknowledgedBy: 'hr-alex',
    itAcknowledgedBy: 'it-alex',
    reminders: 0,
  });
  const acks = await stack.db.auditEvent.findMany({
    where: { departureId: input.departureId, action: 'report_acknowledged' },
  });
  expect(acks.map((a) => a.actor).sort()).toEqual(['operator:hr-alex', 'operator:it-alex']);
  // No reminder, no escalation: both acknowledged in time.
  expect(stack.mail.to('head@example.com').filter((m) => m.text.includes(id))).toEqual([]);
});

test('a missing acknowledgment is reminded after one business day and escalates to the department head once', async () => {
  const id = uniq('V');
  seedEmployee(stack.standIns, id, { ldap: false });
  const input = await createDeparture(stack.db, id);
  const final = await run(input, async (h) => {
    await until(h, (s) => s.documents.some((d) => d.type === 'nda_acknowledgment' && d.status === 'sent'));
    await signNda(h);
    const waiting = await until(h, (s) => s.phase === 'awaiting_signoff');
    await skipTo(h, waiting.verification!.reportAt);
    const s = await until(h, (x) => x.verification?.report != null);
    await ack(h, 'hr');
    const due = s.verification!.report!.ackDueAt;
    // One business day in the company calendar (Berlin, German holidays): never before the next day ends.
    expect(Date.parse(due)).toBeGreaterThan(Date.parse(s.verification!.report!.compiledAt) + 24 * HOUR);
    expect(
      stack.mail.messages.filter((m) => m.purpose === 'acknowledgment_reminder' && m.text.includes(id)),
    ).toEqual([]);
    await skipTo(h, due);
    const r1 = await until(h, (x) => x.verification!.reminders === 1);
    expect(r1.verification!.ackEscalated).toBe(true);
    const reminder = await stack.mail.waitFor(
      (m) => m.purpose === 'acknowledgment_reminder' && m.text.includes(id),
    );
    expect(reminder.to).toEqual(['it-team@example.com']); // HR has acknowledged: only IT is reminded
    const escalation = await stack.mail.waitFor(
      (m) => m.purpose === 'acknowledgment_escalated' && m.text.includes(id),
    );
    expect(escalation.to).toEqual(['head@example.com']);
    expect(escalation.subject).toMatch(/IT has not acknowledged/);
    // The next business day: another reminder, no second escalation.
    await skipTo(h, r1.verification!.nextReminderAt!);
    await until(h, (x) => x.verification!.reminders === 2);
    await ack(h, 'it');
    return (await h.result()) as OffboardingStatus;
  });
  expect(final.phase).toBe('completed');
  const mine = stack.mail.messages.filter((m) => m.text.includes(id));
  expect(mine.filter((m) => m.purpose === 'acknowledgment_escalated')).toHaveLength(1);
  expect(mine.filter((m) => m.purpose === 'acknowledgment_reminder')).toHaveLength(2);
  const report = await stack.db.verificationReport.findUniqueOrThrow({
    where: { departureId: input.departureId },
  });
  expect(report.reminders).toBe(2);
  expect(report.ackEscalatedAt).not.toBeNull();
});

test('a red unresolved at 48 h escalates to the department head; resolutions are validated and logged', async () => {
  const id = uniq('V');
  const person = seedEmployee(stack.standIns, id, { ldap: false });
  stack.standIns.scim.control.inject({
    method: 'PATCH',
    pathIncludes: `/crm/scim/v2/Users/${person.scimUsers.crm.id}`,
    status: 500,
    times: Infinity,
  });
  const input = await createDeparture(stack.db, id);
  const final = await run(input, async (h) => {
    await until(h, (s) => s.documents.some((d) => d.type === 'nda_acknowledgment' && d.status === 'sent'));
    await signNda(h);
    const waiting = await until(h, (s) => s.phase === 'awaiting_signoff');
    await skipTo(h, waiting.verification!.reportAt);
    const s = await until(h, (x) => x.verification?.report != null);
    const item = (x: OffboardingStatus, itemId: string) =>
      x.verification!.report!.items.find((i) => i.itemId === itemId);
    expect(item(s, 'step:crm')).toMatchObject({ colour: 'red', reportColour: 'red' });
    // The live audit still finds the account: red whatever the step said.
    // ... and names it, with the key that found it.
    expect(item(s, 'access:crm')).toMatchObject({
      colour: 'red',
      detail: `still giving access: ${person.workEmail} (${person.scimUsers.crm.id}) found by userName: active=true`,
    });
    expect(s.verification!.unresolved.sort()).toEqual(['access:crm', 'step:crm']);

    // Both acknowledge: not enough while reds are unresolved.
    await ack(h, 'hr');
    await ack(h, 'it');
    expect(await rejection(resolve(h, { itemId: 'step:nope', how: 'accepted_risk', note: 'n/a' }))).toMatch(
      /^NotFound: /,
    );
    expect(
      await rejection(
        resolve(h, { itemId: 'document:payroll_notification', how: 'accepted_risk', note: 'why' }),
      ),
    ).toMatch(/^Unprocessable: .*green and needs no resolution/);
    expect(
      await rejection(resolve(h, { itemId: 'step:crm', how: 'redriven_confirmed', note: 'done' })),
    ).toMatch(/^Unprocessable: .*only a step that is confirmed now/);
    expect(await rejection(resolve(h, { itemId: 'access:crm', how: 'accepted_risk', note: 'meh' }))).toMatch(
      /^Unprocessable: .*still active cannot be accepted risk/,
    );

    await skipTo(h, s.verification!.redEscalationAt);
    await until(h, (x) => x.verification!.redEscalated);
    const esc = await stack.mail.waitFor((m) => m.purpose === 'red_escalated' && m.text.includes(id));
    expect(esc.to).toEqual(['head@example.com']);
    expect(esc.cc.sort()).toEqual(['hr-team@example.com', 'it-team@example.com']);
    expect(esc.text).toMatch(/RED +CRM: deactivate_user/);
    expect((await h.query(statusQuery)).phase).toBe('awaiting_signoff');

    // IT fixes the target and re-drives the step; it turns green and is resolved as such.
    stack.standIns.scim.control.clearFaults();
    await h.executeUpdate(redriveUpdate, {
      args: [{ stepIds: ['crm'], requestedBy: 'it-sam', reason: 'fixed' }],
    });
    await until(h, (x) => x.steps.find((st) => st.stepId === 'crm')?.status === 'green');
    const res = await resolve(h, {
      itemId: 'step:crm',
      how: 'redriven_confirmed',
      note: 'CRM token renewed',
    });
    expect(res).toMatchObject({ itemId: 'step:crm', how: 'redriven_confirmed', by: 'it-sam' });
    expect(await rejection(resolve(h, { itemId: 'step:crm', how: 'fixed_by_hand', note: 'again' }))).toMatch(
      /^Conflict: step:crm was already resolved by it-sam/,
    );
    await resolve(h, { itemId: 'access:crm', how: 'fixed_by_hand', note: 'disabled by the re-drive' });
    return (await h.result()) as OffboardingStatus;
  });
  expect(final.phase).toBe('completed');
  expect(final.verification!.finalAudit!.rows[0]).toMatchObject({ systemId: 'crm', active: 'no' });
  const logged = await stack.db.auditEvent.findMany({
    where: { departureId: input.departureId, action: 'report_item_resolved' },
    orderBy: { id: 'asc' },
  });
  expect(logged.map((l) => (l.details as { itemId: string; note: string }).note)).toEqual([
    'CRM token renewed',
    'disabled by the re-drive',
  ]);
  expect(await stack.db.resolution.count({ where: { departureId: input.departureId } })).toBe(2);
  const red = await stack.db.auditEvent.findMany({
    where: { departureId: input.departureId, action: 'red_escalated' },
  });
  expect(red).toHaveLength(1);
});

test('the final live audit finds an account re-enabled after revocation: not done until it is disabled again', async () => {
  const id = uniq('V');
  const person = seedEmployee(stack.standIns, id, { ldap: false });
  const input = await createDeparture(stack.db, id);
  const final = await run(input, async (h) => {
    await until(h, (s) => s.documents.some((d) => d.type === 'nda_acknowledgment' && d.status === 'sent'));
    await signNda(h);
    const waiting = await until(h, (s) => s.phase === 'awaiting_signoff');
    await skipTo(h, waiting.verification!.reportAt);
    await until(h, (x) => x.verification?.report != null);
    // Someone re-enables the account in the CRM behind Offboard's back.
    const user = stack.standIns.scim.findUser('crm', person.workEmail)!;
    user.active = true;
    await ack(h, 'hr');
    await ack(h, 'it');
    const s = await until(h, (x) => x.verification!.unresolved.includes('access:crm'));
    expect(s.phase).toBe('awaiting_signoff');
    expect(s.verification!.finalAudit!.rows[0]).toMatchObject({ systemId: 'crm', active: 'yes' });
    // The step keeps its colour (the revocation was confirmed); the live audit's item is what is red.
    expect(s.verification!.report!.items.find((i) => i.itemId === 'step:crm')!.colour).toBe('green');
    const told = await stack.mail.waitFor(
      (m) => m.purpose === 'active_accounts_found' && m.text.includes(id),
    );
    expect(told.to).toEqual(['it-team@example.com']);
    // Lists see it too: one red item to resolve on the departure (it had no red step).
    const redItems = async () =>
      (await stack.db.departure.findUniqueOrThrow({ where: { id: input.departureId } })).redItems;
    await eventually(async () => (await redItems()) === 1, 20_000, 'redItems 1');
    expect((await stack.db.departure.findUniqueOrThrow({ where: { id: input.departureId } })).redSteps).toBe(
      0,
    );
    expect(await rejection(resolve(h, { itemId: 'access:crm', how: 'accepted_risk', note: 'meh' }))).toMatch(
      /^Unprocessable/,
    );
    // A resolution that is not true is caught by the next audit.
    await resolve(h, { itemId: 'access:crm', how: 'fixed_by_hand', note: 'disabled (not really)' });
    await until(
      h,
      (x) =>
        x.verification!.unresolved.includes('access:crm') &&
        x.verification!.resolutions.length === 1 &&
        Date.parse(x.verification!.finalAudit!.at) > Date.parse(x.verification!.resolutions[0]!.at),
    );
    user.active = false;
    await resolve(h, {
      itemId: 'access:crm',
      how: 'fixed_by_hand',
      note: 'disabled in the CRM admin console',
    });
    return (await h.result()) as OffboardingStatus;
  });
  expect(final.phase).toBe('completed');
  expect(final.verification!.finalAudit!.rows[0]).toMatchObject({ active: 'no' });
  expect((await stack.db.departure.findUniqueOrThrow({ where: { id: input.departureId } })).redItems).toBe(0);
  expect(
    await stack.db.auditEvent.count({
      where: { departureId: input.departureId, action: 'active_accounts_found' },
    }),
  ).toBe(2);
});

test('a long wait for sign-off continues as new and keeps the whole state', async () => {
  const id = uniq('V');
  seedEmployee(stack.standIns, id, { ldap: false });
  const input = await createDeparture(stack.db, id);
  const final = await run(
    input,
    async (h) => {
      await until(h, (s) => s.documents.some((d) => d.type === 'nda_acknowledgment' && d.status === 'sent'));
      await signNda(h);
      const waiting = await until(h, (s) => s.phase === 'awaiting_signoff');
      await skipTo(h, waiting.verification!.reportAt);
      const latest = testEnv.client.workflow.getHandle(h.workflowId);
      await until(latest, (x) => x.verification?.report != null);
      // Two weeks of daily reminders nobody answers.
      await skipTime(testEnv, latest, 14 * 24 * HOUR);
      const s = await until(latest, (x) => x.verification!.reminders >= 5);
      const first = await testEnv.client.workflow.getHandle(h.workflowId, h.firstExecutionRunId).describe();
      expect(first.status.name).toBe('CONTINUED_AS_NEW');
      const now = await latest.describe();
      expect(now.runId).not.toBe(h.firstExecutionRunId);
      expect(now.memo).toEqual({ departureId: input.departureId });
      // Everything survived the new run: steps, documents, report, acknowledgment state.
      expect(s.steps.find((x) => x.stepId === 'crm')?.status).toBe('green');
      expect(s.documents.find((d) => d.type === 'nda_acknowledgment')?.status).toBe('signed');
      expect(s.verification!.ackEscalated).toBe(true);
      await latest.executeUpdate(acknowledgeUpdate, { args: [{ departureId, role: 'hr', by: 'hr-alex' }] });
      await latest.executeUpdate(acknowledgeUpdate, { args: [{ departureId, role: 'it', by: 'it-alex' }] });
      return (await latest.result()) as OffboardingStatus;
    },
    { continueAsNewAfterEvents: 60 },
  );
  expect(final.phase).toBe('completed');
  expect(final.steps.find((x) => x.stepId === 'crm')?.status).toBe('green');
  // One escalation across runs, and the certificate once.
  const mine = stack.mail.messages.filter((m) => m.text.includes(id));
  expect(mine.filter((m) => m.purpose === 'acknowledgment_escalated')).toHaveLength(1);
  expect(
    await stack.db.document.count({
      where: { departureId: input.departureId, type: 'completion_certificate' },
    }),
  ).toBe(1);
});
