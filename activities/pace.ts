/**
 * The shared pace of a rate-limited system's calls (catalog `rateLimit.revocationsPerSecond`).
 *
 * A per-step activity of such a system runs on the system's own task queue, where Temporal enforces the
 * rate; a sweep (`sweepRevocations`) calls every system of a pass from one activity on the workflow's
 * queue, which Temporal cannot pace per system. Both paths therefore also draw from one budget kept in
 * PostgreSQL, shared by every worker process: a generic cell rate algorithm (GCRA) in one statement per
 * call. Each call books the next free instant (`nextAt`, spaced 1 / (rate x PACE_HEADROOM) apart, on the
 * database's clock) and waits until it. The headroom keeps the calls under the rate in any sliding
 * second even when one starts a little late and the next on time.
 *
 * `maxConcurrent` is enforced by the per-step path (the system worker's concurrent activity slots); a
 * sweep calls a system once at a time per departure, and at the paced rate calls that take d seconds
 * overlap about rate x d deep.
 */
import { sleep as activitySleep } from '@temporalio/activity';
import type { CatalogSystem } from '../config/catalog';
import { sql, type Db } from '../lib/db';

/** The share of a system's rate the pace books (0.9: calls 10% further apart than the limit allows). */
export const PACE_HEADROOM = 0.9;

/** Milliseconds between two calls to a system limited to `perSecond`. */
export function paceIntervalMs(perSecond: number): number {
  return 1000 / (perSecond * PACE_HEADROOM);
}

/**
 * Books `sys`'s next call slot and returns the milliseconds to wait for it (0 for a system without a
 * rate limit, without a database round trip).
 */
export async function bookSlot(db: Pick<Db, 'pool'>, sys: Pick<CatalogSystem, 'id' | 'rateLimit'>) {
  if (!sys.rateLimit) return 0;
  const interval = paceIntervalMs(sys.rateLimit.revocationsPerSecond);
  const { rows } = await sql<{ waitMs: number }>(
    db,
    `INSERT INTO "SystemPace" ("systemId", "nextAt", "createdAt", "updatedAt")
     VALUES ($1, clock_timestamp() + $2 * interval '1 millisecond', now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')
     ON CONFLICT ("systemId") DO UPDATE
        SET "nextAt" = greatest("SystemPace"."nextAt", clock_timestamp()) + $2 * interval '1 millisecond',
            "updatedAt" = now() AT TIME ZONE 'UTC'
     RETURNING greatest(0, extract(epoch FROM "nextAt" - $2 * interval '1 millisecond' - clock_timestamp())
                           * 1000)::float8 AS "waitMs"`,
    [sys.id, interval],
  );
  return Number(rows[0]?.waitMs ?? 0);
}

/**
 * Waits for `sys`'s next call slot (no wait for a system without a rate limit). Inside an activity the
 * wait is cancellable (the activity's `sleep`).
 */
export async function pace(
  db: Pick<Db, 'pool'>,
  sys: Pick<CatalogSystem, 'id' | 'rateLimit'>,
): Promise<void> {
  const wait = await bookSlot(db, sys);
  if (wait >= 1) await activitySleep(wait);
}
