/**
 * An operator's one-time message (server/workflow-calls.ts `sendOnce`) on real PostgreSQL: no database
 * connection is held while it is sent to Temporal (a slow Temporal used to keep a transaction open for
 * up to ~10 s and starve the pool: the webhook answered 503), a second request waits for the first and
 * is refused naming it, a failed send can be tried again, and a dead sender's claim is taken over.
 */
import { Client } from '@temporalio/client';
import { createDb, type Db } from '../lib/db';
import { createWorkflowCalls } from '../server/workflow-calls';
import { createDeparture, startStack, uniq, type Stack } from './support/harness';

let stack: Stack;
let db: Db;
let calls: ReturnType<typeof createWorkflowCalls>;

beforeAll(async () => {
  stack = await startStack();
  // One connection only: any connection held across `send` would block every other query.
  db = createDb(stack.databaseUrl, { max: 1 });
  calls = createWorkflowCalls({ db, client: {} as Client });
}, 60_000);
afterAll(async () => {
  await db?.$disconnect();
  await stack?.stop();
});

async function message(send: () => Promise<void>, key = uniq('key'), departureId?: string) {
  const dep = departureId ?? (await createDeparture(stack.db, uniq('SO'))).departureId;
  const o = {
    key,
    departureId: dep,
    action: 'ticket_confirmation_sent',
    what: `the confirmation of ticket ${key}`,
    actor: 'operator:it-alex',
    details: { note: 'done' },
    send,
  };
  return { o, run: () => calls.sendOnce(o) };
}

test('no connection is held while the message is sent: other queries run meanwhile', async () => {
  let release!: () => void;
  const sending = new Promise<void>((r) => (release = r));
  let started!: () => void;
  const inSend = new Promise<void>((r) => (started = r));
  const { o, run } = await message(async () => {
    started();
    await sending; // Temporal is slow
  });
  const sent = run();
  await inSend;
  // The pool's only connection is free: a query answers at once, not after the send.
  const t0 = Date.now();
  await db.$queryRaw`SELECT 1`;
  expect(Date.now() - t0).toBeLessThan(2_000);
  release();
  await sent;
  const rows = await stack.db.auditEvent.findMany({
    where: { departureId: o.departureId, action: o.action },
  });
  expect(rows).toHaveLength(1);
  expect(await stack.db.operatorMessage.findUnique({ where: { key: o.key } })).toMatchObject({
    status: 'sent',
  });
});

test('two at the same moment: the second waits for the first, then is refused naming it', async () => {
  let sends = 0;
  const { o, run } = await message(async () => {
    sends++;
    await new Promise((r) => setTimeout(r, 300));
  });
  const results = await Promise.allSettled([run(), run()]);
  expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
  const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
  expect((refused.reason as Error).message).toMatch(
    new RegExp(`the confirmation of ticket ${o.key} was already sent by it-alex at `),
  );
  expect(sends).toBe(1);
});

test('a send that fails gives its claim up: the operator can try again', async () => {
  let fail = true;
  const { o, run } = await message(async () => {
    if (fail) throw new Error('Temporal unavailable');
  });
  await expect(run()).rejects.toThrow('Temporal unavailable');
  expect(await stack.db.operatorMessage.findUnique({ where: { key: o.key } })).toBeNull();
  fail = false;
  await run();
  expect(await stack.db.auditEvent.count({ where: { departureId: o.departureId, action: o.action } })).toBe(
    1,
  );
});

test("a dead sender's stale claim is taken over", async () => {
  const key = uniq('stale');
  const { o, run } = await message(async () => undefined, key);
  await stack.db.operatorMessage.create({
    data: {
      key,
      departureId: o.departureId,
      action: o.action,
      actor: 'operator:crashed',
      claimedAt: new Date(Date.now() - 5 * 60_000),
    },
  });
  await run();
  expect(await stack.db.operatorMessage.findUnique({ where: { key } })).toMatchObject({
    status: 'sent',
    actor: 'operator:it-alex',
  });
}, 30_000);
