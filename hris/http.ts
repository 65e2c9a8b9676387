/**
 * HTTP calls to an HR system's API with its rate-limit answers honoured: 429 and 503 carry
 * `Retry-After` (seconds or an HTTP date); a short wait is waited here, a longer one (or too many) is
 * thrown as `VendorBusyError` with the delay, so a caller retries later (an activity through
 * `nextRetryDelay`, a webhook by answering 503 so that the vendor redelivers).
 */
import { AppError } from '../lib/errors';

/** The vendor asked Offboard to come back later. */
export class VendorBusyError extends Error {
  override readonly name = 'VendorBusyError';
  constructor(
    readonly vendor: string,
    readonly retryAfterMs: number,
  ) {
    super(`${vendor} is rate-limiting Offboard; retry after ${Math.ceil(retryAfterMs / 1000)} s`);
  }
}

/** Any other failed call: status and the vendor's own words (never a credential). */
export class VendorApiError extends Error {
  override readonly name = 'VendorApiError';
  constructor(
    readonly vendor: string,
    readonly status: number,
    message: string,
  ) {
    super(`${vendor} answered ${status}: ${message.slice(0, 300)}`);
  }
}

/** Milliseconds a `Retry-After` value asks for (default 1 s when absent or unreadable). */
export function retryAfterMs(value: string | null, now = Date.now()): number {
  if (!value) return 1_000;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? 1_000 : Math.max(0, at - now);
}

export interface VendorHttpOptions {
  vendor: string;
  /** Longest wait done in place; longer ones are thrown. */
  maxWaitMs?: number;
  /** Rate-limited answers waited out in place before giving up. */
  maxRetries?: number;
}

/** `fetch` with the vendor's rate-limit answers honoured; throws for every other non-2xx. */
export async function vendorFetch(url: string, init: RequestInit, o: VendorHttpOptions): Promise<Response> {
  const maxWait = o.maxWaitMs ?? 10_000;
  for (let attempt = 0; ; attempt++) {
    let res: Response;
    try {
      res = await fetch(url, { ...init, signal: AbortSignal.timeout(15_000) });
    } catch (e) {
      throw new AppError('unavailable', `${o.vendor} is unreachable: ${(e as Error).message}`);
    }
    if (res.status === 429 || res.status === 503) {
      const wait = retryAfterMs(res.headers.get('retry-after'));
      await res.body?.cancel();
      if (wait > maxWait || attempt >= (o.maxRetries ?? 3)) throw new VendorBusyError(o.vendor, wait);
      await new Promise((r) => setTimeout(r, wait));
      continue;
    }
    if (!res.ok && res.status !== 404) throw new VendorApiError(o.vendor, res.status, await res.text());
    return res;
  }
}

/** GET as JSON; null for 404. */
export async function getJson<T>(url: string, headers: Record<string, string>, o: VendorHttpOptions) {
  const res = await vendorFetch(url, { headers: { accept: 'application/json', ...headers } }, o);
  if (res.status === 404) {
    await res.body?.cancel();
    return null;
  }
  return (await res.json()) as T;
}
