/**
 * A benchmark worker process. `BENCH_WORKER_KIND=offboard` (default) is the production worker
 * (workers/main.ts: the same config, catalog, database, mailer, connectors, `createOffboardingWorker`
 * and tuning from the WORKER_MAX_* variables), with optional extra worker options from
 * `BENCH_WORKER_OPTIONS` (JSON, e.g. {"maxCachedWorkflows":10000}) taking precedence over that tuning;
 * `floor` serves bench/workflows/floor.ts with a no-op activity, tuned the same way. Prints one
 * `READY <json>` line with the effective settings, then serves until SIGTERM/SIGINT.
 */
import { getHeapStatistics } from 'node:v8';
import type { WorkerOptions } from '@temporalio/worker';
import { NativeConnection, Worker } from '@temporalio/worker';
import { closeConnectors, createConnectors } from '../../activities/connectors';
import { loadCatalog } from '../../config/catalog';
import { loadConfig } from '../../config/env';
import { createDb } from '../../lib/db';
import { createLogger } from '../../lib/logger';
import { createMailer } from '../../lib/mailer';
import { connectWorker, dataConverterFrom, installRuntime } from '../../workers/temporal';
import {
  activityDepsFrom,
  createOffboardingWorker,
  followupWorkerLimits,
  workerTuning,
  workflowStackTraces,
} from '../../workers/worker';

function settings(w: Worker) {
  const o = w.options;
  return {
    maxCachedWorkflows: o.maxCachedWorkflows,
    reuseV8Context: o.reuseV8Context,
    workflowThreadPoolSize: o.workflowThreadPoolSize,
    tuner: o.tuner,
    maxActivitiesPerSecond: o.maxActivitiesPerSecond ?? null,
    maxTaskQueueActivitiesPerSecond: o.maxTaskQueueActivitiesPerSecond ?? null,
    stickyQueueScheduleToStartTimeout: o.stickyQueueScheduleToStartTimeoutMs,
    /** The V8 heap limit of this process (Node's default, or --max-old-space-size). */
    heapLimitMiB: Math.round(getHeapStatistics().heap_size_limit / 2 ** 20),
  };
}

async function main(): Promise<void> {
  const kind = process.env.BENCH_WORKER_KIND ?? 'offboard';
  const cfg = loadConfig(process.env);
  // The floor's worker as Offboard's: with or without workflow stack traces.
  workflowStackTraces(cfg.WORKER_WORKFLOW_STACK_TRACES);
  const extra: Partial<WorkerOptions> = {
    ...workerTuning(cfg),
    ...(JSON.parse(process.env.BENCH_WORKER_OPTIONS ?? '{}') as Partial<WorkerOptions>),
  };
  const logger = createLogger({ level: cfg.LOG_LEVEL, name: 'bench-worker' });
  installRuntime(logger);
  let run: Promise<void>;
  let shutdown: () => void;
  let cleanup: () => Promise<void>;
  let ready: Record<string, unknown>;
  if (kind === 'floor') {
    const connection = await NativeConnection.connect({ address: cfg.TEMPORAL_ADDRESS });
    const worker = await Worker.create({
      connection,
      namespace: cfg.TEMPORAL_NAMESPACE,
      taskQueue: cfg.TEMPORAL_TASK_QUEUE,
      workflowBundle: { codePath: process.env.BENCH_FLOOR_BUNDLE! },
      activities: { noop: () => Promise.resolve(Date.now()) },
      ...extra,
    });
    run = worker.run();
    shutdown = () => worker.shutdown();
    cleanup = () => connection.close();
    ready = { kind, main: settings(worker) };
  } else {
    const catalog = loadCatalog(cfg.CATALOG_FILE, process.env);
    const db = createDb(cfg.DATABASE_URL, { preparedStatements: cfg.DATABASE_PREPARED_STATEMENTS });
    const mailer = createMailer({ db, smtpUrl: cfg.SMTP_URL, from: cfg.MAIL_FROM });
    const connectors = createConnectors(catalog, process.env);
    const connection = await connectWorker(cfg);
    const workers = await createOffboardingWorker({
      connection,
      namespace: cfg.TEMPORAL_NAMESPACE,
      taskQueue: cfg.TEMPORAL_TASK_QUEUE,
      dataConverter: dataConverterFrom(cfg),
      deps: activityDepsFrom(cfg, { db, catalog, connectors, mailer }),
      workflowBundle: cfg.WORKFLOW_BUNDLE ? { codePath: cfg.WORKFLOW_BUNDLE } : undefined,
      extra,
      followup: followupWorkerLimits(cfg),
    });
    run = workers.run();
    shutdown = () => workers.shutdown();
    cleanup = async () => {
      await connection.close();
      await closeConnectors(connectors);
      mailer.close();
      await db.$disconnect();
    };
    ready = {
      kind,
      main: settings(workers.main),
      followup: settings(workers.followup),
      workflowStackTraces: cfg.WORKER_WORKFLOW_STACK_TRACES,
      systems: Object.fromEntries([...workers.systems].map(([id, w]) => [id, settings(w)])),
    };
  }
  const stop = () => shutdown();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.stdout.write(`READY ${JSON.stringify({ pid: process.pid, ...ready })}\n`);
  try {
    await run;
  } finally {
    await cleanup();
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
