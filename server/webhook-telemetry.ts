/**
 * Telemetry of the webhook routes (`POST /webhooks/hris`, `POST /webhooks/hris/<vendor>`): a server span
 * per delivery, active while the delivery is read, stored and its workflow started (so the Temporal
 * client's `StartWorkflow` span and everything after it belong to the delivery's trace), and the
 * delivery counters of server/metrics.ts.
 *
 * Each delivery starts a trace of its own: a `traceparent` sent by the HR system is not continued (an
 * outside sender does not choose our trace ids or sampling). The span's attributes are the method, the
 * route, the sender and the status: no header, no body, no id of the delivery.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { TRACER_NAME } from '../lib/tracing';
import { WEBHOOK_SOURCES, type AppMetrics } from './metrics';

const PREFIX = '/webhooks/hris';

/** The sender a webhook path names, bounded to the known ones (`hris` for the canonical route). */
export function webhookSource(path: string): (typeof WEBHOOK_SOURCES)[number] | null {
  if (path === PREFIX || path === `${PREFIX}/`) return 'hris';
  if (!path.startsWith(`${PREFIX}/`)) return null;
  const vendor = path.slice(PREFIX.length + 1).replace(/\/$/, '');
  return (WEBHOOK_SOURCES as readonly string[]).includes(vendor) && vendor !== 'hris' && vendor !== 'other'
    ? (vendor as (typeof WEBHOOK_SOURCES)[number])
    : 'other';
}

/** The middleware; mount it before the webhook routers. `metrics` null: spans only. */
export function webhookTelemetry(metrics: AppMetrics | null): RequestHandler {
  const tracer = trace.getTracer(TRACER_NAME);
  return (req: Request, res: Response, next: NextFunction) => {
    const source = req.method === 'POST' ? webhookSource(req.path) : null;
    if (!source) {
      next();
      return;
    }
    const route = source === 'hris' ? PREFIX : `${PREFIX}/:vendor`;
    const span = tracer.startSpan(
      `POST ${route}`,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': 'POST',
          'http.route': route,
          'offboard.webhook.source': source,
        },
      },
      ROOT_CONTEXT,
    );
    const ctx = trace.setSpan(ROOT_CONTEXT, span);
    // The body arrives in stream events, which run in the socket's context: bind them to the span's.
    context.bind(ctx, req);
    context.bind(ctx, res);
    // The error code of a refusal, as answered (every error answer goes through res.json).
    let code: string | null = null;
    const json = res.json.bind(res);
    res.json = (body?: unknown) => {
      const c = (body as { error?: { code?: unknown } } | undefined)?.error?.code;
      if (typeof c === 'string' && /^[a-z_]{1,40}$/.test(c)) code = c;
      return json(body);
    };
    let ended = false;
    const end = (finished: boolean) => {
      if (ended) return;
      ended = true;
      const status = res.statusCode;
      span.setAttribute('http.response.status_code', status);
      if (!finished || status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
      if (!metrics || !finished) return;
      metrics.webhookDeliveries.inc({ source, status: String(status) });
      if (status >= 400 && status < 500)
        metrics.webhookRejected.inc({ source, reason: code ?? `http_${status}` });
    };
    res.once('finish', () => end(true));
    res.once('close', () => end(res.writableFinished));
    context.with(ctx, next);
  };
}
