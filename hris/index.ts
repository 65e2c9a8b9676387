/** The HR system adapters the configuration lists (HRIS_VENDORS), built once per process. */
import type { AppConfig } from '../config/env';
import { durationMs } from '../config/env';
import type { HrisVendor } from '../contract';
import { createBambooHr } from './bamboohr';
import { createHiBob } from './hibob';
import { createPersonio } from './personio';
import type { HrisAdapter } from './types';

export type { HrisAdapter, VendorDelivery, VendorEmployee } from './types';

/** One adapter per vendor listed in HRIS_VENDORS (loadConfig has checked that each has its settings). */
export function createAdapters(cfg: AppConfig): Map<HrisVendor, HrisAdapter> {
  const out = new Map<HrisVendor, HrisAdapter>();
  const toleranceMs = durationMs(cfg.HRIS_WEBHOOK_TOLERANCE);
  for (const vendor of cfg.HRIS_VENDORS) {
    if (vendor === 'bamboohr')
      out.set(
        vendor,
        createBambooHr({
          apiUrl: cfg.BAMBOOHR_API_URL!,
          apiKey: cfg.BAMBOOHR_API_KEY!,
          webhookKey: cfg.BAMBOOHR_WEBHOOK_KEY!,
          toleranceMs,
          remoteLocations: cfg.HRIS_REMOTE_LOCATIONS,
          fileCategory: cfg.BAMBOOHR_FILE_CATEGORY,
        }),
      );
    if (vendor === 'hibob')
      out.set(
        vendor,
        createHiBob({
          apiUrl: cfg.HIBOB_API_URL!,
          serviceUserId: cfg.HIBOB_SERVICE_USER_ID!,
          token: cfg.HIBOB_SERVICE_USER_TOKEN!,
          webhookSecret: cfg.HIBOB_WEBHOOK_SECRET!,
          maxAgeMs: durationMs(cfg.HIBOB_WEBHOOK_MAX_AGE),
          toleranceMs,
        }),
      );
    if (vendor === 'personio')
      out.set(
        vendor,
        createPersonio({
          apiUrl: cfg.PERSONIO_API_URL!,
          clientId: cfg.PERSONIO_CLIENT_ID!,
          clientSecret: cfg.PERSONIO_CLIENT_SECRET!,
          webhookSecret: cfg.PERSONIO_WEBHOOK_SECRET!,
          signatureHeader: cfg.PERSONIO_WEBHOOK_SIGNATURE_HEADER,
          timestampHeader: cfg.PERSONIO_WEBHOOK_TIMESTAMP_HEADER,
          webhookToken: cfg.PERSONIO_WEBHOOK_TOKEN,
          toleranceMs,
          personalEmailAttribute: cfg.PERSONIO_PERSONAL_EMAIL_ATTRIBUTE,
          documentCategory: cfg.PERSONIO_DOCUMENT_CATEGORY,
        }),
      );
  }
  return out;
}
