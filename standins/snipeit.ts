/**
 * STAND-IN for Snipe-IT's REST API (`/api/v1`), for what Offboard uses, in its wire format:
 * - `GET /users` with exact filters `employee_num`, `email`, `username` and `search`, paged by
 *   `limit`/`offset`, answering `{ total, rows }`; `GET /users/{id}`; `GET /users/{id}/assets`;
 * - `GET /hardware/{id}`, `GET /hardware/bytag/{tag}`, `PATCH|PUT /hardware/{id}` (status_id),
 *   `POST /hardware/{id}/checkin` (status_id, note); `GET /statuslabels`.
 * Writes answer Snipe-IT's envelope `{ status: "success" | "error", messages, payload }`, and, like
 * Snipe-IT, most failures come back as HTTP 200 with `status: "error"` (unknown asset or user, invalid
 * status id, checking in an asset that is already checked in). A missing or wrong bearer token gets 401
 * `{ "error": "Unauthorized or unauthenticated." }` for JSON clients and a redirect to the login page
 * otherwise; unknown endpoints 404. Strings are HTML-escaped in the JSON, as Snipe-IT's transformers do.
 * Counters (check-ins, status changes) let tests prove nothing was done twice; `control` injects faults
 * (429 with Retry-After, 5xx, hangs).
 */
import http from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { closeServer, listen } from '../lib/http';
import { StandInControl } from './faults';
import { saveBeforeAnswering } from './persist';

export interface SnipeStatusLabel {
  id: number;
  name: string;
  type: 'deployable' | 'pending' | 'archived' | 'undeployable';
}

export interface SnipeUserState {
  id: number;
  username: string;
  first_name: string;
  last_name: string;
  email: string | null;
  employee_num: string | null;
}

export interface SnipeAssetState {
  id: number;
  asset_tag: string;
  name: string;
  serial: string;
  model: { id: number; name: string };
  category: { id: number; name: string };
  status_id: number;
  /** User id the asset is checked out to; null = checked in. */
  assigned_to: number | null;
  last_checkin: string | null;
  /** Successful check-ins of this asset. */
  checkins: number;
  /** Times its status label changed through PATCH/PUT. */
  statusChanges: number;
  /** The asset's history (Snipe-IT's action log), with notes. */
  log: { action: 'checkin' | 'update'; at: string; note: string | null; status_id: number }[];
}

/** Status labels of a fresh Snipe-IT, plus the one Offboard uses for "return in progress". */
export const SNIPEIT_STATUS = {
  readyToDeploy: 1,
  pending: 2,
  archived: 3,
  outForRepair: 4,
  lostStolen: 5,
  returnInProgress: 6,
} as const;

const DEFAULT_LABELS: SnipeStatusLabel[] = [
  { id: 1, name: 'Ready to Deploy', type: 'deployable' },
  { id: 2, name: 'Pending', type: 'pending' },
  { id: 3, name: 'Archived', type: 'archived' },
  { id: 4, name: 'Out for Repair', type: 'undeployable' },
  { id: 5, name: 'Lost/Stolen', type: 'archived' },
  { id: 6, name: 'Return in progress', type: 'pending' },
];

/** Laravel's `e()`. */
function e(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#039;');
}

const envelope = (status: 'success' | 'error', messages: unknown, payload: unknown = null) => ({
  status,
  messages,
  payload,
});

const nowStamp = () => new Date().toISOString().replace('T', ' ').slice(0, 19);

export class SnipeItStandIn {
  readonly control = new StandInControl();
  /**
   * Called after each request that may have changed the state (any method but GET, HEAD and OPTIONS),
   * before its answer is sent; the answer waits for the promise (standins/persist.ts). `npm start`
   * saves the state here, so a crash loses no change a caller was told about.
   */
  onChange?: () => Promise<void>;
  readonly users = new Map<number, SnipeUserState>();
  readonly assets = new Map<number, SnipeAssetState>();
  readonly statusLabels = new Map<number, SnipeStatusLabel>(DEFAULT_LABELS.map((l) => [l.id, l]));
  /** Successful check-ins, all assets. */
  checkins = 0;
  /** Status label changes through PATCH/PUT, all assets. */
  statusChanges = 0;
  private nextUserId = 1;
  private nextAssetId = 1;
  private server?: http.Server;
  url = '';

  constructor(readonly opts: { token: string }) {}

  seedUser(u: {
    employee_num?: string | null;
    email?: string | null;
    first_name: string;
    last_name: string;
    username?: string;
  }): SnipeUserState {
    const user: SnipeUserState = {
      id: this.nextUserId++,
      username: u.username ?? `${u.first_name}.${u.last_name}`.toLowerCase(),
      first_name: u.first_name,
      last_name: u.last_name,
      email: u.email ?? null,
      employee_num: u.employee_num ?? null,
    };
    this.users.set(user.id, user);
    return user;
  }

