/**
 * `POST /departures`: an operator (HR, admin; the CLI's `offboard start`) submits a confirmed departure
 * in the canonical HRIS shape (`employee` + `termination`). It is validated by the same schema as the
 * webhook and goes through the same intake path (stored, logged, one offboarding per termination).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { TerminationType } from '../contract';
import type { FieldError } from '../lib/errors';
import { fieldErrors, hrisEventSchema, type HrisEvent } from './hris';

/** The operator's body: the canonical event without `type`; `status` and `occurredAt` are optional. */
export const operatorBody = z
  .object({
    employee: z.unknown(),
    termination: z.unknown(),
    status: z.unknown().optional(),
    occurredAt: z.unknown().optional(),
  })
  .strict();

/** The status a termination type implies when the operator gives none. */
export function impliedStatus(type: unknown): 'terminated' | 'resigned_confirmed' {
  return (type as TerminationType) === 'voluntary' ? 'resigned_confirmed' : 'terminated';
}

/**
 * Validates an operator's departure: the canonical HRIS schema, and a status that starts an offboarding.
 * Field paths are the body's own (`employee.workEmail`, `termination.confirmedAt`, ...).
 */
export function parseOperatorDeparture(
  body: unknown,
  triggerStatuses: readonly string[],
  now: Date,
): { ok: true; event: HrisEvent } | { ok: false; fields: FieldError[] } {
  const outer = operatorBody.safeParse(body);
  if (!outer.success) return { ok: false, fields: fieldErrors(outer.error) };
  const b = outer.data;
  const termination = b.termination as { type?: unknown } | null | undefined;
  const candidate = {
    type: 'employee.status_changed',
    occurredAt: b.occurredAt ?? now.toISOString(),
    employee: b.employee,
    status: b.status ?? impliedStatus(termination?.type),
    termination: b.termination,
  };
  const r = hrisEventSchema.safeParse(candidate);
  if (!r.success) return { ok: false, fields: fieldErrors(r.error) };
  if (!triggerStatuses.includes(r.data.status))
    return {
      ok: false,
      fields: [
        {
          field: 'status',
          message: `must be a status that starts an offboarding (${triggerStatuses.join(', ')})`,
        },
      ],
    };
  if (!r.data.termination) return { ok: false, fields: [{ field: 'termination', message: 'is required' }] };
  return { ok: true, event: r.data };
}

export const idempotencyKeyHeader = z
  .string()
  .trim()
  .min(1)
  .max(150)
  .regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces');

/**
 * The idempotency key of an operator submission: `op:<Idempotency-Key header>` when given, otherwise
 * `op:<employeeId>@<confirmedAt>#<digest of what a resubmission can change>` (the last day and the
 * contact addresses): resubmitting the same departure (re-running a CSV) is a duplicate, a corrected one
 * (a moved last day, a personal email filled in) reaches the intake and is answered `updated`. Prefixed
 * so it can never collide with a webhook-id.
 */
export function operatorIdempotencyKey(
  header: string | string[] | undefined,
  event: HrisEvent,
): { ok: true; key: string } | { ok: false; fields: FieldError[] } {
  const h = Array.isArray(header) ? header.join(',') : header;
  if (h === undefined) {
    const e = event.employee;
    const changeable = [event.termination!.lastDay, e.personalEmail, e.managerEmail, e.departmentHeadEmail];
    const digest = createHash('sha256').update(JSON.stringify(changeable)).digest('hex').slice(0, 16);
    return {
      ok: true,
      key: `op:${e.id}@${new Date(event.termination!.confirmedAt).toISOString()}#${digest}`,
    };
  }
  const r = idempotencyKeyHeader.safeParse(h);
  if (!r.success)
    return {
      ok: false,
      fields: r.error.issues.map((i) => ({ field: 'Idempotency-Key', message: i.message })),
    };
  return { ok: true, key: `op:${r.data}` };
}
