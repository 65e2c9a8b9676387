/**
 * STAND-IN for a ServiceNow instance's Table API (`/api/now/table/{table}`), the parts the ServiceNow
 * desk calls (activities/desk/servicenow.ts), with ServiceNow's documented wire format:
 *
 * - Basic auth; else 401 `{"error": {"message": "User Not Authenticated", "detail": …}, "status":
 *   "failure"}` (every error has that shape);
 * - `POST …/{incident|sc_task}` → 201 `{result: {sys_id, number, state, active, …}}` (all values strings);
 *   another table 400;
 * - `GET …/{table}?sysparm_query=<encoded query>&sysparm_fields=…&sysparm_limit=…` → `{result: [...]}`
 *   (the query: `field=value`, `fieldINa,b`, joined by `^`, and `ORDERBY…`);
 * - `GET …/{table}/{sys_id}?sysparm_display_value=all` → each field `{value, display_value}` (state's
 *   label from the choices, a user's name for `closed_by`); unknown 404 "No Record found";
 * - `GET …/sys_choice?sysparm_query=nameINsc_task,task^element=state…` → the state choices: `task`'s
 *   own (Closed Skipped 7) and, with `skippedValue`, an `sc_task` override giving it another value (5,
 *   as some instances and the ansible collection have it);
 * - rate limiting: `throttle(n, resetIn)` answers 429 "Rate limit exceeded" with `Retry-After` (seconds,
 *   unless `retryAfter: false`), `X-RateLimit-Limit`, `X-RateLimit-Reset` (Unix seconds), `X-RateLimit-Rule`.
 *
 * Test helpers: `closeRecord` (a state, close code and notes, by a user, as an agent would),
 * `sendWebhook` (what a Business Rule's outbound REST message posts: `{"sys_id"}` with the shared secret
 * in `X-Offboard-Webhook-Secret`). Faults: `control.inject` (standins/faults.ts).
 */
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import express, { type Request, type Response } from 'express';
import { closeServer, listen } from '../lib/http';
import { StandInControl } from './faults';

export type ServiceNowRecord = Record<string, string> & { sys_id: string; number: string; state: string };

/** ServiceNow's error body. */
export const servicenowError = (message: string, detail: string | null = null) => ({
  error: { message, detail },
  status: 'failure',
});

const TASK_CHOICES = [
  ['-5', 'Pending'],
  ['1', 'Open'],
  ['2', 'Work in Progress'],
  ['3', 'Closed Complete'],
  ['4', 'Closed Incomplete'],
  ['7', 'Closed Skipped'],
] as const;
const INCIDENT_CHOICES = [
  ['1', 'New'],
  ['2', 'In Progress'],
  ['3', 'On Hold'],
  ['6', 'Resolved'],
  ['7', 'Closed'],
  ['8', 'Canceled'],
] as const;
const PREFIX = { incident: 'INC', sc_task: 'SCTASK' } as const;
type Table = keyof typeof PREFIX;
const sysId = () => randomBytes(16).toString('hex');

export class ServiceNowStandIn {
  readonly control = new StandInControl();
  readonly records = new Map<string, ServiceNowRecord & { table: Table }>();
  /** Users by sys_id (display values of `closed_by`, `resolved_by`). */
  readonly users = new Map<string, string>();
  /** An `sc_task` dictionary override giving Closed Skipped this value instead of task's 7. */
  skippedValue: string | null = null;
  private throttled = { times: 0, resetAt: 0, retryAfter: true };
  private counter = 10_000;
  private server?: http.Server;
  url = '';

  constructor(
    readonly user: string,
    readonly password: string,
  ) {}

  throttle(times: number, resetInSeconds: number, o: { retryAfter?: boolean } = {}): void {
    this.throttled = { times, resetAt: Date.now() + resetInSeconds * 1000, retryAfter: o.retryAfter ?? true };
  }

  reset(): void {
    this.control.reset();
    this.throttled = { times: 0, resetAt: 0, retryAfter: true };
    this.skippedValue = null;
  }

