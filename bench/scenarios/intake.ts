/**
 * `intake`: `concurrency` senders post signed HRIS webhooks (each a new confirmed departure) back to
 * back to the API process for `duration` seconds. Counted: events answered 202 `started` or `queued`,
 * i.e. verified, validated, stored in PostgreSQL (TriggerEvent + Departure + audit, one transaction)
 * and, since the API starts the workflow before it answers (server/intake/answer.ts `afterStore` ->
 * starter.startDeparture, 3 s budget, else "queued" for the dispatcher), the Temporal workflow start is
 * INCLUDED in every answer. By default no worker runs, so the started workflows wait in Temporal and
 * only intake is measured (`--with-worker` runs the worker too).
 */
import { performance } from 'node:perf_hooks';
import { Client, Connection } from '@temporalio/client';
import { Prisma } from '../../lib/db';
import { seedEmployee } from '../lib/catalog';
import { closedLoop, webhookSender, type Sent } from '../lib/load';
import { startBareIntake } from '../lib/procs';
import { cpuMeter, loadAverage, ms, printTable, summarize, type Summary } from '../lib/report';
import type { Services } from '../lib/services';
import { runId, startOffboard } from '../lib/stack';

export interface IntakeOptions {
  concurrency: number;
  durationS: number;
  withWorker: boolean;
  floors: boolean;
  workerOptions?: Record<string, unknown>;
}

function tally(results: Sent[], seconds: number) {
  const accepted = results.filter(
    (r) => r.status === 202 && (r.action === 'started' || r.action === 'queued'),
  );
  const answers: Record<string, number> = {};
  for (const r of results) {
    const k = `${r.status} ${r.action ?? r.error ?? ''}`.trim();
    answers[k] = (answers[k] ?? 0) + 1;
  }
  return {
    requests: results.length,
    accepted: accepted.length,
    perSecond: Math.round((accepted.length / seconds) * 10) / 10,
    answers,
    latencyMs: summarize(accepted.map((r) => r.responseMs)),
  };
}

