/**
 * The HTTP API (Express), assembled: request logging, health and the OpenAPI description, then one router
 * per resource (server/routes/: webhooks, departures, tickets, recovery, sign-off, documents, accounts),
 * the codec endpoint, the leavers' pages and the dashboard; last, the one error handler that maps
 * AppError codes to HTTP statuses and one JSON shape: `{ "error": { "code", "message", "fields"? } }`.
 */
import { randomUUID } from 'node:crypto';
import express from 'express';
import type { Client } from '@temporalio/client';
import type { TrustProxy } from '../config/env';
import type { Db } from '../lib/db';
import { AppError } from '../lib/errors';
import type { Logger } from '../lib/logger';
import { createMetricsRouter, type AppMetrics } from './metrics';
import { webhookTelemetry } from './webhook-telemetry';
import { OPEN_ACCOUNT_POLICY, type AccountPolicy } from './account-policy';
import { createAuth, type TokenEntry } from './auth';
import { createCodecRouter, type CodecEndpointOptions } from './codec';
import { createDashboardRouter } from './dashboard';
import { createDeskWebhookRouter, type DeskWebhookTarget } from './desk-webhooks';
import { installErrorHandling, loggablePath } from './http-errors';
import type { Intake } from './intake';
import type { VendorIntake } from './intake/vendor';
import { OPENAPI_PATH, openApiDocument } from './openapi';
import { createPublicPagesRouter } from './public-pages';
import { createRateLimiters, NO_RATE_LIMITS, type RateLimitSettings } from './rate-limits';
import { createAccountsRouter } from './routes/accounts';
import type { RouteContext } from './routes/context';
import { createDeparturesRouter } from './routes/departures';
import { createDocumentsRouter } from './routes/documents';
import { createVendorWebhookRouter } from './routes/hris-vendors';
import { createRecoveryRouter } from './routes/recovery';
import { createSignoffRouter } from './routes/signoff';
import { createTicketsRouter } from './routes/tickets';
import { createWebhookRouter } from './routes/webhooks';
import type { Starter } from './starter';
import { createWorkflowCalls } from './workflow-calls';

export { loggablePath };

export interface AppDeps {
  db: Db;
  client: Client;
  intake: Intake;
  starter: Starter;
  logger: Logger;
  operatorTokens: TokenEntry[];
  maxBodyBytes: number;
  codec: CodecEndpointOptions;
  /** The catalog's rules for named and protected accounts (none: every account id is taken). */
  accounts?: AccountPolicy;
  /** The HR systems' own webhooks (HRIS_VENDORS); none: `POST /webhooks/hris/<vendor>` answers 404. */
  vendorIntake?: VendorIntake;
  /**
   * The service desks' webhooks (server/desk-webhooks.ts), by system id, and the task queue their
   * read-backs run on; none: `POST /webhooks/desk/<systemId>` answers 404.
   */
  deskWebhooks?: { taskQueue: string; targets: ReadonlyMap<string, DeskWebhookTarget> };
  /** The API's metrics (server/metrics.ts): the webhook routes count their deliveries into them. */
  metrics?: AppMetrics;
  /**
   * `GET /metrics` on this app (server/metrics.ts `metricsExposure`): the bearer token it asks for, or
   * null for none. Undefined: not served here (its own listener, or off).
   */
  metricsToken?: string | null;
  /** Rate limits (server/rate-limits.ts, from the *_RATE_LIMIT settings); none: not limited. */
  rateLimits?: RateLimitSettings;
  /** Express's `trust proxy` (TRUST_PROXY): whose X-Forwarded-For names the client. Default false. */
  trustProxy?: TrustProxy;
}

