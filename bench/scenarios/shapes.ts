/**
 * `shapes`: what the Temporal server's CPU per workflow is made of, on this machine's dev server. Each
 * shape starts `--count` workflows of `shapeFloorWorkflow` (bench/workflows/floor.ts), 8 starts at a
 * time, waits until the server and the floor worker are idle, and reports CPU-seconds per workflow.
 * The shapes take an offboarding's first tasks apart: its start and one activity (the sweep), then the
 * follow-up activities it schedules, the search-attribute upserts and the timers, each on its own, and
 * all together; and a workflow of 8 activities run one after the other for comparison.
 */
import type { Shape } from '../workflows/floor';
import { floorEnvironment } from '../lib/floors';
import { waitIdle } from '../lib/procs';
import { cpuMeter, printTable } from '../lib/report';
import type { Services } from '../lib/services';
import { runId } from '../lib/stack';

export interface ShapesOptions {
  count: number;
}

const SHAPES: { name: string; shape: Omit<Shape, 'unpolledQueue'> }[] = [
  { name: 'start + 1 activity', shape: { activities: 1, scheduled: 0, upserts: 0, timers: 0 } },
  { name: '+ 8 activities scheduled', shape: { activities: 1, scheduled: 8, upserts: 0, timers: 0 } },
  { name: '+ 6 upserts', shape: { activities: 1, scheduled: 0, upserts: 6, timers: 0 } },
  { name: '+ 4 timers', shape: { activities: 1, scheduled: 0, upserts: 0, timers: 4 } },
  { name: '+ all three', shape: { activities: 1, scheduled: 8, upserts: 6, timers: 4 } },
  { name: '8 activities run', shape: { activities: 8, scheduled: 0, upserts: 0, timers: 0 } },
];

export async function shapesScenario(s: Services, o: ShapesOptions) {
  const id = runId().toLowerCase();
  const env = await floorEnvironment(s, `shapes-${id}`);
  const rows: { shape: string; temporalCpuS: number; workerCpuS: number; seconds: number }[] = [];
  try {
    const start = (shape: Omit<Shape, 'unpolledQueue'>, n: number) =>
      env.client.workflow.start('shapeFloorWorkflow', {
        taskQueue: `shapes-${id}`,
        workflowId: `shape-${id}-${n}`,
        args: [{ ...shape, unpolledQueue: `shapes-${id}-unpolled` }],
      });
    let n = 0;
    for (let i = 0; i < 10; i++) await start(SHAPES[0]!.shape, n++); // warm-up
    for (const { name, shape } of SHAPES) {
      await waitIdle(s.temporalPid, 2_000, 0.1);
      const cpu = cpuMeter([
        { name: 'temporal', pid: s.temporalPid },
        { name: 'worker', pid: env.worker.pid },
      ]);
      const t0 = Date.now();
      let started = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (started < o.count) {
            started++;
            await start(shape, n++);
          }
        }),
      );
      await waitIdle(s.temporalPid, 2_000, 0.1);
      const c = cpu.stop();
      const per = (x: number | undefined) => Math.round(((x ?? 0) / o.count) * 10_000) / 10_000;
      rows.push({
        shape: name,
        temporalCpuS: per(c.cpuSeconds.temporal),
        workerCpuS: per(c.cpuSeconds.worker),
        seconds: Math.round((Date.now() - t0) / 100) / 10,
      });
      console.log(`[shapes] ${name}: ${JSON.stringify(rows.at(-1))}`);
    }
  } finally {
    await env.stop();
  }
  printTable(`shapes: ${o.count} workflows each, CPU-seconds per workflow`, [
    ['shape', 'Temporal', 'floor worker', 'seconds (incl. idle wait)'],
    ...rows.map((r) => [r.shape, r.temporalCpuS, r.workerCpuS, r.seconds]),
  ]);
  return {
    scenario: 'shapes',
    what: 'Temporal server CPU per workflow for parts of an offboarding (start + activity, scheduled activities, upserts, timers)',
    options: o,
    rows,
  };
}
