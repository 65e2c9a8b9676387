/**
 * STAND-IN for BambooHR (docs/hris.md; HRIS.md beside the project): the API Offboard reads and the
 * webhooks it receives, in BambooHR's wire format.
 * - API key as HTTP Basic user name, password `x` (anything else: 401);
 * - `GET /v1/employees/{id}/?fields=…` (empty dates as `0000-00-00`, like BambooHR), 404 when unknown;
 * - `GET /v1/employees/{id}/tables/employmentStatus` (rows `{id, employeeId, date, employmentStatus,
 *   terminationTypeId}`);
 * - `GET /v1/employees/changed?since=…&type=all` → `{latest, employees: {id: {id, action, lastChanged}}}`;
 * - `POST /v1/reports/custom?format=JSON&onlyCurrent=false` → `{title, fields, employees}`;
 * - `POST /v1/employees/{id}/files` (multipart `file`, `fileName`, `category`, `share`; under 20 MB) →
 *   201 + `Location`; `GET /v1/employees/{id}/files/view` → `{employee, categories: [{id, name, files}]}`;
 * - rate limiting as BambooHR announces it: 503 + `Retry-After` until 2026-09-16, 429 + `Retry-After`
 *   from then on (`throttle`), through the shared fault control.
 * Webhooks (`deliver`): `{type, timestamp, data: {companyId, employeeId, changedFields}}` signed with
 * the webhook's private key, HMAC-SHA256 over the raw body followed by `X-BambooHR-Timestamp` (Unix
 * seconds), hex in `X-BambooHR-Signature`; a 5xx answer is retried up to 5 times (5, 10, 20, 40, 80
 * minutes: `retryDelaysMs`), a 4xx never.
 * Nothing here sends a webhook by itself: a test decides which changes are announced and which are not
 * (BambooHR fires history-tracked changes only when they take effect, and a deleted row fires nothing).
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import express, { type Request, type Response } from 'express';
import { closeServer, listen } from '../lib/http';
import { StandInControl } from './faults';

export interface BambooEmployeeState {
  id: string;
  firstName: string;
  lastName: string;
  workEmail: string | null;
  homeEmail: string | null;
  /** `Active` or `Inactive`. */
  status: string;
  terminationDate: string | null;
  department: string | null;
  location: string | null;
  supervisorEId: string | null;
  employmentStatus: {
    id: string;
    date: string;
    employmentStatus: string;
    terminationTypeId: string | null;
  }[];
  files: { id: string; category: string; name: string; size: number; bytes: Buffer; dateCreated: string }[];
}

export interface BambooHrStandInOptions {
  apiKey?: string;
  webhookKey?: string;
  companyId?: string;
  /** Delays between webhook retries after a 5xx (BambooHR: 5, 10, 20, 40, 80 minutes). */
  retryDelaysMs?: number[];
}

/** BambooHR's signature: hex HMAC-SHA256 of the raw body followed by the timestamp. */
export function bambooSignature(key: string, body: string | Buffer, timestamp: string): string {
  return createHmac('sha256', key).update(body).update(timestamp).digest('hex');
}

const FILE_SECTIONS = [
  { id: '1', name: 'Signed Documents' },
  { id: '17', name: 'Offboarding' },
];

export class BambooHrStandIn {
  readonly apiKey: string;
  readonly webhookKey: string;
  readonly control = new StandInControl();
  readonly employees = new Map<string, BambooEmployeeState>();
  /** Every change as `employees/changed` reports it. */
  readonly changes: { id: string; action: 'Inserted' | 'Updated' | 'Deleted'; at: Date }[] = [];
  /** Every webhook attempt: the answer's status (or the network error). */
  readonly deliveries: { employeeId: string; attempt: number; status: number | string }[] = [];
  private server?: Server;
  private seq = 100;
  url = '';

  constructor(private readonly opts: BambooHrStandInOptions = {}) {
    this.apiKey = opts.apiKey ?? randomBytes(16).toString('hex');
    this.webhookKey = opts.webhookKey ?? randomBytes(24).toString('hex');
  }

  /** The API base Offboard is configured with (BAMBOOHR_API_URL). */
  get apiUrl(): string {
    return `${this.url}/api/gateway.php/acme/`;
  }

  async start(port = 0): Promise<void> {
    this.server = createServer(this.app());
    const p = await listen(this.server, port);
    this.url = `http://127.0.0.1:${p}`;
  }

  async stop(): Promise<void> {
    if (this.server) await closeServer(this.server);
  }

