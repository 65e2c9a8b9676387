/**
 * Rate limits outside Temporal (activities/pace.ts), on the real PostgreSQL: calls booked through two
 * connection pools at once (as two worker processes would) are spaced at the pace the system's worker
 * would keep, this process never has more in flight than that worker would, and a system without a
 * rate limit is never paced.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { PinoTemporalLogger } from '../workers/temporal';
import { bookSlot, paceIntervalMs, systemWorkerLimits, withPace } from '../activities/pace';
import { createDb, type Db } from '../lib/db';
import { maxInAnyWindow } from '../standins/faults';
import { quietLogger, startStack, uniq, type Stack } from './support/harness';

let stack: Stack;
let second: Db;
beforeAll(async () => {
  stack = await startStack();
  second = createDb(stack.databaseUrl, { max: 4 });
});
afterAll(async () => {
  await second?.$disconnect();
  await stack?.stop();
});

interface RateLimit {
  revocationsPerSecond: number;
  maxConcurrent: number;
}

/** One paced call inside a (mock) activity, as the revocation activities make them. */
function pacedCall(
  db: Db,
  sys: { id: string; rateLimit: RateLimit },
  log: { at: number[]; inFlight: number[] },
) {
  const env = new MockActivityEnvironment(undefined, { logger: new PinoTemporalLogger(quietLogger) });
  return env.run(() =>
    withPace(db, sys, async () => {
      log.at.push(Date.now());
      log.inFlight.push(++inFlight);
      await new Promise((r) => setTimeout(r, 200)); // the call to the target and its record
      inFlight--;
    }),
  );
}
let inFlight = 0;

test('calls drawn from two connection pools stay under the rate and the gate in every second', async () => {
  const limit = { revocationsPerSecond: 20, maxConcurrent: 4 };
  const sys = { id: uniq('paced'), rateLimit: limit };
  const w = systemWorkerLimits(limit);
  const log = { at: [] as number[], inFlight: [] as number[] };
  const n = 40;
  const t0 = Date.now();
  await Promise.all(
    Array.from({ length: n }, (_, i) => pacedCall(i % 2 === 0 ? stack.db : second, sys, log)),
  );
  expect(log.at).toHaveLength(n);
  // Never more than the gate in flight here, never more starts in a second than the pace allows.
  expect(Math.max(...log.inFlight)).toBeLessThanOrEqual(w.maxConcurrentActivityTaskExecutions);
  expect(maxInAnyWindow(log.at)).toBeLessThanOrEqual(Math.ceil(w.maxActivitiesPerSecond) + 1);
  expect(maxInAnyWindow(log.at)).toBeLessThanOrEqual(limit.revocationsPerSecond);
  // And it did pace: the 40th call could not start before 39 intervals had passed.
  expect(Math.max(...log.at) - t0).toBeGreaterThanOrEqual(39 * paceIntervalMs(limit) - 50);
  const row = await stack.db.systemPace.findUniqueOrThrow({ where: { systemId: sys.id } });
  expect(row.nextAt.getTime()).toBeGreaterThan(t0);
});

test('a system without a rate limit is not paced and leaves no row', async () => {
  const id = uniq('free');
  const waits = await Promise.all(
    Array.from({ length: 20 }, () => bookSlot(stack.db, { id, rateLimit: undefined })),
  );
  expect(waits.every((x) => x === 0)).toBe(true);
  expect(await stack.db.systemPace.count({ where: { systemId: id } })).toBe(0);
});

test('a slot booked after a quiet spell is immediate, not owed from the past', async () => {
  const limit = { revocationsPerSecond: 5, maxConcurrent: 1 };
  const sys = { id: uniq('idle'), rateLimit: limit };
  // (Below a millisecond counts as no wait: the database's clock moves within the statement.)
  expect(await bookSlot(stack.db, sys)).toBeLessThan(1);
  // The next one owes nearly a whole interval (less the time between the two bookings: up to tens of
  // milliseconds on a loaded CI machine, where 20 was once too tight).
  expect(await bookSlot(stack.db, sys)).toBeGreaterThan(paceIntervalMs(limit) - 100);
  await new Promise((r) => setTimeout(r, 2 * paceIntervalMs(limit)));
  expect(await bookSlot(stack.db, sys)).toBeLessThan(1);
});