  /** The state choices of a table: `[name, value, label]`, the table's overrides first. */
  choices(table: string): [string, string, string][] {
    if (table === 'incident') return INCIDENT_CHOICES.map(([v, l]) => ['incident', v, l]);
    const task = TASK_CHOICES.map(([v, l]): [string, string, string] => ['task', v, l]);
    if (!this.skippedValue) return task;
    return [
      ['sc_task', this.skippedValue, 'Closed Skipped'],
      ...task.filter(([, , l]) => l !== 'Closed Skipped'),
    ];
  }

  /** Closes a record as an agent would: state (a value), close code and notes; inactive if closed. */
  closeRecord(id: string, to: { state: string; closeCode?: string; closeNotes?: string; by?: string }) {
    const r = this.records.get(id);
    if (!r) throw new Error(`no record ${id}`);
    const user = sysId();
    this.users.set(user, to.by ?? 'Sam Servicedesk');
    r.state = to.state;
    r.close_code = to.closeCode ?? '';
    r.close_notes = to.closeNotes ?? '';
    const closing = r.table === 'incident' ? ['7', '8'] : ['3', '4', '7', this.skippedValue ?? '7'];
    if (closing.includes(to.state)) {
      r.active = 'false';
      r.closed_by = user;
    }
    if (r.table === 'incident' && to.state === '6') r.resolved_by = user;
    return r;
  }

  /** Posts what a Business Rule's outbound REST message sends for `id` to `url`. */
  async sendWebhook(url: string, secret: string | null, id: string) {
    const res = await fetch(url, {
      method: 'POST',
      body: JSON.stringify({ sys_id: id, table: this.records.get(id)?.table ?? 'sc_task' }),
      headers: {
        'content-type': 'application/json',
        ...(secret ? { 'x-offboard-webhook-secret': secret } : {}),
      },
    });
    const text = await res.text();
    return { status: res.status, json: (text ? JSON.parse(text) : null) as Record<string, unknown> | null };
  }

  private display(table: string, field: string, value: string): string {
    if (field === 'state') return this.choices(table).find(([, v]) => v === value)?.[2] ?? value;
    if (field === 'closed_by' || field === 'resolved_by') return this.users.get(value) ?? '';
    return value;
  }

  /** A record as the Table API shows it, with `sysparm_fields` and `sysparm_display_value`. */
  private shown(r: ServiceNowRecord & { table: Table }, req: Request) {
    const fields = String(req.query.sysparm_fields ?? '')
      .split(',')
      .filter(Boolean);
    const mode = String(req.query.sysparm_display_value ?? 'false');
    const names = fields.length > 0 ? fields : Object.keys(r).filter((k) => k !== 'table');
    return Object.fromEntries(
      names.map((f) => {
        const value = f === 'table' ? undefined : r[f];
        if (value === undefined) return [f, mode === 'all' ? { display_value: '', value: '' } : ''];
        const d = this.display(r.table, f, value);
        return [f, mode === 'all' ? { display_value: d, value } : mode === 'true' ? d : value];
      }),
    );
  }

  /** Whether a record matches an encoded query (`a=b^cINx,y^ORDERBY…`). */
  private matches(row: Record<string, string>, query: string): boolean {
    return query
      .split('^')
      .filter((c) => c && !c.startsWith('ORDERBY'))
      .every((c) => {
        const inM = /^([a-z_]+)IN(.*)$/.exec(c);
        if (inM) return inM[2]!.split(',').includes(row[inM[1]!] ?? '');
        const eq = /^([a-z_]+)=(.*)$/.exec(c);
        return eq ? (row[eq[1]!] ?? '') === eq[2] : false;
      });
  }

