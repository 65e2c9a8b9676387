/**
 * HRIS event intake: verify the Standard Webhooks signature, validate the body, log the event with its
 * receive time, signature result and outcome, and start (or queue) one offboarding per termination.
 * Everything is stored before the answer; nothing that fails verification or validation starts work.
 *
 * The path of one event: `webhook.ts` (verify) -> `fast-path.ts` (a new departure, one statement) or
 * `redelivery.ts` (a key seen before) / `rescind.ts` / `store.ts` (the general path) -> `answer.ts`
 * (start, queue or answer).
 */
import { createHash } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { isUniqueViolation, Prisma } from '../../lib/db';
import { AppError } from '../../lib/errors';
import { OPEN_ACCOUNT_POLICY } from '../account-policy';
import type { HrisEvent } from '../hris';
import { afterStore } from './answer';
import { acceptNew } from './fast-path';
import { redelivery, redeliveryByKey } from './redelivery';
import { DEFAULT_REJECTED_SAMPLES_PER_HOUR, recordRejected, type RejectionSource } from './rejected';
import { rescind } from './rescind';
import { storeDeparture } from './store';
import {
  HRIS,
  holdReason,
  logEvent,
  withStartSlot,
  type EventBase,
  type IntakeAnswer,
  type IntakeContext,
  type IntakeDeps,
  type Origin,
} from './types';
import { verifyDelivery, type Delivery } from './webhook';

export {
  MAX_WEBHOOK_ID,
  reconciliation,
  vendorWebhook,
  type EventBase,
  type IntakeAnswer,
  type IntakeDeps,
  type Origin,
} from './types';

