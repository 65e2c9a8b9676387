/**
 * IT records a data source's archive as done through the API (the built-in manual archive connector
 * tasks the owner and keeps the archive pending until then): the right role, a known archive and a
 * valid body only, once; the workflow records it, generates the data-archiving confirmation again and
 * turns the document from pending (yellow in the report) to generated.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { statusQuery } from '../contract';
import { signDelivery } from '../lib/webhook-sign';
import type { RunningServer } from '../server/main';
import {
  withManualMailbox,
  TOKENS,
  WEBHOOK_SECRET,
  eventually,
  hrisEvent,
  post,
  seedEmployee,
  startRunningStack,
  uniq,
  type Stack,
} from './support/harness';

let stack: Stack;
let api: RunningServer;
let stopAll: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ stack, api, stop: stopAll } = await startRunningStack({ catalog: withManualMailbox }));
}, 60_000);
afterAll(async () => {
  await stopAll?.();
});

/** `offboard status <ref>` against this API as IT: its text output. */
const cliStatus = (ref: string) =>
  new Promise<string>((resolve, reject) =>
    execFile(
      process.execPath,
      [path.join(__dirname, '..', 'cli', 'offboard.cjs'), 'status', ref],
      { env: { ...process.env, OFFBOARD_URL: api.url, OFFBOARD_TOKEN: TOKENS.it }, timeout: 60_000 },
      (err, stdout) => (err && err.code !== 1 ? reject(err) : resolve(stdout)),
    ),
  );

test('IT confirms an archive: pending until then, generated after; wrong roles, unknown sources, bad bodies and repeats refused', async () => {
  const id = uniq('AR');
  seedEmployee(stack.standIns, id);
  const d = signDelivery(WEBHOOK_SECRET, hrisEvent(id));
  const departureId = (await post(`${api.url}/webhooks/hris`, d.body, d.headers)).json.departureId as string;
  const handle = stack.client.workflow.getHandle(`offboarding:${id}`);
  const archiving = async () =>
    (await handle.query(statusQuery)).documents.find((x) => x.type === 'data_archiving_confirmation')?.status;
  // Tasked, not confirmed: the confirmation document is pending (yellow), not generated (green).
  await eventually(async () => (await archiving()) === 'pending', 30_000, 'archive pending');
  expect(
    (await stack.db.archiveRecord.findFirstOrThrow({ where: { departureId, sourceId: 'mailbox' } })).status,
  ).toBe('pending');

  // The CLI shows it waiting, and how to record it.
  expect(await cliStatus(departureId)).toMatch(
    /\nARCHIVE\s+NAME\s+STATUS\s+ITEMS\s+ARCHIVED\nmailbox\s+Exchange mailbox\s+pending \(offboard archive-confirmed\)/,
  );

  const confirm = (token: string, source = 'mailbox', body: unknown = { items: 1234, note: 'owner: done' }) =>
    post(`${api.url}/departures/${departureId}/archives/${source}/confirmed`, JSON.stringify(body), {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
    });
  expect((await confirm(TOKENS.hr)).status).toBe(403);
  expect((await confirm(TOKENS.itdesk)).status).toBe(403);
  const unknown = await confirm(TOKENS.it, 'nope');
  expect(unknown.status).toBe(404);
  expect((unknown.json.error as { message: string }).message).toMatch(/no archive of data source nope/);
  const bad = await confirm(TOKENS.it, 'mailbox', { items: -1, note: '' });
  expect(bad.status).toBe(400);
  expect((bad.json.error as { fields: { field: string }[] }).fields.map((f) => f.field).sort()).toEqual([
    'items',
    'note',
  ]);
  // Nothing refused changed anything.
  expect(
    await stack.db.auditEvent.count({ where: { departureId, action: { startsWith: 'archive_confirm' } } }),
  ).toBe(0);

  const ok = await confirm(TOKENS.it);
  expect(ok.status).toBe(202);
  expect(ok.json).toEqual({ departureId, sourceId: 'mailbox', action: 'confirmation_sent' });
  await eventually(async () => (await archiving()) === 'generated', 30_000, 'confirmation generated');
  const record = await stack.db.archiveRecord.findFirstOrThrow({
    where: { departureId, sourceId: 'mailbox' },
  });
  expect(record).toMatchObject({ status: 'archived', items: 1234 });
  expect(await cliStatus(departureId)).toMatch(/\nmailbox\s+Exchange mailbox\s+archived\s+1234\s+\d{4}-/);
  expect(record.archivedAt).toBeInstanceOf(Date);
  const doc = await stack.db.document.findFirstOrThrow({
    where: { departureId, type: 'data_archiving_confirmation' },
  });
  expect(doc.meta).toMatchObject({ sources: [{ sourceId: 'mailbox', status: 'archived' }] });
  const audit = await stack.db.auditEvent.findMany({
    where: { departureId, action: { startsWith: 'archive_confirm' } },
    select: { action: true, actor: true },
  });
  expect(audit).toEqual(
    expect.arrayContaining([
      { action: 'archive_confirmation_sent', actor: 'operator:it-user' },
      { action: 'archive_confirmed', actor: 'operator:it-user' },
    ]),
  );
  const again = await confirm(TOKENS.it);
  expect(again.status).toBe(409);
  expect((again.json.error as { message: string }).message).toMatch(/already confirmed/);
}, 90_000);
