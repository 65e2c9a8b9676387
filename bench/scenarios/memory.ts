/**
 * `memory`: the production worker (own process) holds N open offboardings, each parked on durable
 * timers: its asset's return window (one laptop per employee in the built-in asset register, remote
 * route), the NDA reminder and the verification checkpoint (report at trigger + 24 h). The catalog has
 * one SCIM system, so the revocation pass is short. Departures are written to PostgreSQL as intake
 * would and started with the API's own starter (server/starter.ts) straight from this process; the
 * API itself is not running. RSS (VmRSS, and the peak VmHWM) of the worker process is read from /proc
 * before the first start and once every offboarding is parked and the worker is idle. The worker is
 * tuned as in production, by WORKER_MAX_CACHED_WORKFLOWS and the other WORKER_MAX_* variables
 * (`--max-cached` sets the first); its heap by `--worker-node-args "--max-old-space-size=<MiB>"`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { offboardingWorkflowId } from '../../contract';
import { Prisma } from '../../lib/db';
import { createStarter } from '../../server/starter';
import { dataConverter, quietLogger } from '../../test/support/harness';
import { floorEnvironment } from '../lib/floors';
import { rssOf, waitIdle } from '../lib/procs';
import { cpuMeter, loadAverage, printTable } from '../lib/report';
import type { Services } from '../lib/services';
import { runId, seedEmployees, startOffboard } from '../lib/stack';

export interface MemoryOptions {
  count: number;
  startConcurrency: number;
  floors: boolean;
  workerOptions?: Record<string, unknown>;
  workerNodeArgs?: string[];
}

const MiB = 2 ** 20;
const mib = (b: number) => Math.round((b / MiB) * 10) / 10;

const idle = (pid: number, windowMs?: number) => waitIdle(pid, windowMs);

/** Runs `fn` over 0..count-1 with `concurrency` in flight. */
async function lanes(count: number, concurrency: number, fn: (i: number) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) await fn(next++);
    }),
  );
}

