/**
 * The workflow's durable timers on the time-skipping test server: a service ticket that its owner does
 * not confirm within the SLA turns red and reaches the escalation owner; one confirmed in time turns
 * green. Real activities (PostgreSQL, SMTP, SCIM stand-in) run underneath.
 */
import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { createOffboardingWorker } from '../workers/worker';
import {
  confirmTicketSignal,
  offboardingWorkflowId,
  statusQuery,
  type OffboardingInput,
  type OffboardingStatus,
} from '../contract';
import {
  env,
  registerSearchAttributes,
  resultAfterSignOff,
  seedEmployee,
  startStack,
  uniq,
  workflowBundlePath,
  type Stack,
} from './support/harness';
import { skipTime } from './support/timeskip';

let testEnv: TestWorkflowEnvironment;
let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
  testEnv = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: env.testServer } },
  });
  await registerSearchAttributes(testEnv.connection);
}, 60_000);

afterAll(async () => {
  await testEnv?.teardown();
  await stack?.stop();
});

async function departure(employeeId: string): Promise<OffboardingInput> {
  const id = `dep_${randomUUID()}`;
  const confirmedAt = new Date(Date.now() - 60_000);
  await stack.db.departure.create({
    data: {
      id,
      employeeId,
      terminationKey: confirmedAt.toISOString(),
      workflowId: offboardingWorkflowId(employeeId),
      employeeName: `Employee ${employeeId}`,
      workEmail: `${employeeId.toLowerCase()}@example.com`,
      department: 'Finance',
      workLocation: 'in_office',
      terminationType: 'involuntary',
      confirmedAt,
      occurredAt: confirmedAt,
    },
  });
  return {
    departureId: id,
    employeeId,
    terminationType: 'involuntary',
    confirmedAt: confirmedAt.toISOString(),
    lastDay: null,
  };
}

async function withWorker<T>(taskQueue: string, fn: () => Promise<T>): Promise<T> {
  const catalog = {
    ...stack.catalog,
    systems: stack.catalog.systems.filter((s) => ['crm', 'badge'].includes(s.id)),
  };
  // The offboarding workers as production builds them: the follow-up queue's worker included.
  const worker = await createOffboardingWorker({
    connection: testEnv.nativeConnection,
    namespace: 'default',
    taskQueue,
    workflowBundle: { codePath: workflowBundlePath() },
    deps: {
      db: stack.db,
      catalog,
      connectors: stack.connectors,
      mailer: stack.mailer,
      publicUrl: 'http://x',
    },
    dataConverter: {},
    extra: { stickyQueueScheduleToStartTimeout: '1s' },
  });
  return worker.runUntil(fn());
}

test('an unconfirmed ticket turns red when its SLA passes and the escalation owner is told', async () => {
  const id = uniq('T');
  seedEmployee(stack.standIns, id, { ldap: false });
  const input = await departure(id);
  const taskQueue = uniq('ts');
  const result: OffboardingStatus = await withWorker(taskQueue, async () =>
    resultAfterSignOff(
      testEnv.client,
      await testEnv.client.workflow.start('offboardingWorkflow', {
        taskQueue,
        workflowId: input.departureId,
        args: [input],
      }),
    ),
  );
  const badge = result.steps.find((s) => s.systemId === 'badge')!;
  expect(badge.status).toBe('red');
  expect(badge.lastError).toMatch(/not confirmed within 24 h SLA/);
  expect(result.steps.find((s) => s.systemId === 'crm')!.status).toBe('green');
  const mail = await stack.mail.waitFor(
    (m) => m.to.includes('badge-escalation@example.com') && m.text.includes(id),
  );
  expect(mail.purpose).toBe('step_escalated');
  expect(mail.cc).toContain('badge-owner@example.com');
  const ticket = await stack.db.ticket.findFirstOrThrow({ where: { departureId: input.departureId } });
  expect(ticket.status).toBe('breached');
  const dep = await stack.db.departure.findUniqueOrThrow({ where: { id: input.departureId } });
  expect(dep).toMatchObject({ status: 'completed', redSteps: 1 });
});

test('a ticket confirmed before its SLA turns green with who confirmed it', async () => {
  const id = uniq('T');
  seedEmployee(stack.standIns, id, { ldap: false });
  const input = await departure(id);
  const taskQueue = uniq('ts');
  const result: OffboardingStatus = await withWorker(taskQueue, async () => {
    const h = await testEnv.client.workflow.start('offboardingWorkflow', {
      taskQueue,
      workflowId: input.departureId,
      args: [input],
    });
    // Wait (in skipped time) until the ticket is open, then confirm it.
    let ticketId: string | null = null;
    for (let i = 0; i < 100 && !ticketId; i++) {
      const st = await h.query(statusQuery);
      ticketId = st.steps.find((s) => s.systemId === 'badge')?.ticketId ?? null;
      if (!ticketId) await skipTime(testEnv, h, 1_000);
    }
    expect(ticketId).toBeTruthy();
    // A confirmation for the wrong ticket is ignored.
    await h.signal(confirmTicketSignal, {
      systemId: 'badge',
      ticketId: 'not-it',
      confirmedBy: 'mallory',
      note: 'x',
    });
    await skipTime(testEnv, h, 2 * 3_600_000);
    expect((await h.query(statusQuery)).steps.find((s) => s.systemId === 'badge')?.status).toBe('yellow');
    await h.signal(confirmTicketSignal, {
      systemId: 'badge',
      ticketId: ticketId!,
      confirmedBy: 'fac-alex',
      note: 'badge revoked',
    });
    return resultAfterSignOff(testEnv.client, h);
  });
  const badge = result.steps.find((s) => s.systemId === 'badge')!;
  expect(badge.status).toBe('green');
  expect(badge.detail).toBe('confirmed by fac-alex: badge revoked');
  const row = await stack.db.stepRecord.findFirstOrThrow({
    where: { departureId: input.departureId, systemId: 'badge' },
  });
  expect(row.evidence).toMatchObject({ confirmedBy: 'fac-alex' });
  expect(stack.mail.to('badge-escalation@example.com').filter((m) => m.text.includes(id))).toHaveLength(0);
});
