/**
 * `POST /webhooks/hris/<vendor>`: an HR system's own webhook (docs/hris.md), verified over the raw
 * body by that vendor's adapter and answered by the vendor intake (server/intake/vendor.ts).
 */
import express, { type Request, type Response } from 'express';
import { HRIS_VENDORS, type HrisVendor } from '../../contract';
import { AppError } from '../../lib/errors';
import type { VendorIntake } from '../intake/vendor';
import { storedOr503 } from '../route-helpers';

export function createVendorWebhookRouter(
  vendorIntake: VendorIntake | null,
  maxBodyBytes: number,
  /** Counts a delivery to a vendor no adapter is configured for (server/intake/rejected.ts). */
  countUnknown: (receivedAt: Date) => Promise<unknown> = () => Promise.resolve(),
): express.Router {
  const r = express.Router();
  r.post(
    '/webhooks/hris/:vendor',
    express.raw({ type: () => true, limit: maxBodyBytes }),
    async (req: Request, res: Response) => {
      const vendor = String(req.params.vendor);
      if (
        !vendorIntake ||
        !(HRIS_VENDORS as readonly string[]).includes(vendor) ||
        !vendorIntake.vendors.includes(vendor as HrisVendor)
      ) {
        // Anyone can post here: counted per hour, never stored row by row. Not counted (the database
        // down) still answers 404: the metrics counter has it.
        await countUnknown(new Date()).catch(() => undefined);
        throw new AppError(
          'not_found',
          `no adapter for "${vendor.slice(0, 40)}" is configured (HRIS_VENDORS)`,
        );
      }
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const answer = await storedOr503(res, 'the event', () =>
        vendorIntake.receive(vendor as HrisVendor, { headers: req.headers, body, receivedAt: new Date() }),
      );
      res.status(answer.status).json(answer.body);
    },
  );
  return r;
}
