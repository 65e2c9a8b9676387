/**
 * API server process: `npm run start:server`. Serves the HTTP API and runs the dispatcher that starts
 * queued departures once Temporal is reachable.
 */
import { createServer, type Server } from 'node:http';
import { Client } from '@temporalio/client';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import express from 'express';
import { loadCatalog, type Catalog } from '../config/catalog';
import { loadConfig, durationMs, type AppConfig } from '../config/env';
import { AesGcmPayloadCodec } from '../lib/codec';
import { createDb } from '../lib/db';
import { AppError } from '../lib/errors';
import { closeServer, listen } from '../lib/http';
import { createLogger, type Logger } from '../lib/logger';
import { startTracing } from '../lib/tracing';
import { connectClient, dataConverterFrom } from '../workers/temporal';
import { accountPolicy } from './account-policy';
import { createApp } from './app';
import { createAdapters } from '../hris';
import { createIntake } from './intake';
import { createVendorIntake } from './intake/vendor';
import { deskPollIntervalMs, keepDeskSchedule } from './desk-schedules';
import { deskWebhookTargets } from './desk-webhooks';
import { keepReconciliationSchedules } from './hris-schedules';
import { createMetrics, createMetricsRouter, metricsExposure } from './metrics';
import { createStarter } from './starter';

export interface RunningServer {
  url: string;
  port: number;
  /** Where `/metrics` is served: the API's own URL, its own listener's (METRICS_PORT), or null (off). */
  metricsUrl: string | null;
  close(): Promise<void>;
}

