/**
 * Pid files of `npm start`: which processes a run started on a data folder, so that servers a crashed
 * run left behind are recognised and stopped by the watchdog (`embedded/watchdog.ts`) or by the next
 * start, and never a process that merely got the same pid.
 *
 * Each run keeps its records in `<data>/run/<pid of npm start>/`: `owner.json` for the `npm start`
 * process itself, one `<name>.json` per process it started (the Temporal dev server, PGlite, the
 * watchdog). A record holds the pid and the process's identity as read right after it started: its
 * command line (`/proc/<pid>/cmdline`, or `ps` where there is no `/proc`) and, where readable, its start
 * time. A process counts as the recorded one only while both still match, so a pid the system handed
 * to another process since is never signalled.
 *
 * A clean stop removes its run's folder. A folder whose owner is gone belongs to a run that crashed
 * (or was killed, or lost its terminal): `RunRecords.claim` stops what it recorded before a new run
 * starts. A folder whose owner still runs means `npm start` is already running on this data folder.
 */
import { spawnSync } from 'node:child_process';
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  type Dirent,
} from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** One process a run started (or the run's own `npm start` process, named `owner`). */
export interface ProcessRecord {
  /** File name of the record: `owner`, `temporal`, `postgres`, `watchdog`. */
  name: string;
  /** What to call it in messages ("Temporal dev server"). */
  label: string;
  pid: number;
  /** The command line, arguments separated by spaces, as read right after the process started. */
  command: string;
  /** The process's start time as the system reports it (null where it cannot be read). */
  startTime: string | null;
}

/** A process's command line and start time, or null when no such process runs (or it is a zombie). */
export function processIdentity(pid: number): { command: string; startTime: string | null } | null {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  if (process.platform === 'linux') {
    try {
      // Arguments are NUL-terminated; a zombie (exited, not yet reaped) has an empty command line.
      const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0$/, '').replaceAll('\0', ' ');
      if (!command) return null;
      // Field 22 of /proc/<pid>/stat (after the parenthesised command name, which may hold spaces).
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
      return { command, startTime };
    } catch {
      return null;
    }
  }
  // No /proc (macOS, the BSDs): ask ps. `-ww`: never cut the command line to the terminal's width.
  const ps = (field: string) => {
    const r = spawnSync('ps', ['-ww', '-o', `${field}=`, '-p', String(pid)], { encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim() : '';
  };
  const command = ps('args');
  return command ? { command, startTime: ps('lstart') || null } : null;
}

/** True while the process `rec` names still runs: same pid, same command line, same start time. */
export function isRunning(rec: ProcessRecord): boolean {
  const now = processIdentity(rec.pid);
  return (
    now !== null &&
    now.command === rec.command &&
    (rec.startTime === null || now.startTime === null || now.startTime === rec.startTime)
  );
}

function readRecord(file: string): ProcessRecord | null {
  try {
    const r = JSON.parse(readFileSync(file, 'utf8')) as Partial<ProcessRecord>;
    return typeof r.pid === 'number' && typeof r.command === 'string' && typeof r.name === 'string'
      ? {
          name: r.name,
          label: r.label ?? r.name,
          pid: r.pid,
          command: r.command,
          startTime: r.startTime ?? null,
        }
      : null;
  } catch {
    return null;
  }
}

/** The records in one run's folder: its owner's, and those of the processes it started. */
export function readRun(dir: string): { owner: ProcessRecord | null; started: ProcessRecord[] } {
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch {
    // no folder: nothing recorded
  }
  const records = files.map((f) => readRecord(path.join(dir, f))).filter((r) => r !== null);
  return {
    owner: records.find((r) => r.name === 'owner') ?? null,
    started: records.filter((r) => r.name !== 'owner'),
  };
}

/**
 * Stops the recorded process if it is still the one recorded: SIGTERM (each server shuts down
 * cleanly: Temporal closes its SQLite file, PGlite its data folder), SIGKILL after `graceMs`. The
 * processes `npm start` starts lead a process group of their own, so the group is signalled: helpers
 * they started go too. True when it was running.
 */
export async function stopRecorded(rec: ProcessRecord, graceMs = 10_000): Promise<boolean> {
  if (!isRunning(rec)) return false;
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-rec.pid, sig);
    } catch {
      // Not a group leader: the process alone. (A group with this id exists only while this
      // process or its group lives, so the verified pid cannot name someone else's group.)
      try {
        process.kill(rec.pid, sig);
      } catch {
        // gone meanwhile
      }
    }
  };
  signal('SIGTERM');
  if (!(await exits(rec, graceMs))) {
    signal('SIGKILL');
    await exits(rec, 5_000);
  }
  return true;
}

/** Waits up to `ms` for the recorded process to end; true when it has. */
async function exits(rec: ProcessRecord, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (isRunning(rec)) {
    if (Date.now() > until) return false;
    await sleep(100);
  }
  return true;
}

/** Writes `value` as JSON to `file` through a temporary file and a rename: never half written. */
function writeJsonAtomic(file: string, value: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(value, null, 2));
  renameSync(tmp, file);
}

/** The pid files of this `npm start` on one data folder (see the module comment). */
export class RunRecords {
  private constructor(readonly dir: string) {}

  /**
   * Takes the data folder for this process: refuses if another `npm start` still runs on it; else
   * stops whatever earlier runs recorded and left running (and says what), forgets those runs, and
   * records this process as the owner of a new one.
   */
  static async claim(dataDir: string, say: (msg: string) => void): Promise<RunRecords> {
    const root = path.join(dataDir, 'run');
    mkdirSync(root, { recursive: true });
    const earlier = readdirSync(root, { withFileTypes: true })
      .filter((d: Dirent) => d.isDirectory())
      .map((d) => path.join(root, d.name));
    for (const dir of earlier) {
      const { owner } = readRun(dir);
      if (owner && owner.pid !== process.pid && isRunning(owner))
        throw new Error(
          `npm start is already running on ${dataDir} (pid ${owner.pid}): stop it first (Ctrl-C in its terminal, or kill ${owner.pid})`,
        );
    }
    for (const dir of earlier) {
      const started = readRun(dir).started;
      const ran = await Promise.all(started.map((rec) => stopRecorded(rec)));
      const stopped = started.filter((_, i) => ran[i]).map((rec) => `${rec.label} (pid ${rec.pid})`);
      if (stopped.length > 0)
        say(`stopped what an earlier run on this data folder left running: ${stopped.join(', ')}`);
      rmSync(dir, { recursive: true, force: true });
    }
    const run = new RunRecords(path.join(root, String(process.pid)));
    mkdirSync(run.dir, { recursive: true });
    run.record('owner', 'npm start', process.pid);
    return run;
  }

  /** Records a process this run started (call it right after spawning, before waiting for it). */
  record(name: string, label: string, pid: number | undefined): void {
    if (pid === undefined) return;
    const id = processIdentity(pid);
    if (!id) return; // already gone: nothing to stop later
    const rec: ProcessRecord = { name, label, pid, command: id.command, startTime: id.startTime };
    writeJsonAtomic(path.join(this.dir, `${name}.json`), rec);
  }

  /** Forgets this run's records: everything it started has stopped (a clean stop). */
  release(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
