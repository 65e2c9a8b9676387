/**
 * The IT desk records a returned asset through the API: the right role only, a known tag only, once;
 * the workflow writes the chain of custody and checks the asset in.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { signDelivery } from '../lib/webhook-sign';
import type { RunningServer } from '../server/main';
import {
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
  ({ stack, api, stop: stopAll } = await startRunningStack());
}, 60_000);
afterAll(async () => {
  await stopAll?.();
});

test('the IT desk records a returned laptop; other roles, unknown tags and repeats are refused', async () => {
  const id = uniq('AS');
  seedEmployee(stack.standIns, id);
  const tag = uniq('LAPTOP').toUpperCase();
  await stack.db.asset.create({
    data: { tag, name: 'Laptop', category: 'laptop', assignedToEmployeeId: id },
  });
  const d = signDelivery(WEBHOOK_SECRET, hrisEvent(id));
  const departureId = (await post(`${api.url}/webhooks/hris`, d.body, d.headers)).json.departureId as string;
  await eventually(
    async () =>
      (await stack.db.assetRecovery.findFirst({
        where: { departureId, assetTag: tag, status: 'requested' },
      })) ?? null,
    30_000,
    'return requested',
  );
  const received = (token: string, t = tag, body: unknown = { condition: 'good', inspectedBy: 'desk-sam' }) =>
    post(`${api.url}/departures/${departureId}/assets/${t}/received`, JSON.stringify(body), {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
    });
  expect((await received(TOKENS.hr)).status).toBe(403);
  expect((await received(TOKENS.itdesk, 'NO-SUCH-TAG')).status).toBe(404);
  const bad = await received(TOKENS.itdesk, tag, { condition: 'shiny', inspectedBy: '' });
  expect(bad.status).toBe(400);
  expect((bad.json.error as { fields: { field: string }[] }).fields.map((f) => f.field).sort()).toEqual([
    'condition',
    'inspectedBy',
  ]);
  // The IT desk uses the CLI (the same API route underneath).
  const run = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(
      process.execPath,
      [
        path.join(__dirname, '..', 'cli', 'offboard.cjs'),
        'asset-received',
        departureId,
        tag,
        '--condition',
        'good',
        '--inspected-by',
        'desk-sam',
        '--json',
      ],
      { env: { ...process.env, OFFBOARD_URL: api.url, OFFBOARD_TOKEN: TOKENS.itdesk }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? -1) : 0, stdout, stderr }),
    ),
  );
  expect(run).toMatchObject({ code: 0 });
  expect(JSON.parse(run.stdout)).toMatchObject({ assetTag: tag, action: 'receipt_sent' });
  const rec = await eventually(
    async () => {
      const r = await stack.db.assetRecovery.findFirst({
        where: { departureId, assetTag: tag, status: 'received' },
        include: { custody: true },
      });
      // Received first, then checked in at the asset system: wait for both custody entries.
      return r && r.custody.some((c) => c.event === 'checked_in') ? r : null;
    },
    30_000,
    'received and checked in',
  );
  expect(rec).toMatchObject({ receivedBy: 'itdesk-user', inspectedBy: 'desk-sam', condition: 'good' });
  expect(rec.custody.map((c) => c.event)).toEqual(expect.arrayContaining(['received', 'checked_in']));
  expect((await stack.db.asset.findUniqueOrThrow({ where: { tag } })).status).toBe('returned');
  expect((await received(TOKENS.itdesk)).status).toBe(409);
}, 90_000);

test("a rehired employee's later offboarding never gets the earlier departure's asset receipt, ticket confirmation or re-drive", async () => {
  const id = uniq('RH');
  seedEmployee(stack.standIns, id);
  const tag = uniq('LAPTOP').toUpperCase();
  await stack.db.asset.create({
    data: { tag, name: 'Laptop', category: 'laptop', assignedToEmployeeId: id },
  });
  const fire = async (confirmedAt: string) => {
    const d = signDelivery(WEBHOOK_SECRET, hrisEvent(id, { confirmedAt }));
    return (await post(`${api.url}/webhooks/hris`, d.body, d.headers)).json.departureId as string;
  };
  const first = await fire(new Date(Date.now() - 86_400_000).toISOString());
  await eventually(
    async () => stack.db.assetRecovery.findFirst({ where: { departureId: first, status: 'requested' } }),
    30_000,
    'first departure asks for the laptop',
  );
  await eventually(
    async () => stack.db.ticket.findFirst({ where: { departureId: first, status: 'open' } }),
    30_000,
    'first departure opened a ticket',
  );
  // The first offboarding ends (here: its run stops and its record says completed); the employee is
  // rehired and leaves again: the second offboarding runs under the same workflow id.
  await stack.client.workflow.getHandle(`offboarding:${id}`).terminate('test: first offboarding over');
  await stack.db.departure.update({ where: { id: first }, data: { status: 'completed' } });
  const second = await fire(new Date().toISOString());
  expect(second).not.toBe(first);
  await eventually(
    async () => (await stack.db.departure.findUnique({ where: { id: second } }))?.workflowStartedAt,
    30_000,
    'second offboarding started',
  );
  const handle = stack.client.workflow.getHandle(`offboarding:${id}`);
  const secondRun = (await handle.describe()).runId;

  const call = (path: string, token: string, body: unknown) =>
    post(`${api.url}${path}`, JSON.stringify(body), {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
    });
  const ticket = (await stack.db.ticket.findFirst({ where: { departureId: first, status: 'open' } }))!;
  const answers = [
    await call(`/departures/${first}/assets/${tag}/received`, TOKENS.itdesk, {
      condition: 'good',
      inspectedBy: 'desk-sam',
    }),
    await call(`/tickets/${ticket.id}/confirm`, TOKENS.it, { note: 'done by hand' }),
    await call(`/departures/${first}/redrive`, TOKENS.it, { reason: 'fixed' }),
  ];
  expect(answers.map((a) => [a.status, (a.json.error as { message: string }).message])).toEqual([
    [409, expect.stringMatching(/no longer running; record the late return/)],
    [409, expect.stringMatching(/no longer running; close the ticket/)],
    [409, expect.stringMatching(/no longer running; use `offboard retry`/)],
  ]);
  // The second offboarding's run got none of it.
  const history = await stack.client.workflow.getHandle(`offboarding:${id}`, secondRun).fetchHistory();
  const messages = (history.events ?? []).filter(
    (e) => e.workflowExecutionSignaledEventAttributes || e.workflowExecutionUpdateAcceptedEventAttributes,
  );
  expect(messages).toEqual([]);
}, 90_000);

test('two receipts of one asset at the same moment: one is sent, the other refused naming the first', async () => {
  const id = uniq('AS2');
  seedEmployee(stack.standIns, id);
  const tag = uniq('PHONE').toUpperCase();
  await stack.db.asset.create({ data: { tag, name: 'Phone', category: 'phone', assignedToEmployeeId: id } });
  const d = signDelivery(WEBHOOK_SECRET, hrisEvent(id));
  const departureId = (await post(`${api.url}/webhooks/hris`, d.body, d.headers)).json.departureId as string;
  await eventually(
    async () =>
      stack.db.assetRecovery.findFirst({ where: { departureId, assetTag: tag, status: 'requested' } }),
    30_000,
    'return requested',
  );
  const receive = (inspectedBy: string) =>
    post(
      `${api.url}/departures/${departureId}/assets/${tag}/received`,
      JSON.stringify({ condition: 'good', inspectedBy }),
      { authorization: `Bearer ${TOKENS.itdesk}`, 'content-type': 'application/json' },
    );
  const answers = await Promise.all([receive('desk-alice'), receive('desk-bob')]);
  expect(answers.map((a) => a.status).sort()).toEqual([202, 409]);
  const refused = answers.find((a) => a.status === 409)!;
  expect((refused.json.error as { message: string }).message).toMatch(
    new RegExp(`the receipt of asset ${tag} was already sent by itdesk-user at `),
  );
  const sent = await stack.db.auditEvent.findMany({ where: { departureId, action: 'asset_receipt_sent' } });
  expect(sent).toHaveLength(1);
  const rec = await eventually(
    async () =>
      stack.db.assetRecovery.findFirst({ where: { departureId, assetTag: tag, status: 'received' } }),
    30_000,
    'received',
  );
  // The receipt recorded is the one whose request was answered 202.
  expect(rec.inspectedBy).toBe((sent[0]!.details as { inspectedBy: string }).inspectedBy);
}, 90_000);