/** Starts the API server and the dispatcher; `close()` stops both and releases connections. */
export async function runServer(
  env: NodeJS.ProcessEnv = process.env,
  opts: { logger?: Logger; config?: AppConfig; catalog?: Catalog } = {},
): Promise<RunningServer> {
  const cfg = opts.config ?? loadConfig(env);
  if (!cfg.HRIS_WEBHOOK_SECRET)
    throw new AppError(
      'config_invalid',
      'Invalid configuration:\n  HRIS_WEBHOOK_SECRET: is required (whsec_<base64 key>)',
    );
  // The catalog's systems and protected accounts (named accounts are checked against them, and an
  // operator's departure of a protected account is held); the API holds no connector secret.
  const catalog = opts.catalog ?? loadCatalog(cfg.CATALOG_FILE, env, { requireSecrets: false });
  const accounts = accountPolicy(catalog);
  // The service desks' webhook secrets (the only desk secrets the API holds): named but unset stops it here.
  const deskTargets = deskWebhookTargets(catalog, env);
  const logger = opts.logger ?? createLogger({ level: cfg.LOG_LEVEL, name: 'offboard-api' });
  // Traces over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set (lib/tracing.ts); the process's, if started.
  const tracing = startTracing(env, 'offboard-api');
  const db = createDb(cfg.DATABASE_URL, { preparedStatements: cfg.DATABASE_PREPARED_STATEMENTS });
  const connection = connectClient(cfg);
  const client = new Client({
    connection,
    namespace: cfg.TEMPORAL_NAMESPACE,
    dataConverter: dataConverterFrom(cfg),
    // Starting and signalling workflows continue the caller's trace (the webhook's span) into Temporal.
    ...(tracing ? { interceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor()] } } : {}),
  });
  const starter = createStarter({
    db,
    client,
    taskQueue: cfg.TEMPORAL_TASK_QUEUE,
    logger,
    maxInlineStarts: cfg.INTAKE_MAX_INLINE_STARTS,
    dispatchConcurrency: cfg.DISPATCH_CONCURRENCY,
  });
  const intake = createIntake({
    db,
    secret: cfg.HRIS_WEBHOOK_SECRET,
    triggerStatuses: cfg.TRIGGER_STATUSES,
    starter,
    logger: logger.child({ component: 'intake' }),
    accounts,
    rejectedSamplesPerHour: cfg.REJECTED_SAMPLES_PER_HOUR,
  });
  // The HR systems' own webhooks (HRIS_VENDORS): verified per vendor, fed to the same intake.
  const vendorIntake = createVendorIntake({
    db,
    logger: logger.child({ component: 'hris' }),
    intake,
    adapters: createAdapters(cfg),
    remoteLocations: cfg.HRIS_REMOTE_LOCATIONS,
    rejectedSamplesPerHour: cfg.REJECTED_SAMPLES_PER_HOUR,
  });
  const metrics = createMetrics(db);
  const exposure = metricsExposure(cfg);
  const app = createApp({
    db,
    client,
    intake,
    metrics,
    metricsToken: exposure.on === 'api' ? exposure.token : undefined,
    vendorIntake,
    deskWebhooks: { taskQueue: cfg.TEMPORAL_TASK_QUEUE, targets: deskTargets },
    starter,
    logger,
    accounts,
    operatorTokens: cfg.OPERATOR_TOKENS,
    maxBodyBytes: cfg.WEBHOOK_MAX_BODY_BYTES,
    trustProxy: cfg.TRUST_PROXY,
    rateLimits: {
      webhook: cfg.WEBHOOK_RATE_LIMIT,
      signIn: cfg.SIGN_IN_RATE_LIMIT,
      publicPage: cfg.PUBLIC_PAGE_RATE_LIMIT,
      publicLink: cfg.PUBLIC_LINK_RATE_LIMIT,
    },
    codec: {
      codec: cfg.PAYLOAD_CODEC_KEYS ? new AesGcmPayloadCodec(cfg.PAYLOAD_CODEC_KEYS) : null,
      allowedOrigins: cfg.CODEC_CORS_ORIGINS,
      secureCookies: cfg.PUBLIC_URL?.startsWith('https:') ?? false,
    },
  });
  const server: Server = createServer(app);
  const port = await listen(server, cfg.PORT, cfg.HOST);
  // `/metrics` on a listener of its own (METRICS_PORT), serving nothing else.
  let metricsServer: Server | null = null;
  let metricsUrl: string | null = exposure.on === 'api' ? `http://${cfg.HOST}:${port}/metrics` : null;
  if (exposure.on === 'own-port') {
    const metricsApp = express();
    metricsApp.disable('x-powered-by');
    metricsApp.use(createMetricsRouter(metrics, exposure.token));
    metricsServer = createServer(metricsApp);
    const metricsPort = await listen(metricsServer, exposure.port, exposure.bind);
    const host = exposure.bind.includes(':') ? `[${exposure.bind}]` : exposure.bind;
    metricsUrl = `http://${host}:${metricsPort}/metrics`;
  }
  const stopDispatcher = starter.runDispatcher(durationMs(cfg.DISPATCH_INTERVAL));
  // Each HR system's reconciliation, as a Temporal schedule (server/hris-schedules.ts).
  const stopSchedules = keepReconciliationSchedules(
    client,
    {
      vendors: cfg.HRIS_VENDORS,
      intervalMs: durationMs(cfg.HRIS_RECONCILE_INTERVAL),
      taskQueue: cfg.TEMPORAL_TASK_QUEUE,
    },
    (e) => logger.warn({ err: e }, 'HRIS reconciliation schedules not set yet; trying again in a minute'),
  );
  // The service desks' poll, as a Temporal schedule (server/desk-schedules.ts); none without a desk.
  const stopDeskSchedule = keepDeskSchedule(
    client,
    { intervalMs: deskPollIntervalMs(catalog), taskQueue: cfg.TEMPORAL_TASK_QUEUE },
    (e) => logger.warn({ err: e }, 'service desk poll schedule not set yet; trying again in a minute'),
  );
  const url = `http://${cfg.HOST}:${port}`;
  logger.info(
    {
      url,
      metrics: exposure.on === 'off' ? 'off' : { at: metricsUrl, token: !!exposure.token },
      tracing: !!tracing,
    },
    'API listening',
  );
  return {
    url,
    port,
    metricsUrl,
    async close() {
      stopSchedules();
      stopDeskSchedule();
      await stopDispatcher();
      await closeServer(server);
      if (metricsServer) await closeServer(metricsServer);
      await tracing?.processor.forceFlush().catch(() => undefined);
      await connection.close().catch(() => undefined);
      await db.$disconnect();
    },
  };
}

if (require.main === module) {
  runServer()
    .then((s) => {
      const stop = () => void s.close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    })
    .catch((e: unknown) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    });
}
