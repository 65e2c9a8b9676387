/**
 * A rescinded termination: the latest offboarding of the employee gets a `rescind` message (stored with
 * the event, then delivered): pending steps halt and a review opens. Nothing is re-enabled.
 */
import type { Rescission } from '../../contract';
import { audit, isUniqueViolation, Prisma } from '../../lib/db';
import type { HrisEvent } from '../hris';
import { redeliveryByKey } from './redelivery';
import {
  HRIS,
  keyName,
  sourceOf,
  type EventBase,
  type IntakeAnswer,
  type IntakeContext,
  type Origin,
} from './types';

const NOTHING_TO_RESCIND = 'no offboarding of this employee to rescind';

/** Stores the rescission of `event` (HRIS only) and delivers it to the running offboarding. */
export async function rescind(
  ctx: IntakeContext,
  event: HrisEvent,
  key: string,
  base: EventBase,
  origin: Origin = HRIS,
): Promise<IntakeAnswer> {
  let out: { dep: { id: string; workflowId: string } | null; fresh: boolean };
  try {
    out = await storeRescission(ctx, event, key, base, origin);
  } catch (e) {
    if (isUniqueViolation(e)) return redeliveryByKey(ctx, key, base, event, origin);
    throw e;
  }
  if (!out.dep) return { status: 200, body: { action: 'ignored', reason: NOTHING_TO_RESCIND } };
  const dep = out.dep;
  if (out.fresh) {
    ctx.logger.info({ webhookId: key, departureId: dep.id }, 'termination rescinded');
    await ctx.starter
      .deliverMessages(dep.id)
      .catch((e: unknown) =>
        ctx.logger.warn({ err: e, departureId: dep.id }, 'rescission stays queued for the dispatcher'),
      );
  }
  return {
    status: 202,
    body: { departureId: dep.id, workflowId: dep.workflowId, action: out.fresh ? 'rescinded' : 'duplicate' },
  };
}

/** The event, the `rescind` message (once per departure) and its audit row, in one transaction. */
async function storeRescission(
  ctx: IntakeContext,
  event: HrisEvent,
  key: string,
  base: EventBase,
  origin: Origin,
) {
  const common = {
    ...base,
    idempotencyKey: key,
    signatureResult: origin.signatureResult,
    hrisStatus: event.status,
    employeeId: event.employee.id,
    payload: event as unknown as Prisma.InputJsonValue,
  };
  return ctx.db.$transaction(async (tx) => {
    const dep = await tx.departure.findFirst({
      where: { employeeId: event.employee.id, status: { not: 'blocked' } },
      orderBy: { createdAt: 'desc' },
    });
    if (!dep) {
      await tx.triggerEvent.create({ data: { ...common, outcome: 'ignored', reason: NOTHING_TO_RESCIND } });
      return { dep: null, fresh: false };
    }
    const prior = await tx.workflowMessage.findFirst({ where: { departureId: dep.id, kind: 'rescind' } });
    if (!prior) {
      const r: Rescission = {
        at: (base.receivedAt as Date).toISOString(),
        by: sourceOf(origin, key),
        reason:
          origin.source === 'reconciliation'
            ? 'the HR system no longer shows the termination (found by reconciliation)'
            : 'termination_rescinded received from the HRIS',
      };
      await tx.workflowMessage.create({
        data: { departureId: dep.id, kind: 'rescind', payload: r as unknown as Prisma.InputJsonValue },
      });
    }
    await tx.triggerEvent.create({
      data: {
        ...common,
        outcome: prior ? 'duplicate' : 'rescinded',
        reason: prior ? `offboarding ${dep.id} was already rescinded` : null,
        departureId: dep.id,
      },
    });
    // Last: the audit append holds the chain's lock until commit.
    if (!prior)
      await audit(tx, {
        actor: origin.actor,
        action: 'rescission_received',
        departureId: dep.id,
        details: { [keyName(origin)]: key },
      });
    return { dep, fresh: !prior };
  });
}
