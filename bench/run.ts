/**
 * `npm run bench -- <scenario> [flags]`: Offboard's performance bars measured against real components
 * (PostgreSQL, the Temporal dev server, the production worker and API processes, the Graph and SCIM
 * stand-ins), each with the floors it is divided by. Prints a table and writes
 * bench-results/<scenario>-<timestamp>.json. See bench/README.md.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { installRuntime } from '../workers/temporal';
import { quietLogger } from '../test/support/harness';
import { dbScenario } from './scenarios/db';
import { intakeScenario } from './scenarios/intake';
import { latencyScenario } from './scenarios/latency';
import { layoffScenario } from './scenarios/layoff';
import { memoryScenario } from './scenarios/memory';
import { shapesScenario } from './scenarios/shapes';
import { loadAverage, machine, median, printTable, writeResult } from './lib/report';
import { dynamicConfig, startServices, type TemporalStore } from './lib/services';

const num = (min: number, max: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new InvalidArgumentError(`a number from ${min} to ${max}`);
  return n;
};
const ints = (v: string) =>
  v.split(',').map((x) => {
    const n = Number(x);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('comma-separated positive integers');
    return n;
  });

interface Common {
  temporalStore: TemporalStore;
  repeat: number;
  workerOptions?: string;
}

function workerOptionsOf(o: Common): Record<string, unknown> | undefined {
  const extra = o.workerOptions ? (JSON.parse(o.workerOptions) as Record<string, unknown>) : {};
  return Object.keys(extra).length ? extra : undefined;
}

/** The commit measured and any files changed in the working tree (a dirty tree is not that commit). */
function gitState() {
  const git = (args: string[]) => {
    try {
      return execFileSync('git', args, {
        cwd: path.resolve(__dirname, '..'),
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    } catch {
      return null;
    }
  };
  // Names only: `status --porcelain` lines lose their leading blank to the trim above.
  const dirty = git(['diff', '--name-only', 'HEAD']);
  return {
    // BENCH_COMMIT: for a run from an exported tree (`git archive`), which has no .git of its own.
    commit: git(['rev-parse', 'HEAD']) ?? process.env.BENCH_COMMIT ?? null,
    changedFiles: dirty ? dirty.split('\n') : [],
  };
}

/** Runs `body` `repeat` times on fresh services and writes one result file with every run. */
async function measure<T>(
  scenario: string,
  o: Common,
  body: (s: Awaited<ReturnType<typeof startServices>>, run: number) => Promise<T>,
  /** Figures whose median over the runs is printed and stored (with --repeat). */
  figures: Record<string, (r: T) => number | null | undefined> = {},
): Promise<void> {
  installRuntime(quietLogger);
  const runs: T[] = [];
  const loadAtStart = loadAverage();
  for (let i = 0; i < o.repeat; i++) {
    console.log(
      `[bench] ${scenario} run ${i + 1}/${o.repeat}: starting PostgreSQL, Temporal (${o.temporalStore}), stand-ins`,
    );
    const s = await startServices({ temporalStore: o.temporalStore });
    try {
      runs.push(await body(s, i));
    } finally {
      await s.stop();
    }
  }
  const medians = Object.fromEntries(
    Object.entries(figures).map(([k, f]) => {
      const v = runs.map(f).filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
      return [k, { median: v.length ? Math.round(median(v) * 10) / 10 : null, runs: v }];
    }),
  );
  if (o.repeat > 1 && Object.keys(medians).length)
    printTable(`${scenario}: medians over ${o.repeat} runs`, [
      ['figure', 'median', 'runs'],
      ...Object.entries(medians).map(([k, m]) => [
        k,
        m.median ?? '-',
        m.runs.map((x) => Math.round(x * 10) / 10).join(', '),
      ]),
    ]);
  const file = writeResult(scenario, {
    scenario,
    at: new Date().toISOString(),
    machine: machine(),
    loadAverageAtStart: loadAtStart,
    loadAverageAtEnd: loadAverage(),
    temporal: {
      server: 'temporal server start-dev',
      persistence:
        o.temporalStore === 'sqlite'
          ? 'SQLite file, --sqlite-pragma journal_mode=WAL --sqlite-pragma synchronous=OFF'
          : 'in memory',
      dynamicConfig: dynamicConfig(),
    },
    postgres: 'Debian postgresql server, fsync=off, synchronous_commit=off (as in the tests)',
    git: gitState(),
    medians,
    runs,
  });
  console.log(`\n[bench] wrote ${file}`);
}

type Figures<T> = Record<string, (r: T) => number | null | undefined>;

const LATENCY_FIGURES: Figures<Awaited<ReturnType<typeof latencyScenario>>> = {
  'p50 ms': (r) => r.latencyMs.p50,
  'p95 ms': (r) => r.latencyMs.p95,
  'p99 ms': (r) => r.latencyMs.p99,
  'kept up /s': (r) => r.confirmedPerSecond,
  'floor (a) p50 ms': (r) => r.floors?.direct.latencyMs?.p50,
  'floor (a) p99 ms': (r) => r.floors?.direct.latencyMs?.p99,
  'floor (b) p50 ms': (r) => r.floors?.temporal.latencyMs?.p50,
  'floor (b) p99 ms': (r) => r.floors?.temporal.latencyMs?.p99,
  'p50 / floor (a)': (r) => r.ratios?.p50OverDirect,
  'p99 / floor (a)': (r) => r.ratios?.p99OverDirect,
  'p50 / floor (b)': (r) => r.ratios?.p50OverTemporal,
  'p99 / floor (b)': (r) => r.ratios?.p99OverTemporal,
  'CPU s per departure': (r) => Object.values(r.cpuSecondsPerDeparture).reduce((x, y) => x + y, 0),
  'load 1-min before': (r) => r.load.before[0],
  'other busy CPU s': (r) => r.cpu.otherBusySeconds,
};

const INTAKE_FIGURES: Figures<Awaited<ReturnType<typeof intakeScenario>>> = {
  'accepted /s': (r) => r.offboard.perSecond,
  'p50 ms': (r) => r.offboard.latencyMs.p50,
  'p99 ms': (r) => r.offboard.latencyMs.p99,
  'floor (a) /s': (r) => r.floors?.bareHttpSignature.perSecond,
  'floor (b) starts /s': (r) => r.floors?.temporalStarts.perSecond,
  'floor (b) p99 ms': (r) => r.floors?.temporalStarts.latencyMs?.p99,
  'load 1-min before': (r) => r.load.before[0],
  'other busy CPU s': (r) => r.cpu.otherBusySeconds,
};

const program = new Command('bench')
  .description('Offboard performance benchmarks (see bench/README.md)')
  .showHelpAfterError();

function common(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--temporal-store <store>', 'Temporal dev server persistence')
        .choices(['sqlite', 'memory'])
        .default('sqlite'),
    )
    .option('--repeat <n>', 'runs, each on fresh servers (report medians)', num(1, 20), 1)
    .option('--worker-options <json>', 'extra Temporal WorkerOptions for the Offboard worker, as JSON');
}

common(
  program
    .command('latency')
    .description('webhook -> last revocation confirmed, p50/p95/p99 at a sustained rate (goal p99 < 1 s)')
    .option('--rate <n>', 'departures per second', num(0.1, 1000), 20)
    .option('--duration <s>', 'seconds of sustained load', num(1, 3600), 60)
    .option('--stand-in-latency <ms>', 'added to every stand-in call (Graph and SCIM)', num(0, 10_000), 0)
    .option('--no-floors', 'skip the two floors')
    .option('--floor-duration <s>', 'seconds of each floor at the same rate', num(1, 600), 10)
    .option('--warmup <n>', 'departures sent first and not measured', num(0, 10_000), 20),
).action(
  async (
    o: Common & {
      rate: number;
      duration: number;
      standInLatency: number;
      floors: boolean;
      floorDuration: number;
      warmup: number;
    },
  ) => {
    await measure(
      'latency',
      o,
      (s) =>
        latencyScenario(s, {
          rate: o.rate,
          durationS: o.duration,
          standInLatencyMs: o.standInLatency,
          floors: o.floors,
          floorDurationS: o.floorDuration,
          warmup: o.warmup,
          workerOptions: workerOptionsOf(o),
        }),
      LATENCY_FIGURES,
    );
  },
);

common(
  program
    .command('intake')
    .description('signed webhook events accepted and stored per second, with answer latency (goal 500/s)')
    .option('--concurrency <n>', 'concurrent senders (keep-alive connections)', num(1, 1024), 32)
    .option('--duration <s>', 'seconds of load', num(1, 600), 15)
    .option('--with-worker', 'run the Offboard worker too (the started workflows then execute)')
    .option('--no-floors', 'skip the two floors'),
).action(
  async (o: Common & { concurrency: number; duration: number; withWorker?: boolean; floors: boolean }) => {
    await measure(
      'intake',
      o,
      (s) =>
        intakeScenario(s, {
          concurrency: o.concurrency,
          durationS: o.duration,
          withWorker: !!o.withWorker,
          floors: o.floors,
          workerOptions: workerOptionsOf(o),
        }),
      INTAKE_FIGURES,
    );
  },
);

common(
  program
    .command('memory')
    .description('RSS of a worker holding N open offboardings waiting on asset timers (goal < 1 GiB)')
    .option('--count <n>', 'open offboardings', num(1, 100_000), 10_000)
    .option(
      '--max-cached <n>',
      "sets WORKER_MAX_CACHED_WORKFLOWS for the workers (default: the variable's value here, else Offboard's default)",
      num(0, 100_000),
    )
    .option('--start-concurrency <n>', 'workflow starts in flight', num(1, 256), 16)
    .option(
      '--worker-node-args <args>',
      'Node.js flags of the worker process, e.g. "--max-old-space-size=768"',
    )
    .option('--no-floors', 'skip the Temporal floor (trivial workflows parked on a timer)'),
).action(
  async (
    o: Common & {
      count: number;
      maxCached?: number;
      startConcurrency: number;
      floors: boolean;
      workerNodeArgs?: string;
    },
  ) => {
    // Through the worker's own configuration (config/env.ts), as a deployer sets it; the floor's
    // worker reads the same variable.
    if (o.maxCached !== undefined) process.env.WORKER_MAX_CACHED_WORKFLOWS = String(o.maxCached);
    await measure('memory', o, (s) =>
      memoryScenario(s, {
        count: o.count,
        startConcurrency: o.startConcurrency,
        floors: o.floors,
        workerOptions: workerOptionsOf(o),
        workerNodeArgs: o.workerNodeArgs?.split(/\s+/).filter(Boolean),
      }),
    );
  },
);

common(
  program
    .command('layoff')
    .description(
      'N departures from the CLI CSV import to every credential confirmed, rate limits honoured (goal 10,000 < 10 min)',
    )
    .option('--count <n>', 'departures', num(1, 100_000), 10_000)
    .option('--sizes <list>', 'several sizes in one invocation, e.g. 500,1000,2000 (overrides --count)', ints)
    .option('--rate-limit <n>', 'revocationsPerSecond of every system', num(1, 10_000), 50)
    .option('--max-concurrent <n>', 'rateLimit.maxConcurrent of every system', num(1, 1000), 10)
    .option('--cli-concurrency <n>', "the CLI's --concurrency", num(1, 32), 8)
    .option('--no-floors', 'skip the two floors')
    .option('--floor-count <n>', 'departures in each floor (scaled to --count)', num(1, 100_000), 500)
    .option(
      '--worker-node-args <args>',
      'node flags for the Offboard worker, e.g. "--max-semi-space-size=32"',
    ),
).action(
  async (
    o: Common & {
      count: number;
      sizes?: number[];
      rateLimit: number;
      maxConcurrent: number;
      cliConcurrency: number;
      floors: boolean;
      floorCount: number;
      workerNodeArgs?: string;
    },
  ) => {
    for (const count of o.sizes ?? [o.count])
      await measure('layoff', o, (s) =>
        layoffScenario(s, {
          count,
          rateLimit: o.rateLimit,
          maxConcurrent: o.maxConcurrent,
          cliConcurrency: o.cliConcurrency,
          floors: o.floors,
          floorCount: o.floorCount,
          workerOptions: workerOptionsOf(o),
          workerNodeArgs: o.workerNodeArgs?.split(/\s+/).filter(Boolean),
        }),
      );
  },
);

common(
  program
    .command('db')
    .description('CPU per database statement: the Prisma client vs raw SQL (evidence for the CPU profiles)')
    .option('--statements <n>', 'statements of each kind', num(100, 1_000_000), 3000),
).action(async (o: Common & { statements: number }) => {
  await measure('db', o, (s) => dbScenario(s, { statements: o.statements }));
});

common(
  program
    .command('shapes')
    .description(
      "Temporal's CPU per workflow for the parts of an offboarding: start + activity, scheduled activities, upserts, timers",
    )
    .option('--count <n>', 'workflows of each shape', num(10, 100_000), 500),
).action(async (o: Common & { count: number }) => {
  await measure('shapes', o, (s) => shapesScenario(s, { count: o.count }));
});

program.parseAsync(process.argv).then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e instanceof Error ? (e.stack ?? e.message) : e);
    process.exit(1);
  },
);
