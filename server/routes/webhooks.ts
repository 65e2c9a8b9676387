/** `POST /webhooks/hris`: the HRIS webhook (Standard Webhooks signature), answered by the intake. */
import express, { type Request, type Response } from 'express';
import { AppError } from '../../lib/errors';
import type { Logger } from '../../lib/logger';
import type { RouteContext } from './context';

export function createWebhookRouter({ intake, maxBodyBytes }: RouteContext): express.Router {
  const r = express.Router();
  /** HRIS webhook (Standard Webhooks signature). See docs/api.md "Webhook contract". */
  r.post(
    '/webhooks/hris',
    express.raw({ type: () => true, limit: maxBodyBytes }),
    async (req: Request, res: Response) => {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      let answer;
      try {
        answer = await intake.receive({
          headers: req.headers,
          body,
          contentType: req.headers['content-type'],
          receivedAt: new Date(),
        });
      } catch (e) {
        if (e instanceof AppError) throw e;
        // Could not store the event: do not pretend to accept it; the HRIS redelivers.
        (res.locals.log as Logger).error({ err: e }, 'HRIS event could not be stored');
        res.setHeader('retry-after', '5');
        throw new AppError('unavailable', 'the event could not be stored; retry later');
      }
      res.status(answer.status).json(answer.body);
    },
  );
  return r;
}
