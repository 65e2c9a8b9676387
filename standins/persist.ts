/**
 * Write-through persistence for the stand-ins that `npm start` runs: each change is on disk before the
 * answer that reports it is sent, so a crash (SIGKILL, a closed terminal) never loses a change a
 * workflow has already been told about and read back.
 *
 * A stand-in calls its `onChange` hook after every request that may have changed its state, and holds
 * the answer until the hook's promise settles (`saveBeforeAnswering`); `embedded/start.ts` points the
 * hook at a `JsonStateFile`. Tests and benchmarks set no hook and pay nothing.
 */
import { open, rename } from 'node:fs/promises';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

/**
 * A JSON file holding a snapshot of some state, written atomically (a temporary file, flushed to disk,
 * renamed over the file) so that it is always either the previous or the new snapshot, never half of
 * one. Saves are coalesced: a save asked for while another is being written waits for the next write,
 * which takes its snapshot when it begins; callers that arrive together share that one write.
 */
export class JsonStateFile {
  private writing: Promise<void> | null = null;
  private queued: Promise<void> | null = null;

  constructor(
    readonly file: string,
    private readonly snapshot: () => unknown,
  ) {}

  /** Resolves once a snapshot taken after this call is on disk. */
  save(): Promise<void> {
    if (!this.writing) {
      this.writing = this.write().finally(() => (this.writing = null));
      return this.writing;
    }
    // The write under way took its snapshot before this change, perhaps: queue the next one.
    this.queued ??= this.writing
      .catch(() => undefined)
      .then(() => {
        this.queued = null;
        return this.save();
      });
    return this.queued;
  }

  private async write(): Promise<void> {
    // The snapshot is taken synchronously, before the first await: it holds every change made so far.
    const data = JSON.stringify(this.snapshot());
    const tmp = `${this.file}.${process.pid}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.file);
  }
}

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Express middleware: while `hook()` names a save function, holds the answer to any request but a read
 * until that function's promise has settled. If saving fails the connection is dropped instead of
 * answered: the caller must not take a change for made when it could not be kept. Install it after the
 * stand-in's fault middleware (a request the fault answers changed nothing) and before its routes.
 */
export function saveBeforeAnswering(hook: () => (() => Promise<void>) | undefined): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const onChange = hook();
    if (!onChange || READS.has(req.method)) return next();
    const end = res.end.bind(res) as (...a: unknown[]) => Response;
    res.end = ((...args: unknown[]) => {
      onChange().then(
        () => end(...args),
        (e: unknown) => {
          console.error(
            `[stand-in] could not save the state; dropping the answer to ${req.method} ${req.originalUrl}: ${e instanceof Error ? e.message : String(e)}`,
          );
          req.socket.destroy();
        },
      );
      return res;
    }) as Response['end'];
    next();
  };
}
