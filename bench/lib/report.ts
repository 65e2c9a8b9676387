/** Statistics, machine load, CPU accounting, the printed table and the JSON result file. */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { eventTypeName } from '../../lib/history';
import { cpuSecondsOf, reapedChildrenCpuSeconds } from './procs';

export interface Summary {
  n: number;
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function summarize(values: readonly number[]): Summary {
  const s = [...values].sort((a, b) => a - b);
  return {
    n: s.length,
    min: s[0] ?? NaN,
    p50: percentile(s, 50),
    p95: percentile(s, 95),
    p99: percentile(s, 99),
    max: s[s.length - 1] ?? NaN,
    mean: s.length ? s.reduce((a, b) => a + b, 0) / s.length : NaN,
  };
}

/** The median (the mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The 1/5/15-minute load averages, rounded. */
export function loadAverage(): [number, number, number] {
  const [a, b, c] = os.loadavg();
  return [a!, b!, c!].map((x) => Math.round(x * 100) / 100) as [number, number, number];
}

export function machine() {
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${os.type()} ${os.release()}`,
  };
}

/** Busy and total CPU time of the whole machine since boot, in seconds (from /proc/stat). */
function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: (total - idle) / 100, total: total / 100 };
}

/** All descendants of a process (e.g. PostgreSQL's backends under the postmaster). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d), ...childrenOf(Number(d)));
    } catch {
      /* gone */
    }
  }
  return out;
}

function cpuOfTree(pid: number, withChildren: boolean): number {
  let sum = 0;
  for (const p of withChildren ? [pid, ...childrenOf(pid)] : [pid]) {
    try {
      sum += cpuSecondsOf(p);
    } catch {
      /* exited */
    }
  }
  return sum;
}

export interface CpuTarget {
  name: string;
  pid: number;
  /** Count the children too (PostgreSQL backends). */
  tree?: boolean;
}

/**
 * CPU seconds used by each named process between `start()` and `stop()`, plus the whole machine's busy
 * time (which includes other users' work: on a shared machine the difference is contention).
 * `reaped` names the children of this process that exit within the window (their CPU is read when
 * they are reaped, e.g. the layoff's CLI); without it that CPU counts as other work.
 */
export function cpuMeter(targets: CpuTarget[], reaped?: string) {
  const self = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  const take = () => ({
    at: Date.now(),
    machine: machineCpu(),
    bench: self(),
    reaped: reapedChildrenCpuSeconds(),
    each: targets.map((t) => cpuOfTree(t.pid, !!t.tree)),
  });
  const start = take();
  return {
    stop() {
      const end = take();
      const wall = (end.at - start.at) / 1000;
      const r = (x: number) => Math.round(x * 10) / 10;
      const perProcess: Record<string, number> = {
        'bench (stand-ins, load, smtp)': r(end.bench - start.bench),
      };
      targets.forEach((t, i) => (perProcess[t.name] = r(end.each[i]! - start.each[i]!)));
      if (reaped) perProcess[reaped] = r(end.reaped - start.reaped);
      const busy = end.machine.busy - start.machine.busy;
      const ours = Object.values(perProcess).reduce((a, b) => a + b, 0);
      return {
        wallSeconds: r(wall),
        cpuSeconds: perProcess,
        machineBusySeconds: r(busy),
        machineCapacitySeconds: r(wall * os.cpus().length),
        /** Busy time not accounted to the run's own processes: other work on the machine. */
        otherBusySeconds: r(Math.max(0, busy - ours)),
      };
    },
  };
}

export type Cpu = ReturnType<ReturnType<typeof cpuMeter>['stop']>;

export const ms = (x: number) => (Number.isFinite(x) ? `${Math.round(x)} ms` : 'n/a');

/** Prints rows as an aligned two-or-more-column table. */
export function printTable(title: string, rows: (string | number)[][]): void {
  const cells = rows.map((r) => r.map(String));
  const widths = cells.reduce<number[]>((w, r) => r.map((c, i) => Math.max(w[i] ?? 0, c.length)), []);
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  console.log(`\n${title}`);
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of cells) console.log(line(r));
}

/** Writes the result as bench-results/<scenario>-<timestamp>.json; returns the path. */
export function writeResult(scenario: string, result: unknown, dir = 'bench-results'): string {
  const out = path.resolve(__dirname, '../..', dir);
  mkdirSync(out, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = path.join(out, `${scenario}-${stamp}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  return file;
}

/**
 * What Temporal stores for a sample of workflows: events and encoded bytes per workflow (medians) and,
 * by event type, the mean count and bytes per workflow. Taken when called (a run still going on adds
 * to it), so a scenario calls it at the instant its measure ends.
 */
export async function historyProfile(
  temporalAddress: string,
  workflowIds: readonly string[],
): Promise<{
  sampled: number;
  eventsMedian: number;
  bytesMedian: number;
  byType: Record<string, { count: number; bytes: number }>;
}> {
  const connection = await Connection.connect({ address: temporalAddress });
  try {
    const client = new Client({ connection });
    const events: number[] = [];
    const bytes: number[] = [];
    const byType = new Map<string, { count: number; bytes: number }>();
    for (const id of workflowIds) {
      const history = await client.workflow.getHandle(id).fetchHistory();
      let total = 0;
      for (const e of history.events ?? []) {
        const size = temporal.api.history.v1.HistoryEvent.encode(e).finish().length;
        const type = eventTypeName(e.eventType);
        const t = byType.get(type) ?? { count: 0, bytes: 0 };
        t.count++;
        t.bytes += size;
        byType.set(type, t);
        total += size;
      }
      events.push(history.events?.length ?? 0);
      bytes.push(total);
    }
    const n = workflowIds.length;
    return {
      sampled: n,
      eventsMedian: median(events),
      bytesMedian: median(bytes),
      byType: Object.fromEntries(
        [...byType.entries()]
          .sort((a, b) => b[1].bytes - a[1].bytes)
          .map(([k, v]) => [
            k,
            { count: Math.round((v.count / n) * 10) / 10, bytes: Math.round(v.bytes / n) },
          ]),
      ),
    };
  } finally {
    await connection.close();
  }
}

/** The counters of the Temporal server's metrics a run's report breaks down by operation. */
const TEMPORAL_COUNTERS = ['service_requests', 'persistence_requests', 'task_requests'] as const;

/**
 * A snapshot of the Temporal server's request counters (Prometheus text from `--metrics-port`),
 * summed by metric and operation (and service), e.g. `service_requests history RecordWorkflowTaskStarted`.
 */
export async function temporalCounters(metricsUrl: string): Promise<Map<string, number>> {
  const text = await (await fetch(metricsUrl)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\w+)\{([^}]*)\} ([0-9.e+]+)$/.exec(line);
    if (!m || !(TEMPORAL_COUNTERS as readonly string[]).includes(m[1]!)) continue;
    const labels = Object.fromEntries([...m[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    const key = [m[1], labels.service_name, labels.operation].filter(Boolean).join(' ');
    out.set(key, (out.get(key) ?? 0) + Number(m[3]));
  }
  return out;
}

/** Counter increases between two snapshots, per `per` units (e.g. departures), largest first. */
export function counterDelta(
  before: Map<string, number>,
  after: Map<string, number>,
  per: number,
): Record<string, number> {
  return Object.fromEntries(
    [...after]
      .map(([k, v]) => [k, (v - (before.get(k) ?? 0)) / per] as const)
      .filter(([, v]) => v > 0)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => [k, Math.round(v * 100) / 100]),
  );
}