  /** Adds or replaces an employee (a change BambooHR records; no webhook is sent). */
  upsert(
    e: Partial<BambooEmployeeState> & { id: string; firstName: string; lastName: string },
  ): BambooEmployeeState {
    const prior = this.employees.get(e.id);
    const state: BambooEmployeeState = {
      workEmail: null,
      homeEmail: null,
      status: 'Active',
      terminationDate: null,
      department: null,
      location: null,
      supervisorEId: null,
      employmentStatus: [
        { id: this.nextId(), date: '2020-01-06', employmentStatus: 'Full-Time', terminationTypeId: null },
      ],
      files: [],
      ...prior,
      ...e,
    };
    this.employees.set(e.id, state);
    this.changes.push({ id: e.id, action: prior ? 'Updated' : 'Inserted', at: new Date() });
    return state;
  }

  /**
   * Records a termination as HR enters it: a `Terminated` employmentStatus row on `date` (the last day)
   * and the termination date; the status turns Inactive once the date has come.
   */
  terminate(id: string, t: { date: string; type?: string }): void {
    const e = this.need(id);
    e.employmentStatus.push({
      id: this.nextId(),
      date: t.date,
      employmentStatus: 'Terminated',
      terminationTypeId: t.type ?? 'Termination (Involuntary)',
    });
    e.terminationDate = t.date;
    if (t.date <= new Date().toISOString().slice(0, 10)) e.status = 'Inactive';
    this.changes.push({ id, action: 'Updated', at: new Date() });
  }

  /** HR deletes the Terminated row (a rescinded termination): no webhook fires for it. */
  rescind(id: string): void {
    const e = this.need(id);
    e.employmentStatus = e.employmentStatus.filter((r) => r.employmentStatus !== 'Terminated');
    e.terminationDate = null;
    e.status = 'Active';
    this.changes.push({ id, action: 'Updated', at: new Date() });
  }

  /** The next `times` API calls answer BambooHR's rate-limit answer with `Retry-After`. */
  throttle(times: number, retryAfterSeconds: number, status: 429 | 503 = 429): void {
    this.control.inject({ status, times, retryAfterSeconds, pathIncludes: '/v1/' });
  }

  /** A signed delivery as BambooHR would send it (headers and raw body), for tests that tamper with it. */
  signed(employeeId: string, o: { type?: string; timestamp?: number; changedFields?: string[] } = {}) {
    const ts = String(o.timestamp ?? Math.floor(Date.now() / 1000));
    const body = JSON.stringify({
      type: o.type ?? 'employee.updated',
      timestamp: new Date(Number(ts) * 1000).toISOString(),
      data: {
        companyId: this.opts.companyId ?? '1',
        employeeId,
        changedFields: o.changedFields ?? ['employmentHistoryStatus', 'terminationDate'],
      },
    });
    return {
      body,
      headers: {
        'content-type': 'application/json',
        'x-bamboohr-timestamp': ts,
        'x-bamboohr-signature': bambooSignature(this.webhookKey, body, ts),
      },
    };
  }

