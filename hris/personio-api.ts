/**
 * Personio's API as the adapter calls it (docs/hris.md, "Personio"):
 *
 * - one OAuth 2.0 client-credentials token, `POST /v2/auth/token` (form-encoded `grant_type`,
 *   `client_id`, `client_secret`; answers `access_token`, `expires_in`). Personio documents the token as
 *   stable for 24 hours and valid for every Personnel Data endpoint, v1 and v2 alike; it is kept in
 *   memory only, renewed a minute before it expires, and dropped on a 401 (one new token, one retry);
 * - the rate limits Personio publishes, kept on this side so that the answer 429 stays rare: the
 *   employees endpoints 300 requests a minute with bursts of at most 15 a second, document uploads 60 a
 *   minute, the token endpoint 150 a minute. A 429 that still comes is honoured by `vendorFetch`
 *   (Personio asks for a retry after at least a second; a `Retry-After` is followed when given);
 * - cursor links (`_meta.links.next.href`) are followed only on the configured API origin, so the
 *   token never goes anywhere else.
 */
import { getJson, vendorFetch, VendorApiError, type VendorHttpOptions } from './http';

export interface PersonioApiConfig {
  /** The API base, `https://api.personio.de/` (the part before `v1/` and `v2/`). */
  apiUrl: string;
  clientId: string;
  clientSecret: string;
}

/**
 * Starts at least `spacingMs` apart and at most `perMinute` in any minute. Spaced rather than allowed
 * in bursts: a request reaches Personio some time after it starts here (a new connection, a busy
 * process), so bursts measured here could arrive closer together there; evenly spaced starts at 10 a
 * second stay under 15 a second there even when each arrives up to 400 ms late.
 */
export class CallWindow {
  private starts: number[] = [];
  private nextAt = 0;
  constructor(
    private readonly spacingMs: number,
    private readonly perMinute: number,
  ) {}

  /** Waits until one more call may start, then counts it. */
  async take(): Promise<void> {
    for (;;) {
      const now = Date.now();
      this.starts = this.starts.filter((t) => t > now - 60_000);
      const full = this.starts.length >= this.perMinute;
      const wait = Math.max(
        this.nextAt - now,
        full ? this.starts[this.starts.length - this.perMinute]! + 60_000 - now : 0,
      );
      if (wait <= 0) {
        this.starts.push(now);
        this.nextAt = now + this.spacingMs;
        return;
      }
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

const HTTP: VendorHttpOptions = { vendor: 'Personio' };

export function createPersonioApi(cfg: PersonioApiConfig) {
  const base = new URL(cfg.apiUrl.endsWith('/') ? cfg.apiUrl : `${cfg.apiUrl}/`);
  const url = (path: string) => new URL(path, base).toString();
  // Kept under Personio's numbers (300/min with bursts of 15/s; 60/min uploads; 150/min tokens).
  const reads = new CallWindow(100, 280);
  const uploads = new CallWindow(1_000, 55);
  const tokens = new CallWindow(400, 140);
  let token: { value: string; renewAt: number } | null = null;
  let pending: Promise<string> | null = null;

  async function requestToken(): Promise<string> {
    await tokens.take();
    let res: Response;
    try {
      res = await vendorFetch(
        url('v2/auth/token'),
        {
          method: 'POST',
          headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'client_credentials',
            client_id: cfg.clientId,
            client_secret: cfg.clientSecret,
          }).toString(),
        },
        HTTP,
      );
    } catch (e) {
      if (!(e instanceof VendorApiError)) throw e;
      throw new VendorApiError(
        'Personio',
        e.status,
        `POST /v2/auth/token refused the client credentials (PERSONIO_CLIENT_ID, PERSONIO_CLIENT_SECRET): ${e.message}`,
      );
    }
    const body = (await res.json().catch(() => null)) as { access_token?: unknown; expires_in?: unknown };
    if (typeof body?.access_token !== 'string' || !body.access_token)
      throw new VendorApiError(
        'Personio',
        res.status,
        'POST /v2/auth/token answered without an access_token (check PERSONIO_API_URL)',
      );
    const lifetime = typeof body.expires_in === 'number' ? body.expires_in : 86_400;
    token = { value: body.access_token, renewAt: Date.now() + Math.max(0, lifetime - 60) * 1000 };
    return token.value;
  }

  async function bearer(): Promise<string> {
    if (token && Date.now() < token.renewAt) return token.value;
    pending ??= requestToken().finally(() => (pending = null));
    return pending;
  }

  /**
   * A call with the token, counted in `window` once the token is at hand (right before it goes out); a
   * 401 to the call (token revoked or expired early) gets one new token and one retry.
   */
  async function authorized<T>(window: CallWindow, call: (auth: Record<string, string>) => Promise<T>) {
    for (let attempt = 0; ; attempt++) {
      const auth = { authorization: `Bearer ${await bearer()}` };
      await window.take();
      try {
        return await call(auth);
      } catch (e) {
        if (attempt > 0 || !(e instanceof VendorApiError) || e.status !== 401) throw e;
        token = null;
      }
    }
  }

  /** An absolute URL on the API's own origin (cursor links), or an error naming what was refused. */
  function onApi(href: string): string {
    const target = new URL(href, base);
    if (target.origin !== base.origin)
      throw new VendorApiError(
        'Personio',
        502,
        `a cursor link points outside PERSONIO_API_URL (${target.origin})`,
      );
    return target.toString();
  }

  return {
    /** GET as JSON; null for 404. `path` is relative to the API base, or a cursor link on it. */
    async get<T>(path: string): Promise<T | null> {
      const target = /^https?:/.test(path) ? onApi(path) : url(path);
      return authorized(reads, (auth) => getJson<T>(target, auth, HTTP));
    },

    /** POST multipart/form-data (document upload, 60 a minute); the answer as received. */
    async postForm(path: string, form: () => FormData): Promise<Response> {
      return authorized(uploads, (auth) =>
        vendorFetch(
          url(path),
          { method: 'POST', headers: { ...auth, accept: 'application/json' }, body: form() },
          HTTP,
        ),
      );
    },
  };
}

export type PersonioApi = ReturnType<typeof createPersonioApi>;
