/**
 * STAND-IN for Personio (docs/hris.md; HRIS.md beside the project): what Offboard reads and receives, in
 * Personio's wire format as its documentation shows it.
 * - `POST /v2/auth/token` (form-encoded `grant_type=client_credentials`, `client_id`, `client_secret`) →
 *   `{access_token, token_type, expires_in, scope}`; the token (`papi-…`) on `Authorization: Bearer`
 *   for every other call (anything else: 401);
 * - `GET /v1/company/employees/{id}` → `{success, data: {type: "Employee", attributes}}` with attribute
 *   objects `{label, value, type, universal_id}`; dates as `YYYY-MM-DDT00:00:00+01:00`; supervisor,
 *   department and office as nested objects; the private email as a custom attribute (`dynamic_…`);
 * - `GET /v1/company/employees?limit&offset&updated_since` → `{success, metadata: {total_elements,
 *   current_page, total_pages}, offset, limit, data}`: `limit` at most 100 (400 beyond), default 50;
 *   `offset` counts employees; `updated_since` (`YYYY-MM-DDTHH:MM:SS`, read as UTC here);
 * - rate limits as Personio publishes them: employees endpoints 300 a minute and 15 a second, document
 *   uploads 60 a minute, tokens 150 a minute, then 429 (no `Retry-After`: Personio asks for at least a
 *   second), plus injected faults through the shared control;
 * - documents (standins/personio-documents.ts): `POST /v1/company/documents` (multipart) to upload,
 *   `GET /v2/document-management/documents?owner_id=…` to list them back (cursor pages).
 * Webhooks (`deliver`): `{company_id, event_name, occurred_at, payload, meta}` signed with HMAC-SHA256
 * over `<timestamp>.<raw body>` (hex), timestamp and signature in the headers Offboard is configured
 * with (Personio does not name them; docs/hris.md); the webhook's token as `Authorization` when set.
 * The `payload` of employment events is `{id: <employment>, person: {id}}` and of person events `{id}`
 * here: Personio documents only that it carries ids, not their field names.
 * A timeout or 5xx other than 501 is retried (`retryDelaysMs`; Personio: 6 attempts over 3 days), each
 * attempt signed anew. Nothing here sends a webhook by itself: a test decides what is announced.
 */
import { createHmac, randomBytes, randomInt } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import express, { type Response } from 'express';
import { closeServer, listen } from '../lib/http';
import { StandInControl } from './faults';
import { personioDocuments, type StoredDocument } from './personio-documents';

export interface PersonioEmployeeState {
  id: number;
  first_name: string;
  last_name: string;
  email: string | null;
  personalEmail: string | null;
  /** `active`, `inactive`, `onboarding` or `leave`. */
  status: string;
  termination_date: string | null;
  last_working_day: string | null;
  termination_type: string | null;
  supervisorId: number | null;
  department: string | null;
  office: string | null;
  lastModified: Date;
  documents: StoredDocument[];
}

/** Personio's webhook signature as Offboard verifies it: hex HMAC-SHA256 of `<timestamp>.<raw body>`. */
export function personioSignature(secret: string, timestamp: string, body: string | Buffer): string {
  return createHmac('sha256', secret).update(timestamp).update('.').update(body).digest('hex');
}

/** A sliding-window limiter answering 429 over `perMinute` (and `perSecond`). */
function limiter(perMinute: number, perSecond = Infinity) {
  let calls: number[] = [];
  return () => {
    const now = Date.now();
    calls = calls.filter((t) => t > now - 60_000);
    if (calls.length >= perMinute || calls.filter((t) => t > now - 1000).length >= perSecond) return false;
    calls.push(now);
    return true;
  };
}

export class PersonioStandIn {
  readonly clientId = `papi-client-${randomBytes(4).toString('hex')}`;
  readonly clientSecret = randomBytes(16).toString('hex');
  readonly webhookSecret = randomBytes(24).toString('hex');
  /** The webhook's `token` (auth_type TOKEN): sent as `Authorization` with every delivery. */
  readonly webhookToken = `Bearer ${randomBytes(12).toString('hex')}`;
  readonly personalEmailAttribute = 'dynamic_1000001';
  readonly signatureHeader = 'X-Personio-Signature';
  readonly timestampHeader = 'X-Personio-Timestamp';
  readonly control = new StandInControl();
  readonly employees = new Map<number, PersonioEmployeeState>();
  readonly deliveries: { personId: number; attempt: number; status: number | string }[] = [];
  readonly tokensIssued: string[] = [];
  private readonly readLimit = limiter(300, 15);
  private readonly uploadLimit = limiter(60);
  private readonly tokenLimit = limiter(150);
  private server?: Server;
  /** Employee ids are Personio's integers; a random start keeps test runs apart (workflow ids). */
  private seq = randomInt(1_000_000, 1_900_000_000);
  url = '';