  /**
   * Sends the webhook for `employeeId` to `url` and retries it as BambooHR does (a 5xx: up to 5 more
   * times after `retryDelaysMs`, each attempt signed anew; a 4xx: never). Resolves with the last status.
   */
  async deliver(url: string, employeeId: string, type = 'employee.updated'): Promise<number | string> {
    const delays = this.opts.retryDelaysMs ?? [5, 10, 20, 40, 80].map((m) => m * 60_000);
    let last: number | string = 'not sent';
    for (let attempt = 0; attempt <= delays.length; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, delays[attempt - 1]));
      const d = this.signed(employeeId, { type });
      try {
        const res = await fetch(url, { method: 'POST', headers: d.headers, body: d.body });
        await res.body?.cancel();
        last = res.status;
      } catch (e) {
        last = (e as Error).message;
      }
      this.deliveries.push({ employeeId, attempt, status: last });
      if (typeof last === 'number' && last < 500) return last;
    }
    return last;
  }

  private nextId(): string {
    return String(++this.seq);
  }

  private need(id: string): BambooEmployeeState {
    const e = this.employees.get(id);
    if (!e) throw new Error(`no employee ${id}`);
    return e;
  }

  private fieldsOf(e: BambooEmployeeState, fields: readonly string[]): Record<string, string | null> {
    const all: Record<string, string | null> = {
      id: e.id,
      firstName: e.firstName,
      lastName: e.lastName,
      displayName: `${e.firstName} ${e.lastName}`,
      workEmail: e.workEmail,
      homeEmail: e.homeEmail,
      status: e.status,
      terminationDate: e.terminationDate ?? '0000-00-00',
      department: e.department,
      location: e.location,
      supervisorEId: e.supervisorEId,
    };
    return Object.fromEntries([
      ['id', e.id],
      ...fields.filter((f) => f in all).map((f) => [f, all[f] ?? null]),
    ]);
  }

  private app(): express.Express {
    const app = express();
    app.use(this.control.middleware((status, message) => ({ error: { status, message } })));
    app.use((req, res, next) => {
      const expected = `Basic ${Buffer.from(`${this.apiKey}:x`).toString('base64')}`;
      if (req.headers.authorization !== expected) return res.status(401).type('text').send('Unauthorized');
      next();
    });
    const r = express.Router();
    r.get('/v1/employees/changed', (req, res) => {
      const since = Date.parse(String(req.query.since ?? ''));
      if (Number.isNaN(since))
        return res.status(400).type('text').send('since must be an ISO 8601 timestamp');
      const out: Record<string, { id: string; action: string; lastChanged: string }> = {};
      for (const c of this.changes)
        if (c.at.getTime() >= since)
          out[c.id] = {
            id: c.id,
            action: c.action,
            lastChanged: c.at.toISOString().replace(/\.\d{3}Z$/, '+00:00'),
          };
      res.json({ latest: new Date().toISOString().replace(/\.\d{3}Z$/, '+00:00'), employees: out });
    });
    r.get(['/v1/employees/:id', '/v1/employees/:id/'], (req: Request, res: Response) => {
      const e = this.employees.get(String(req.params.id));
      if (!e) return res.status(404).end();
      const fields = String(req.query.fields ?? 'firstName,lastName').split(',');
      res.json(this.fieldsOf(e, fields));
    });
    r.get('/v1/employees/:id/tables/employmentStatus', (req, res) => {
      const e = this.employees.get(String(req.params.id));
      if (!e) return res.status(404).end();
      res.json(e.employmentStatus.map((row) => ({ ...row, employeeId: e.id })));
    });
    r.post('/v1/reports/custom', express.json(), (req, res) => {
      const fields = ((req.body as { fields?: string[] }).fields ?? []).map(String);
      const current = req.query.onlyCurrent !== 'false';
      const employees = [...this.employees.values()]
        .filter((e) => !current || e.status === 'Active')
        .map((e) => this.fieldsOf(e, fields));
      res.json({ title: (req.body as { title?: string }).title ?? 'Report', fields, employees });
    });
    r.post(
      '/v1/employees/:id/files',
      express.raw({ type: 'multipart/form-data', limit: '21mb' }),
      (req: Request, res: Response) => {
        const e = this.employees.get(String(req.params.id));
        if (!e) return res.status(404).end();
        const parts = parseMultipart(req.headers['content-type'] ?? '', req.body as Buffer);
        const file = parts.get('file');
        const category = parts.get('category')?.data.toString();
        if (!file || !file.filename) return res.status(400).type('text').send('the "file" field is required');
        if (file.data.length >= 20 * 1024 * 1024)
          return res.status(413).type('text').send('files must be under 20 MB');
        if (!category || !FILE_SECTIONS.some((s) => s.id === category))
          return res.status(400).type('text').send('category must be an existing section id');
        const id = this.nextId();
        e.files.push({
          id,
          category,
          name: parts.get('fileName')?.data.toString() || file.filename,
          size: file.data.length,
          bytes: file.data,
          dateCreated: new Date().toISOString().replace('T', ' ').slice(0, 19),
        });
        res.status(201).setHeader('Location', `${this.apiUrl}v1/employees/${e.id}/files/${id}`).end();
      },
    );
    r.get('/v1/employees/:id/files/view', (req, res) => {
      const e = this.employees.get(String(req.params.id));
      if (!e) return res.status(404).end();
      res.json({
        employee: { id: e.id },
        categories: FILE_SECTIONS.map((s) => ({
          ...s,
          canRenameCategory: 'no',
          files: e.files
            .filter((f) => f.category === s.id)
            .map((f) => ({
              id: f.id,
              name: f.name,
              originalFileName: f.name,
              size: f.size,
              dateCreated: f.dateCreated,
            })),
        })),
      });
    });
    app.use('/api/gateway.php/:company', r);
    return app;
  }
}

/** The named parts of a multipart/form-data body (enough for BambooHR's file upload). */
function parseMultipart(contentType: string, body: Buffer): Map<string, { filename?: string; data: Buffer }> {
  const out = new Map<string, { filename?: string; data: Buffer }>();
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType);
  if (!boundary || !Buffer.isBuffer(body)) return out;
  const sep = Buffer.from(`--${boundary[1] ?? boundary[2]}`);
  let at = body.indexOf(sep);
  while (at >= 0) {
    const next = body.indexOf(sep, at + sep.length);
    if (next < 0) break;
    const part = body.subarray(at + sep.length + 2, next - 2); // skip CRLF after the boundary and before the next
    const headEnd = part.indexOf('\r\n\r\n');
    if (headEnd >= 0) {
      const head = part.subarray(0, headEnd).toString();
      const name = /name="([^"]*)"/.exec(head)?.[1];
      const filename = /filename="([^"]*)"/.exec(head)?.[1];
      if (name) out.set(name, { filename, data: part.subarray(headEnd + 4) });
    }
    at = next;
  }
  return out;
}
