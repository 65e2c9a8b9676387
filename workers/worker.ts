/**
 * Builds the offboarding workers from their dependencies: one worker for the workflows and the
 * control activities on the main task queue, plus one activity worker per rate-limited system on that
 * system's own queue, where Temporal enforces the system's rate across every worker process
 * (`maxTaskQueueActivitiesPerSecond`), paces this worker's polls (`maxActivitiesPerSecond`) and
 * `maxConcurrentActivityTaskExecutions` bounds calls in flight (see `systemWorkerLimits`).
 */
import type { DataConverter, Duration } from '@temporalio/common';
import { Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { createAuditExportActivities } from '../activities/audit-export';
import { WORKER_TUNING_DEFAULTS, type AppConfig } from '../config/env';
import { auditExportTaskQueue, followupTaskQueue, systemTaskQueue } from '../contract';
import { createAdapters } from '../hris';
import type { AuditSigningKey } from '../lib/audit-key';
import type { Logger } from '../lib/logger';
import { activeTracing, type Tracing } from '../lib/tracing';
import { WORKFLOW_TRACING_INTERCEPTORS, activityTracingInterceptors, workflowSpanSinks } from './tracing';

export interface OffboardingWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /**
   * Payload codec and failure converter (`dataConverterFrom`): the same on every client and worker, or
   * neither side can read what the other wrote.
   */
  dataConverter: DataConverter;
  /** A pre-built bundle (tests build it once); otherwise the worker bundles `workflows/`. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** More options of the main worker, e.g. its tuning (`workerTuning`). */
  extra?: Partial<WorkerOptions>;
  /** The follow-up worker's pace (`followupWorkerLimits`); default WORKER_FOLLOWUP_* defaults. */
  followup?: Partial<WorkerOptions>;
  /** WORKER_WORKFLOW_STACK_TRACES (`workflowStackTraces`); default the SDK's own (collected). */
  workflowStackTraces?: boolean;
  /**
   * AUDIT_EXPORT_DIR and its signing key (workers/audit-export.ts): this process also serves the audit
   * export task queue. Unset: it does not, and never picks an export up.
   */
  auditExport?: { dir: string; key: AuditSigningKey | null; logger: Logger };
  /**
   * OpenTelemetry traces (lib/tracing.ts, workers/tracing.ts); default: the process's tracing, if it
   * was started. Null: no activity interceptor, and the workflows' spans are dropped.
   */
  tracing?: Tracing | null;
}

/** The main worker and the per-system workers, run and shut down together. */
export class OffboardingWorkers {
  constructor(
    readonly main: Worker,
    readonly systems: ReadonlyMap<string, Worker>,
    readonly followup: Worker,
    /** The audit export queue's worker, when this process has AUDIT_EXPORT_DIR. */
    readonly auditExport: Worker | null = null,
  ) {}

  private all(): Worker[] {
    return [
      this.main,
      this.followup,
      ...this.systems.values(),
      ...(this.auditExport ? [this.auditExport] : []),
    ];
  }

  /** Runs every worker until all have shut down; if one fails, the others are shut down too. */
  async run(): Promise<void> {
    const runs = this.all().map((w) => w.run());
    try {
      await Promise.all(runs);
    } catch (e) {
      this.shutdown();
      await Promise.allSettled(runs);
      throw e;
    }
  }

  /** Runs the workers until `p` settles, then shuts them down and returns `p`'s result. */
  async runUntil<T>(p: Promise<T>): Promise<T> {
    const running = this.run();
    try {
      return await p;
    } finally {
      this.shutdown();
      await running;
    }
  }

  shutdown(): void {
    for (const w of this.all()) if (w.getState() === 'RUNNING') w.shutdown();
  }

  getState(): ReturnType<Worker['getState']> {
    return this.main.getState();
  }
}

import { systemWorkerLimits } from '../activities/pace';

export { systemWorkerLimits };

/**
 * The main worker's tuning from the process configuration (WORKER_MAX_* in config/env.ts, described in
 * docs/runbook.md): its workflow cache, which bounds its memory, and how many activities and workflow
 * tasks it runs at once. The per-system workers run activities only; their limits come from the
 * catalog's `rateLimit` (`systemWorkerLimits`).
 */
export function workerTuning(
  cfg: Pick<
    AppConfig,
    | 'WORKER_MAX_CACHED_WORKFLOWS'
    | 'WORKER_MAX_CONCURRENT_ACTIVITIES'
    | 'WORKER_MAX_CONCURRENT_WORKFLOW_TASKS'
  >,
) {
  return {
    maxCachedWorkflows: cfg.WORKER_MAX_CACHED_WORKFLOWS,
    maxConcurrentActivityTaskExecutions: cfg.WORKER_MAX_CONCURRENT_ACTIVITIES,
    maxConcurrentWorkflowTaskExecutions: cfg.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
  } satisfies Partial<WorkerOptions>;
}

/**
 * The activities' dependencies with their pace from the process configuration (WORKER_FOLLOWUP_* in
 * config/env.ts): what the worker process (workers/main.ts) and the benchmark's worker hand to
 * `createOffboardingWorker`.
 */
