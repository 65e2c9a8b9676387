/**
 * Builds the offboarding workers from their dependencies: one worker for the workflows and the
 * control activities on the main task queue, plus one activity worker per rate-limited system on that
 * system's own queue, where Temporal enforces the system's rate across every worker process
 * (`maxTaskQueueActivitiesPerSecond`) and `maxConcurrentActivityTaskExecutions` bounds calls in flight.
 */
import { Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { systemTaskQueue } from '../contract';

export interface OffboardingWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** A pre-built bundle (tests build it once); otherwise the worker bundles `workflows/`. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  extra?: Partial<WorkerOptions>;
}

/** The main worker and the per-system workers, run and shut down together. */
export class OffboardingWorkers {
  constructor(
    readonly main: Worker,
    readonly systems: ReadonlyMap<string, Worker>,
  ) {}

  private all(): Worker[] {
    return [this.main, ...this.systems.values()];
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

/** Creates (does not run) the workers serving the offboarding workflows and their activities. */
export async function createOffboardingWorker(o: OffboardingWorkerOptions): Promise<OffboardingWorkers> {
  const activities = createActivities(o.deps);
  const main = await Worker.create({
    connection: o.connection,
    namespace: o.namespace,
    taskQueue: o.taskQueue,
    activities,
    ...(o.workflowBundle
      ? { workflowBundle: o.workflowBundle }
      : { workflowsPath: require.resolve('../workflows') }),
    ...o.extra,
  });
  const systems = new Map<string, Worker>();
  for (const s of o.deps.catalog.systems) {
    if (!s.rateLimit || (s.integration !== 'api' && !s.ownedCredentials)) continue;
    systems.set(
      s.id,
      await Worker.create({
        connection: o.connection,
        namespace: o.namespace,
        taskQueue: systemTaskQueue(o.taskQueue, s.id),
        activities,
        maxTaskQueueActivitiesPerSecond: s.rateLimit.revocationsPerSecond,
        maxConcurrentActivityTaskExecutions: s.rateLimit.maxConcurrent,
      }),
    );
  }
  return new OffboardingWorkers(main, systems);
}
