/** Small pieces every JSON route shares: the body parser and the schema check with field errors. */
import express, { type Response } from 'express';
import type { z } from 'zod';
import { AppError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import { fieldErrors } from './hris';

/**
 * An operator route's JSON body, at most 16 kB. A body of another type is refused with 415 (it was read
 * as no body at all and answered with a confusing 400); a request with no body passes.
 */
export function jsonBody(limit = '16kb'): express.RequestHandler {
  const parse = express.json({ limit });
  return (req, res, next) => {
    const hasBody =
      Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    if (hasBody && !req.is('json'))
      return next(new AppError('unsupported_media_type', 'content-type must be application/json'));
    return parse(req, res, next);
  };
}

/** Parses a request body with its schema, or fails with the one 400 shape naming each field. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  const r = schema.safeParse(body);
  if (!r.success) throw new AppError('validation_failed', 'invalid body', { fields: fieldErrors(r.error) });
  return r.data;
}

/**
 * Runs an intake call whose answer is the route's; a failure other than the caller's mistake (the
 * database down) is logged and answered 503 with Retry-After: nothing was accepted, send it again.
 */
export async function storedOr503<T>(res: Response, what: string, store: () => Promise<T>): Promise<T> {
  try {
    return await store();
  } catch (e) {
    if (e instanceof AppError) throw e;
    (res.locals.log as Logger).error({ err: e }, `${what} could not be stored`);
    res.setHeader('retry-after', '5');
    throw new AppError('unavailable', `${what} could not be stored; retry later`);
  }
}
