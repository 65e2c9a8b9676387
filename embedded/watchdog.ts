/**
 * The watchdog of `npm start`: stops the servers a run started (the Temporal dev server, PGlite) when
 * the run's process ends without stopping them itself (SIGKILL, an out-of-memory kill, a crash).
 *
 * How it knows, and why this way: Linux can tie a child's life to its parent's (PR_SET_PDEATHSIG), but
 * only through prctl from native code, and other systems have nothing of the kind; polling the
 * parent's pid is slow and can mistake a pid reused by another process for the parent. Instead
 * `npm start` starts this small process with a pipe as its stdin and keeps the other end open without
 * ever writing to it. However `npm start` ends, the kernel closes that end with it, and this process
 * reads end-of-file at once, on every POSIX system, with no pid to confuse. It runs in a session of its
 * own, so neither Ctrl-C, nor a closed terminal, nor a kill of `npm start`'s process group reaches it.
 * On end-of-file it stops the processes the run recorded (embedded/pidfiles.ts: only those still
 * matching their recorded command line and start time) and exits. After a clean stop the run's records
 * are gone and there is nothing to do. Should the watchdog be killed too, the next `npm start` finds
 * the records and stops what is left (`RunRecords.claim`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { readRun, stopRecorded, type RunRecords } from './pidfiles';

/** Starts the watchdog of `run` (and records it there): see the module comment. */
export function startWatchdog(run: RunRecords): ChildProcess {
  // The same loader flags as this process (`--import tsx` under npm start), no inspector port twice.
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--inspect'));
  const child = spawn(process.execPath, [...execArgv, __filename, run.dir], {
    detached: true,
    stdio: ['pipe', 'ignore', 'inherit'],
  });
  run.record('watchdog', 'watchdog', child.pid);
  // Neither the process nor its pipe keeps this process's event loop alive.
  child.unref();
  (child.stdin as Socket | null)?.unref();
  return child;
}

async function watch(runDir: string): Promise<void> {
  // Its terminal may be gone by the time it has something to say.
  process.stderr.on('error', () => undefined);
  await new Promise<void>((resolve) => {
    process.stdin.once('end', resolve);
    process.stdin.once('close', resolve);
    process.stdin.once('error', () => resolve());
    process.stdin.resume();
  });
  const left = readRun(runDir).started.filter((r) => r.pid !== process.pid);
  const ran = await Promise.all(left.map((r) => stopRecorded(r)));
  const stopped = left.filter((_, i) => ran[i]).map((r) => `${r.label} (pid ${r.pid})`);
  if (stopped.length > 0)
    process.stderr.write(
      `[offboard] npm start is gone; stopped what it left running: ${stopped.join(', ')}\n`,
    );
}

if (require.main === module) {
  const runDir = process.argv[2];
  if (!runDir) {
    process.stderr.write('usage: watchdog.ts <run folder>\n');
    process.exit(2);
  }
  watch(runDir).then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`[offboard] watchdog: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    },
  );
}