export async function intakeScenario(s: Services, o: IntakeOptions) {
  const stack = await startOffboard(s, { catalog: {}, worker: o.withWorker, workerOptions: o.workerOptions });
  const id = runId();
  const sender = webhookSender(stack.api!.url, o.concurrency);
  const send = (prefix: string) => (i: number) => {
    const employeeId = `${prefix}-${i}`;
    if (o.withWorker) seedEmployee(s.standIns, employeeId);
    return sender.send(employeeId);
  };
  try {
    console.log(`[intake] warm-up 3 s`);
    await closedLoop(o.concurrency, 3_000, send(`W${id}`));
    const loadBefore = loadAverage();
    console.log(`[intake] ${o.concurrency} senders for ${o.durationS} s (load ${loadBefore.join(' ')})`);
    const cpu = cpuMeter([
      ...(stack.worker ? [{ name: 'worker', pid: stack.worker.pid }] : []),
      { name: 'api', pid: stack.api!.pid },
      { name: 'temporal', pid: s.temporalPid },
      { name: 'postgres', pid: s.postgresPid() ?? -1, tree: true },
    ]);
    const run = await closedLoop(o.concurrency, o.durationS * 1000, send(`I${id}`));
    const cpuUsed = cpu.stop();
    const loadAfter = loadAverage();
    const offboard = tally(run.results, run.seconds);

    // Server-side split, from the rows the API wrote: arrival -> trigger row written, and -> the
    // workflow start recorded (Departure.workflowStartedAt, after Temporal accepted the start).
    const split = await s.db.$queryRaw<{ stored: number; started: number | null }[]>(Prisma.sql`
      SELECT extract(epoch FROM t."createdAt" - t."receivedAt") * 1000 AS stored,
             extract(epoch FROM d."workflowStartedAt" - t."receivedAt") * 1000 AS started
        FROM "TriggerEvent" t JOIN "Departure" d ON d.id = t."departureId"
       WHERE t."employeeId" LIKE ${`I${id}-%`}`);
    const stored = summarize(split.map((x) => Number(x.stored)));
    const started = summarize(split.filter((x) => x.started !== null).map((x) => Number(x.started)));

    let bare: ReturnType<typeof tally> | null = null;
    let starts: { perSecond: number; latencyMs: Summary } | null = null;
    const floorS = Math.min(o.durationS, 10);
    if (o.floors) {
      console.log(`[intake] floor (a): bare HTTP + signature check, ${floorS} s`);
      const b = await startBareIntake();
      const bareSender = webhookSender(b.url, o.concurrency);
      try {
        await closedLoop(o.concurrency, 2_000, (i) => bareSender.send(`BW${id}-${i}`));
        const r = await closedLoop(o.concurrency, floorS * 1000, (i) => bareSender.send(`B${id}-${i}`));
        bare = tally(
          r.results.map((x) => ({ ...x, action: x.status === 202 ? 'started' : x.action })),
          r.seconds,
        );
      } finally {
        await bareSender.close();
        await b.stop();
      }
      console.log(`[intake] floor (b): Temporal workflow starts by a client, ${floorS} s`);
      const connection = await Connection.connect({ address: s.temporalAddress });
      const client = new Client({ connection });
      try {
        const start = async (i: number, prefix: string) => {
          const t = performance.now();
          await client.workflow.start('floorWorkflow', {
            taskQueue: `nobody-${id}`,
            workflowId: `${prefix}-${i}`,
            args: [1],
          });
          return performance.now() - t;
        };
        await closedLoop(o.concurrency, 2_000, (i) => start(i, `SW${id}`));
        const r = await closedLoop(o.concurrency, floorS * 1000, (i) => start(i, `S${id}`));
        starts = {
          perSecond: Math.round((r.results.length / r.seconds) * 10) / 10,
          latencyMs: summarize(r.results),
        };
      } finally {
        await connection.close();
      }
    }
    const ratio = (a: number, b: number | undefined) => (b ? Math.round((a / b) * 100) / 100 : null);
    const result = {
      scenario: 'intake',
      what: 'signed webhook events answered 202 started/queued per second (stored in PostgreSQL; the Temporal start is included: the API starts the workflow before answering)',
      options: o,
      offboard,
      goalPerSecond: 500,
      meetsGoal: offboard.perSecond >= 500,
      serverSplitMs: { arrivalToTriggerRowWritten: stored, arrivalToWorkflowStartRecorded: started },
      floors: o.floors
        ? {
            bareHttpSignature: {
              what: 'node:http + standardwebhooks verify, no DB, no Temporal (own process)',
              ...bare,
            },
            temporalStarts: { what: 'client.workflow.start, no HTTP, no DB, no codec', ...starts },
          }
        : null,
      ratios: o.floors
        ? {
            throughputShareOfBare: ratio(offboard.perSecond, bare?.perSecond),
            throughputShareOfTemporalStarts: ratio(offboard.perSecond, starts?.perSecond),
            p99OverBare: ratio(offboard.latencyMs.p99, bare?.latencyMs.p99),
            p99OverTemporalStarts: ratio(offboard.latencyMs.p99, starts?.latencyMs.p99),
          }
        : null,
      cpu: cpuUsed,
      load: { before: loadBefore, after: loadAfter },
    };
    const row = (name: string, perSecond: number | undefined, l: Summary | undefined) =>
      l ? [name, perSecond ?? '-', ms(l.p50), ms(l.p95), ms(l.p99)] : [name, '-', '-', '-', '-'];
    printTable(
      `intake: ${o.concurrency} concurrent senders, ${o.durationS} s, worker ${o.withWorker ? 'running' : 'not running'}`,
      [
        ['measure', 'per s', 'p50', 'p95', 'p99'],
        row('Offboard webhook accepted (stored + started)', offboard.perSecond, offboard.latencyMs),
        row('  server: arrival -> trigger row written', undefined, stored),
        row('  server: arrival -> workflow start recorded', undefined, started),
        row('floor (a) bare HTTP + signature', bare?.perSecond, bare?.latencyMs),
        row('floor (b) Temporal starts only', starts?.perSecond, starts?.latencyMs),
      ],
    );
    console.log(`answers: ${JSON.stringify(offboard.answers)}`);
    console.log(
      `goal 500/s: ${result.meetsGoal ? 'met' : 'NOT met'}; load ${loadBefore.join(' ')} -> ${loadAfter.join(' ')}`,
    );
    console.log(
      `cpu seconds: ${JSON.stringify(cpuUsed.cpuSeconds)}, machine busy ${cpuUsed.machineBusySeconds}/${cpuUsed.machineCapacitySeconds} s, other ${cpuUsed.otherBusySeconds} s`,
    );
    return result;
  } finally {
    await sender.close();
    await stack.stop();
  }
}
