/** `POST /webhooks/hris`: the HRIS webhook (Standard Webhooks signature), answered by the intake. */
import express, { type Request, type Response } from 'express';
import { storedOr503 } from '../route-helpers';
import type { RouteContext } from './context';

export function createWebhookRouter({ intake, maxBodyBytes }: RouteContext): express.Router {
  const r = express.Router();
  /** HRIS webhook (Standard Webhooks signature). See docs/api.md "Webhook contract". */
  r.post(
    '/webhooks/hris',
    express.raw({ type: () => true, limit: maxBodyBytes }),
    async (req: Request, res: Response) => {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      // Could not store the event: do not pretend to accept it; the HRIS redelivers.
      const answer = await storedOr503(res, 'the event', () =>
        intake.receive({
          headers: req.headers,
          body,
          contentType: req.headers['content-type'],
          receivedAt: new Date(),
        }),
      );
      res.status(answer.status).json(answer.body);
    },
  );
  return r;
}