export function activityDepsFrom(
  cfg: AppConfig,
  parts: Pick<ActivityDeps, 'db' | 'catalog' | 'connectors' | 'mailer'>,
): ActivityDeps {
  return {
    ...parts,
    publicUrl: cfg.PUBLIC_URL ?? `http://${cfg.HOST}:${cfg.PORT}`,
    followupPartsPerSecond: cfg.WORKER_FOLLOWUP_ACTIVITIES_PER_SECOND,
    followupPartsPerSecondWhileRevoking: cfg.WORKER_FOLLOWUP_PARTS_PER_SECOND_WHILE_REVOKING,
    hris: {
      adapters: createAdapters(cfg),
      remoteLocations: cfg.HRIS_REMOTE_LOCATIONS,
      triggerStatuses: cfg.TRIGGER_STATUSES,
      reportTo: cfg.HRIS_REPORT_TO,
    },
  };
}

/**
 * The follow-up worker's pace, from the process configuration (WORKER_FOLLOWUP_* in config/env.ts): the
 * asset-recovery and document activities of every offboarding (`followupTaskQueue`) start at most
 * `WORKER_FOLLOWUP_ACTIVITIES_PER_SECOND` a second in this process, at most
 * `WORKER_FOLLOWUP_MAX_CONCURRENT` at once. Revocations (local activities in the workflow's tasks) are
 * not paced: in a burst of departures they keep the CPU and the paperwork catches up after it.
 */
export function followupWorkerLimits(
  cfg: Pick<AppConfig, 'WORKER_FOLLOWUP_ACTIVITIES_PER_SECOND' | 'WORKER_FOLLOWUP_MAX_CONCURRENT'>,
) {
  return {
    maxActivitiesPerSecond: cfg.WORKER_FOLLOWUP_ACTIVITIES_PER_SECOND,
    maxConcurrentActivityTaskExecutions: cfg.WORKER_FOLLOWUP_MAX_CONCURRENT,
  } satisfies Partial<WorkerOptions>;
}

/**
 * How long a worker's shutdown may take before it gives up (`GracefulShutdownPeriodExpiredError`): an
 * activity that ignores its cancellation must not keep a stopping process (Ctrl-C on `npm start`, a
 * rolling deploy) alive forever. Whatever was in flight is retried by Temporal on another worker.
 */
export const SHUTDOWN_FORCE_TIME: Duration = '20s';

/**
 * Whether the workflow threads of workers created from now on in this process collect stack traces
 * (WORKER_WORKFLOW_STACK_TRACES): read by the SDK, as patched here, when it starts a workflow thread
 * (temporalio/sdk-typescript#1587).
 */
export function workflowStackTraces(enabled: boolean): void {
  process.env.TEMPORAL_WORKFLOW_STACK_TRACES = String(enabled);
}

/** Creates (does not run) the workers serving the offboarding workflows and their activities. */
export async function createOffboardingWorker(o: OffboardingWorkerOptions): Promise<OffboardingWorkers> {
  if (o.workflowStackTraces !== undefined) workflowStackTraces(o.workflowStackTraces);
  const tracing = o.tracing === undefined ? activeTracing() : o.tracing;
  // What every worker of the process shares: the connection, the activities, the codec, the shutdown
  // bound, and with tracing on the activity interceptors (workers/tracing.ts).
  const common = {
    connection: o.connection,
    namespace: o.namespace,
    activities: createActivities(o.deps),
    dataConverter: o.dataConverter,
    shutdownForceTime: SHUTDOWN_FORCE_TIME,
    ...(tracing ? { interceptors: { activity: activityTracingInterceptors() } } : {}),
  } satisfies Partial<WorkerOptions>;
  const main = await Worker.create({
    ...common,
    taskQueue: o.taskQueue,
    ...(o.workflowBundle
      ? { workflowBundle: o.workflowBundle }
      : { workflowsPath: require.resolve('../workflows') }),
    // The workflow-side tracing interceptors, bundled with the workflows whether tracing is on or not
    // (without a trace in a start's header they do nothing; ignored with a prebuilt bundle), and the
    // sink their spans leave the sandbox through.
    interceptors: {
      ...common.interceptors,
      workflowModules: [WORKFLOW_TRACING_INTERCEPTORS],
    },
    sinks: workflowSpanSinks(tracing),
    ...o.extra,
  });
  const systems = new Map<string, Worker>();
  for (const s of o.deps.catalog.systems) {
    if (!s.rateLimit || (s.integration !== 'api' && !s.ownedCredentials)) continue;
    systems.set(
      s.id,
      await Worker.create({
        ...common,
        taskQueue: systemTaskQueue(o.taskQueue, s.id),
        ...systemWorkerLimits(s.rateLimit),
      }),
    );
  }
  const followup = await Worker.create({
    ...common,
    taskQueue: followupTaskQueue(o.taskQueue),
    ...(o.followup ?? followupWorkerLimits(WORKER_TUNING_DEFAULTS)),
  });
  const auditExport = o.auditExport
    ? await Worker.create({
        ...common,
        activities: createAuditExportActivities({ db: o.deps.db, ...o.auditExport }),
        taskQueue: auditExportTaskQueue(o.taskQueue),
        maxConcurrentActivityTaskExecutions: 1,
      })
    : null;
  return new OffboardingWorkers(main, systems, followup, auditExport);
}