  seedAsset(a: {
    asset_tag: string;
    name: string;
    model?: string;
    category?: string;
    serial?: string;
    assignedTo?: number | null;
    status_id?: number;
  }): SnipeAssetState {
    const id = this.nextAssetId++;
    const asset: SnipeAssetState = {
      id,
      asset_tag: a.asset_tag,
      name: a.name,
      serial: a.serial ?? `SN${String(100000 + id)}`,
      model: { id, name: a.model ?? a.name },
      category: { id: 1, name: a.category ?? 'Laptops' },
      status_id: a.status_id ?? SNIPEIT_STATUS.readyToDeploy,
      assigned_to: a.assignedTo ?? null,
      last_checkin: null,
      checkins: 0,
      statusChanges: 0,
      log: [],
    };
    this.assets.set(id, asset);
    return asset;
  }

  assetByTag(tag: string): SnipeAssetState | undefined {
    return [...this.assets.values()].find((a) => a.asset_tag === tag);
  }

  private statusOf(a: SnipeAssetState) {
    const l = this.statusLabels.get(a.status_id)!;
    return {
      id: l.id,
      name: e(l.name),
      status_type: l.type,
      status_meta: a.assigned_to && l.type === 'deployable' ? 'deployed' : l.type,
    };
  }

  private userJson(u: SnipeUserState) {
    return {
      id: u.id,
      name: e(`${u.first_name} ${u.last_name}`),
      first_name: e(u.first_name),
      last_name: e(u.last_name),
      username: e(u.username),
      email: u.email ? e(u.email) : null,
      employee_num: u.employee_num ? e(u.employee_num) : null,
      activated: true,
      assets_count: [...this.assets.values()].filter((a) => a.assigned_to === u.id).length,
    };
  }

  private assetJson(a: SnipeAssetState) {
    const holder = a.assigned_to ? this.users.get(a.assigned_to) : undefined;
    const status = this.statusOf(a);
    return {
      id: a.id,
      name: e(a.name),
      asset_tag: e(a.asset_tag),
      serial: e(a.serial),
      model: { id: a.model.id, name: e(a.model.name) },
      status_label: status,
      status,
      category: { id: a.category.id, name: e(a.category.name) },
      assigned_to: holder
        ? {
            id: holder.id,
            username: e(holder.username),
            name: e(`${holder.first_name} ${holder.last_name}`),
            first_name: e(holder.first_name),
            last_name: e(holder.last_name),
            email: holder.email ? e(holder.email) : null,
            employee_number: holder.employee_num ? e(holder.employee_num) : null,
            type: 'user',
          }
        : null,
      last_checkin: a.last_checkin ? { datetime: a.last_checkin, formatted: a.last_checkin } : null,
      checkin_counter: a.checkins,
      user_can_checkout: !a.assigned_to && this.statusLabels.get(a.status_id)?.type === 'deployable',
    };
  }