export async function memoryScenario(s: Services, o: MemoryOptions) {
  const stack = await startOffboard(s, {
    catalog: { systems: ['crm'], reportAfterHours: 24 },
    api: false,
    // Every offboarding must reach its asset timers before the worker's memory is read: the follow-up
    // activities (asset return requests, documents) are not paced here unless the caller says so.
    env: {
      WORKER_FOLLOWUP_ACTIVITIES_PER_SECOND: process.env.WORKER_FOLLOWUP_ACTIVITIES_PER_SECOND ?? '10000',
      WORKER_FOLLOWUP_MAX_CONCURRENT: process.env.WORKER_FOLLOWUP_MAX_CONCURRENT ?? '100',
    },
    workerOptions: o.workerOptions,
    workerNodeArgs: o.workerNodeArgs,
  });
  const worker = stack.worker!;
  const id = runId();
  const prefix = `M${id}`;
  const ids = seedEmployees(s, prefix, o.count, ['crm']);
  const confirmedAt = new Date(Date.now() - 60_000);
  for (let i = 0; i < ids.length; i += 1000) {
    const chunk = ids.slice(i, i + 1000);
    await s.db.departure.createMany({
      data: chunk.map((employeeId) => ({
        id: `dep_${employeeId}`,
        employeeId,
        terminationKey: confirmedAt.toISOString(),
        workflowId: offboardingWorkflowId(employeeId),
        employeeName: `Employee ${employeeId}`,
        workEmail: `${employeeId.toLowerCase()}@example.com`,
        personalEmail: `${employeeId.toLowerCase()}@personal.example.net`,
        department: 'Finance',
        managerEmail: 'manager@example.com',
        departmentHeadEmail: 'head@example.com',
        workLocation: 'remote',
        terminationType: 'involuntary',
        confirmedAt,
        occurredAt: confirmedAt,
      })),
    });
    await s.db.asset.createMany({
      data: chunk.map((employeeId) => ({
        tag: `${employeeId}-LT`,
        name: 'Laptop',
        category: 'laptop',
        assignedToEmployeeId: employeeId,
      })),
    });
  }
  const connection = await Connection.connect({ address: s.temporalAddress });
  const client = new Client({ connection, dataConverter });
  const starter = createStarter({ db: s.db, client, taskQueue: stack.taskQueue, logger: quietLogger });
  let peak = 0;
  const sampler = setInterval(() => {
    try {
      peak = Math.max(peak, rssOf(worker.pid).rss);
    } catch {
      /* exited */
    }
  }, 1000);
  try {
    await idle(worker.pid, 2_000);
    const before = rssOf(worker.pid);
    const loadBefore = loadAverage();
    console.log(
      `[memory] worker RSS before: ${mib(before.rss)} MiB; starting ${o.count} offboardings (load ${loadBefore.join(' ')})`,
    );
    const cpu = cpuMeter([
      { name: 'worker', pid: worker.pid },
      { name: 'temporal', pid: s.temporalPid },
      { name: 'postgres', pid: s.postgresPid() ?? -1, tree: true },
    ]);
    const t0 = Date.now();
    const rows = await s.db.departure.findMany({ where: { employeeId: { startsWith: `${prefix}-` } } });
    let startFailures = 0;
    await lanes(rows.length, o.startConcurrency, async (i) => {
      const r = await starter.startDeparture(rows[i]!, 'bench');
      if (!r.started) startFailures++;
    });
    const startedS = (Date.now() - t0) / 1000;
    console.log(
      `[memory] ${rows.length - startFailures} started in ${startedS.toFixed(1)} s; waiting until every asset return is requested`,
    );
    const countParked = async () => {
      const [r] = await s.db.$queryRaw<{ n: number }[]>(Prisma.sql`
        SELECT count(*)::int AS n FROM "AssetRecovery" a JOIN "Departure" d ON d.id = a."departureId"
         WHERE d."employeeId" LIKE ${`${prefix}-%`} AND a.status = 'requested'`);
      return r?.n ?? 0;
    };
    let parked = 0;
    let lastLog = Date.now();
    const deadline = Date.now() + Math.max(600_000, o.count * 1_000);
    while ((parked = await countParked()) < o.count && Date.now() < deadline) {
      if (Date.now() - lastLog > 10_000) {
        console.log(
          `[memory]   ${parked}/${o.count} parked on their asset timer, worker RSS ${mib(rssOf(worker.pid).rss)} MiB`,
        );
        lastLog = Date.now();
      }
      await sleep(1_000);
    }
    const parkedS = (Date.now() - t0) / 1000;
    // Where a departure's time to park goes (medians, ms after its workflow start was recorded).
    const [phases] = await s.db.$queryRaw<Record<string, number>[]>(Prisma.sql`
      SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM st."confirmedAt" - d."workflowStartedAt") * 1000))::int AS "revocationConfirmed",
             round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a."createdAt" - d."workflowStartedAt") * 1000))::int AS "assetRecoveryPlanned",
             round(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM a."updatedAt" - d."workflowStartedAt") * 1000))::int AS "assetReturnRequested"
        FROM "Departure" d JOIN "StepRecord" st ON st."departureId" = d.id JOIN "AssetRecovery" a ON a."departureId" = d.id
       WHERE d."employeeId" LIKE ${`${prefix}-%`}`);
    console.log(`[memory] medians after the start: ${JSON.stringify(phases)}`);
    await idle(worker.pid);
    const cpuUsed = cpu.stop();
    const after = rssOf(worker.pid);
    const running = await client.workflow.count(
      `TaskQueue = "${stack.taskQueue}" AND ExecutionStatus = "Running"`,
    );
    const loadAfter = loadAverage();
    const { maxCachedWorkflows: maxCached, heapLimitMiB } = worker.settings.main as {
      maxCachedWorkflows: number;
      heapLimitMiB: number;
    };

    let floor: Record<string, unknown> | null = null;
    if (o.floors) {
      console.log(`[memory] floor (b): ${o.count} trivial workflows parked on a timer in their own worker`);
      const env = await floorEnvironment(s, `park-${id.toLowerCase()}`, o.workerOptions, o.workerNodeArgs);
      try {
        await idle(env.worker.pid, 2_000);
        const fBefore = rssOf(env.worker.pid);
        const handles: unknown[] = [];
        await lanes(o.count, o.startConcurrency, async () =>
          handles.push(await env.start(10, 'parkedFloorWorkflow')),
        );
        // Parked once the worker has gone idle after the last start.
        await sleep(2_000);
        await idle(env.worker.pid);
        const fAfter = rssOf(env.worker.pid);
        floor = {
          what: 'parkedFloorWorkflow: 10 no-op activities, then a 7-day durable timer; own worker process, same options',
          rssBeforeMiB: mib(fBefore.rss),
          rssAfterMiB: mib(fAfter.rss),
          peakMiB: mib(fAfter.peak),
          perWorkflowKiB: Math.round((fAfter.rss - fBefore.rss) / 1024 / o.count),
        };
      } finally {
        await env.stop();
      }
    }

    const perWorkflowKiB = Math.round((after.rss - before.rss) / 1024 / o.count);
    const perCachedKiB = Math.round(
      (after.rss - before.rss) / 1024 / Math.max(1, Math.min(o.count, maxCached || o.count)),
    );
    const result = {
      scenario: 'memory',
      what: 'VmRSS of the production worker process holding N open offboardings parked on asset timers',
      options: o,
      open: {
        requested: o.count,
        parkedOnAssetTimer: parked,
        runningInTemporal: running.count,
        startFailures,
      },
      seconds: { toStartAll: Math.round(startedS), toParkAll: Math.round(parkedS) },
      medianMsAfterStart: phases,
      workerSettings: worker.settings,
      workerNodeArgs: o.workerNodeArgs ?? [],
      rssMiB: {
        before: mib(before.rss),
        after: mib(after.rss),
        peakSampled: mib(peak),
        peakVmHWM: mib(after.peak),
      },
      perWorkflowKiB,
      perCachedWorkflowKiB: perCachedKiB,
      goalMiB: 1024,
      meetsGoal: after.peak < 1024 * MiB && parked === o.count,
      floor,
      ratioOverFloor: floor
        ? Math.round((after.rss / MiB / (floor.rssAfterMiB as number)) * 100) / 100
        : null,
      cpu: cpuUsed,
      load: { before: loadBefore, after: loadAfter },
    };
    printTable(
      `memory: ${o.count} open offboardings (maxCachedWorkflows ${maxCached}, V8 heap limit ${heapLimitMiB} MiB)`,
      [
        ['measure', 'RSS before', 'RSS after', 'peak', 'per workflow'],
        [
          'Offboard worker',
          `${mib(before.rss)} MiB`,
          `${mib(after.rss)} MiB`,
          `${mib(after.peak)} MiB`,
          `${perWorkflowKiB} KiB`,
        ],
        floor
          ? [
              'floor (b) parked no-op workflows',
              `${floor.rssBeforeMiB as number} MiB`,
              `${floor.rssAfterMiB as number} MiB`,
              `${floor.peakMiB as number} MiB`,
              `${floor.perWorkflowKiB as number} KiB`,
            ]
          : ['floor (b)', '-', '-', '-', '-'],
      ],
    );
    console.log(
      `${parked}/${o.count} parked (${running.count} running in Temporal) after ${Math.round(parkedS)} s; goal < 1 GiB: ${result.meetsGoal ? 'met' : 'NOT met'}; load ${loadBefore.join(' ')} -> ${loadAfter.join(' ')}`,
    );
    return result;
  } finally {
    clearInterval(sampler);
    await connection.close();
    await stack.stop();
  }
}
