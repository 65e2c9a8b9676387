/**
 * A real moto server (PyPI `moto[server]`, installed by `npm run setup:moto` into `.tools/moto`) for the
 * AWS IAM suite: one per test file, on a free port, stopped after. Not installed and CI not set: the
 * suite is skipped with a message; under CI it must run (`.ci/run` installs it).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeIfAvailable } from './optional';
import { freePort } from './services';

export const MOTO_BIN = path.resolve(__dirname, '..', '..', '.tools', 'moto', 'bin', 'moto_server');

/** `describe`, or `describe.skip` with the reason printed, when moto is not installed here. */
export const describeMoto = describeIfAvailable('moto', () =>
  existsSync(MOTO_BIN)
    ? null
    : 'moto is not installed: run `npm run setup:moto` (PyPI, one time); CI always runs it',
);

export interface Moto {
  endpoint: string;
  stop(): Promise<void>;
}

/** Starts moto on 127.0.0.1 and resolves once it answers. */
export async function startMoto(): Promise<Moto> {
  const port = await freePort();
  const proc: ChildProcess = spawn(MOTO_BIN, ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const endpoint = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (proc.exitCode !== null || !proc.pid) return;
    const exited = new Promise((r) => proc.once('exit', r));
    process.kill(-proc.pid, 'SIGTERM');
    await Promise.race([exited, sleep(5_000)]);
  };
  for (let i = 0; i < 150; i++) {
    if (proc.exitCode !== null) throw new Error(`moto_server exited (${proc.exitCode}): ${stderr}`);
    try {
      const r = await fetch(`${endpoint}/moto-api/`);
      if (r.ok) return { endpoint, stop };
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  await stop();
  throw new Error(`moto_server did not answer within 15 s: ${stderr}`);
}
