/**
 * API server process: `npm run start:server`. Serves the HTTP API and runs the dispatcher that starts
 * queued departures once Temporal is reachable.
 */
import { createServer, type Server } from 'node:http';
import { Client } from '@temporalio/client';
import { loadCatalog, type Catalog } from '../config/catalog';
import { loadConfig, durationMs, type AppConfig } from '../config/env';
import { AesGcmPayloadCodec } from '../lib/codec';
import { createDb } from '../lib/db';
import { AppError } from '../lib/errors';
import { closeServer, listen } from '../lib/http';
import { createLogger, type Logger } from '../lib/logger';
import { connectClient, dataConverterFrom } from '../workers/temporal';
import { accountPolicy } from './account-policy';
import { createApp } from './app';
import { createAdapters } from '../hris';
import { createIntake } from './intake';
import { createVendorIntake } from './intake/vendor';
import { keepReconciliationSchedules } from './hris-schedules';
import { createStarter } from './starter';

export interface RunningServer {
  url: string;
  port: number;
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
  const accounts = accountPolicy(
    opts.catalog ?? loadCatalog(cfg.CATALOG_FILE, env, { requireSecrets: false }),
  );
  const logger = opts.logger ?? createLogger({ level: cfg.LOG_LEVEL, name: 'offboard-api' });
  const db = createDb(cfg.DATABASE_URL, { preparedStatements: cfg.DATABASE_PREPARED_STATEMENTS });
  const connection = connectClient(cfg);
  const client = new Client({
    connection,
    namespace: cfg.TEMPORAL_NAMESPACE,
    dataConverter: dataConverterFrom(cfg),
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
  });
  // The HR systems' own webhooks (HRIS_VENDORS): verified per vendor, fed to the same intake.
  const vendorIntake = createVendorIntake({
    db,
    logger: logger.child({ component: 'hris' }),
    intake,
    adapters: createAdapters(cfg),
    remoteLocations: cfg.HRIS_REMOTE_LOCATIONS,
  });
  const app = createApp({
    db,
    client,
    intake,
    vendorIntake,
    starter,
    logger,
    accounts,
    operatorTokens: cfg.OPERATOR_TOKENS,
    maxBodyBytes: cfg.WEBHOOK_MAX_BODY_BYTES,
    codec: {
      codec: cfg.PAYLOAD_CODEC_KEYS ? new AesGcmPayloadCodec(cfg.PAYLOAD_CODEC_KEYS) : null,
      allowedOrigins: cfg.CODEC_CORS_ORIGINS,
      secureCookies: cfg.PUBLIC_URL?.startsWith('https:') ?? false,
    },
  });
  const server: Server = createServer(app);
  const port = await listen(server, cfg.PORT, cfg.HOST);
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
  const url = `http://${cfg.HOST}:${port}`;
  logger.info({ url }, 'API listening');
  return {
    url,
    port,
    async close() {
      stopSchedules();
      await stopDispatcher();
      await closeServer(server);
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