  app(): express.Express {
    const app = express();
    app.disable('x-powered-by');
    app.use(this.control.middleware((_s, message) => servicenowError(message)));
    app.use((req, res, next) => {
      if (this.throttled.times > 0) {
        this.throttled.times -= 1;
        const resetIn = Math.max(0, Math.ceil((this.throttled.resetAt - Date.now()) / 1000));
        if (this.throttled.retryAfter) res.setHeader('Retry-After', String(resetIn));
        res.setHeader('X-RateLimit-Limit', '100');
        res.setHeader('X-RateLimit-Reset', String(Math.ceil(this.throttled.resetAt / 1000)));
        res.setHeader('X-RateLimit-Rule', '0b5e1d2a1b3f2010c4a1b2c3d4e5f607');
        return res
          .status(429)
          .json(
            servicenowError(
              'Rate limit exceeded',
              'Rate limit of 100 requests per hour for Table API exceeded',
            ),
          );
      }
      const expected = `Basic ${Buffer.from(`${this.user}:${this.password}`).toString('base64')}`;
      if (req.header('authorization') !== expected)
        return res
          .status(401)
          .json(servicenowError('User Not Authenticated', 'Required to provide Auth information'));
      next();
    });

    app.get('/api/now/table/sys_choice', (req: Request, res: Response) => {
      const q = String(req.query.sysparm_query ?? '');
      const rows = ['sc_task', 'incident']
        .flatMap((t) => this.choices(t))
        .filter((c, i, all) => all.findIndex((x) => x.join() === c.join()) === i)
        .map(([name, value, label]) => ({
          name,
          value,
          label,
          element: 'state',
          inactive: 'false',
          language: 'en',
        }));
      res.json({
        result: rows
          .filter((r) => this.matches(r, q))
          .map(({ name, value, label }) => ({ name, value, label })),
      });
    });

    const table = (req: Request, res: Response): Table | null => {
      const t = String(req.params.table);
      if (t in PREFIX) return t as Table;
      res.status(400).json(servicenowError(`Invalid table ${t.slice(0, 40)}`));
      return null;
    };

    app.post('/api/now/table/:table', express.json(), (req: Request, res: Response) => {
      const t = table(req, res);
      if (!t) return;
      const b = (req.body ?? {}) as Record<string, unknown>;
      this.counter += 1;
      const rec: ServiceNowRecord & { table: Table } = {
        table: t,
        sys_id: sysId(),
        number: `${PREFIX[t]}${String(this.counter).padStart(7, '0')}`,
        state: '1',
        active: 'true',
        close_code: '',
        close_notes: '',
        closed_by: '',
        resolved_by: '',
        sys_created_on: new Date().toISOString().slice(0, 19).replace('T', ' '),
      };
      for (const [k, v] of Object.entries(b))
        if (typeof v === 'string' && !(k in rec && ['sys_id', 'number', 'table'].includes(k))) rec[k] = v;
      this.records.set(rec.sys_id, rec);
      res.status(201).json({ result: this.shown(rec, req) });
    });

    app.get('/api/now/table/:table', (req: Request, res: Response) => {
      const t = table(req, res);
      if (!t) return;
      const q = String(req.query.sysparm_query ?? '');
      const limit = Math.max(1, Number(req.query.sysparm_limit ?? 10_000) || 10_000);
      const rows = [...this.records.values()].filter((r) => r.table === t && this.matches(r, q));
      res.setHeader('X-Total-Count', String(rows.length));
      res.json({ result: rows.slice(0, limit).map((r) => this.shown(r, req)) });
    });

    app.get('/api/now/table/:table/:sysId', (req: Request, res: Response) => {
      const t = table(req, res);
      if (!t) return;
      const r = this.records.get(String(req.params.sysId));
      if (!r || r.table !== t)
        return res
          .status(404)
          .json(
            servicenowError('No Record found', "Record doesn't exist or ACL restricts the record retrieval"),
          );
      res.json({ result: this.shown(r, req) });
    });

    app.use((_req: Request, res: Response) => {
      res.status(400).json(servicenowError('Requested URI does not represent any resource'));
    });
    return app;
  }

  async start(port = 0): Promise<string> {
    this.server = http.createServer(this.app());
    this.url = `http://127.0.0.1:${await listen(this.server, port)}`;
    return this.url;
  }

  async stop(): Promise<void> {
    if (this.server) await closeServer(this.server);
  }
}
