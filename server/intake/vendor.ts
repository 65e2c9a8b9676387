/**
 * A vendor's own webhook (`POST /webhooks/hris/<vendor>`, docs/hris.md): the vendor's signature is
 * verified over the raw body exactly as it documents it; a forged, stale or replayed delivery is refused
 * and counted like a refused canonical delivery (server/intake/rejected.ts: per hour, the first few kept
 * with signature result, reason, body hash; never the body);
 * a verified one is only a hint: each employee it names is read from the vendor's API and fed to the
 * same intake as the canonical webhook (`feedEmployee`).
 */
import { createHash } from 'node:crypto';
import type { HrisVendor } from '../../contract';
import type { Db } from '../../lib/db';
import { AppError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import { VendorApiError, VendorBusyError } from '../../hris/http';
import type { HrisAdapter, VendorDelivery } from '../../hris/types';
import type { Intake } from './index';
import {
  DEFAULT_REJECTED_SAMPLES_PER_HOUR,
  recordRejected,
  signatureReason,
  type RejectionReason,
} from './rejected';
import { vendorWebhook, type EventBase } from './types';
import { feedEmployee, type Fed } from './vendor-map';

export interface VendorIntakeDeps {
  db: Db;
  logger: Logger;
  intake: Pick<Intake, 'accept'>;
  adapters: ReadonlyMap<HrisVendor, HrisAdapter>;
  remoteLocations: readonly string[];
  /** REJECTED_SAMPLES_PER_HOUR (server/intake/rejected.ts); default 20. */
  rejectedSamplesPerHour?: number;
}

/** The answer to a vendor: 202 when something was accepted, else 200; one result per employee named. */
export interface VendorAnswer {
  status: 200 | 202;
  body: { vendor: HrisVendor; type: string; results: Record<string, unknown>[] };
}

export function createVendorIntake(deps: VendorIntakeDeps) {
  const { db, logger } = deps;
  const samplesPerHour = deps.rejectedSamplesPerHour ?? DEFAULT_REJECTED_SAMPLES_PER_HOUR;

  async function receive(vendor: HrisVendor, d: VendorDelivery): Promise<VendorAnswer> {
    const adapter = deps.adapters.get(vendor);
    if (!adapter) throw new AppError('not_found', `no ${vendor} adapter is configured (HRIS_VENDORS)`);
    const base: EventBase = {
      source: 'hris',
      receivedAt: d.receivedAt,
      webhookId: null,
      bodySha256: createHash('sha256').update(d.body).digest('hex'),
      bodyBytes: d.body.length,
    };
    /** Refuses a delivery its sender signed (the body, or the vendor's API): one TriggerEvent row. */
    const refuse = async (
      outcome: 'rejected' | 'invalid',
      reason: string,
      error: AppError,
      webhookId: string | null = null,
    ): Promise<never> => {
      await db.triggerEvent.create({
        data: {
          ...base,
          webhookId,
          signatureResult: 'valid',
          outcome,
          reason: `${adapter.title}: ${reason}`.slice(0, 1000),
        },
      });
      logger.warn({ vendor, signature: 'valid', reason }, 'vendor HRIS delivery refused');
      throw error;
    };
    /**
     * Refuses a delivery no valid signature vouches for (or a replay of one that did): counted per hour,
     * the first few kept as samples without body (server/intake/rejected.ts).
     */
    const reject = async (
      signatureResult: 'missing' | 'invalid' | 'stale',
      why: RejectionReason,
      reason: string,
      webhookId: string | null = null,
    ): Promise<never> => {
      await recordRejected(db, samplesPerHour, {
        source: vendor,
        reason: why,
        receivedAt: d.receivedAt,
        sample: { ...base, webhookId, signatureResult, reason: `${adapter.title}: ${reason}`.slice(0, 1000) },
      });
      logger.warn({ vendor, signature: signatureResult, reason }, 'vendor HRIS delivery refused');
      throw new AppError('signature_invalid', reason);
    };

    const v = adapter.verify(d, new Date());
    if (!v.ok) {
      if ('body' in v) return refuse('invalid', v.message, new AppError('bad_request', v.message));
      return reject(v.signatureResult, signatureReason(v.signatureResult), v.message);
    }
    // The same signed bytes again: a replay (a vendor's own retry is signed anew, with a new timestamp).
    const seen = await db.triggerEvent.findFirst({
      where: { webhookId: v.deliveryId, idempotencyKey: { not: null } },
      select: { receivedAt: true },
    });
    if (seen) {
      const message = `this signed delivery was already received at ${seen.receivedAt.toISOString()}; a replay is refused`;
      return reject('stale', 'replayed', message, v.deliveryId);
    }

    const results: Record<string, unknown>[] = [];
    let accepted = false;
    for (const vendorId of v.employeeIds) {
      let fed: Fed;
      try {
        fed = await feedEmployee(
          { db, intake: deps.intake, adapter, remoteLocations: deps.remoteLocations },
          vendorId,
          {
            key: `${v.deliveryId}:${vendorId}`,
            base: { ...base, webhookId: v.deliveryId },
            origin: vendorWebhook(vendor),
            now: d.receivedAt,
          },
        );
      } catch (e) {
        // The API could not be read: answer 503 so that the vendor delivers again (nothing was stored).
        if (
          e instanceof VendorBusyError ||
          e instanceof VendorApiError ||
          (e instanceof AppError && e.code === 'unavailable')
        ) {
          const message = `could not read employee ${vendorId} from ${adapter.title}: ${e.message}`;
          return refuse('rejected', message, new AppError('unavailable', message), v.deliveryId);
        }
        throw e;
      }
      if ('answer' in fed) {
        accepted ||= fed.answer.status === 202;
        results.push({ employeeId: vendorId, ...fed.answer.body });
      } else results.push({ employeeId: vendorId, action: fed.outcome, reason: fed.reason });
    }
    return { status: accepted ? 202 : 200, body: { vendor, type: v.type, results } };
  }

  return { receive, vendors: [...deps.adapters.keys()] };
}

export type VendorIntake = ReturnType<typeof createVendorIntake>;
