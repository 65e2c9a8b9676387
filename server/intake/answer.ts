/** What follows storing an accepted event: tell a moved last day, answer a duplicate, or start. */
import { sql } from '../../lib/db';
import type { HrisEvent } from '../hris';
import type { DepartureRow } from '../starter';
import type { EventBase, IntakeAnswer, IntakeContext, Origin } from './types';

/** What the store of an accepted event changed. */
export interface StoreResult {
  isNew: boolean;
  lastDayUpdated: boolean;
  contactUpdated?: boolean;
  accountsUpdated?: boolean;
}

/** Delivers queued changes, then answers `updated` / `duplicate`, or starts (or queues) a new one. */
export async function afterStore(
  ctx: IntakeContext,
  event: HrisEvent,
  key: string,
  base: EventBase,
  origin: Origin,
  inline: boolean,
  departure: DepartureRow,
  { isNew, lastDayUpdated, contactUpdated = false, accountsUpdated = false }: StoreResult,
): Promise<IntakeAnswer> {
  const { logger, starter } = ctx;
  const webhookId = base.webhookId;
  const answer = (action: 'started' | 'duplicate' | 'queued' | 'updated'): IntakeAnswer => ({
    status: 202,
    body: { departureId: departure.id, workflowId: departure.workflowId, action },
  });
  if (contactUpdated) logger.info({ webhookId, departureId: departure.id }, 'contact details updated');
  if (lastDayUpdated)
    logger.info(
      { webhookId, departureId: departure.id, lastDay: event.termination?.lastDay },
      'last day moved',
    );
  if (lastDayUpdated || contactUpdated) {
    await starter
      .deliverMessages(departure.id)
      .catch((e: unknown) =>
        logger.warn({ err: e, departureId: departure.id }, 'the change stays queued for the dispatcher'),
      );
  }
  if (lastDayUpdated || contactUpdated || accountsUpdated) return answer('updated');

  if (!isNew) {
    logger.info(
      { webhookId, departureId: departure.id },
      'HRIS event is a duplicate of an existing offboarding',
    );
    return answer('duplicate');
  }

  if (!inline) {
    // A burst: stored and answered at once; the dispatcher starts it in the background.
    starter.queued();
    return answer('queued');
  }
  const started = await starter.startDeparture(
    departure,
    origin.source === 'hris' ? 'hris-webhook' : origin.actor,
    { fresh: true },
  );
  if (started.started) {
    await sql(
      ctx.db,
      `UPDATE "TriggerEvent" SET outcome = 'started', "updatedAt" = $2::timestamp WHERE "idempotencyKey" = $1`,
      [key, new Date().toISOString()],
    );
  }
  return answer(started.started ? 'started' : 'queued');
}