  app(): express.Express {
    const app = express();
    app.disable('x-powered-by');
    app.use(this.control.middleware((_status, message) => envelope('error', message)));
    app.use(saveBeforeAnswering(() => this.onChange));
    app.get('/_standin/state', (_req, res) => {
      res.json({
        users: [...this.users.values()],
        assets: [...this.assets.values()],
        checkins: this.checkins,
        statusChanges: this.statusChanges,
      });
    });
    app.get('/login', (_req, res) => {
      res.type('html').send('<html><body>Snipe-IT login</body></html>');
    });

    const api = express.Router();
    api.use((req: Request, res: Response, next: NextFunction) => {
      const m = /^Bearer (.+)$/.exec(req.header('authorization') ?? '');
      if (m && m[1] === this.opts.token) return next();
      if ((req.header('accept') ?? '').includes('json'))
        return void res.status(401).json({ error: 'Unauthorized or unauthenticated.' });
      res.redirect(302, '/login');
    });
    api.use(express.json({ limit: '100kb' }));

    const asset = (req: Request, res: Response): SnipeAssetState | undefined => {
      const a = this.assets.get(Number(req.params.id));
      if (!a) res.json(envelope('error', 'Asset not found'));
      return a;
    };
    const badStatus = (res: Response, statusId: unknown): boolean => {
      if (statusId === undefined || statusId === null || statusId === '') return false;
      if (this.statusLabels.has(Number(statusId))) return false;
      res.json(envelope('error', { status_id: ['The selected status id is invalid.'] }));
      return true;
    };

    api.get('/users', (req, res) => {
      const q = req.query as Record<string, string | undefined>;
      let rows = [...this.users.values()];
      if (q.employee_num) rows = rows.filter((u) => u.employee_num === q.employee_num);
      if (q.email) rows = rows.filter((u) => u.email === q.email);
      if (q.username) rows = rows.filter((u) => u.username === q.username);
      if (q.search) {
        const s = q.search.toLowerCase();
        rows = rows.filter((u) =>
          [u.first_name, u.last_name, u.username, u.email ?? '', u.employee_num ?? ''].some((v) =>
            v.toLowerCase().includes(s),
          ),
        );
      }
      const offset = Math.max(0, Number(q.offset ?? 0) || 0);
      const limit = Math.min(500, Math.max(1, Number(q.limit ?? 50) || 50));
      res.json({ total: rows.length, rows: rows.slice(offset, offset + limit).map((u) => this.userJson(u)) });
    });
    api.get('/users/:id', (req, res) => {
      const u = this.users.get(Number(req.params.id));
      res.json(u ? this.userJson(u) : envelope('error', 'User not found'));
    });
    api.get('/users/:id/assets', (req, res) => {
      const u = this.users.get(Number(req.params.id));
      if (!u) return void res.json(envelope('error', 'User not found'));
      const rows = [...this.assets.values()].filter((a) => a.assigned_to === u.id);
      res.json({ total: rows.length, rows: rows.map((a) => this.assetJson(a)) });
    });
    api.get('/hardware/bytag/:tag', (req, res) => {
      const a = this.assetByTag(String(req.params.tag));
      res.json(a ? this.assetJson(a) : envelope('error', 'Asset not found'));
    });
    api.get('/hardware/:id', (req, res) => {
      const a = asset(req, res);
      if (a) res.json(this.assetJson(a));
    });
    const update = (req: Request, res: Response) => {
      const a = asset(req, res);
      if (!a) return;
      const body = (req.body ?? {}) as { status_id?: unknown; name?: unknown };
      if (badStatus(res, body.status_id)) return;
      if (body.status_id !== undefined && Number(body.status_id) !== a.status_id) {
        a.status_id = Number(body.status_id);
        a.statusChanges += 1;
        this.statusChanges += 1;
        a.log.push({ action: 'update', at: nowStamp(), note: null, status_id: a.status_id });
      }
      if (typeof body.name === 'string') a.name = body.name;
      // Snipe-IT answers updates with the flat model, not the transformer's shape.
      res.json(
        envelope('success', 'Asset updated successfully.', {
          id: a.id,
          name: a.name,
          asset_tag: a.asset_tag,
          status_id: a.status_id,
          assigned_to: a.assigned_to,
          assigned_type: a.assigned_to ? 'App\\Models\\User' : null,
        }),
      );
    };
    api.patch('/hardware/:id', update);
    api.put('/hardware/:id', update);
    api.post('/hardware/:id/checkin', (req, res) => {
      const a = asset(req, res);
      if (!a) return;
      const body = (req.body ?? {}) as { status_id?: unknown; note?: unknown };
      const payload = { asset_tag: e(a.asset_tag), model: e(a.model.name), model_number: null };
      if (!a.assigned_to)
        return void res.json(envelope('error', 'That asset is already checked in.', payload));
      if (badStatus(res, body.status_id)) return;
      a.assigned_to = null;
      if (body.status_id !== undefined && body.status_id !== null && body.status_id !== '')
        a.status_id = Number(body.status_id);
      a.last_checkin = nowStamp();
      a.checkins += 1;
      this.checkins += 1;
      a.log.push({
        action: 'checkin',
        at: a.last_checkin,
        note: typeof body.note === 'string' ? body.note : null,
        status_id: a.status_id,
      });
      res.json(envelope('success', 'Asset checked in successfully.', payload));
    });
    api.get('/statuslabels', (_req, res) => {
      const rows = [...this.statusLabels.values()].map((l) => ({ id: l.id, name: e(l.name), type: l.type }));
      res.json({ total: rows.length, rows });
    });
    api.use((_req: Request, res: Response) => {
      res.status(404).json(envelope('error', '404 endpoint not found'));
    });
    // Body parse errors (invalid JSON) come back as Snipe-IT does.
    api.use((err: Error & { status?: number }, _req: Request, res: Response, next: NextFunction) => {
      if (res.headersSent) return next(err);
      if (err.status === 400 || err.status === 413)
        return void res.status(err.status === 400 ? 422 : 413).json(envelope('error', 'Invalid JSON'));
      res.status(500).json(envelope('error', 'Server Error'));
    });
    app.use('/api/v1', api);
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
