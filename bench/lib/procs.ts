/**
 * The worker and API as their own processes (as in production: `npm run start:worker`,
 * `npm run start:server`), run with tsx, so each has its own event loop and its RSS can be read.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { portOpen } from '../../embedded/net';
import { CODEC_KEYS_SPEC, OPERATOR_TOKENS, SECRETS, WEBHOOK_SECRET } from '../../test/support/harness';
import { freePort } from '../../test/support/services';
import { stopChild, type Services } from './services';

const ROOT = path.resolve(__dirname, '../..');

export interface Child {
  proc: ChildProcess;
  pid: number;
  /** Last lines of stderr (for error messages). */
  log(): string;
  stop(): Promise<void>;
}

/** `BENCH_CPU_PROF=<dir>`: the worker and API write V8 CPU profiles there (open them in Chrome DevTools). */
function profileArgs(): string[] {
  const dir = process.env.BENCH_CPU_PROF;
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(dir)}`] : [];
}

function spawnTs(file: string, env: NodeJS.ProcessEnv, nodeArgs: string[] = profileArgs()): Child {
  const proc = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', path.join(ROOT, file)], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  proc.stderr?.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-6000)));
  return { proc, pid: proc.pid!, log: () => log, stop: () => stopChild(proc) };
}

/** The environment every Offboard process of a run shares (the tests' secrets and codec keys). */
export function commonEnv(s: Services, taskQueue: string, catalogFile: string): NodeJS.ProcessEnv {
  return {
    ...SECRETS,
    // Not `production`: the bench runs the stand-ins on this machine, which the production guards refuse
    // (config/production.ts); NODE_ENV changes nothing else in Offboard.
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'error',
    DATABASE_URL: s.databaseUrl,
    TEMPORAL_ADDRESS: s.temporalAddress,
    TEMPORAL_TASK_QUEUE: taskQueue,
    CATALOG_FILE: catalogFile,
    WORKFLOW_BUNDLE: s.offboardBundle,
    SMTP_URL: s.smtpUrl,
    PAYLOAD_CODEC_KEYS: CODEC_KEYS_SPEC,
    HRIS_WEBHOOK_SECRET: WEBHOOK_SECRET,
    OPERATOR_TOKENS,
  };
}

/** Waits for the child's `READY <rest>` line on stdout; returns `<rest>`. */
function readyLine(c: Child, what: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      const m = /^READY (.*)$/m.exec(buf);
      if (m) {
        c.proc.stdout?.off('data', onData);
        c.proc.stdout?.resume();
        resolve(m[1]!);
      }
    };
    c.proc.stdout?.on('data', onData);
    c.proc.once('exit', (code) => reject(new Error(`${what} exited (${code}) before ready:\n${c.log()}`)));
  });
}

/** The bare intake floor (bench/proc/bare-intake.ts). */
export async function startBareIntake(): Promise<ApiChild> {
  const c = spawnTs('bench/proc/bare-intake.ts', { HRIS_WEBHOOK_SECRET: WEBHOOK_SECRET });
  const port = Number(await readyLine(c, 'bare intake'));
  return { ...c, url: `http://127.0.0.1:${port}` };
}

export interface WorkerChild extends Child {
  settings: Record<string, unknown>;
}

/** Starts a worker process (bench/proc/worker.ts) and waits for its READY line. */
export async function startWorker(
  env: NodeJS.ProcessEnv,
  opts: { kind?: 'offboard' | 'floor'; workerOptions?: Record<string, unknown>; nodeArgs?: string[] } = {},
): Promise<WorkerChild> {
  const c = spawnTs(
    'bench/proc/worker.ts',
    {
      ...env,
      BENCH_WORKER_KIND: opts.kind ?? 'offboard',
      BENCH_WORKER_OPTIONS: JSON.stringify(opts.workerOptions ?? {}),
    },
    [...(opts.nodeArgs ?? []), ...profileArgs()],
  );
  const settings = JSON.parse(await readyLine(c, 'worker')) as Record<string, unknown>;
  return { ...c, settings };
}

export interface ApiChild extends Child {
  url: string;
}

/** Starts the API process (server/main.ts, the production entry point) on a free port. */
export async function startApi(env: NodeJS.ProcessEnv): Promise<ApiChild> {
  const port = await freePort();
  const c = spawnTs('server/main.ts', { ...env, PORT: String(port), DISPATCH_INTERVAL: '1s' });
  const until = Date.now() + 60_000;
  while (!(await portOpen(port))) {
    if (c.proc.exitCode !== null) throw new Error(`API exited before listening:\n${c.log()}`);
    if (Date.now() > until) throw new Error(`API not listening after 60 s:\n${c.log()}`);
    await sleep(100);
  }
  return { ...c, url: `http://127.0.0.1:${port}` };
}

/** Resident set size and its peak of a process, in bytes (from /proc). */
export function rssOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kb('VmRSS') * 1024, peak: kb('VmHWM') * 1024 };
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSecondsOf(pid: number): number {
  const fields = statFields(String(pid));
  // utime and stime are fields 14 and 15 of /proc/<pid>/stat (1-based), i.e. 11 and 12 after the name.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100;
}

/** The fields of /proc/<pid>/stat after the process name (which may hold spaces). */
function statFields(pid: string): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/**
 * CPU seconds of this process's children that have exited and been reaped (cutime + cstime of
 * /proc/self/stat): how a child that ends within a measured window (the layoff's CLI) is counted.
 */
export function reapedChildrenCpuSeconds(): number {
  const fields = statFields('self');
  // cutime and cstime are fields 16 and 17 (1-based), i.e. 13 and 14 after the name.
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

/** Writes a catalog file into the run's folder. */
export function writeCatalog(s: Services, name: string, yaml: string): string {
  const file = path.join(s.root, name);
  writeFileSync(file, yaml);
  return file;
}

/**
 * Waits until the process has used less than `cpuSeconds` of CPU over `windowMs` (it is idle), or
 * `timeoutMs` has passed. Returns how long it waited (ms).
 */
export async function waitIdle(
  pid: number,
  windowMs = 3_000,
  cpuSeconds = 0.15,
  timeoutMs = 300_000,
): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const a = cpuSecondsOf(pid);
    await sleep(windowMs);
    if (cpuSecondsOf(pid) - a < cpuSeconds || Date.now() - t0 > timeoutMs) return Date.now() - t0;
  }
}
