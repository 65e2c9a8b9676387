/** The intake's shared vocabulary: answers, origins, the dependencies every step of it reads. */
import type { DepartureStatus, HrisVendor, TriggerSource } from '../../contract';
import type { Db, Prisma } from '../../lib/db';
import type { Logger } from '../../lib/logger';
import type { AccountPolicy } from '../account-policy';
import type { HrisEvent } from '../hris';
import type { Starter } from '../starter';

export type IntakeAnswer =
  | {
      status: 202;
      body: {
        departureId: string;
        workflowId: string;
        action: 'started' | 'duplicate' | 'queued' | 'updated' | 'rescinded' | 'held';
        /** For `held`: why a second operator must approve it before anything starts. */
        reason?: string;
      };
    }
  | { status: 200; body: { action: 'ignored'; reason: string } };

/**
 * Where an accepted departure came from: a signed HRIS webhook (canonical, or a vendor's own:
 * server/intake/vendor.ts), an operator (API / CLI), or the scheduled reconciliation with an HR system's
 * API (activities/hris-reconcile.ts).
 */
export interface Origin {
  /** `TriggerEvent.source`. */
  source: TriggerSource;
  /** Audit actor: `hris`, `hris:<vendor>`, `reconciliation:<vendor>` or `operator:<name>`. */
  actor: string;
  /** How the sender was authenticated (`TriggerEvent.signatureResult`). */
  signatureResult: 'valid' | 'operator' | 'api_read';
}

export const HRIS: Origin = { source: 'hris', actor: 'hris', signatureResult: 'valid' };

/** A vendor's own signed webhook (`POST /webhooks/hris/<vendor>`), the record fetched from its API. */
export const vendorWebhook = (vendor: HrisVendor): Origin => ({
  source: 'hris',
  actor: `hris:${vendor}`,
  signatureResult: 'valid',
});

/** What the scheduled reconciliation found in the vendor's API and no webhook announced (yet). */
export const reconciliation = (vendor: HrisVendor): Origin => ({
  source: 'reconciliation',
  actor: `reconciliation:${vendor}`,
  signatureResult: 'api_read',
});

/** The trigger-event columns known before the outcome is decided. */
export type EventBase = Omit<Prisma.TriggerEventUncheckedCreateInput, 'signatureResult' | 'outcome'>;

/** What intake needs of the starter (the reconciliation's intake only queues: the dispatcher starts). */
export type IntakeStarter = Pick<
  Starter,
  'claimInlineStart' | 'releaseInlineStart' | 'queued' | 'startDeparture' | 'deliverMessages'
>;

export interface IntakeDeps {
  db: Db;
  /** The canonical webhook's secret (`HRIS_WEBHOOK_SECRET`); without it `receive` refuses every delivery. */
  secret?: string;
  triggerStatuses: readonly string[];
  starter: IntakeStarter;
  logger: Logger;
  /** The catalog's rules for named accounts and protected ones (none without a catalog). */
  accounts?: AccountPolicy;
  /** REJECTED_SAMPLES_PER_HOUR (server/intake/rejected.ts); default 20. */
  rejectedSamplesPerHour?: number;
}

/** What every intake step reads: `IntakeDeps` with the account policy resolved. */
export interface IntakeContext {
  db: Db;
  logger: Logger;
  starter: IntakeStarter;
  policy: AccountPolicy;
  triggerStatuses: readonly string[];
  /** Refused deliveries kept as sample rows per sender, reason and hour (server/intake/rejected.ts). */
  rejectedSamples: number;
}

/** Longest `webhook-id` accepted (Standard Webhooks ids are short, e.g. `msg_<uuid>`). */
export const MAX_WEBHOOK_ID = 200;

/** Departure statuses whose workflow may still be waiting for the last day. */
export const OPEN_STATUSES: readonly string[] = [
  'accepted',
  'awaiting_approval',
  'started',
  'running',
  'scoped',
] satisfies DepartureStatus[];

/**
 * Departures that no longer stand in the way of the employee's next termination: finished, failed,
 * blocked, or rescinded (also while the rescission is still being delivered: a departure with a stored
 * `rescind` message counts as rescinded). A new termination of the same employee then starts a new
 * offboarding; the same termination again (its `confirmedAt`) stays a duplicate.
 */
export const CLOSED_DEPARTURE_STATUSES: string[] = [
  'completed',
  'blocked',
  'rescinded',
] satisfies DepartureStatus[];

/** Who sent a change to a running offboarding: `hris:<webhook-id>` or the operator. */
export const sourceOf = (origin: Origin, key: string) =>
  origin.source === 'hris' ? `hris:${key}` : origin.actor;

/** The audit detail naming the idempotency key. */
export function keyName(origin: Origin): string {
  return origin.source === 'hris' ? 'webhookId' : 'idempotencyKey';
}

/**
 * Stores one trigger event (every delivery gets one, whatever its outcome, except refusals no valid
 * signature vouches for: those are counted, server/intake/rejected.ts).
 */
export async function logEvent(ctx: IntakeContext, data: Prisma.TriggerEventUncheckedCreateInput) {
  return ctx.db.triggerEvent.create({ data });
}

/**
 * Why this departure waits for a second operator: an operator's involuntary departure naming a
 * protected account (an HRIS termination is the source of truth and is not held; matching still never
 * touches a protected account).
 */
export function holdReason(ctx: IntakeContext, event: HrisEvent, origin: Origin): string | null {
  if (origin.source !== 'operator' || event.termination?.type !== 'involuntary') return null;
  return ctx.policy.protectedHit(event);
}

/**
 * Runs `fn` holding an inline start slot when one is free (`inline` true: the workflow is started
 * before answering), else without one (the departure is answered "queued").
 */
export async function withStartSlot<T>(ctx: IntakeContext, fn: (inline: boolean) => Promise<T>): Promise<T> {
  const inline = ctx.starter.claimInlineStart();
  try {
    return await fn(inline);
  } finally {
    if (inline) ctx.starter.releaseInlineStart();
  }
}
