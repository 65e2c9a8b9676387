/**
 * The fast path for the common case, a departure seen for the first time under a key seen for the first
 * time: the departure, its trigger event and its `departure_accepted` audit row in one statement (one
 * round trip, no Prisma client; at 500 events/s the client's CPU was intake's limit).
 */
import { randomUUID } from 'node:crypto';
import { offboardingWorkflowId } from '../../contract';
import { isUniqueViolation, sql } from '../../lib/db';
import type { HrisEvent } from '../hris';
import type { DepartureRow } from '../starter';
import { afterStore } from './answer';
import {
  CLOSED_DEPARTURE_STATUSES,
  holdReason,
  keyName,
  withStartSlot,
  type EventBase,
  type IntakeAnswer,
  type IntakeContext,
  type Origin,
} from './types';

/**
 * Accepts a new departure in one statement. Returns null, having written nothing, for everything else
 * (the key was seen before, the employee has this termination or an open offboarding already, a
 * concurrent delivery won): the caller then takes the general path, which answers those cases.
 */
export async function acceptNew(
  ctx: IntakeContext,
  event: HrisEvent,
  key: string,
  base: EventBase,
  origin: Origin,
): Promise<IntakeAnswer | null> {
  // A departure that waits for approval takes the general path (it is stored held, not started).
  if (holdReason(ctx, event, origin)) return null;
  return withStartSlot(ctx, async (inline) => {
    const departure = await insertNew(ctx, event, key, base, origin, inline);
    if (!departure) return null;
    return afterStore(ctx, event, key, base, origin, inline, departure, {
      isNew: true,
      lastDayUpdated: false,
    });
  });
}

// Rows are chained dep -> event -> audit, so they are written in that order: the audit row, whose
// trigger takes the chain's lock until commit, comes last (see `audit` in lib/db.ts).
const INSERT_NEW = `WITH dep AS (
   INSERT INTO "Departure" (id, "employeeId", "terminationKey", "workflowId", "employeeName",
     "workEmail", "personalEmail", department, "managerEmail", "departmentHeadEmail",
     "workLocation", "terminationType", "confirmedAt", "lastDay", "occurredAt", "startAttempts",
     "createdAt", "updatedAt", accounts, "submittedBy")
   SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::timestamp, $14, $15::timestamp,
          $16, $17::timestamp, $17::timestamp, $31::jsonb, $32
    WHERE NOT EXISTS (
      SELECT 1 FROM "Departure"
       WHERE "employeeId" = $2
         AND ("terminationKey" = $3
              OR (status <> ALL($30::text[]) AND "rescindedAt" IS NULL
                  AND NOT EXISTS (SELECT 1 FROM "WorkflowMessage" m
                                   WHERE m."departureId" = "Departure".id AND m.kind = 'rescind'))))
   RETURNING id),
 ev AS (
   INSERT INTO "TriggerEvent" (id, source, "webhookId", "idempotencyKey", "receivedAt",
     "signatureResult", "hrisStatus", "employeeId", outcome, "bodySha256", "bodyBytes", payload,
     "departureId", "createdAt", "updatedAt")
   SELECT $18, $19, $20, $21, $22::timestamp, $23, $24, $2, 'queued', $25, $26, $27::jsonb, dep.id,
          $17::timestamp, $17::timestamp
     FROM dep
   RETURNING "departureId")
 INSERT INTO "AuditEvent" (at, "createdAt", actor, action, "departureId", details)
 SELECT $17::timestamp, $17::timestamp, $28, 'departure_accepted', ev."departureId", $29::jsonb
   FROM ev`;

/** The statement of `acceptNew`; the new departure, or null when the general path must decide. */
async function insertNew(
  ctx: IntakeContext,
  event: HrisEvent,
  key: string,
  base: EventBase,
  origin: Origin,
  inline: boolean,
): Promise<DepartureRow | null> {
  const t = event.termination!;
  const e = event.employee;
  const now = new Date().toISOString();
  const departure: DepartureRow = {
    id: `dep_${randomUUID()}`,
    employeeId: e.id,
    workflowId: offboardingWorkflowId(e.id),
    terminationType: t.type,
    confirmedAt: new Date(t.confirmedAt),
    lastDay: t.lastDay ?? null,
    department: e.department,
    workLocation: e.workLocation,
  };
  const details = { [keyName(origin)]: key, status: event.status, terminationType: t.type };
  try {
    const r = await sql(ctx.db, INSERT_NEW, [
      departure.id,
      e.id,
      departure.confirmedAt.toISOString(),
      departure.workflowId,
      e.name,
      e.workEmail,
      e.personalEmail ?? null,
      e.department,
      e.managerEmail ?? null,
      e.departmentHeadEmail ?? null,
      e.workLocation,
      t.type,
      departure.confirmedAt.toISOString(),
      departure.lastDay,
      new Date(event.occurredAt).toISOString(),
      // Counted now when the start follows this statement (the dispatcher counts its own).
      inline ? 1 : 0,
      now,
      randomUUID(),
      base.source ?? 'hris',
      base.webhookId ?? null,
      key,
      (base.receivedAt as Date).toISOString(),
      origin.signatureResult,
      event.status,
      base.bodySha256,
      base.bodyBytes,
      JSON.stringify(event),
      origin.actor,
      JSON.stringify(details),
      CLOSED_DEPARTURE_STATUSES,
      e.accounts ? JSON.stringify(e.accounts) : null,
      origin.source === 'operator' ? origin.actor : null,
    ]);
    return r.rowCount === 1 ? departure : null;
  } catch (err) {
    // The key was used before, or a concurrent delivery of this termination won: the general path.
    if (isUniqueViolation(err)) return null;
    throw err;
  }
}