  constructor(private readonly opts: { retryDelaysMs?: number[]; companyId?: string } = {}) {}

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

  /** Adds or changes an employee (Personio records the change; no webhook is sent). */
  upsert(e: Partial<PersonioEmployeeState> & { id: number; first_name: string; last_name: string }) {
    const state: PersonioEmployeeState = {
      email: null,
      personalEmail: null,
      status: 'active',
      termination_date: null,
      last_working_day: null,
      termination_type: null,
      supervisorId: null,
      department: null,
      office: null,
      documents: [],
      ...this.employees.get(e.id),
      ...e,
      lastModified: new Date(),
    };
    this.employees.set(e.id, state);
    return state;
  }

  /** HR records a termination; the status turns inactive once the termination date has come. */
  terminate(id: number, t: { date: string; lastWorkingDay?: string; type?: string }): void {
    const e = this.need(id);
    Object.assign(e, {
      termination_date: t.date,
      last_working_day: t.lastWorkingDay ?? t.date,
      termination_type: t.type ?? 'Termination by employer',
      lastModified: new Date(),
    });
    if (t.date <= new Date().toISOString().slice(0, 10)) e.status = 'inactive';
  }

  /** HR withdraws the termination: employed again (Personio's employment.updated, if announced at all). */
  rescind(id: number): void {
    Object.assign(this.need(id), {
      termination_date: null,
      last_working_day: null,
      termination_type: null,
      status: 'active',
      lastModified: new Date(),
    });
  }

  nextId(): number {
    return ++this.seq;
  }

  /** A signed event as Personio would send it (headers and raw body), for tests that tamper with it. */
  signed(
    personId: number,
    o: { event?: string; timestamp?: number; payload?: Record<string, unknown> } = {},
  ) {
    const event = o.event ?? 'employment.updated';
    const ts = String(o.timestamp ?? Math.floor(Date.now() / 1000));
    const body = JSON.stringify({
      company_id: this.opts.companyId ?? '41',
      event_name: event,
      occurred_at: new Date().toISOString(),
      payload:
        o.payload ??
        (event.startsWith('person.')
          ? { id: String(personId) }
          : { id: `emp-${personId}`, person: { id: String(personId) } }),
      meta: {},
    });
    return {
      body,
      headers: {
        'content-type': 'application/json',
        authorization: this.webhookToken,
        [this.timestampHeader.toLowerCase()]: ts,
        [this.signatureHeader.toLowerCase()]: personioSignature(this.webhookSecret, ts, body),
      },
    };
  }

