/** A key seen before: the first answer again, or a refusal when the key now names another event. */
import { AppError } from '../../lib/errors';
import type { HrisEvent } from '../hris';
import { HRIS, logEvent, type EventBase, type IntakeAnswer, type IntakeContext, type Origin } from './types';

/** The stored event a redelivery is compared with. */
export interface PriorEvent {
  outcome: string;
  reason: string | null;
  departureId: string | null;
  employeeId: string | null;
  hrisStatus: string | null;
}

/** Answers a delivery whose key lost a race for the unique index: the winner's answer. */
export async function redeliveryByKey(
  ctx: IntakeContext,
  key: string,
  base: EventBase,
  event: HrisEvent,
  origin: Origin = HRIS,
): Promise<IntakeAnswer> {
  const prior = await ctx.db.triggerEvent.findUnique({ where: { idempotencyKey: key } });
  if (prior) return redelivery(ctx, prior, base, event, origin);
  // Same termination under a different webhook-id, inserted concurrently.
  const dep = await ctx.db.departure.findFirst({
    where: { employeeId: event.employee.id },
    orderBy: { createdAt: 'desc' },
  });
  await logEvent(ctx, {
    ...base,
    signatureResult: origin.signatureResult,
    hrisStatus: event.status,
    employeeId: event.employee.id,
    outcome: 'duplicate',
    departureId: dep?.id ?? null,
    reason: 'concurrent duplicate',
  });
  if (!dep) throw new AppError('conflict', 'concurrent delivery; retry');
  return { status: 202, body: { departureId: dep.id, workflowId: dep.workflowId, action: 'duplicate' } };
}

/** Answers a key seen before with its first answer; logs the repeat. */
export async function redelivery(
  ctx: IntakeContext,
  prior: PriorEvent,
  base: EventBase,
  event: HrisEvent,
  origin: Origin = HRIS,
): Promise<IntakeAnswer> {
  // The same key for another employee or another status is not a redelivery but a second event under a
  // used key: refused, so that it is not lost behind a "duplicate" (a rescission, another employee's
  // termination). Other differences (a regenerated occurredAt, a corrected name) stay redeliveries.
  const other =
    (prior.employeeId !== null && prior.employeeId !== event.employee.id) ||
    (prior.hrisStatus !== null && prior.hrisStatus !== event.status);
  if (other) {
    const what = origin.source === 'hris' ? `webhook-id ${base.webhookId ?? ''}` : 'this idempotency key';
    const message =
      `${what} was already used for another event (employee ${prior.employeeId ?? '?'}, status ` +
      `${prior.hrisStatus ?? '?'}); give each event its own ${origin.source === 'hris' ? 'webhook-id' : 'key'}`;
    await logEvent(ctx, {
      ...base,
      signatureResult: origin.signatureResult,
      hrisStatus: event.status,
      employeeId: event.employee.id,
      outcome: 'rejected',
      reason: message,
    });
    throw new AppError('conflict', message);
  }
  await logEvent(ctx, {
    ...base,
    signatureResult: origin.signatureResult,
    hrisStatus: event.status,
    employeeId: event.employee.id,
    outcome: prior.outcome === 'ignored' ? 'ignored' : 'duplicate',
    reason:
      origin.source === 'hris'
        ? `redelivery of webhook-id ${base.webhookId ?? ''}`
        : 'repeated operator submission (same idempotency key)',
    departureId: prior.departureId,
  });
  if (prior.outcome === 'ignored' || !prior.departureId) {
    return { status: 200, body: { action: 'ignored', reason: prior.reason ?? 'ignored' } };
  }
  const dep = await ctx.db.departure.findUniqueOrThrow({ where: { id: prior.departureId } });
  return { status: 202, body: { departureId: dep.id, workflowId: dep.workflowId, action: 'duplicate' } };
}
