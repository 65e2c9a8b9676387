/**
 * The evidence trail: the audit table refuses changes, an email is never sent twice for one purpose, and
 * the activities' raw read of a departure gives the instants the Prisma client gives.
 */
import { DEPARTURE_STATUSES, INTEGRATIONS, REVOCATION_TIERS, STEP_KINDS, STEP_STATUSES } from '../contract';
import { createMailer } from '../lib/mailer';
import { audit, findDeparture } from '../lib/db';
import { startStack, uniq, type Stack } from './support/harness';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

test('AuditEvent is append-only at the database: UPDATE, DELETE and TRUNCATE are refused', async () => {
  const actor = uniq('auditor');
  await audit(stack.db, { actor, action: 'test_event', details: { n: 1 } });
  const row = await stack.db.auditEvent.findFirstOrThrow({ where: { actor } });
  await expect(
    stack.db.auditEvent.update({ where: { id: row.id }, data: { action: 'rewritten' } }),
  ).rejects.toThrow(/append-only/);
  await expect(stack.db.auditEvent.delete({ where: { id: row.id } })).rejects.toThrow(/append-only/);
  await expect(stack.db.$executeRawUnsafe('TRUNCATE "AuditEvent"')).rejects.toThrow(/append-only/);
  expect((await stack.db.auditEvent.findFirstOrThrow({ where: { id: row.id } })).action).toBe('test_event');
});

test('the same notification key is delivered once, with the SMTP acceptance stored as evidence', async () => {
  const key = uniq('mail');
  const mail = { key, purpose: 'test', to: 'owner@example.com', subject: `Subject ${key}`, text: 'body' };
  const first = await stack.mailer.send(mail);
  const second = await stack.mailer.send(mail);
  expect(first.alreadySent).toBe(false);
  expect(second).toMatchObject({ alreadySent: true, messageId: first.messageId });
  await stack.mail.waitFor((m) => m.subject === `Subject ${key}`);
  await new Promise((r) => setTimeout(r, 300));
  expect(stack.mail.messages.filter((m) => m.subject === `Subject ${key}`)).toHaveLength(1);
  const row = await stack.db.notification.findUniqueOrThrow({ where: { key } });
  expect(row.status).toBe('sent');
  expect(row.smtpResponse).toMatch(/^250/);
});

test('an SMTP server that is down fails the send (so the activity retries) and records nothing as sent', async () => {
  const down = createMailer({ db: stack.db, smtpUrl: 'smtp://127.0.0.1:1', from: 'x@example.com' });
  const key = uniq('mail');
  await expect(
    down.send({ key, purpose: 'test', to: 'a@example.com', subject: 's', text: 't' }),
  ).rejects.toThrow();
  expect((await stack.db.notification.findUniqueOrThrow({ where: { key } })).status).toBe('pending');
  down.close();
});

test('findDeparture (one pg round trip) returns the row as the Prisma client does, instants in UTC', async () => {
  // The suite runs in a time zone far from UTC (globalSetup): a `timestamp` read as local time would
  // be off by hours.
  expect(new Date('2026-01-01T00:00:00').getTimezoneOffset()).not.toBe(0);
  const id = uniq('dep');
  const confirmedAt = new Date('2026-11-25T14:00:00.123Z');
  await stack.db.departure.create({
    data: {
      id,
      employeeId: uniq('E'),
      terminationKey: confirmedAt.toISOString(),
      workflowId: `offboarding:${id}`,
      employeeName: 'Dana Reyes',
      workEmail: 'dana@example.com',
      department: 'Finance',
      workLocation: 'remote',
      terminationType: 'involuntary',
      confirmedAt,
      occurredAt: new Date('2026-11-25T13:59:59.999Z'),
      revokeRestAt: new Date('2026-11-26T10:59:59.000Z'),
      lastDay: '2026-11-25',
      redSteps: 2,
      legalHold: true,
    },
  });
  const viaClient = await stack.db.departure.findUniqueOrThrow({ where: { id } });
  const raw = await findDeparture(stack.db, id);
  expect(raw).toEqual(viaClient);
  expect(raw!.confirmedAt.toISOString()).toBe('2026-11-25T14:00:00.123Z');
  expect(raw!.workflowStartedAt).toBeNull();
  expect(await findDeparture(stack.db, uniq('none'))).toBeNull();
});

test('statuses are checked columns: each allows exactly its one TypeScript union, nothing else', async () => {
  const checks = await stack.db.$queryRawUnsafe<{ name: string; def: string }[]>(
    `SELECT conname AS name, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE contype = 'c'
      AND conname IN ('Departure_status_check', 'StepRecord_status_check', 'StepRecord_kind_check',
                      'StepRecord_integration_check', 'StepRecord_tier_check')`,
  );
  const allowed = (name: string) =>
    [...(checks.find((c) => c.name === name)?.def ?? '').matchAll(/'([a-z_]+)'::text/g)]
      .map((m) => m[1])
      .sort();
  expect(allowed('Departure_status_check')).toEqual([...DEPARTURE_STATUSES].sort());
  expect(allowed('StepRecord_status_check')).toEqual([...STEP_STATUSES].sort());
  expect(allowed('StepRecord_kind_check')).toEqual([...STEP_KINDS].sort());
  expect(allowed('StepRecord_integration_check')).toEqual([...INTEGRATIONS].sort());
  expect(allowed('StepRecord_tier_check')).toEqual([...REVOCATION_TIERS].sort());
  // The departure status `failed` was read in four places and never written: now it cannot be.
  const d = await findDepartureRow();
  await expect(
    stack.db.departure.update({ where: { id: d.id }, data: { status: 'failed' } }),
  ).rejects.toThrow(/Departure_status_check/);
});

async function findDepartureRow() {
  const id = `dep_${uniq('chk')}`;
  return stack.db.departure.create({
    data: {
      id,
      employeeId: uniq('E'),
      terminationKey: new Date().toISOString(),
      workflowId: `offboarding:${id}`,
      employeeName: 'Check',
      workEmail: 'check@example.com',
      department: 'Finance',
      workLocation: 'remote',
      terminationType: 'involuntary',
      confirmedAt: new Date(),
      occurredAt: new Date(),
    },
  });
}
