/**
 * Asset systems: where the assets assigned to an employee are listed, marked "return in progress" and
 * checked back in. The built-in register (the `Asset` table) is the default; Snipe-IT is reached through
 * its REST API (`/api/v1`). Every call is idempotent: marking or checking in an asset that is already in
 * that state succeeds without changing anything.
 */
import type { AssetsConfig, Catalog } from '../config/catalog';
import type { Db } from '../lib/db';
import {
  TargetAuthError,
  TargetRejectedError,
  TargetThrottledError,
  TargetUnavailableError,
  retryAfterMs,
} from './errors';

/** An asset assigned to the employee, as the asset system knows it. */
export interface AssignedAsset {
  /** The asset's id in its system (Snipe-IT's numeric id as a string; the register's uuid). */
  id: string;
  tag: string;
  name: string;
  category: string;
}

/** Who holds the assets: the HRIS employee id (Snipe-IT `employee_num`) and the work email. */
export interface AssetHolder {
  employeeId: string;
  workEmail: string;
}

export interface AssetSystem {
  /** `builtin` or `snipeit`: stored as `AssetRecovery.assetSource`. */
  readonly name: string;
  /** The assets currently assigned to the employee (none when the system does not know them). */
  listAssigned(who: AssetHolder): Promise<AssignedAsset[]>;
  /** Marks an asset "return in progress" (the employee has been asked to send it back). */
  markReturnInProgress(assetId: string, note: string): Promise<void>;
  /** Checks an asset back in (into stock, no longer assigned), with a note for the asset's history. */
  checkIn(assetId: string, note: string): Promise<void>;
}

// ------------------------------------------------------------------------------------ built-in register

/**
 * The built-in asset register: `Asset` rows with `assignedToEmployeeId`; status goes deployed →
 * return_in_progress → returned, and check-in clears the holder.
 */
export function createBuiltinAssetSystem(db: Db): AssetSystem {
  async function find(assetId: string) {
    const a = await db.asset.findUnique({ where: { id: assetId } });
    if (!a) throw new TargetRejectedError(`asset register: no asset with id ${assetId}`);
    return a;
  }
  return {
    name: 'builtin',
    async listAssigned(who) {
      const rows = await db.asset.findMany({
        where: { assignedToEmployeeId: who.employeeId, status: { in: ['deployed', 'return_in_progress'] } },
        orderBy: { tag: 'asc' },
      });
      return rows.map((a) => ({ id: a.id, tag: a.tag, name: a.name, category: a.category }));
    },
    async markReturnInProgress(assetId) {
      await find(assetId);
      // Only a deployed asset changes; one already returned (or lost) stays as it is.
      await db.asset.updateMany({
        where: { id: assetId, status: 'deployed' },
        data: { status: 'return_in_progress' },
      });
    },
    async checkIn(assetId) {
      const a = await find(assetId);
      if (a.status === 'returned' && a.assignedToEmployeeId === null) return;
      await db.asset.update({
        where: { id: assetId },
        data: { status: 'returned', assignedToEmployeeId: null },
      });
    },
  };
}

// --------------------------------------------------------------------------------------------- Snipe-IT

export type SnipeItConfig = NonNullable<AssetsConfig['snipeit']>;

/** Snipe-IT's envelope for writes and for most failures (which it answers with HTTP 200). */
interface SnipeEnvelope {
  status: 'success' | 'error';
  messages: unknown;
  payload: unknown;
}

interface SnipeList<T> {
  total: number;
  rows: T[];
}

interface SnipeUser {
  id: number;
  username?: string | null;
  email?: string | null;
  employee_num?: string | null;
}

interface SnipeAsset {
  id: number;
  name?: string | null;
  asset_tag: string;
  model?: { id: number; name: string } | null;
  category?: { id: number; name: string } | null;
  status_label?: { id: number; name: string; status_type?: string } | null;
  assigned_to?: { id: number; type?: string } | null;
}

function isEnvelope(x: unknown): x is SnipeEnvelope {
  return !!x && typeof x === 'object' && 'status' in x && 'messages' in x;
}

