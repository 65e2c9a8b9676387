/**
 * `latency`: signed webhooks arrive open-loop at a sustained rate; for each departure, the time from
 * the API receiving its webhook (TriggerEvent.receivedAt) to the confirmation of its last revocation
 * step (max StepRecord.confirmedAt, written by the activity after reading the target back). Both
 * instants are stamped on this machine's clock by the API and the worker; the sender's own send time
 * and answer time are recorded as well. Read from PostgreSQL after the run (polled until every step is
 * green), so the measurement adds no load while it runs.
 */
import { directFloorAtRate, temporalFloorAtRate } from '../lib/floors';
import { webhookSender, openLoop } from '../lib/load';
import { waitIdle } from '../lib/procs';
import { cpuMeter, loadAverage, ms, printTable, summarize, type Cpu, type Summary } from '../lib/report';
import type { Services } from '../lib/services';
import {
  revocationRows,
  runId,
  seedEmployees,
  startOffboard,
  stepTimeline,
  stepsPerDeparture,
  waitForGreen,
} from '../lib/stack';

export interface LatencyOptions {
  rate: number;
  durationS: number;
  standInLatencyMs: number;
  floors: boolean;
  floorDurationS: number;
  warmup: number;
  workerOptions?: Record<string, unknown>;
}

export async function latencyScenario(s: Services, o: LatencyOptions) {
  const stack = await startOffboard(s, { catalog: {}, workerOptions: o.workerOptions });
  const steps = stepsPerDeparture(stack.systems);
  const count = Math.round(o.rate * o.durationS);
  const id = runId();
  const warm = seedEmployees(s, `W${id}`, o.warmup);
  const measured = seedEmployees(s, `L${id}`, count);
  const sender = webhookSender(stack.api!.url, 64);
  s.standIns.graph.control.latencyMs = o.standInLatencyMs;
  s.standIns.scim.control.latencyMs = o.standInLatencyMs;
  try {
    // Warm-up (not measured): JIT, connection pools, the worker's sticky caches.
    console.log(`[latency] warm-up: ${o.warmup} departures`);
    await openLoop(warm.length, Math.min(o.rate, 10), (i) => sender.send(warm[i]!));
    await waitForGreen(s, `W${id}`, warm.length * steps, { timeoutMs: 120_000 });

    // Floors, in the same run on the same services, measured before the main run: afterwards the
    // Temporal server is still draining the main run's paperwork (asset and document activities at the
    // follow-up pace), and a floor measured then reads that backlog, not Temporal's cost.
    let direct: Summary | null = null;
    let temporal: Summary | null = null;
    const floorLoad: { direct?: number[]; temporal?: number[] } = {};
    let floorCpu: Cpu | null = null;
    if (o.floors) {
      // The warm-up's offboardings go on after their revocations (assets, documents): let the worker
      // finish that work first, so the floors do not compete with it.
      const waited = await waitIdle(stack.worker!.pid);
      console.log(`[latency] worker idle after ${Math.round(waited / 1000)} s`);
      const n = Math.max(20, Math.round(o.rate * o.floorDurationS));
      const ids = seedEmployees(s, `D${id}`, n);
      console.log(`[latency] floor (a): ${n} direct call sequences at ${o.rate}/s`);
      floorLoad.direct = loadAverage();
      direct = summarize((await directFloorAtRate(stack.catalogYaml, ids, o.rate)).latenciesMs);
      console.log(
        `[latency] floor (b): ${n} trivial workflows of ${steps + 1} no-op activities at ${o.rate}/s`,
      );
      floorLoad.temporal = loadAverage();
      const t = await temporalFloorAtRate(s, `floor-${id.toLowerCase()}`, steps + 1, n, o.rate);
      temporal = summarize(t.latenciesMs);
      floorCpu = t.cpu;
    }

    console.log(
      `[latency] ${count} departures at ${o.rate}/s for ${o.durationS} s (load ${loadAverage().join(' ')})`,
    );
    const loadBefore = loadAverage();
    const cpu = cpuMeter([
      { name: 'worker', pid: stack.worker!.pid },
      { name: 'api', pid: stack.api!.pid },
      { name: 'temporal', pid: s.temporalPid },
      { name: 'postgres', pid: s.postgresPid() ?? -1, tree: true },
    ]);
    const t0 = Date.now();
    const sent = await openLoop(count, o.rate, (i) => sender.send(measured[i]!));
    const drain = await waitForGreen(s, `L${id}`, count * steps, {
      timeoutMs: Math.min(1_800_000, Math.max(180_000, count * 1_000)),
      progress: (g, r) => console.log(`[latency]   ${g}/${count * steps} steps green, ${r} red`),
    });
    const cpuUsed = cpu.stop();
    const loadAfter = loadAverage();
    const rows = await revocationRows(s, `L${id}`);
    const done = rows.filter(
      (r) => r.steps === steps && r.green === steps && r.receivedAt && r.lastConfirmedAt,
    );
    const latencies = done.map((r) => r.lastConfirmedAt!.getTime() - r.receivedAt!.getTime());
    const bySent = new Map(sent.results.map((x) => [x.employeeId, x]));
    const sendToReceived = done.map((r) => r.receivedAt!.getTime() - bySent.get(r.employeeId)!.sentAt);
    const receivedToFirstStep = done
      .filter((r) => r.firstStartedAt)
      .map((r) => r.firstStartedAt!.getTime() - r.receivedAt!.getTime());
    const statuses: Record<string, number> = {};
    for (const x of sent.results)
      statuses[`${x.status} ${x.action ?? x.error ?? ''}`.trim()] =
        (statuses[`${x.status} ${x.action ?? x.error ?? ''}`.trim()] ?? 0) + 1;

    const timeline = await stepTimeline(s, `L${id}`);
    // Throughput the system kept up: departures confirmed per second from the first arrival to the last
    // confirmation (below the offered rate = a backlog built up).
    const span =
      done.length > 1
        ? (Math.max(...done.map((r) => r.lastConfirmedAt!.getTime())) -
            Math.min(...done.map((r) => r.receivedAt!.getTime()))) /
          1000
        : NaN;
    const confirmedPerSecond = Math.round((done.length / span) * 10) / 10;
    const offboard = summarize(latencies);
    const answer = summarize(sent.results.map((x) => x.responseMs));

    const ratio = (a: number, b: number | undefined) => (b ? Math.round((a / b) * 10) / 10 : null);
    const result = {
      scenario: 'latency',
      what: 'per departure: TriggerEvent.receivedAt (API, on arrival of the signed webhook) -> max StepRecord.confirmedAt (activity, after the target read-back) of its last revocation step',
      options: o,
      systems: stack.systems,
      stepsPerDeparture: steps,
      departures: { sent: count, confirmed: done.length, redSteps: drain.red, timedOut: drain.timedOut },
      sendSeconds: Math.round(sent.sendSeconds * 10) / 10,
      confirmedPerSecond,
      senderMaxLagMs: Math.round(sent.maxLagMs),
      answers: statuses,
      latencyMs: offboard,
      goalP99Ms: 1000,
      meetsGoal: offboard.p99 < 1000 && done.length === count,
      webhookAnswerMs: answer,
      sendToReceivedMs: summarize(sendToReceived),
      receivedToFirstStepStartMs: summarize(receivedToFirstStep),
      stepTimelineMedianMs: timeline,
      floors: o.floors
        ? {
            direct: {
              what: 'the same connector calls in plan order, sequential, no engine/DB/HTTP intake',
              latencyMs: direct,
              load: floorLoad.direct,
            },
            temporal: {
              what: `floorWorkflow with ${steps + 1} sequential no-op activities, started by a client, own worker process, no codec`,
              latencyMs: temporal,
              load: floorLoad.temporal,
              cpu: floorCpu,
            },
          }
        : null,
      ratios: o.floors
        ? {
            p50OverDirect: ratio(offboard.p50, direct?.p50),
            p99OverDirect: ratio(offboard.p99, direct?.p99),
            p50OverTemporal: ratio(offboard.p50, temporal?.p50),
            p99OverTemporal: ratio(offboard.p99, temporal?.p99),
          }
        : null,
      cpu: cpuUsed,
      cpuSecondsPerDeparture: Object.fromEntries(
        Object.entries(cpuUsed.cpuSeconds).map(([k, v]) => [k, Math.round((v / count) * 1000) / 1000]),
      ),
      load: { before: loadBefore, after: loadAfter },
      workerSettings: stack.worker!.settings,
      startedAt: new Date(t0).toISOString(),
    };

    const row = (name: string, x: Summary | null) =>
      x ? [name, x.n, ms(x.p50), ms(x.p95), ms(x.p99), ms(x.max)] : [name, '-', '-', '-', '-', '-'];
    printTable(
      `latency: ${count} departures at ${o.rate}/s, stand-in latency ${o.standInLatencyMs} ms, ${steps} steps each`,
      [
        ['measure', 'n', 'p50', 'p95', 'p99', 'max'],
        row('Offboard webhook -> last revocation confirmed', offboard),
        row('  webhook answer (client)', answer),
        row('  received -> first step started', summarize(receivedToFirstStep)),
        row('floor (a) direct calls, sequential', direct),
        row('floor (b) Temporal no-op workflow', temporal),
      ],
    );
    printTable('median per step, ms after the webhook arrived', [
      ['#', 'system', 'action', 'started', 'confirmed', 'took'],
      ...timeline.map((t) => [t.ordinal, t.systemId, t.action, t.startedMs, t.confirmedMs, t.tookMs]),
    ]);
    if (result.ratios)
      console.log(
        `ratios: p50 ${result.ratios.p50OverDirect}x direct, ${result.ratios.p50OverTemporal}x Temporal; ` +
          `p99 ${result.ratios.p99OverDirect}x direct, ${result.ratios.p99OverTemporal}x Temporal`,
      );
    console.log(
      `goal p99 < 1000 ms: ${result.meetsGoal ? 'met' : 'NOT met'}; load ${loadBefore.join(' ')} -> ${loadAfter.join(' ')}`,
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
