/**
 * The two floors every Offboard figure is divided by, measured in the same run on the same machine:
 *
 * (a) direct: the same connector calls against the same stand-ins, made one after the other in the
 *     plan's order (identity, VPN, MFA, owned-credential search, applications) by plain code: no
 *     Temporal, no database, no HTTP intake. What the targets themselves cost: the physical limit.
 * (b) Temporal: `floorWorkflow` (bench/workflows/floor.ts) with as many no-op activities as an
 *     offboarding runs up to its last revocation, on the same dev server, in its own worker process,
 *     without payload encryption: what Temporal itself costs.
 */
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import { createConnectors, closeConnectors } from '../../activities/connectors';
import { buildPlan } from '../../activities/plan';
import type { Subject } from '../../activities/connector';
import { discoverMatched, revokeMatched } from '../../activities/matched';
import { parseCatalog } from '../../config/catalog';
import { SECRETS } from '../../test/support/harness';
import { openLoop } from './load';
import { cpuMeter } from './report';
import { startWorker } from './procs';
import type { Services } from './services';

/** One departure's revocation calls made directly, in the plan's order, one at a time. */
export function directRevoker(catalogYaml: string) {
  const catalog = parseCatalog(catalogYaml, 'bench-catalog.yaml', { ...process.env, ...SECRETS });
  const connectors = createConnectors(catalog, { ...process.env, ...SECRETS });
  const plan = buildPlan(catalog, connectors, 'direct');
  const systems = new Map(catalog.systems.map((s) => [s.id, s]));
  async function revoke(employeeId: string): Promise<number> {
    const subject: Subject = {
      departureId: `direct-${employeeId}`,
      employeeId,
      employeeName: `Employee ${employeeId}`,
      workEmail: `${employeeId.toLowerCase()}@example.com`,
      confirmedAt: new Date(Date.now() - 60_000).toISOString(),
      managerEmail: 'manager@example.com',
    };
    const t = performance.now();
    // As a step does: match the account by the catalog's keys, then act on it.
    for (const step of plan) {
      const c = connectors.get(step.systemId)!;
      const sys = systems.get(step.systemId)!;
      if (step.kind === 'discover_owned') {
        const { found } = await discoverMatched(sys, c, subject);
        for (const o of found) await c.revokeOwned!(subject, o);
      } else await revokeMatched(sys, c, subject);
    }
    return performance.now() - t;
  }
  return { revoke, steps: plan.length, close: () => closeConnectors(connectors) };
}

/** Floor (a) at a rate: per-departure time of the direct calls. */
export async function directFloorAtRate(catalogYaml: string, employeeIds: string[], rate: number) {
  const d = directRevoker(catalogYaml);
  try {
    // Warm-up, not measured: token fetch, TLS and keep-alive connections, JIT.
    const warm = Math.min(10, Math.floor(employeeIds.length / 4));
    for (const e of employeeIds.slice(0, warm)) await d.revoke(e);
    const r = await openLoop(employeeIds.length - warm, rate, (i) => d.revoke(employeeIds[warm + i]!));
    return { latenciesMs: r.results, sendSeconds: r.sendSeconds };
  } finally {
    await d.close();
  }
}

/** Floor (a) for a batch: `concurrency` lanes of direct calls until every departure is done. */
export async function directFloorBatch(catalogYaml: string, employeeIds: string[], concurrency: number) {
  const d = directRevoker(catalogYaml);
  try {
    const warm = Math.min(10, Math.floor(employeeIds.length / 4));
    for (const e of employeeIds.slice(0, warm)) await d.revoke(e);
    const t = performance.now();
    let next = warm;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < employeeIds.length) await d.revoke(employeeIds[next++]!);
      }),
    );
    return { seconds: (performance.now() - t) / 1000, departures: employeeIds.length - warm };
  } finally {
    await d.close();
  }
}

/** Starts a floor worker process on its own task queue; returns a client to drive it. */
export async function floorEnvironment(
  s: Services,
  taskQueue: string,
  workerOptions?: Record<string, unknown>,
  nodeArgs?: string[],
) {
  const worker = await startWorker(
    {
      DATABASE_URL: s.databaseUrl,
      TEMPORAL_ADDRESS: s.temporalAddress,
      TEMPORAL_TASK_QUEUE: taskQueue,
      BENCH_FLOOR_BUNDLE: s.floorBundle,
      LOG_LEVEL: 'error',
    },
    { kind: 'floor', workerOptions, nodeArgs },
  );
  const connection = await Connection.connect({ address: s.temporalAddress });
  const client = new Client({ connection });
  let n = 0;
  const id = () => `floor-${taskQueue}-${n++}`;
  return {
    worker,
    client,
    /** Starts one floor workflow; resolves with (last activity's instant − the start request's instant). */
    async runOne(activities: number): Promise<number> {
      const sentAt = Date.now();
      const last = await client.workflow.execute('floorWorkflow', {
        taskQueue,
        workflowId: id(),
        args: [activities],
      });
      return (last as number) - sentAt;
    },
    async start(activities: number, workflow = 'floorWorkflow') {
      return client.workflow.start(workflow, { taskQueue, workflowId: id(), args: [activities] });
    },
    async stop() {
      await connection.close();
      await worker.stop();
    },
  };
}

/** Floor (b) at a rate: start-to-last-activity time of the trivial workflow. */
export async function temporalFloorAtRate(
  s: Services,
  taskQueue: string,
  activities: number,
  count: number,
  rate: number,
) {
  const env = await floorEnvironment(s, taskQueue);
  try {
    // A short warm-up, not measured.
    await Promise.all(Array.from({ length: 5 }, () => env.runOne(activities)));
    const cpu = cpuMeter([
      { name: 'floor worker', pid: env.worker.pid },
      { name: 'temporal', pid: s.temporalPid },
    ]);
    const r = await openLoop(count, rate, () => env.runOne(activities));
    return { latenciesMs: r.results, settings: env.worker.settings, cpu: cpu.stop() };
  } finally {
    await env.stop();
  }
}

/** Floor (b) for a batch: start `count` trivial workflows `concurrency` at a time; time to the last. */
export async function temporalFloorBatch(
  s: Services,
  taskQueue: string,
  activities: number,
  count: number,
  concurrency: number,
) {
  const env = await floorEnvironment(s, taskQueue);
  try {
    await Promise.all(Array.from({ length: 5 }, () => env.runOne(activities)));
    const cpu = cpuMeter([
      { name: 'floor worker', pid: env.worker.pid },
      { name: 'temporal', pid: s.temporalPid },
    ]);
    const t0 = Date.now();
    const handles: Awaited<ReturnType<typeof env.start>>[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          next++;
          handles.push(await env.start(activities));
        }
      }),
    );
    const lasts = (await Promise.all(handles.map((h) => h.result()))) as number[];
    return { seconds: (Math.max(...lasts) - t0) / 1000, settings: env.worker.settings, cpu: cpu.stop() };
  } finally {
    await env.stop();
  }
}
