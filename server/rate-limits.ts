/**
 * Rate limits (docs/operations.md, "Rate limits"), with express-rate-limit: the webhook endpoints per
 * sender address, the sign-in endpoints per client address (failed attempts only), and the leavers'
 * pages per client address and per link. Counted in this process (fixed windows, in memory): each API
 * instance behind the proxy counts its own share.
 *
 * A refused request is answered 429 with `Retry-After` (seconds) in the API's error shape (the leavers'
 * pages answer it as a page): HR systems retry a 429 after that delay, so nothing is lost in a burst.
 * The client address is `req.ip`, the one `trust proxy` (TRUST_PROXY) makes of X-Forwarded-For.
 */
import { createHash } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { ipKeyGenerator, rateLimit, type Options } from 'express-rate-limit';
import type { RateLimit } from '../config/env';
import { AppError } from '../lib/errors';

/** The limits the app applies; null: that limit is off (e.g. enforced by the proxy). */
export interface RateLimitSettings {
  webhook: RateLimit | null;
  signIn: RateLimit | null;
  publicPage: RateLimit | null;
  publicLink: RateLimit | null;
}

/** No limits (tests and embedders that pass none). */
export const NO_RATE_LIMITS: RateLimitSettings = {
  webhook: null,
  signIn: null,
  publicPage: null,
  publicLink: null,
};

const pass: RequestHandler = (_req, _res, next) => next();

/** The client's address as the key (an IPv6 client by its /56 network, as the library advises). */
function clientKey(req: Request): string {
  return ipKeyGenerator(req.ip ?? req.socket.remoteAddress ?? 'unknown');
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/** One limiter: `what` names what is limited in the 429's message. */
function limiter(limit: RateLimit | null, what: string, extra: Partial<Options> = {}): RequestHandler {
  if (!limit) return pass;
  return rateLimit({
    windowMs: limit.windowMs,
    limit: limit.limit,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    keyGenerator: clientKey,
    // Retry-After is set before this runs; the error handlers answer in the route's own shape.
    handler: (_req: Request, res: Response, next: NextFunction) => {
      const retryAfter = Number(res.getHeader('retry-after')) || seconds(limit.windowMs);
      next(
        new AppError(
          'rate_limited',
          `too many ${what}: at most ${limit.limit} per ${seconds(limit.windowMs)} s; retry after ${retryAfter} s`,
          { retryAfterSeconds: retryAfter },
        ),
      );
    },
    ...extra,
  });
}

/** The link token of a leaver's page path (`/sign/<token>`, `/survey/<token>`), or null. */
function linkToken(req: Request): string | null {
  const m = /^\/(?:sign|survey)\/([^/?]+)/.exec(`${req.baseUrl}${req.path}`);
  return m ? m[1]! : null;
}

export interface RateLimiters {
  /** Every request under `/webhooks` (canonical, vendors', service desks'), per sender address. */
  webhook: RequestHandler;
  /** Sign-in (`POST /codec/login`, the dashboard's `GET /me`): failed attempts per client address. */
  signIn: RequestHandler;
  /** The leavers' pages: per client address, then per link. */
  publicPages: RequestHandler[];
}

export function createRateLimiters(s: RateLimitSettings): RateLimiters {
  return {
    webhook: limiter(s.webhook, 'webhook deliveries from this address'),
    signIn: limiter(s.signIn, 'failed sign-in attempts from this address', {
      // Only failures count: an operator signing in is never locked out by their own successes.
      skipSuccessfulRequests: true,
    }),
    publicPages: [
      limiter(s.publicPage, 'requests from this address'),
      limiter(s.publicLink, 'requests for this link', {
        // By the link's token (hashed: the token is a credential); a path without one is not counted.
        keyGenerator: (req) =>
          `link:${createHash('sha256')
            .update(linkToken(req) ?? '')
            .digest('hex')}`,
        skip: (req) => linkToken(req) === null,
      }),
    ],
  };
}
