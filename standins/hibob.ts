/**
 * STAND-IN for HiBob (Bob; docs/hris.md, HRIS.md): what Offboard reads and receives, in Bob's format.
 * - a service user over HTTP Basic (`<id>:<token>`; anything else: 401);
 * - `POST /v1/people/search {fields, filters, showInactive, humanReadable}` → `{employees: [...]}`, every
 *   match at once (no pagination), root fields at the top and the others by category; inactive people
 *   only with `showInactive: true`; filters on `root.id` with `equals`; 50 requests a minute, then 429
 *   (`perMinute`), plus injected faults through the shared control;
 * - webhooks v2 (`deliver`): `{companyId, type, triggeredBy, triggeredAt, version: "v2", data:
 *   {employeeId, …}}` with `Bob-Signature` = Base64(HMAC-SHA512(secret, raw body)); a failed delivery
 *   is retried with backoff (`retryDelaysMs`; Bob: up to 3 days), the same bytes each time.
 * Deleting a lifecycle entry (`deleteTermination`, a rescinded termination) sends nothing, as in Bob.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import express from 'express';
import { closeServer, listen } from '../lib/http';
import { StandInControl } from './faults';

export interface BobPersonState {
  id: string;
  firstName: string;
  surname: string;
  email: string | null;
  privateEmail: string | null;
  managerEmail: string | null;
  department: string | null;
  site: string | null;
  /** `Active` or `Inactive`. */
  status: string;
  lifecycleStatus: string;
  terminationDate: string | null;
  terminationType: string | null;
}

/** Bob's signature: Base64 HMAC-SHA512 of the raw body. */
export function bobSignature(secret: string, body: string | Buffer): string {
  return createHmac('sha512', secret).update(body).digest('base64');
}

export class HiBobStandIn {
  readonly serviceUserId = `SERVICE-${randomBytes(3).toString('hex')}`;
  readonly token = randomBytes(16).toString('hex');
  readonly webhookSecret = randomBytes(24).toString('hex');
  readonly control = new StandInControl();
  readonly people = new Map<string, BobPersonState>();
  readonly deliveries: { employeeId: string; attempt: number; status: number | string }[] = [];
  /** Requests to people/search allowed per rolling minute (Bob: 50). */
  perMinute = 50;
  private searches: number[] = [];
  private server?: Server;
  url = '';

  constructor(private readonly opts: { retryDelaysMs?: number[] } = {}) {}

  get apiUrl(): string {
    return `${this.url}/`;
  }

  async start(): Promise<void> {
    this.server = createServer(this.app());
    this.url = `http://127.0.0.1:${await listen(this.server, 0)}`;
  }

  async stop(): Promise<void> {
    if (this.server) await closeServer(this.server);
  }

  upsert(p: Partial<BobPersonState> & { id: string; firstName: string; surname: string }): BobPersonState {
    const state: BobPersonState = {
      email: null,
      privateEmail: null,
      managerEmail: null,
      department: null,
      site: null,
      status: 'Active',
      lifecycleStatus: 'Employed',
      terminationDate: null,
      terminationType: null,
      ...this.people.get(p.id),
      ...p,
    };
    this.people.set(p.id, state);
    return state;
  }

  /** A termination flow: the lifecycle entry with its date; inactive once the date has come. */
  terminate(id: string, t: { date: string; type?: string }): void {
    const p = this.need(id);
    p.terminationDate = t.date;
    p.terminationType = t.type ?? 'Involuntary';
    if (t.date <= new Date().toISOString().slice(0, 10)) {
      p.status = 'Inactive';
      p.lifecycleStatus = 'Terminated';
    }
  }

  /** HR deletes the termination's lifecycle entry: the employee is employed again, and no webhook fires. */
  deleteTermination(id: string): void {
    Object.assign(this.need(id), {
      terminationDate: null,
      terminationType: null,
      status: 'Active',
      lifecycleStatus: 'Employed',
    });
  }

  /** A signed event as Bob sends it; `employeeId` null: an event naming no employee (the set-up ping). */
  signed(employeeId: string | null, o: { type?: string; triggeredAt?: string } = {}) {
    const body = JSON.stringify({
      companyId: 640_123,
      type: o.type ?? 'employee.left',
      triggeredBy: 'system',
      triggeredAt: o.triggeredAt ?? new Date().toISOString(),
      version: 'v2',
      data: employeeId === null ? {} : { employeeId },
    });
    return {
      body,
      headers: {
        'content-type': 'application/json',
        'bob-signature': bobSignature(this.webhookSecret, body),
      },
    };
  }

  /** Sends one event and retries it (the same bytes) until a 2xx or the retries run out. */
  async deliver(url: string, employeeId: string, type?: string): Promise<number | string> {
    const d = this.signed(employeeId, { type });
    const delays = this.opts.retryDelaysMs ?? [60_000, 300_000, 1_800_000];
    let last: number | string = 'not sent';
    for (let attempt = 0; attempt <= delays.length; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, delays[attempt - 1]));
      try {
        const res = await fetch(url, { method: 'POST', headers: d.headers, body: d.body });
        await res.body?.cancel();
        last = res.status;
      } catch (e) {
        last = (e as Error).message;
      }
      this.deliveries.push({ employeeId, attempt, status: last });
      if (typeof last === 'number' && last < 300) return last;
    }
    return last;
  }

  private need(id: string): BobPersonState {
    const p = this.people.get(id);
    if (!p) throw new Error(`no person ${id}`);
    return p;
  }

  private view(p: BobPersonState) {
    return {
      id: p.id,
      firstName: p.firstName,
      surname: p.surname,
      displayName: `${p.firstName} ${p.surname}`,
      email: p.email,
      home: { privateEmail: p.privateEmail },
      work: {
        department: p.department,
        site: p.site,
        reportsTo: p.managerEmail ? { email: p.managerEmail } : null,
      },
      internal: {
        status: p.status,
        lifecycleStatus: p.lifecycleStatus,
        terminationDate: p.terminationDate,
        terminationType: p.terminationType,
      },
    };
  }

  private app(): express.Express {
    const app = express();
    app.use(this.control.middleware((status, message) => ({ error: message, status })));
    app.use((req, res, next) => {
      const expected = `Basic ${Buffer.from(`${this.serviceUserId}:${this.token}`).toString('base64')}`;
      if (req.headers.authorization !== expected) return res.status(401).json({ error: 'Unauthorized' });
      next();
    });
    app.post('/v1/people/search', express.json(), (req, res) => {
      const now = Date.now();
      this.searches = this.searches.filter((t) => t > now - 60_000);
      if (this.searches.length >= this.perMinute)
        return res
          .status(429)
          .setHeader('Retry-After', String(Math.ceil((this.searches[0]! + 60_000 - now) / 1000)))
          .json({ error: 'Too Many Requests' });
      this.searches.push(now);
      const b = req.body as {
        filters?: { fieldPath: string; operator: string; values: string[] }[];
        showInactive?: boolean;
      };
      const byId = b.filters?.find((f) => f.fieldPath === 'root.id' && f.operator === 'equals')?.values;
      const employees = [...this.people.values()]
        .filter((p) => b.showInactive || p.status === 'Active')
        .filter((p) => !byId || byId.includes(p.id))
        .map((p) => this.view(p));
      res.json({ employees });
    });
    return app;
  }
}
