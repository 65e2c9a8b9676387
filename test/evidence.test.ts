/**
 * The evidence trail: the audit table refuses changes, an email is never sent twice for one purpose, and
 * the activities' raw read of a departure gives the instants the Prisma client gives.
 */
import * as contract from '../contract';
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

/** Every checked column and the union (in contract/) it must allow exactly. */
const CHECKED: [table: string, column: string, values: readonly string[]][] = [
  ['Departure', 'status', DEPARTURE_STATUSES],
  ['StepRecord', 'status', STEP_STATUSES],
  ['StepRecord', 'kind', STEP_KINDS],
  ['StepRecord', 'integration', INTEGRATIONS],
  ['StepRecord', 'tier', REVOCATION_TIERS],
  ['Departure', 'workLocation', contract.WORK_LOCATIONS],
  ['Departure', 'terminationType', contract.TERMINATION_TYPES],
  ['TriggerEvent', 'source', contract.TRIGGER_SOURCES],
  ['TriggerEvent', 'signatureResult', contract.SIGNATURE_RESULTS],
  ['TriggerEvent', 'outcome', contract.TRIGGER_OUTCOMES],
  ['TriggerEvent', 'hrisStatus', contract.HRIS_STATUSES],
  ['Ticket', 'status', contract.TICKET_STATUSES],
  ['Ticket', 'deskKind', contract.TICKET_DESKS],
  ['Review', 'kind', contract.REVIEW_KINDS],
  ['Review', 'status', contract.REVIEW_STATUSES],
  ['WorkflowMessage', 'kind', contract.WORKFLOW_MESSAGE_KINDS],
  ['WorkflowMessage', 'status', contract.WORKFLOW_MESSAGE_STATUSES],
  ['Notification', 'status', contract.NOTIFICATION_STATUSES],
  ['Asset', 'status', contract.ASSET_STATUSES],
  ['AssetRecovery', 'assetSource', contract.ASSET_SOURCES],
  ['AssetRecovery', 'route', contract.ASSET_ROUTES],
  ['AssetRecovery', 'status', contract.ASSET_RECOVERY_STATUSES],
  ['CustodyEntry', 'event', contract.CUSTODY_EVENTS],
  ['Document', 'type', contract.DOCUMENT_TYPES],
  ['Document', 'status', contract.DOCUMENT_STATUSES],
  ['AccessLink', 'purpose', contract.ACCESS_LINK_PURPOSES],
  ['ArchiveRecord', 'status', contract.ARCHIVE_STATUSES],
  ['Resolution', 'how', contract.RESOLUTION_KINDS],
  ['HrisSync', 'vendor', contract.HRIS_VENDORS],
  ['OperatorMessage', 'status', contract.OPERATOR_MESSAGE_STATUSES],
];

test('statuses are checked columns: each allows exactly its one TypeScript union, nothing else', async () => {
  const checks = await stack.db.$queryRawUnsafe<{ name: string; def: string }[]>(
    `SELECT conname AS name, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE contype = 'c'
      AND connamespace = 'public'::regnamespace AND conname LIKE '%\\_check' ESCAPE '\\'`,
  );
  const allowed = (name: string) => {
    const def = checks.find((c) => c.name === name)?.def;
    if (!def) throw new Error(`no CHECK constraint ${name}`);
    return [...def.matchAll(/'([A-Za-z_]+)'::text/g)].map((m) => m[1]).sort();
  };
  for (const [table, column, values] of CHECKED)
    expect({ [`${table}.${column}`]: allowed(`${table}_${column}_check`) }).toEqual({
      [`${table}.${column}`]: [...values].sort(),
    });
  // Every CHECK of the schema is in the table above: a new one comes with its union.
  const named = new Set(CHECKED.map(([t, c]) => `${t}_${c}_check`));
  expect(checks.map((c) => c.name).filter((n) => !named.has(n))).toEqual([]);
  // The departure status `failed` was read in four places and never written: now it cannot be.
  const d = await findDepartureRow();
  await expect(
    stack.db.departure.update({ where: { id: d.id }, data: { status: 'failed' } }),
  ).rejects.toThrow(/Departure_status_check/);
  // Nor can a value nothing writes any more (an archive `failed`), or a misspelt one.
  await expect(
    stack.db.archiveRecord.create({
      data: {
        departureId: d.id,
        sourceId: uniq('src'),
        sourceName: 'Mail',
        status: 'failed',
        retentionPolicy: 'email-7y',
      },
    }),
  ).rejects.toThrow(/ArchiveRecord_status_check/);
  await expect(
    stack.db.ticket.create({
      data: {
        key: uniq('t'),
        departureId: d.id,
        systemId: 'vpn',
        summary: 's',
        ownerName: 'o',
        ownerEmail: 'o@example.com',
        slaDueAt: new Date(),
        status: 'Open',
      },
    }),
  ).rejects.toThrow(/Ticket_status_check/);
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
