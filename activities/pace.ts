/**
 * Rate limits of the systems in the catalog (`rateLimit`: revocationsPerSecond, maxConcurrent).
 *
 * A step that runs as its own activity runs on its system's task queue, where Temporal and the system's
 * worker enforce the limit (`systemWorkerLimits`). A sweep (`sweepRevocations`) calls every system of a
 * pass from one activity on the workflow's queue, which Temporal cannot limit per system; so every call
 * to a rate-limited system, on either path, also goes through `withPace`, with the same two bounds as the
 * system's worker:
 *
 * - the pace, shared by every worker process: a generic cell rate algorithm (GCRA) in PostgreSQL, one
 *   statement per call. Each call books the next free instant (`SystemPace.nextAt`, spaced 1 / pace
 *   apart on the database's clock) and waits for it, so starts never come closer than the pace allows,
 *   whatever the number of workers;
 * - the calls in flight in this process (a per-system gate, `maxConcurrentActivityTaskExecutions`), held
 *   from before the booking until the step is recorded, as a worker's activity slot is.
 *
 * So a second sees at most ceil(pace) + 1 calls started by all workers together, plus those still in
 * flight (at most inFlight per worker process): with one worker, within the rate, as on the system's
 * queue; with several, no looser than their system queues, whose pace is per worker.
 */
import { sleep as activitySleep } from '@temporalio/activity';
import type { WorkerOptions } from '@temporalio/worker';
import pLimit from 'p-limit';
import type { CatalogSystem } from '../config/catalog';
import { sql, type Db } from '../lib/db';

type Limited = Pick<CatalogSystem, 'id' | 'rateLimit'>;

/**
 * Temporal settings for a rate-limited system's worker, chosen so that the system never receives more
 * than `revocationsPerSecond` calls in any one-second window (test/ratelimit.e2e.test.ts measures it):
 *
 * - `maxTaskQueueActivitiesPerSecond` is enforced by the server on the system's queue for all worker
 *   processes together, but as a token bucket holding one second of burst: a queue that has been idle
 *   hands out up to a second's worth at once, so on its own it let up to 1.4x the rate through in one
 *   second with the default 4 task queue partitions (each holds rate/4) and 2x with a single partition.
 * - `maxActivitiesPerSecond` spaces this worker's polls 1/pace apart, with no burst.
 * - Calls already in flight can land in the same second as those started in it (a slow target, a busy
 *   process), and one more task may be waiting for a free slot. So a second sees at most
 *   ceil(pace) + inFlight + 1 calls; that sum is kept within the rate, with at most about half of it in
 *   flight (`maxConcurrent` stays an upper bound). Below 3 per second the sum cannot be met (one call in
 *   flight and one waiting already make two); the pace is then a third of the rate.
 *
 * With several worker processes each one paces itself, and the server's limit holds their sum to the
 * rate over time (with its one-second burst).
 */
export function systemWorkerLimits(limit: { revocationsPerSecond: number; maxConcurrent: number }) {
  const rate = limit.revocationsPerSecond;
  const inFlight = Math.max(1, Math.min(limit.maxConcurrent, Math.floor((rate - 1) / 2)));
  const pace = Math.floor(rate) - 1 - inFlight > 0 ? Math.floor(rate) - 1 - inFlight : rate / 3;
  return {
    maxTaskQueueActivitiesPerSecond: rate,
    maxActivitiesPerSecond: pace,
    maxConcurrentActivityTaskExecutions: inFlight,
  } satisfies Partial<WorkerOptions>;
}

/** Milliseconds between two calls to a system with this rate limit (the pace above). */
export function paceIntervalMs(limit: { revocationsPerSecond: number; maxConcurrent: number }): number {
  return 1000 / systemWorkerLimits(limit).maxActivitiesPerSecond;
}

/** The pace booking (`bookSlot`): the next free instant of $1, spaced $2 ms apart. Exported for the db bench. */
export const BOOK_SLOT_SQL = `INSERT INTO "SystemPace" ("systemId", "nextAt", "createdAt", "updatedAt")
   VALUES ($1, clock_timestamp() + $2 * interval '1 millisecond', now() AT TIME ZONE 'UTC',
           now() AT TIME ZONE 'UTC')
   ON CONFLICT ("systemId") DO UPDATE
      SET "nextAt" = greatest("SystemPace"."nextAt", clock_timestamp()) + $2 * interval '1 millisecond',
          "updatedAt" = now() AT TIME ZONE 'UTC'
   RETURNING greatest(0, extract(epoch FROM "nextAt" - $2 * interval '1 millisecond' - clock_timestamp())
                         * 1000)::float8 AS "waitMs"`;

/**
 * Books `sys`'s next call slot in the shared pace and returns the milliseconds to wait for it (0 for a
 * system without a rate limit, without a database round trip).
 */
export async function bookSlot(db: Pick<Db, 'pool'>, sys: Limited): Promise<number> {
  if (!sys.rateLimit) return 0;
  const interval = paceIntervalMs(sys.rateLimit);
  const { rows } = await sql<{ waitMs: number }>(db, BOOK_SLOT_SQL, [sys.id, interval]);
  return Number(rows[0]?.waitMs ?? 0);
}

/** This process's gate per rate-limited system: how many of its calls may be in flight at once. */
const gates = new Map<string, { size: number; run: pLimit.Limit }>();

function gateOf(sys: Limited & { rateLimit: NonNullable<Limited['rateLimit']> }) {
  const size = systemWorkerLimits(sys.rateLimit).maxConcurrentActivityTaskExecutions;
  let g = gates.get(sys.id);
  if (!g || g.size !== size) {
    g = { size, run: pLimit(size) };
    gates.set(sys.id, g);
  }
  return g.run;
}

/**
 * Runs `call` (one step's calls to `sys` and its record) within `sys`'s rate limit: through this
 * process's gate, after the booked instant. Runs it at once for a system without a rate limit.
 * `book` wraps the booking statement (e.g. to wait out a database outage). Inside an activity.
 */
export function withPace<T>(
  db: Pick<Db, 'pool'>,
  sys: Limited,
  call: () => Promise<T>,
  book: (f: () => Promise<number>) => Promise<number> = (f) => f(),
): Promise<T> {
  const limit = sys.rateLimit;
  if (!limit) return call();
  return gateOf({ ...sys, rateLimit: limit })(async () => {
    const wait = await book(() => bookSlot(db, sys));
    if (wait >= 1) await activitySleep(wait);
    return call();
  });
}
