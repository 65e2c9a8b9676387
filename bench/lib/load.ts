/**
 * Load generation: signed HRIS webhooks over a keep-alive connection pool (undici), sent open-loop at
 * a fixed rate (arrivals do not wait for answers, so a slow server cannot slow the arrivals down and
 * hide its own latency) or closed-loop by a fixed number of concurrent senders.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { signDelivery } from '../../lib/webhook-sign';
import { WEBHOOK_SECRET, hrisEvent } from '../../test/support/harness';

export interface Sent {
  employeeId: string;
  /** Wall clock when the request was sent (ms since the epoch). */
  sentAt: number;
  /** Time to the full answer (ms). */
  responseMs: number;
  status: number;
  departureId: string | null;
  action: string | null;
  error?: string;
}

export function webhookSender(apiUrl: string, connections: number) {
  const pool = new Pool(apiUrl, { connections, pipelining: 1, keepAliveTimeout: 30_000 });
  async function send(employeeId: string): Promise<Sent> {
    const d = signDelivery(WEBHOOK_SECRET, hrisEvent(employeeId));
    const sentAt = Date.now();
    const t = performance.now();
    try {
      const res = await pool.request({
        path: '/webhooks/hris',
        method: 'POST',
        headers: d.headers,
        body: d.body,
      });
      const text = await res.body.text();
      const responseMs = performance.now() - t;
      let json: { departureId?: string; action?: string } = {};
      try {
        json = JSON.parse(text) as typeof json;
      } catch {
        /* not JSON */
      }
      return {
        employeeId,
        sentAt,
        responseMs,
        status: res.statusCode,
        departureId: json.departureId ?? null,
        action: json.action ?? null,
      };
    } catch (e) {
      return {
        employeeId,
        sentAt,
        responseMs: performance.now() - t,
        status: 0,
        departureId: null,
        action: null,
        error: e instanceof Error ? e.message : String(e),
      };
    }
  }
  return { send, close: () => pool.close() };
}

/**
 * Calls `fn(i)` for i = 0..count-1 at `ratePerSecond`, each at its scheduled instant whatever the
 * previous calls are doing; resolves with every result once all have settled.
 */
export async function openLoop<T>(count: number, ratePerSecond: number, fn: (i: number) => Promise<T>) {
  const interval = 1000 / ratePerSecond;
  const t0 = performance.now();
  const pending: Promise<T>[] = [];
  let maxLagMs = 0;
  for (let i = 0; i < count; i++) {
    const due = t0 + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    maxLagMs = Math.max(maxLagMs, performance.now() - due);
    pending.push(fn(i));
  }
  const sendSeconds = (performance.now() - t0) / 1000;
  return { results: await Promise.all(pending), sendSeconds, maxLagMs };
}

/** `concurrency` senders call `fn` back to back until `durationMs` has passed. */
export async function closedLoop<T>(concurrency: number, durationMs: number, fn: (i: number) => Promise<T>) {
  const until = performance.now() + durationMs;
  let next = 0;
  const results: T[] = [];
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) results.push(await fn(next++));
    }),
  );
  return { results, seconds: (performance.now() - t0) / 1000 };
}