/** Creates the intake service used by `POST /webhooks/hris` and `POST /departures`. */
export function createIntake(deps: IntakeDeps) {
  const ctx: IntakeContext = {
    db: deps.db,
    logger: deps.logger,
    starter: deps.starter,
    policy: deps.accounts ?? OPEN_ACCOUNT_POLICY,
    triggerStatuses: deps.triggerStatuses,
    rejectedSamples: deps.rejectedSamplesPerHour ?? DEFAULT_REJECTED_SAMPLES_PER_HOUR,
  };
  const webhook = deps.secret ? new Webhook(deps.secret) : null;

  /** Handles one delivery. Throws AppError (401/400/415) for what must be refused; logs it first. */
  async function receive(req: Delivery): Promise<IntakeAnswer> {
    if (!webhook) throw new AppError('unavailable', 'the canonical HRIS webhook is not configured');
    const { event, key, base } = await verifyDelivery(ctx, webhook, req);
    return accept(event, key, base, HRIS);
  }

  /**
   * One verified, validated event, whoever brought it (the canonical webhook, a vendor's webhook after
   * the record was fetched from its API, the reconciliation): the same idempotency (`key`), deduplication,
   * rescission and last-day moves for all of them.
   */
  async function accept(
    event: HrisEvent,
    key: string,
    base: EventBase,
    origin: Origin,
  ): Promise<IntakeAnswer> {
    const starts = event.status !== 'termination_rescinded' && ctx.triggerStatuses.includes(event.status);

    // The common case first: a new departure, stored in one statement.
    if (starts) {
      const answer = await acceptNew(ctx, event, key, base, origin);
      if (answer) return answer;
    }
    // Idempotency: a redelivered webhook-id gets the first answer again.
    const prior = await ctx.db.triggerEvent.findUnique({ where: { idempotencyKey: key } });
    if (prior) return redelivery(ctx, prior, base, event, origin);
    if (event.status === 'termination_rescinded') return rescind(ctx, event, key, base, origin);
    if (!starts) return ignore(event, key, base, origin);
    return acceptDeparture(event, key, base, origin);
  }

  /** Logs an event whose status starts nothing (e.g. `pending_resignation`) and answers 200. */
  async function ignore(
    event: HrisEvent,
    key: string,
    base: EventBase,
    origin: Origin,
  ): Promise<IntakeAnswer> {
    const reason =
      event.status === 'pending_resignation'
        ? 'pending_resignation is not a confirmed departure'
        : `status "${event.status}" does not start an offboarding`;
    try {
      await logEvent(ctx, {
        ...base,
        idempotencyKey: key,
        signatureResult: origin.signatureResult,
        hrisStatus: event.status,
        employeeId: event.employee.id,
        outcome: 'ignored',
        reason,
        payload: event as unknown as Prisma.InputJsonValue,
      });
    } catch (e) {
      if (isUniqueViolation(e)) return redeliveryByKey(ctx, key, base, event, origin);
      throw e;
    }
    ctx.logger.info(
      { webhookId: base.webhookId, status: event.status, employeeId: event.employee.id },
      'HRIS event ignored',
    );
    return { status: 200, body: { action: 'ignored', reason } };
  }

  /**
   * A departure submitted by an operator (`POST /departures`): the same validation, storage, idempotency
   * and start as a webhook event. `key` is the operator's idempotency key; `event` is already validated
   * and has a trigger status.
   */
  async function submit(req: {
    event: HrisEvent;
    key: string;
    operator: string;
    body: Buffer;
    receivedAt: Date;
  }): Promise<IntakeAnswer> {
    const base: EventBase = {
      source: 'operator',
      receivedAt: req.receivedAt,
      webhookId: null,
      bodySha256: createHash('sha256').update(req.body).digest('hex'),
      bodyBytes: req.body.length,
    };
    const origin: Origin = {
      source: 'operator',
      actor: `operator:${req.operator}`,
      signatureResult: 'operator',
    };
    const accountErrors = ctx.policy.check(req.event.employee.accounts);
    if (accountErrors.length > 0)
      throw new AppError('validation_failed', 'the departure is invalid', { fields: accountErrors });
    const answer = await acceptNew(ctx, req.event, req.key, base, origin);
    if (answer) return answer;
    const prior = await ctx.db.triggerEvent.findUnique({ where: { idempotencyKey: req.key } });
    if (prior) return redelivery(ctx, prior, base, req.event, origin);
    return acceptDeparture(req.event, req.key, base, origin);
  }

  /** The general path: store (or update) the departure, then start it, hold it or answer. */
  async function acceptDeparture(
    event: HrisEvent,
    key: string,
    base: EventBase,
    origin: Origin,
  ): Promise<IntakeAnswer> {
    return withStartSlot(ctx, async (inline) => {
      const held = holdReason(ctx, event, origin);
      let out;
      try {
        out = await storeDeparture(ctx, { event, key, origin }, base, inline, held);
      } catch (e) {
        // A concurrent delivery of the same id or termination won the race: answer as a duplicate.
        if (isUniqueViolation(e)) return redeliveryByKey(ctx, key, base, event, origin);
        throw e;
      }
      const { dep } = out;
      if (out.created && dep.status === 'awaiting_approval') {
        const reason = dep.approvalReason ?? held ?? '';
        ctx.logger.info({ departureId: dep.id }, 'departure held for a second operator');
        return {
          status: 202,
          body: { departureId: dep.id, workflowId: dep.workflowId, action: 'held', reason },
        };
      }
      return afterStore(ctx, event, key, base, origin, inline, dep, {
        isNew: out.created,
        lastDayUpdated: out.lastDayUpdated,
        contactUpdated: out.contactUpdated,
        accountsUpdated: out.accountsUpdated,
      });
    });
  }

  /**
   * Counts a delivery whose body could not even be read (e.g. larger than the limit): nothing vouches
   * for it, so it is counted and sampled like a forged one (server/intake/rejected.ts).
   */
  async function logUnreadable(req: {
    headers: Record<string, string | string[] | undefined>;
    bytes: number;
    reason: string;
    receivedAt: Date;
    source?: RejectionSource;
  }): Promise<void> {
    const id = req.headers['webhook-id'];
    await recordRejected(ctx.db, ctx.rejectedSamples, {
      source: req.source ?? 'hris',
      reason: 'body_unreadable',
      receivedAt: req.receivedAt,
      sample: {
        receivedAt: req.receivedAt,
        webhookId: (Array.isArray(id) ? id[0] : id)?.slice(0, 200) ?? null,
        signatureResult: 'missing',
        reason: req.reason,
        bodySha256: '',
        bodyBytes: req.bytes,
      },
    });
  }

  /** Counts a refused delivery of any webhook route (e.g. an unknown vendor's path). */
  const rejected = (r: Parameters<typeof recordRejected>[2]) =>
    recordRejected(ctx.db, ctx.rejectedSamples, r);

  return { receive, accept, submit, logUnreadable, rejected, triggerStatuses: deps.triggerStatuses };
}

/** The intake service. */
export type Intake = ReturnType<typeof createIntake>;
