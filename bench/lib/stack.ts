/**
 * Offboard itself for a benchmark: a catalog over the run's stand-ins, the production worker and API
 * as separate processes, and the database queries that read the outcome back.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Prisma } from '../../lib/db';
import { benchCatalogYaml, seedEmployee, type CatalogOptions, type SystemId, ALL_SYSTEMS } from './catalog';
import { commonEnv, startApi, startWorker, writeCatalog, type ApiChild, type WorkerChild } from './procs';
import type { Services } from './services';

export interface OffboardStack {
  taskQueue: string;
  catalogYaml: string;
  catalogFile: string;
  env: NodeJS.ProcessEnv;
  worker: WorkerChild | null;
  api: ApiChild | null;
  systems: SystemId[];
  stop(): Promise<void>;
}

export function runId(): string {
  return randomBytes(3).toString('hex').toUpperCase();
}

export async function startOffboard(
  s: Services,
  opts: {
    catalog: CatalogOptions;
    worker?: boolean;
    api?: boolean;
    workerOptions?: Record<string, unknown>;
    /** Node.js flags of the worker process, e.g. --max-old-space-size=512. */
    workerNodeArgs?: string[];
    taskQueue?: string;
    /** More environment of the worker and API (it wins over the caller's environment). */
    env?: NodeJS.ProcessEnv;
  },
): Promise<OffboardStack> {
  const taskQueue = opts.taskQueue ?? `bench-${runId().toLowerCase()}`;
  const catalogYaml = benchCatalogYaml(s.standIns, opts.catalog);
  const catalogFile = writeCatalog(s, `catalog-${taskQueue}.yaml`, catalogYaml);
  const env = { ...commonEnv(s, taskQueue, catalogFile), ...opts.env };
  const [worker, api] = await Promise.all([
    opts.worker === false
      ? null
      : startWorker(env, { workerOptions: opts.workerOptions, nodeArgs: opts.workerNodeArgs }),
    opts.api === false ? null : startApi(env),
  ]);
  return {
    taskQueue,
    catalogYaml,
    catalogFile,
    env,
    worker,
    api,
    systems: opts.catalog.systems ?? ALL_SYSTEMS,
    async stop() {
      if (process.env.BENCH_SHOW_LOGS) {
        console.log(`--- worker stderr (tail)\n${worker?.log() ?? ''}`);
        console.log(`--- api stderr (tail)\n${api?.log() ?? ''}`);
      }
      await Promise.all([api?.stop(), worker?.stop()]);
    },
  };
}

/** Seeds employees `${prefix}-0..count-1` in the stand-ins; returns their ids. */
export function seedEmployees(s: Services, prefix: string, count: number, systems?: SystemId[]): string[] {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  for (const id of ids) seedEmployee(s.standIns, id, systems);
  return ids;
}

export interface RevocationRow {
  departureId: string;
  employeeId: string;
  receivedAt: Date | null;
  lastConfirmedAt: Date | null;
  firstStartedAt: Date | null;
  steps: number;
  green: number;
  red: number;
}

/**
 * Per departure of employees whose id starts with `prefix`: when its trigger was received
 * (TriggerEvent.receivedAt, stamped by the API on arrival), when its last revocation step was confirmed
 * (max StepRecord.confirmedAt, stamped by the activity after the target's read-back), step counts.
 */
export async function revocationRows(s: Services, prefix: string): Promise<RevocationRow[]> {
  return s.db.$queryRaw<RevocationRow[]>(Prisma.sql`
    SELECT d.id AS "departureId", d."employeeId",
           (SELECT min(t."receivedAt") FROM "TriggerEvent" t WHERE t."departureId" = d.id) AS "receivedAt",
           max(s."confirmedAt") AS "lastConfirmedAt",
           min(s."startedAt") AS "firstStartedAt",
           count(s.id)::int AS steps,
           (count(s.id) FILTER (WHERE s.status = 'green'))::int AS green,
           (count(s.id) FILTER (WHERE s.status = 'red'))::int AS red
      FROM "Departure" d LEFT JOIN "StepRecord" s ON s."departureId" = d.id
     WHERE d."employeeId" LIKE ${`${prefix}-%`}
     GROUP BY d.id, d."employeeId"`);
}

/** Green and red step counts of the departures of `prefix`. */
export async function stepCounts(s: Services, prefix: string): Promise<{ green: number; red: number }> {
  const [r] = await s.db.$queryRaw<{ green: number; red: number }[]>(Prisma.sql`
    SELECT (count(*) FILTER (WHERE s.status = 'green'))::int AS green,
           (count(*) FILTER (WHERE s.status = 'red'))::int AS red
      FROM "StepRecord" s JOIN "Departure" d ON d.id = s."departureId"
     WHERE d."employeeId" LIKE ${`${prefix}-%`}`);
  return r ?? { green: 0, red: 0 };
}

/**
 * Waits until `expectedGreen` steps of `prefix` are green (or `timeoutMs` passes, or a step turns red
 * and `stopOnRed`). Calls `progress` every few seconds. Polls every 250 ms, or every 2 s for more than
 * 600 steps: the figures come from the steps' own timestamps, not from when this notices, and the
 * count joins every step of the run (polled 4 times a second over a 10,000 layoff's 60,000 steps, it
 * was PostgreSQL CPU taken from the system under test).
 */
export async function waitForGreen(
  s: Services,
  prefix: string,
  expectedGreen: number,
  opts: { timeoutMs: number; progress?: (green: number, red: number) => void },
): Promise<{ green: number; red: number; timedOut: boolean }> {
  const until = Date.now() + opts.timeoutMs;
  let lastReport = Date.now();
  for (;;) {
    const c = await stepCounts(s, prefix);
    if (c.green + c.red >= expectedGreen) return { ...c, timedOut: false };
    if (Date.now() > until) return { ...c, timedOut: true };
    if (opts.progress && Date.now() - lastReport > 5_000) {
      opts.progress(c.green, c.red);
      lastReport = Date.now();
    }
    await sleep(expectedGreen > 600 ? 2_000 : 250);
  }
}

/** Steps per departure of a catalog of these systems (Entra's owned-credential search is one more). */
export function stepsPerDeparture(systems: SystemId[]): number {
  return systems.length + (systems.includes('entra') ? 1 : 0);
}

/**
 * Where the time goes, per step of the plan (by ordinal): medians over the departures of `prefix` of
 * when the step started and when it was confirmed, relative to the webhook's arrival.
 */
export async function stepTimeline(s: Services, prefix: string) {
  return s.db.$queryRaw<
    {
      ordinal: number;
      systemId: string;
      action: string;
      n: number;
      startedMs: number;
      confirmedMs: number;
      tookMs: number;
    }[]
  >(Prisma.sql`
    WITH t AS (
      SELECT d.id, min(te."receivedAt") AS received
        FROM "Departure" d JOIN "TriggerEvent" te ON te."departureId" = d.id
       WHERE d."employeeId" LIKE ${`${prefix}-%`} GROUP BY d.id)
    SELECT s.ordinal, s."systemId", s.action, count(*)::int AS n,
           round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s."startedAt" - t.received) * 1000))::int AS "startedMs",
           round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s."confirmedAt" - t.received) * 1000))::int AS "confirmedMs",
           round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s."confirmedAt" - s."startedAt") * 1000))::int AS "tookMs"
      FROM "StepRecord" s JOIN t ON t.id = s."departureId"
     WHERE s.status = 'green'
     GROUP BY s.ordinal, s."systemId", s.action ORDER BY s.ordinal`);
}
