/**
 * `layoff`: a mass layoff of N departures through the real CLI (`offboard start --csv`, its default
 * 8 rows at a time, as an operator with role hr) into the API process, worked by the production worker
 * process, until every revocation step of every departure is confirmed green. Every system carries a
 * catalog rate limit (`--rate-limit`, `--max-concurrent`), enforced by Temporal on its own task queue
 * (workers/worker.ts `systemWorkerLimits`); the run checks it was honoured (most revocations started in
 * any sliding second, per system, from StepRecord.startedAt, and the state-changing calls the stand-ins
 * received: SCIM PATCH /Users, Graph PATCH /users).
 *
 * Time: from the CLI's start to the last StepRecord.confirmedAt. The CLI import time is reported too.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Prisma } from '../../lib/db';
import { maxInAnyWindow } from '../../standins/faults';
import { TOKENS } from '../../test/support/harness';
import { systemWorkerLimits } from '../../workers/worker';
import { ALL_SYSTEMS, type RateLimit, type SystemId } from '../lib/catalog';
import { directFloorBatch, temporalFloorBatch } from '../lib/floors';
import { openLoop, webhookSender } from '../lib/load';
import { waitIdle } from '../lib/procs';
import { offboardingWorkflowId } from '../../contract';
import {
  counterDelta,
  cpuMeter,
  historyProfile,
  loadAverage,
  printTable,
  temporalCounters,
} from '../lib/report';
import type { Services } from '../lib/services';
import { runId, seedEmployees, startOffboard, stepsPerDeparture, waitForGreen } from '../lib/stack';

export interface LayoffOptions {
  count: number;
  rateLimit: number;
  maxConcurrent: number;
  cliConcurrency: number;
  floors: boolean;
  floorCount: number;
  workerOptions?: Record<string, unknown>;
  workerNodeArgs?: string[];
}

const ROOT = path.resolve(__dirname, '../..');

function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'cli/main.ts'), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    p.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

export async function layoffScenario(s: Services, o: LayoffOptions) {
  const limit: RateLimit = { revocationsPerSecond: o.rateLimit, maxConcurrent: o.maxConcurrent };
  const rateLimits = Object.fromEntries(ALL_SYSTEMS.map((x) => [x, limit])) as Record<SystemId, RateLimit>;
  const stack = await startOffboard(s, {
    catalog: { rateLimits },
    workerOptions: o.workerOptions,
    workerNodeArgs: o.workerNodeArgs,
  });
  const steps = stepsPerDeparture(stack.systems);
  const id = runId();
  const prefix = `X${id}`;
  const ids = seedEmployees(s, prefix, o.count);
  const today = new Date().toISOString().slice(0, 10);
  const confirmedAt = new Date(Date.now() - 60_000).toISOString();
  const csv = path.join(s.root, `layoff-${id}.csv`);
  writeFileSync(
    csv,
    [
      'employeeId,name,workEmail,personalEmail,department,workLocation,terminationType,confirmedAt,lastDay',
      ...ids.map(
        (e) =>
          `${e},Employee ${e},${e.toLowerCase()}@example.com,${e.toLowerCase()}@personal.example.net,Finance,remote,involuntary,${confirmedAt},${today}`,
      ),
    ].join('\n'),
  );
  try {
    // Warm-up (not measured): 10 departures through the webhook.
    const warm = seedEmployees(s, `W${id}`, 10);
    const sender = webhookSender(stack.api!.url, 8);
    await openLoop(warm.length, 10, (i) => sender.send(warm[i]!));
    await sender.close();
    await waitForGreen(s, `W${id}`, warm.length * steps, { timeoutMs: 120_000 });

    s.standIns.scim.control.calls.length = 0;
    s.standIns.graph.control.calls.length = 0;
    const loadBefore = loadAverage();
    console.log(`[layoff] ${o.count} departures via the CLI CSV import (load ${loadBefore.join(' ')})`);
    const cpu = cpuMeter(
      [
        { name: 'worker', pid: stack.worker!.pid },
        { name: 'api', pid: stack.api!.pid },
        { name: 'temporal', pid: s.temporalPid },
        { name: 'postgres', pid: s.postgresPid() ?? -1, tree: true },
      ],
      'cli',
    );
    const opsBefore = s.temporalMetricsUrl ? await temporalCounters(s.temporalMetricsUrl) : null;
    const t0 = Date.now();
    const cliRun = runCli(['start', '--csv', csv, '--json', '--concurrency', String(o.cliConcurrency)], {
      OFFBOARD_URL: stack.api!.url,
      OFFBOARD_TOKEN: TOKENS.hr,
    }).then((r) => ({ ...r, seconds: (Date.now() - t0) / 1000 }));
    const drain = await waitForGreen(s, prefix, o.count * steps, {
      timeoutMs: Math.max(900_000, o.count * 2_000),
      progress: (g, r) =>
        console.log(
          `[layoff]   ${g}/${o.count * steps} steps green, ${r} red, ${Math.round((Date.now() - t0) / 1000)} s, load ${loadAverage()[0]}`,
        ),
    });
    const cli = await cliRun;
    const cpuUsed = cpu.stop();
    // The server's requests per departure in the window (BENCH_TEMPORAL_METRICS=1).
    const temporalOps =
      opsBefore && s.temporalMetricsUrl
        ? counterDelta(opsBefore, await temporalCounters(s.temporalMetricsUrl), o.count)
        : null;
    const loadAfter = loadAverage();
    // What Temporal holds for a departure when the last credential is confirmed (20 spread over the run).
    const sampled = Math.min(20, o.count);
    const sample = Array.from({ length: sampled }, (_, i) =>
      offboardingWorkflowId(ids[Math.floor((i * o.count) / sampled)]!),
    );
    const history = await historyProfile(s.temporalAddress, sample);
    let cliSummary: unknown = null;
    try {
      cliSummary = (JSON.parse(cli.stdout) as { summary: unknown }).summary;
    } catch {
      cliSummary = { exitCode: cli.code, stderr: cli.stderr.slice(-500) };
    }

    const stepTimes = await s.db.$queryRaw<
      { systemId: string; startedAt: Date | null; confirmedAt: Date | null; attempts: number }[]
    >(
      Prisma.sql`SELECT s."systemId", s."startedAt", s."confirmedAt", s.attempts
                   FROM "StepRecord" s JOIN "Departure" d ON d.id = s."departureId"
                  WHERE d."employeeId" LIKE ${`${prefix}-%`}`,
    );
    const lastConfirmed = Math.max(...stepTimes.map((x) => x.confirmedAt?.getTime() ?? 0));
    const totalS = (lastConfirmed - t0) / 1000;
    const scimPatches = (app: string) =>
      s.standIns.scim.control.calls
        .filter((c) => c.method === 'PATCH' && c.path.startsWith(`/${app}/scim/v2/Users/`))
        .map((c) => c.at);
    const graphPatches = s.standIns.graph.control.calls
      .filter((c) => c.method === 'PATCH' && /^\/v1\.0\/users\/[^/]+$/.test(c.path.split('?')[0]!))
      .map((c) => c.at);
    const perSystem = stack.systems.map((sys) => {
      const started = stepTimes
        .filter((x) => x.systemId === sys && x.startedAt)
        .map((x) => x.startedAt!.getTime());
      const calls =
        sys === 'entra' ? graphPatches : ['vpn', 'crm', 'wiki'].includes(sys) ? scimPatches(sys) : null;
      return {
        system: sys,
        limit: o.rateLimit,
        workerPace: systemWorkerLimits(limit),
        stepsStartedMaxIn1s: maxInAnyWindow(started),
        stateChangingCallsMaxIn1s: calls ? maxInAnyWindow(calls) : null,
        stateChangingCalls: calls?.length ?? null,
        retriedSteps: stepTimes.filter((x) => x.systemId === sys && x.attempts > 1).length,
      };
    });
    const honoured = perSystem.every(
      (p) => p.stepsStartedMaxIn1s <= p.limit && (p.stateChangingCallsMaxIn1s ?? 0) <= p.limit,
    );

    // Floors.
    // Step by step the system's worker keeps this pace; in a sweep (the default) the shared pace in
    // PostgreSQL keeps the same one (activities/pace.ts).
    const pace = systemWorkerLimits(limit).maxActivitiesPerSecond;
    const legalFloorS = o.count / o.rateLimit;
    let direct: { departures: number; seconds: number; extrapolatedS: number } | null = null;
    let temporal: {
      departures: number;
      seconds: number;
      extrapolatedS: number;
      cpuSecondsPerWorkflow: Record<string, number>;
    } | null = null;
    if (o.floors) {
      // The offboardings go on after their revocations (assets, documents): let the worker finish that
      // work first, so the floors do not compete with it.
      await waitIdle(stack.worker!.pid);
      const n = Math.min(o.floorCount, o.count);
      const dIds = seedEmployees(s, `D${id}`, n);
      console.log(
        `[layoff] floor (a): ${n} departures' calls made directly, ${o.maxConcurrent} at a time, unpaced`,
      );
      const d = await directFloorBatch(stack.catalogYaml, dIds, o.maxConcurrent);
      direct = {
        departures: d.departures,
        seconds: Math.round(d.seconds * 10) / 10,
        extrapolatedS: Math.round((d.seconds * o.count) / d.departures),
      };
      console.log(
        `[layoff] floor (b): ${n} trivial workflows of ${steps + 1} no-op activities, ${o.cliConcurrency} starts at a time`,
      );
      const t = await temporalFloorBatch(s, `floor-${id.toLowerCase()}`, steps + 1, n, o.cliConcurrency);
      temporal = {
        departures: n,
        seconds: Math.round(t.seconds * 10) / 10,
        extrapolatedS: Math.round((t.seconds * o.count) / n),
        cpuSecondsPerWorkflow: Object.fromEntries(
          Object.entries(t.cpu.cpuSeconds).map(([k, v]) => [k, Math.round((v / n) * 1000) / 1000]),
        ),
      };
    }
    const physicalS = Math.max(legalFloorS, direct?.extrapolatedS ?? 0);
    const r1 = (x: number) => Math.round(x * 10) / 10;
    const result = {
      scenario: 'layoff',
      what: 'CLI `offboard start --csv` of N departures -> last StepRecord.confirmedAt of all of them; every system rate-limited',
      options: o,
      stepsPerDeparture: steps,
      departures: { count: o.count, stepsGreen: drain.green, stepsRed: drain.red, timedOut: drain.timedOut },
      cli: { seconds: r1(cli.seconds), exitCode: cli.code, summary: cliSummary },
      totalSeconds: r1(totalS),
      departuresPerSecond: r1(o.count / totalS),
      extrapolatedTo10000Seconds: Math.round((totalS * 10_000) / o.count),
      extrapolation:
        'linear in N from this run (assumes the per-departure cost does not grow with N; see notes)',
      goalSecondsFor10000: 600,
      rateLimits: { honoured, perSystem },
      floors: {
        legal: {
          what: 'N / revocationsPerSecond: no schedule honouring the limits can be faster',
          seconds: r1(legalFloorS),
        },
        configuredPace: {
          what: 'N / the per-system pace systemWorkerLimits() derives from the limit (Offboard design)',
          pacePerSecond: pace,
          seconds: r1(o.count / pace),
        },
        direct: direct && {
          what: 'the same calls made directly (no engine/DB), maxConcurrent lanes, unpaced; extrapolated to N',
          ...direct,
        },
        physical: { what: 'max(legal, direct)', seconds: r1(physicalS) },
        temporal: temporal && {
          what: `floorWorkflow of ${steps + 1} no-op activities, unlimited, own worker; extrapolated to N`,
          ...temporal,
        },
      },
      ratios: {
        overLegal: r1(totalS / legalFloorS),
        overDirect: direct ? r1(totalS / direct.extrapolatedS) : null,
        overPhysical: r1(totalS / physicalS),
        overConfiguredPace: r1(totalS / (o.count / pace)),
        overTemporal: temporal ? r1(totalS / temporal.extrapolatedS) : null,
      },
      cpu: cpuUsed,
      cpuSecondsPerDeparture: Object.fromEntries(
        Object.entries(cpuUsed.cpuSeconds).map(([k, v]) => [k, Math.round((v / o.count) * 1000) / 1000]),
      ),
      load: { before: loadBefore, after: loadAfter },
      history,
      temporalOps,
      workerSettings: stack.worker!.settings,
    };
    printTable(
      `layoff: ${o.count} departures, every system limited to ${o.rateLimit}/s (max ${o.maxConcurrent} in flight)`,
      [
        ['measure', 'seconds', 'departures/s', 'Offboard / floor'],
        ['Offboard: CLI import -> every credential confirmed', r1(totalS), r1(o.count / totalS), ''],
        ['  of which the CLI import', r1(cli.seconds), r1(o.count / cli.seconds), ''],
        ['  extrapolated to 10,000 (goal 600 s)', result.extrapolatedTo10000Seconds, '', ''],
        ['floor: legal (N / limit)', r1(legalFloorS), o.rateLimit, r1(totalS / legalFloorS)],
        ['floor: configured pace', r1(o.count / pace), pace, result.ratios.overConfiguredPace],
        [
          'floor (a) direct calls (extrapolated)',
          direct?.extrapolatedS ?? '-',
          direct ? r1(o.count / direct.extrapolatedS) : '-',
          direct ? r1(totalS / direct.extrapolatedS) : '-',
        ],
        [
          'floor (b) Temporal no-op (extrapolated)',
          temporal?.extrapolatedS ?? '-',
          temporal ? r1(o.count / temporal.extrapolatedS) : '-',
          result.ratios.overTemporal ?? '-',
        ],
      ],
    );
    printTable('rate limits', [
      ['system', 'limit/s', 'steps started max/1s', 'PATCH max/1s', 'retried'],
      ...perSystem.map((p) => [
        p.system,
        p.limit,
        p.stepsStartedMaxIn1s,
        p.stateChangingCallsMaxIn1s ?? 'n/a',
        p.retriedSteps,
      ]),
    ]);
    console.log(`rate limits honoured: ${honoured}; load ${loadBefore.join(' ')} -> ${loadAfter.join(' ')}`);
    console.log(`cpu seconds per departure: ${JSON.stringify(result.cpuSecondsPerDeparture)}`);
    console.log(
      `history per departure at the end (median of ${history.sampled}): ${history.eventsMedian} events, ${history.bytesMedian} bytes; by type ${JSON.stringify(history.byType)}`,
    );
    if (temporalOps) console.log(`Temporal requests per departure: ${JSON.stringify(temporalOps)}`);
    if (temporal)
      console.log(`floor (b) cpu seconds per workflow: ${JSON.stringify(temporal.cpuSecondsPerWorkflow)}`);
    return result;
  } finally {
    await stack.stop();
  }
}