  /** Sends an event and retries a timeout or 5xx (not 501), signed anew each time. The last status. */
  async deliver(url: string, personId: number, event?: string): Promise<number | string> {
    const delays = this.opts.retryDelaysMs ?? [60_000, 600_000, 3_600_000, 21_600_000, 86_400_000];
    let last: number | string = 'not sent';
    for (let attempt = 0; attempt <= delays.length; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, delays[attempt - 1]));
      const d = this.signed(personId, { event });
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: d.headers,
          body: d.body,
          signal: AbortSignal.timeout(3000),
        });
        await res.body?.cancel();
        last = res.status;
      } catch (e) {
        last = (e as Error).message;
      }
      this.deliveries.push({ personId, attempt, status: last });
      if (typeof last === 'number' && (last < 500 || last === 501)) return last;
    }
    return last;
  }

  private need(id: number): PersonioEmployeeState {
    const e = this.employees.get(id);
    if (!e) throw new Error(`no employee ${id}`);
    return e;
  }

  private view(e: PersonioEmployeeState) {
    const attr = (key: string, label: string, value: unknown, type = 'standard') => [
      key,
      { label, value, type, universal_id: key.startsWith('dynamic_') ? null : key },
    ];
    const date = (d: string | null) => (d ? `${d}T00:00:00+01:00` : null);
    const ref = (type: string, name: string | null, id: number) =>
      name ? { type, attributes: { id, name } } : null;
    const supervisor = e.supervisorId
      ? {
          type: 'Employee',
          attributes: { id: { label: 'ID', value: e.supervisorId, type: 'integer', universal_id: 'id' } },
        }
      : null;
    return {
      type: 'Employee',
      attributes: Object.fromEntries([
        attr('id', 'ID', e.id, 'integer'),
        attr('first_name', 'First name', e.first_name),
        attr('last_name', 'Last name', e.last_name),
        attr('preferred_name', 'Name (preferred)', `${e.first_name} ${e.last_name}`),
        attr('email', 'Email', e.email),
        attr('status', 'Status', e.status),
        attr('supervisor', 'Supervisor', supervisor),
        attr('termination_date', 'Termination date', date(e.termination_date), 'date'),
        attr('termination_type', 'Termination type', e.termination_type),
        attr('last_working_day', 'Last day of work', date(e.last_working_day), 'date'),
        attr(
          'last_modified_at',
          'Last modified',
          e.lastModified.toISOString().replace(/\.\d{3}Z$/, '+00:00'),
          'date',
        ),
        attr('office', 'Office', ref('Office', e.office, 131_014)),
        attr('department', 'Department', ref('Department', e.department, 281_521)),
        attr(this.personalEmailAttribute, 'Private email', e.personalEmail),
      ]),
    };
  }

  private app(): express.Express {
    const app = express();
    const fail = (res: Response, status: number, message: string, extra: Record<string, unknown> = {}) =>
      res.status(status).json({ success: false, error: { code: 0, message, ...extra } });
    app.use(
      this.control.middleware((status, message) => ({ success: false, error: { code: 0, message, status } })),
    );
    app.post('/v2/auth/token', express.urlencoded({ extended: false }), (req, res) => {
      if (!this.tokenLimit()) return res.status(429).json({ error: 'too_many_requests' });
      const b = req.body as Record<string, string | undefined>;
      if (b.grant_type !== 'client_credentials')
        return res.status(400).json({
          error: 'unsupported_grant_type',
          error_description: 'grant_type must be client_credentials',
        });
      if (b.client_id !== this.clientId || b.client_secret !== this.clientSecret)
        return res
          .status(401)
          .json({ error: 'invalid_client', error_description: 'Client authentication failed' });
      const token = `papi-${randomBytes(16).toString('hex')}`;
      this.tokensIssued.push(token);
      res.json({
        access_token: token,
        token_type: 'Bearer',
        expires_in: 86_400,
        scope: 'personio:persons:read',
      });
    });
    app.use((req, res, next) => {
      const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      if (!given || !this.tokensIssued.includes(given))
        return fail(res, 401, 'The access token is missing or invalid.');
      next();
    });
    app.get('/v1/company/employees', (req, res) => {
      if (!this.readLimit()) return fail(res, 429, 'Too Many Requests');
      const limit = req.query.limit === undefined ? 50 : Number(req.query.limit);
      const offset = req.query.offset === undefined ? 0 : Number(req.query.offset);
      if (!Number.isInteger(limit) || limit < 1 || limit > 100)
        return fail(res, 400, 'limit must be between 1 and 100');
      if (!Number.isInteger(offset) || offset < 0)
        return fail(res, 400, 'offset must be a non-negative integer');
      let all = [...this.employees.values()].sort((a, b) => a.id - b.id);
      if (req.query.updated_since !== undefined) {
        const raw = String(req.query.updated_since);
        const since = Date.parse(`${raw}Z`);
        if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/.test(raw) || Number.isNaN(since))
          return fail(res, 400, 'updated_since must be ISO 8601 (2022-12-24T08:15:30)');
        all = all.filter((e) => e.lastModified.getTime() >= since);
      }
      res.json({
        success: true,
        metadata: {
          total_elements: all.length,
          current_page: Math.floor(offset / limit),
          total_pages: Math.ceil(all.length / limit),
        },
        offset,
        limit,
        data: all.slice(offset, offset + limit).map((e) => this.view(e)),
      });
    });
    app.get('/v1/company/employees/:id', (req, res) => {
      if (!this.readLimit()) return fail(res, 429, 'Too Many Requests');
      const e = this.employees.get(Number(req.params.id));
      if (!/^\d+$/.test(String(req.params.id)) || !e) return fail(res, 404, 'The employee was not found.');
      res.json({ success: true, data: this.view(e) });
    });
    app.use(
      personioDocuments({
        employee: (id) => this.employees.get(id),
        nextId: () => this.nextId(),
        url: () => this.url,
        uploadAllowed: this.uploadLimit,
      }),
    );
    return app;
  }
}
