/**
 * Refused webhook deliveries that no valid signature vouches for: a bad, missing or stale signature, a
 * replayed vendor delivery, a body that could not be read, an unknown sender. Anyone can send them, so
 * they are counted, not stored row by row (a flood of forgeries must not fill the database): one
 * `RejectedDelivery` row per sender, reason and UTC hour, its `count` incremented in one statement, and
 * only the first `samplesPerHour` of each hour also kept as a TriggerEvent row (signature result,
 * reason, body hash and size; never the body) for forensics. The metrics count every one of them
 * (`offboard_webhook_rejected_total`).
 *
 * A delivery whose signature verified but whose body is invalid is the HR system's own mistake, not a
 * forgery: it keeps its TriggerEvent row (`invalid`) as before.
 */
import { sql, type Db, type Prisma } from '../../lib/db';
import type { WEBHOOK_SOURCES } from '../metrics';

/** Why a delivery was refused (`RejectedDelivery.reason`): a closed list, so the rows stay bounded. */
export const REJECTION_REASONS = [
  'signature_invalid',
  'signature_stale',
  'signature_missing',
  'replayed',
  'body_unreadable',
  'unknown_vendor',
] as const;
export type RejectionReason = (typeof REJECTION_REASONS)[number];

export type RejectionSource = (typeof WEBHOOK_SOURCES)[number];

/** The default of REJECTED_SAMPLES_PER_HOUR. */
export const DEFAULT_REJECTED_SAMPLES_PER_HOUR = 20;

/** The reason of a refused signature (`TriggerEvent.signatureResult`). */
export function signatureReason(result: string): RejectionReason {
  return result === 'stale'
    ? 'signature_stale'
    : result === 'missing'
      ? 'signature_missing'
      : 'signature_invalid';
}

/** A refused delivery's sample row: TriggerEvent columns without any body. */
export type RejectedSample = Omit<Prisma.TriggerEventUncheckedCreateInput, 'payload' | 'outcome'>;

const HOUR_MS = 3_600_000;

// Timestamps are UTC wall time (Prisma's convention): ISO strings cast to `timestamp` keep them so.
const COUNT_SQL = `INSERT INTO "RejectedDelivery" (source, reason, hour, count, "firstAt", "lastAt")
  VALUES ($1, $2, $3::timestamp, 1, $4::timestamp, $4::timestamp)
  ON CONFLICT (source, reason, hour) DO UPDATE SET count = "RejectedDelivery".count + 1,
    "lastAt" = GREATEST("RejectedDelivery"."lastAt", EXCLUDED."lastAt")
  RETURNING count`;

/**
 * Counts one refused delivery; keeps `sample` (without body) while this hour's count for its sender and
 * reason is within `samplesPerHour`. Returns the hour's count so far.
 */
export async function recordRejected(
  db: Db,
  samplesPerHour: number,
  r: { source: RejectionSource; reason: RejectionReason; receivedAt: Date; sample?: RejectedSample },
): Promise<number> {
  const hour = new Date(Math.floor(r.receivedAt.getTime() / HOUR_MS) * HOUR_MS);
  const res = await sql<{ count: number }>(db, COUNT_SQL, [
    r.source,
    r.reason,
    hour.toISOString(),
    r.receivedAt.toISOString(),
  ]);
  const count = Number(res.rows[0]?.count ?? 0);
  if (r.sample && count <= samplesPerHour) {
    // Only the columns a refusal has: a body (payload) is never stored, whatever the caller passed.
    const { payload: _payload, ...sample } = r.sample as Prisma.TriggerEventUncheckedCreateInput;
    await db.triggerEvent.create({
      data: { ...sample, outcome: 'rejected', idempotencyKey: null, departureId: null },
    });
  }
  return count;
}