/** Snipe-IT's `messages`: a string, or validation errors `{ field: [message, ...] }`. */
function messageText(m: unknown): string {
  if (typeof m === 'string') return m;
  if (m && typeof m === 'object')
    return Object.entries(m as Record<string, unknown>)
      .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(' ') : String(v)}`)
      .join('; ');
  return String(m);
}

/** Snipe-IT HTML-escapes strings in its JSON (Laravel's `e()`); undo that for names shown to people. */
function unescapeHtml(s: string): string {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&#0?39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/**
 * Snipe-IT over its REST API with a personal access token: the user is found by employee number (then
 * by email), assets come from `GET /api/v1/users/{id}/assets`, "return in progress" is a status label set
 * with `PATCH /api/v1/hardware/{id}`, and check-in is `POST /api/v1/hardware/{id}/checkin` with the
 * configured status and a note. Errors: 401/403 → TargetAuthError, 429 → TargetThrottledError (with
 * Retry-After), 5xx and network failures → TargetUnavailableError, HTTP 200 with `status: "error"` and
 * other 4xx → TargetRejectedError.
 */
export function createSnipeItAssetSystem(
  cfg: SnipeItConfig,
  token: string,
  opts: { timeoutMs?: number } = {},
): AssetSystem {
  const base = `${cfg.baseUrl.replace(/\/$/, '')}/api/v1`;
  const timeoutMs = opts.timeoutMs ?? 15_000;

  async function call(method: string, path: string, body?: unknown): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      throw new TargetUnavailableError(`Snipe-IT ${method} ${path}: ${(e as Error).message}`);
    }
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    const what = `Snipe-IT ${method} ${path}: ${res.status}`;
    const detail = () => {
      if (isEnvelope(json)) return messageText(json.messages);
      const j = json as { error?: unknown; message?: unknown } | null;
      return String(j?.error ?? j?.message ?? text.slice(0, 200));
    };
    if (res.status === 401 || res.status === 403)
      throw new TargetAuthError(`${what} ${detail()} (check the API token and its permissions)`);
    if (res.status === 429)
      throw new TargetThrottledError(`${what} ${detail()}`, retryAfterMs(res.headers.get('retry-after')));
    if (res.status >= 500) throw new TargetUnavailableError(`${what} ${detail()}`);
    if (res.status >= 300 && res.status < 400)
      // Snipe-IT redirects to its login page when it does not take the request as an API call.
      throw new TargetAuthError(`${what} redirected to ${res.headers.get('location') ?? '?'}`);
    if (res.status === 404)
      throw new TargetRejectedError(`${what} ${detail()} (check assets.snipeit.baseUrl)`);
    if (res.status >= 400) throw new TargetRejectedError(`${what} ${detail()}`);
    if (json === null) throw new TargetUnavailableError(`${what} answered no JSON`);
    return json;
  }

  /** A read that must not be an error envelope (Snipe-IT answers "not found" with 200 + status error). */
  async function read<T>(path: string): Promise<T> {
    const json = await call('GET', path);
    if (isEnvelope(json) && json.status === 'error')
      throw new TargetRejectedError(`Snipe-IT GET ${path}: ${messageText(json.messages)}`);
    return json as T;
  }

  /** A write: the envelope must say success. */
  async function write(method: string, path: string, body: unknown): Promise<SnipeEnvelope> {
    const json = await call(method, path, body);
    if (!isEnvelope(json)) throw new TargetRejectedError(`Snipe-IT ${method} ${path}: unexpected answer`);
    return json;
  }

  async function findUser(who: AssetHolder): Promise<SnipeUser | null> {
    // `employee_num=` is an exact filter on recent versions; older ones ignore it, hence the exact match here.
    const byNum = await read<SnipeList<SnipeUser>>(
      `/users?employee_num=${encodeURIComponent(who.employeeId)}&limit=50`,
    );
    let hits = byNum.rows.filter((u) => u.employee_num === who.employeeId);
    if (hits.length === 0) {
      const byEmail = await read<SnipeList<SnipeUser>>(
        `/users?email=${encodeURIComponent(who.workEmail)}&limit=50`,
      );
      hits = byEmail.rows.filter((u) => (u.email ?? '').toLowerCase() === who.workEmail.toLowerCase());
    }
    if (hits.length > 1)
      throw new TargetRejectedError(
        `Snipe-IT has ${hits.length} users for employee ${who.employeeId} (ids ${hits.map((u) => u.id).join(', ')})`,
      );
    return hits[0] ?? null;
  }

  const hardware = (assetId: string) => {
    if (!/^\d+$/.test(assetId)) throw new TargetRejectedError(`"${assetId}" is not a Snipe-IT asset id`);
    return `/hardware/${assetId}`;
  };

  return {
    name: 'snipeit',
    async listAssigned(who) {
      const user = await findUser(who);
      if (!user) return [];
      const list = await read<SnipeList<SnipeAsset>>(`/users/${user.id}/assets`);
      return list.rows.map((a) => {
        const tag = unescapeHtml(a.asset_tag);
        return {
          id: String(a.id),
          tag,
          name: unescapeHtml(a.name || a.model?.name || tag),
          category: unescapeHtml(a.category?.name ?? 'other'),
        };
      });
    },
    async markReturnInProgress(assetId) {
      // Snipe-IT's PATCH has no note field (only `notes`, which would overwrite the asset's notes); the
      // chain of custody in Offboard carries the note.
      const path = hardware(assetId);
      const a = await read<SnipeAsset>(path);
      if (!a.assigned_to) return; // already checked in: nothing to return
      if (a.status_label?.id === cfg.returnInProgressStatusId) return;
      const r = await write('PATCH', path, { status_id: cfg.returnInProgressStatusId });
      if (r.status !== 'success')
        throw new TargetRejectedError(
          `Snipe-IT PATCH ${path} status_id=${cfg.returnInProgressStatusId}: ${messageText(r.messages)}`,
        );
    },
    async checkIn(assetId, note) {
      const path = hardware(assetId);
      const a = await read<SnipeAsset>(path);
      if (!a.assigned_to) return; // already checked in (e.g. a retry after the first call succeeded)
      const r = await write('POST', `${path}/checkin`, { status_id: cfg.checkedInStatusId, note });
      if (r.status === 'success') return;
      const msg = messageText(r.messages);
      // Checked in by someone else between the read and the check-in: the outcome we want.
      if (/already checked in/i.test(msg)) return;
      throw new TargetRejectedError(`Snipe-IT POST ${path}/checkin: ${msg}`);
    },
  };
}

/** The catalog's asset system (`assets.system`), with the Snipe-IT token from the environment. */
export function createAssetSystem(catalog: Catalog, env: NodeJS.ProcessEnv, db: Db): AssetSystem {
  const a = catalog.assets;
  if (a.system === 'snipeit') {
    if (!a.snipeit)
      throw new TargetRejectedError('catalog: assets.snipeit is required when system is "snipeit"');
    return createSnipeItAssetSystem(a.snipeit, env[a.snipeit.tokenEnv] ?? '');
  }
  return createBuiltinAssetSystem(db);
}
