/**
 * The real components a benchmark runs against, started the way the tests start them
 * (test/support/services.ts): PostgreSQL from the Debian package, the Temporal dev server (SQLite with
 * WAL + synchronous=OFF by default, or in memory), the Graph and SCIM stand-ins, and an SMTP sink.
 * Each run gets its own temporary folder and free ports; everything is stopped at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { bundleWorkflowCode } from '@temporalio/worker';
import { SMTPServer } from 'smtp-server';
import { SEARCH_ATTRIBUTE_REGISTRATIONS } from '../../contract';
import {
  dynamicConfigFlags,
  findTemporalBinaries,
  headlessDevServerArgs,
  SINGLE_NODE_DYNAMIC_CONFIG,
} from '../../embedded/binaries';
import { portOpen } from '../../embedded/net';
import { FAILURE_CONVERTER_PATH } from '../../lib/codec';
import { createDb, type Db } from '../../lib/db';
import { startStandIns, type StandIns } from '../../test/support/harness';
import { freePort, makeRoot, migrate, startPostgres, type Started } from '../../test/support/services';

export type TemporalStore = 'sqlite' | 'memory';

/** A real SMTP server (smtp-server) that accepts and discards every message, counting them. */
export class SmtpSink {
  count = 0;
  bytes = 0;
  private server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData: (stream, _session, cb) => {
      stream.on('data', (d: Buffer) => (this.bytes += d.length));
      stream.on('end', () => {
        this.count++;
        cb();
      });
    },
  });
  port = 0;

  async start(): Promise<string> {
    this.port = await freePort();
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => resolve());
    });
    return `smtp://127.0.0.1:${this.port}`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

async function waitFor(what: string, fn: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await fn().catch(() => false)) return;
    await sleep(150);
  }
  throw new Error(`${what} did not become ready within ${timeoutMs} ms`);
}

/** Exits within `ms` or is killed. */
export async function stopChild(proc: ChildProcess, ms = 10_000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const done = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  const t = setTimeout(() => proc.kill('SIGKILL'), ms);
  await done;
  clearTimeout(t);
}

/**
 * The dev server's dynamic-config values: `npm start`'s one-node values, then BENCH_TEMPORAL_DYNAMIC_CONFIG
 * ("key=value ..."), whose keys win.
 */
export function dynamicConfig(): string[] {
  const extra = (process.env.BENCH_TEMPORAL_DYNAMIC_CONFIG ?? '').split(/\s+/).filter(Boolean);
  const keys = new Set(extra.map((v) => v.split('=')[0]));
  return [...SINGLE_NODE_DYNAMIC_CONFIG.filter((v) => !keys.has(v.split('=')[0])), ...extra];
}

/** The Temporal dev server, like `npm start`'s, with the chosen persistence. */
export async function startTemporal(
  root: string,
  store: TemporalStore,
): Promise<Started & { address: string; flags: string[]; pid: number; metricsUrl: string | null }> {
  const { temporal } = findTemporalBinaries();
  const port = await freePort();
  // BENCH_TEMPORAL_METRICS=1: the server's Prometheus endpoint, for the operations a run cost it.
  const metricsPort = process.env.BENCH_TEMPORAL_METRICS === '1' ? await freePort() : null;
  const persistence =
    store === 'sqlite'
      ? [
          '--db-filename',
          path.join(root, 'temporal.db'),
          '--sqlite-pragma',
          'journal_mode=WAL',
          '--sqlite-pragma',
          'synchronous=OFF',
        ]
      : [];
  const flags = headlessDevServerArgs(port, [
    ...dynamicConfigFlags(dynamicConfig()),
    ...persistence,
    ...(metricsPort ? ['--metrics-port', String(metricsPort)] : []),
    ...SEARCH_ATTRIBUTE_REGISTRATIONS.flatMap((s) => ['--search-attribute', s]),
  ]);
  const proc = spawn(temporal, flags, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
  await waitFor('Temporal dev server', () => portOpen(port), 60_000).catch((e: Error) => {
    throw new Error(`${e.message}\n${log}`);
  });
  return {
    address: `127.0.0.1:${port}`,
    // What the results record: the persistence flags, without the run's temporary path.
    flags:
      store === 'sqlite' ? ['--db-filename <tmp>/temporal.db', ...persistence.slice(2)] : ['(in memory)'],
    pid: proc.pid!,
    metricsUrl: metricsPort ? `http://127.0.0.1:${metricsPort}/metrics` : null,
    async stop() {
      await stopChild(proc);
    },
  };
}

export interface Services {
  root: string;
  databaseUrl: string;
  db: Db;
  temporalAddress: string;
  temporalStore: TemporalStore;
  temporalFlags: string[];
  /** Process ids whose CPU time a run reports: the Temporal server and PostgreSQL's postmaster. */
  temporalPid: number;
  /** The Temporal server's Prometheus endpoint when BENCH_TEMPORAL_METRICS=1, else null. */
  temporalMetricsUrl: string | null;
  postgresPid(): number | null;
  offboardBundle: string;
  floorBundle: string;
  smtp: SmtpSink;
  smtpUrl: string;
  standIns: StandIns;
  stop(): Promise<void>;
}

const quietBundlerLogger = {
  trace() {},
  debug() {},
  info() {},
  warn() {},
  error: console.error,
  log() {},
};

/** Starts PostgreSQL (migrated), Temporal, the stand-ins and the SMTP sink; bundles the workflows. */
export async function startServices(opts: { temporalStore: TemporalStore }): Promise<Services> {
  const root = makeRoot();
  // The harness' stand-ins write their CA file under TEST_ROOT.
  process.env.TEST_ROOT = root;
  const [pg, temporal, offboard, floor] = await Promise.all([
    startPostgres(root),
    startTemporal(root, opts.temporalStore),
    bundleWorkflowCode({
      workflowsPath: require.resolve('../../workflows'),
      failureConverterPath: FAILURE_CONVERTER_PATH,
      logger: quietBundlerLogger,
    }),
    bundleWorkflowCode({ workflowsPath: require.resolve('../workflows/floor'), logger: quietBundlerLogger }),
  ]);
  migrate(pg.url);
  const offboardBundle = path.join(root, 'offboard-bundle.js');
  const floorBundle = path.join(root, 'floor-bundle.js');
  writeFileSync(offboardBundle, offboard.code);
  writeFileSync(floorBundle, floor.code);
  const db = createDb(pg.url, { max: 4 });
  const smtp = new SmtpSink();
  const smtpUrl = await smtp.start();
  const standIns = await startStandIns();
  return {
    root,
    databaseUrl: pg.url,
    db,
    temporalAddress: temporal.address,
    temporalStore: opts.temporalStore,
    temporalFlags: temporal.flags,
    temporalPid: temporal.pid,
    temporalMetricsUrl: temporal.metricsUrl,
    postgresPid() {
      try {
        return Number(readFileSync(path.join(root, 'pg', 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
      } catch {
        return null;
      }
    },
    offboardBundle,
    floorBundle,
    smtp,
    smtpUrl,
    standIns,
    async stop() {
      await db.$disconnect().catch(() => undefined);
      await standIns.stop().catch(() => undefined);
      await smtp.stop().catch(() => undefined);
      await temporal.stop().catch(() => undefined);
      await pg.stop().catch(() => undefined);
      if (!process.env.BENCH_KEEP_ROOT) rmSync(root, { recursive: true, force: true });
    },
  };
}
