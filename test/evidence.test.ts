/** The evidence trail: the audit table refuses changes, and an email is never sent twice for one purpose. */
import { createMailer } from '../lib/mailer';
import { audit } from '../lib/db';
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
