/**
 * The one place errors become HTTP answers (`{ "error": { "code", "message", … } }`), and the 404/405
 * for a path or method no route has. Bad input is never a 5xx; Temporal or the database being down is a
 * 503 with what to do.
 */
import express, { type NextFunction, type Request, type Response } from 'express';
import { isDatabaseUnavailable } from '../lib/db';
import { AppError, httpStatusFor } from '../lib/errors';
import type { Logger } from '../lib/logger';
import type { Intake } from './intake';
import { webhookSource } from './webhook-telemetry';
import { isTemporalUnreachable, temporalUnavailable } from './workflow-calls';

/** Installs the 404/405 fallback and the error handler; call after every route. */
export function installErrorHandling(
  app: express.Express,
  deps: { intake: Intake; logger: Logger; maxBodyBytes: number },
): void {
  const { logger } = deps;
  // No route for this method: 405 naming the methods the path has (RFC 9110 §15.5.6), else 404.
  app.use((req, _res, next) => {
    const allow = allowedMethods(app, req.path);
    const use = allow.filter((m) => m !== 'HEAD').join(' or ');
    next(
      allow.length > 0
        ? new AppError('method_not_allowed', `${req.method} is not allowed on ${req.path}; use ${use}`, {
            allow,
          })
        : new AppError('not_found', 'no such route'),
    );
  });

  // The one place errors become HTTP answers. Bad input is never a 5xx.
  app.use(async (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    let e: AppError;
    if (err instanceof AppError) e = err;
    else if (err instanceof URIError) {
      // The router could not decode a path parameter (e.g. `%E0%A4%A`, or an encoded lone surrogate).
      e = new AppError('bad_request', 'the URL path is not valid percent-encoded UTF-8');
    } else if (isBodyParserError(err)) {
      e =
        err.type === 'entity.too.large'
          ? new AppError('payload_too_large', `body exceeds ${err.limit ?? deps.maxBodyBytes} bytes`)
          : err.type === 'entity.parse.failed'
            ? new AppError('bad_request', 'body is not valid JSON')
            : err.status === 415
              ? new AppError('unsupported_media_type', err.message)
              : err.type
                ? new AppError('bad_request', err.message)
                : // A stream error while reading (a compressed body that does not decompress).
                  new AppError('bad_request', `body could not be read: ${err.message}`);
      // An HR system's delivery that could not be read: counted (server/intake/rejected.ts).
      const source = req.method === 'POST' ? webhookSource(req.path) : null;
      if (source) {
        await deps.intake
          .logUnreadable({
            headers: req.headers,
            bytes: Number(req.headers['content-length'] ?? 0) || 0,
            reason: e.message,
            receivedAt: new Date(),
            source,
          })
          .catch((logErr: unknown) => logger.error({ err: logErr }, 'could not log refused HRIS delivery'));
      }
    } else if (isTemporalUnreachable(err)) {
      // Whatever route asked: Temporal down or restarting is not the caller's mistake, nor a bug.
      ((res.locals.log as Logger | undefined) ?? logger).warn(
        { err, path: loggablePath(req.path) },
        'Temporal unreachable',
      );
      e = temporalUnavailable(err);
    } else if (isDatabaseUnavailable(err)) {
      ((res.locals.log as Logger | undefined) ?? logger).warn(
        { err, path: loggablePath(req.path) },
        'database unreachable',
      );
      e = new AppError('unavailable', 'the database could not be reached; retry later');
    } else {
      ((res.locals.log as Logger | undefined) ?? logger).error(
        { err, path: loggablePath(req.path) },
        'unhandled error',
      );
      e = new AppError('internal', 'internal error');
    }
    const status = httpStatusFor(e.code);
    if (status === 401) res.setHeader('www-authenticate', 'Bearer');
    if (e.code === 'method_not_allowed' && Array.isArray(e.details?.allow))
      res.setHeader('allow', (e.details.allow as string[]).join(', '));
    res.status(status).json({ error: { code: e.code, message: e.message, ...(e.details ?? {}) } });
  });
}

/**
 * The methods the app's routes answer on `path` (HEAD with GET), for a 405's `Allow`: its own routes and
 * those of the routers mounted in it (codec, signing and survey pages, dashboard).
 */
function allowedMethods(app: express.Express, path: string): string[] {
  // Express 5 keeps its routes on `app.router.stack`; each layer matches paths itself (router 2's
  // `match` answers the part it took, or false), a mounted router's layer its prefix.
  const methods = new Set<string>();
  const walk = (stack: RouteLayer[], p: string) => {
    for (const layer of stack) {
      const m = layer.match(p);
      if (!m) continue;
      if (layer.route) {
        for (const [m, on] of Object.entries(layer.route.methods))
          if (on && m !== '_all') methods.add(m.toUpperCase());
      } else if (Array.isArray(layer.handle?.stack)) {
        walk(layer.handle.stack, p.slice(typeof m === 'object' ? m.path.length : 0) || '/');
      }
    }
  };
  walk((app as unknown as { router?: { stack?: RouteLayer[] } }).router?.stack ?? [], path);
  if (methods.has('GET')) methods.add('HEAD');
  return [...methods].sort();
}

interface RouteLayer {
  route?: { methods: Record<string, boolean> };
  handle?: { stack?: RouteLayer[] };
  match(path: string): false | { path: string };
}

/** The request path with single-use link tokens (signing, survey) masked: they are credentials. */
export function loggablePath(p: string): string {
  return p.replace(/^\/(sign|survey)\/[^/]+/, '/$1/[redacted]');
}

/**
 * An error body-parser raised while reading a body: its own (with a `type`), or a stream error it
 * wrapped as a 4xx (a compressed body that does not decompress has a status but no `type`).
 */
function isBodyParserError(
  e: unknown,
): e is { type?: string; message: string; status: number; limit?: number } {
  if (typeof e !== 'object' || e === null || !('status' in e)) return false;
  const { type, status } = e as { type?: unknown; status: unknown };
  return (
    typeof status === 'number' &&
    ((typeof type === 'string' && 'type' in e) || (status >= 400 && status < 500 && 'expose' in e))
  );
}