/** Builds the Express application. */
export function createApp(deps: AppDeps): express.Express {
  const { db, client, logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  // The client address (`req.ip`) rate limits count by: the socket's, unless proxies are configured.
  app.set('trust proxy', deps.trustProxy ?? false);
  const limits = createRateLimiters(deps.rateLimits ?? NO_RATE_LIMITS);
  const requireRole = createAuth(deps.operatorTokens);
  const ctx: RouteContext = {
    db,
    client,
    intake: deps.intake,
    starter: deps.starter,
    logger,
    maxBodyBytes: deps.maxBodyBytes,
    accounts: deps.accounts ?? OPEN_ACCOUNT_POLICY,
    requireRole,
    calls: createWorkflowCalls({ db, client }),
  };

  // One child logger per request, with a request id echoed to the caller.
  app.use((req, res, next) => {
    const started = process.hrtime.bigint();
    const reqId = randomUUID();
    res.locals.log = logger.child({ reqId });
    res.setHeader('x-request-id', reqId);
    res.on('finish', () => {
      (res.locals.log as Logger).debug(
        {
          method: req.method,
          path: loggablePath(req.path),
          status: res.statusCode,
          ms: Number(process.hrtime.bigint() - started) / 1e6,
        },
        'request',
      );
    });
    next();
  });

  // A NUL character (%00) in the path or query names nothing and cannot reach the database (PostgreSQL
  // refuses it in text): refuse it before any route reads a parameter.
  app.use((req, _res, next) => {
    next(
      /%00/i.test(req.url) ? new AppError('bad_request', 'the URL must not contain %00 (NUL)') : undefined,
    );
  });

  /** Liveness and readiness: 200 only when the database and Temporal both answer. */
  app.get('/health', async (_req, res) => {
    const check = async (fn: () => Promise<unknown>) => {
      try {
        await fn();
        return 'ok';
      } catch (e) {
        return `unreachable: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
      }
    };
    const [database, temporal] = await Promise.all([
      check(() => db.$queryRaw`SELECT 1`),
      check(() => client.withDeadline(Date.now() + 2_000, () => client.workflowService.getSystemInfo({}))),
    ]);
    const ok = database === 'ok' && temporal === 'ok';
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'degraded', database, temporal });
  });

  /** The OpenAPI 3.1 description of every route (server/openapi.ts); no token: it is not data. */
  app.get(OPENAPI_PATH, (_req, res) => {
    res.json(openApiDocument());
  });

  /** Prometheus metrics, when served on this port (otherwise on METRICS_PORT, or off). */
  if (deps.metrics && deps.metricsToken !== undefined)
    app.use(createMetricsRouter(deps.metrics, deps.metricsToken));

  // A span per webhook delivery (the trace its workflow continues) and the delivery counters.
  app.use(webhookTelemetry(deps.metrics ?? null));
  // Per sender address; a 429 carries Retry-After, after which HR systems deliver again.
  app.use('/webhooks', limits.webhook);
  app.use(createWebhookRouter(ctx));
  app.use(
    createVendorWebhookRouter(deps.vendorIntake ?? null, deps.maxBodyBytes, (receivedAt) =>
      deps.intake.rejected({ source: 'other', reason: 'unknown_vendor', receivedAt }),
    ),
  );
  app.use(
    createDeskWebhookRouter(
      deps.deskWebhooks
        ? { db, client, logger, maxBodyBytes: deps.maxBodyBytes, ...deps.deskWebhooks }
        : null,
      deps.maxBodyBytes,
    ),
  );
  app.use(createDeparturesRouter(ctx));
  app.use(createTicketsRouter(ctx));

  // Sign-in is limited (failed attempts per address); middleware, not a route of its own.
  app.use('/codec/login', (req, res, next) => {
    if (req.method === 'POST') limits.signIn(req, res, next);
    else next();
  });
  /** Temporal's remote codec protocol for the Web UI and CLI (server/codec.ts). Any operator role. */
  app.use('/codec', createCodecRouter(deps));

  /** Approving a held departure; recording an account id matching could not find. */
  app.use(createAccountsRouter(ctx));

  /** NDA signing and exit survey pages for leavers (the link's token is the credential): server/public-pages.ts. */
  app.use(createPublicPagesRouter({ db, client, logger, limits: limits.publicPages }));

  app.use(createRecoveryRouter(ctx));

  /** Who the bearer token belongs to (name and role), for the dashboard. Any operator role. */
  app.get('/me', limits.signIn, requireRole('hr', 'it', 'itdesk'), (req, res) => {
    res.json({ name: req.operator!.name, role: req.operator!.role });
  });

  /** The dashboard: one page over this API for HR, IT and the IT desk (server/dashboard/). */
  app.use(createDashboardRouter());

  app.use(createSignoffRouter(ctx));
  app.use(createDocumentsRouter(ctx));

  installErrorHandling(app, { intake: deps.intake, logger, maxBodyBytes: deps.maxBodyBytes });
  return app;
}
