/**
 * Worker process: `npm run start:worker`. Parses config and the catalog (failing fast with the field
 * named), then serves the offboarding task queue until SIGINT/SIGTERM.
 */
import { getHeapStatistics } from 'node:v8';
import { Client } from '@temporalio/client';
import { loadCatalog } from '../config/catalog';
import { durationMs, loadConfig } from '../config/env';
import { closeConnectors, createConnectors } from '../activities/connectors';
import { createDb } from '../lib/db';
import { createLogger, type Logger } from '../lib/logger';
import { createMailer } from '../lib/mailer';
import { startTracing } from '../lib/tracing';
import { settlesWithin } from '../lib/timeout';
import { checkAuditExportDir, keepAuditExportSchedule } from './audit-export';
import { connectWorker, dataConverterFrom, installRuntime } from './temporal';
import { msToNumber } from '@temporalio/common';
import {
  SHUTDOWN_FORCE_TIME,
  activityDepsFrom,
  createOffboardingWorker,
  followupWorkerLimits,
  workerTuning,
} from './worker';

/** Starts a worker in this process; `stop()` shuts it down and releases its connections. */
export async function startWorkerInProcess(
  env: NodeJS.ProcessEnv = process.env,
  parentLogger?: Logger,
): Promise<{ stop(): Promise<void>; done: Promise<void> }> {
  const cfg = loadConfig(env);
  const logger =
    parentLogger?.child({ component: 'worker' }) ??
    createLogger({ level: cfg.LOG_LEVEL, name: 'offboard-worker' });
  const catalog = loadCatalog(cfg.CATALOG_FILE, env);
  // Audit evidence outside the database: the directory is checked before anything starts.
  const exportDir = cfg.AUDIT_EXPORT_DIR ? checkAuditExportDir(cfg.AUDIT_EXPORT_DIR) : null;
  const exportKey = cfg.AUDIT_EXPORT_SIGNING_KEY ?? null;
  // The SDK's metrics for Prometheus (WORKER_METRICS_BIND) and traces over OTLP
  // (OTEL_EXPORTER_OTLP_ENDPOINT): both before the first worker is created, which takes its
  // interceptors from the process's tracing.
  installRuntime(logger, { metricsBind: cfg.WORKER_METRICS_BIND });
  const tracing = startTracing(env, 'offboard-worker');
  const db = createDb(cfg.DATABASE_URL, { preparedStatements: cfg.DATABASE_PREPARED_STATEMENTS });
  const mailer = createMailer({ db, smtpUrl: cfg.SMTP_URL, from: cfg.MAIL_FROM });
  const connectors = createConnectors(catalog, env);
  const connection = await connectWorker(cfg);
  const dataConverter = dataConverterFrom(cfg);
  const worker = await createOffboardingWorker({
    connection,
    namespace: cfg.TEMPORAL_NAMESPACE,
    taskQueue: cfg.TEMPORAL_TASK_QUEUE,
    dataConverter,
    deps: activityDepsFrom(cfg, { db, catalog, connectors, mailer }),
    workflowBundle: cfg.WORKFLOW_BUNDLE ? { codePath: cfg.WORKFLOW_BUNDLE } : undefined,
    extra: workerTuning(cfg),
    followup: followupWorkerLimits(cfg),
    workflowStackTraces: cfg.WORKER_WORKFLOW_STACK_TRACES,
    auditExport: exportDir
      ? { dir: exportDir, key: exportKey, logger: logger.child({ component: 'audit-export' }) }
      : undefined,
  });
  // The export's schedule (workers/audit-export.ts), kept by every worker that serves the export.
  const stopExportSchedule = exportDir
    ? keepAuditExportSchedule(
        new Client({ connection, namespace: cfg.TEMPORAL_NAMESPACE, dataConverter }),
        { intervalMs: durationMs(cfg.AUDIT_EXPORT_INTERVAL), taskQueue: cfg.TEMPORAL_TASK_QUEUE },
        (e) => logger.warn({ err: e }, 'audit export schedule not set yet; trying again in a minute'),
      )
    : () => undefined;
  if (exportDir && !exportKey)
    logger.warn(
      'AUDIT_EXPORT_SIGNING_KEY is not set: audit exports are written unsigned, and verify-audit reports them',
    );
  const o = worker.main.options;
  logger.info(
    {
      taskQueue: cfg.TEMPORAL_TASK_QUEUE,
      systems: catalog.systems.length,
      maxCachedWorkflows: o.maxCachedWorkflows,
      maxConcurrentActivities: cfg.WORKER_MAX_CONCURRENT_ACTIVITIES,
      maxConcurrentWorkflowTasks: cfg.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
      followupActivitiesPerSecond: cfg.WORKER_FOLLOWUP_ACTIVITIES_PER_SECOND,
      followupPartsPerSecondWhileRevoking: cfg.WORKER_FOLLOWUP_PARTS_PER_SECOND_WHILE_REVOKING,
      followupMaxConcurrent: cfg.WORKER_FOLLOWUP_MAX_CONCURRENT,
      workflowStackTraces: cfg.WORKER_WORKFLOW_STACK_TRACES,
      heapLimitMiB: Math.round(getHeapStatistics().heap_size_limit / 2 ** 20),
      metrics: cfg.WORKER_METRICS_BIND ? `http://${cfg.WORKER_METRICS_BIND}/metrics` : 'off',
      tracing: !!tracing,
      // The public key only: verifiers need it (`offboard verify-audit --public-key`).
      auditExport: exportDir
        ? { dir: exportDir, interval: cfg.AUDIT_EXPORT_INTERVAL, publicKey: exportKey?.publicKey ?? null }
        : null,
    },
    'worker started',
  );
  const done = (async () => {
    try {
      await worker.run();
    } finally {
      stopExportSchedule();
      await connection.close();
      await closeConnectors(connectors);
      mailer.close();
      await db.$disconnect();
      await tracing?.processor.forceFlush().catch(() => undefined);
      logger.info('worker stopped');
    }
  })();
  return {
    done,
    /**
     * Shuts every worker of the process down (those still running: the SDK's own signal handlers may
     * have started some) and waits for them, for at most the shutdown bound plus 10 s: a stop must end
     * even when a worker's run never settles (seen once on Ctrl-C of `npm start`, the follow-up worker
     * failing while the others stopped). Whatever was in flight is retried by Temporal elsewhere.
     */
    async stop() {
      worker.shutdown();
      const bound = msToNumber(SHUTDOWN_FORCE_TIME) + 10_000;
      if (!(await settlesWithin(done, bound)))
        logger.warn({ afterMs: bound }, 'worker did not stop in time; leaving it');
    },
  };
}

/** Starts a worker and resolves when it has shut down (SIGINT/SIGTERM shut it down). */
export async function runWorker(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const w = await startWorkerInProcess(env);
  await w.done;
}

if (require.main === module) {
  runWorker().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
