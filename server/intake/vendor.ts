/**
 * A vendor's own webhook (`POST /webhooks/hris/<vendor>`, docs/hris.md): the vendor's signature is
 * verified over the raw body exactly as it documents it; a forged, stale or replayed delivery is refused
 * and logged like a refused canonical delivery (signature result, reason, body hash; never the body);
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
import { vendorWebhook, type EventBase } from './types';
import { feedEmployee, type Fed } from './vendor-map';

export interface VendorIntakeDeps {
  db: Db;
  logger: Logger;
  intake: Pick<Intake, 'accept'>;
  adapters: ReadonlyMap<HrisVendor, HrisAdapter>;
  remoteLocations: readonly string[];
}

/** The answer to a vendor: 202 when something was accepted, else 200; one result per employee named. */
export interface VendorAnswer {
  status: 200 | 202;
  body: { vendor: HrisVendor; type: string; results: Record<string, unknown>[] };
}

export function createVendorIntake(deps: VendorIntakeDeps) {
  const { db, logger } = deps;

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
    const refuse = async (
      signatureResult: 'missing' | 'invalid' | 'stale' | 'valid',
      outcome: 'rejected' | 'invalid',
      reason: string,
      error: AppError,
      webhookId: string | null = null,
    ): Promise<never> => {
      await db.triggerEvent.create({
        data: {
          ...base,
          webhookId,
          signatureResult,
          outcome,
          reason: `${adapter.title}: ${reason}`.slice(0, 1000),
        },
      });
      logger.warn({ vendor, signature: signatureResult, reason }, 'vendor HRIS delivery refused');
      throw error;
    };

    const v = adapter.verify(d, new Date());
    if (!v.ok) {
      if ('body' in v) return refuse('valid', 'invalid', v.message, new AppError('bad_request', v.message));
      return refuse(v.signatureResult, 'rejected', v.message, new AppError('signature_invalid', v.message));
    }
    // The same signed bytes again: a replay (a vendor's own retry is signed anew, with a new timestamp).
    const seen = await db.triggerEvent.findFirst({
      where: { webhookId: v.deliveryId, idempotencyKey: { not: null } },
      select: { receivedAt: true },
    });
    if (seen) {
      const message = `this signed delivery was already received at ${seen.receivedAt.toISOString()}; a replay is refused`;
      return refuse('stale', 'rejected', message, new AppError('signature_invalid', message), v.deliveryId);
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
          return refuse('valid', 'rejected', message, new AppError('unavailable', message), v.deliveryId);
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
