/**
 * Call counting and fault injection shared by the local stand-ins (they stand in for SaaS systems that
 * cannot run here; see docs/architecture.md "Stand-ins"). Tests and the demo drive them in-process or over
 * `/_standin/*` admin routes.
 */
import type { NextFunction, Request, Response } from 'express';

export interface Fault {
  method?: string;
  /** Substring of the request path the fault applies to. */
  pathIncludes?: string;
  status: number;
  /** How many matching requests fail; Infinity for "until cleared". */
  times: number;
  retryAfterSeconds?: number;
  /** JSON body of the failure (defaults to the stand-in's native error shape). */
  body?: unknown;
  /** Instead of answering, hold the request this long (a target that times out). */
  hangMs?: number;
  /**
   * Let the target do the work, then hold its answer this long: the change is made but the caller
   * times out and cannot know (the case that makes a retried call dangerous). `status` is not used.
   */
  applyThenHoldMs?: number;
}

export interface CallRecord {
  method: string;
  path: string;
  at: number;
  status?: number;
}

export class StandInControl {
  readonly calls: CallRecord[] = [];
  private faults: Fault[] = [];
  /** Added to every request (a slower target). */
  latencyMs = 0;

  inject(f: Fault): void {
    this.faults.push({ ...f });
  }

  clearFaults(): void {
    this.faults = [];
  }

  reset(): void {
    this.calls.length = 0;
    this.clearFaults();
    this.latencyMs = 0;
  }

  /** Calls whose path includes `pathIncludes` (and method, if given). */
  count(pathIncludes: string, method?: string): number {
    return this.calls.filter((c) => c.path.includes(pathIncludes) && (!method || c.method === method)).length;
  }

  /** Express middleware: records the call, applies latency and any matching fault. */
  middleware(errorBody: (status: number, message: string) => unknown) {
    return async (req: Request, res: Response, next: NextFunction) => {
      if (req.path.startsWith('/_standin')) return next();
      const rec: CallRecord = { method: req.method, path: req.originalUrl, at: Date.now() };
      this.calls.push(rec);
      res.on('finish', () => (rec.status = res.statusCode));
      if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
      const f = this.faults.find(
        (x) =>
          x.times > 0 &&
          (!x.method || x.method.toUpperCase() === req.method) &&
          (!x.pathIncludes || req.originalUrl.includes(x.pathIncludes)),
      );
      if (!f) return next();
      f.times -= 1;
      if (f.applyThenHoldMs) {
        const hold = f.applyThenHoldMs;
        const end = res.end.bind(res) as (...a: unknown[]) => Response;
        res.end = ((...args: unknown[]) => {
          setTimeout(() => {
            if (!req.socket.destroyed) end(...args);
          }, hold);
          return res;
        }) as Response['end'];
        return next();
      }
      if (f.hangMs) {
        await new Promise((r) => setTimeout(r, f.hangMs));
        if (res.headersSent || req.socket.destroyed) return;
      }
      if (f.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(f.retryAfterSeconds));
      res.status(f.status).json(f.body ?? errorBody(f.status, `injected fault (${f.status})`));
    };
  }
}

/**
 * The most timestamps (ms) that fall in any half-open window [t, t + windowMs). The busiest window
 * always starts at some timestamp, so sliding the window's start over the sorted timestamps suffices.
 */
export function maxInAnyWindow(times: readonly number[], windowMs = 1000): number {
  const t = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; i < t.length; i++) {
    while (j < t.length && t[j]! < t[i]! + windowMs) j++;
    best = Math.max(best, j - i);
  }
  return best;
}
