/**
 * STAND-IN for SaaS applications' SCIM 2.0 endpoints (RFC 7643/7644), built on SCIMMY and its Express
 * routers so the wire format (ListResponse, PatchOp, Error schema, filters) follows the standard.
 * One server hosts several apps at `/<app>/scim/v2`, each with its own bearer token and user store,
 * and counts calls and state changes per app.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import express, { type Request } from 'express';
import SCIMMY from 'scimmy';
import SCIMMYRouters from 'scimmy-routers';
import { closeServer, listen } from '../lib/http';
import { StandInControl } from './faults';

export interface ScimUserState {
  id: string;
  userName: string;
  displayName: string;
  active: boolean;
  /** Times the user went from active to inactive. */
  deactivations: number;
  /** Times the user was written to (PUT/PATCH). */
  writes: number;
}

interface AppStore {
  token: string;
  users: Map<string, ScimUserState>;
  /** User ids by lower-cased userName: a filter `userName eq "..."` is a lookup, as in a real server. */
  byUserName: Map<string, Set<string>>;
}

function indexUser(store: AppStore, u: ScimUserState): void {
  const key = u.userName.toLowerCase();
  const ids = store.byUserName.get(key) ?? new Set<string>();
  ids.add(u.id);
  store.byUserName.set(key, ids);
}

function unindexUser(store: AppStore, u: ScimUserState): void {
  store.byUserName.get(u.userName.toLowerCase())?.delete(u.id);
}

type ParsedFilter = { match(v: unknown[]): unknown[] } & ArrayLike<Record<string, unknown>>;

/** The userName of a filter that is exactly `userName eq "<value>"`, else null. */
function userNameEquals(filter: ParsedFilter): string | null {
  if (filter.length !== 1) return null;
  const entries = Object.entries(filter[0]!);
  if (entries.length !== 1) return null;
  const [attr, expr] = entries[0]!;
  if (attr.toLowerCase() !== 'username' || !Array.isArray(expr) || expr.length !== 2) return null;
  const [op, value] = expr as unknown[];
  return typeof op === 'string' && op.toLowerCase() === 'eq' && typeof value === 'string' ? value : null;
}

interface Ctx {
  standIn: ScimStandIn;
  app: string;
}

const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

// SCIMMY's typings tie handlers to its schema classes; the stand-in works with plain objects.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const S = SCIMMY as any;
function scimError(status: number, scimType: string | null, detail: string): Error {
  return new S.Types.Error(status, scimType, detail) as Error;
}

let declared = false;
/** SCIMMY resources are process-wide; their handlers dispatch to the stand-in named in the context. */
function declareOnce(): void {
  if (declared) return;
  declared = true;
  S.Resources.declare(S.Resources.User)
    .egress((resource: { id?: string; filter?: ParsedFilter }, ctx: Ctx) => {
      const store = ctx.standIn.store(ctx.app);
      if (resource.id) {
        const u = store.users.get(resource.id);
        if (!u) throw scimError(404, null, `Resource ${resource.id} not found`);
        return toScim(u);
      }
      // The lookup by userName narrows the candidates; SCIMMY's match still decides.
      const userName = resource.filter ? userNameEquals(resource.filter) : null;
      const candidates =
        userName === null
          ? [...store.users.values()]
          : [...(store.byUserName.get(userName.toLowerCase()) ?? [])].map((id) => store.users.get(id)!);
      const scim = candidates.map(toScim);
      return resource.filter ? resource.filter.match(scim) : scim;
    })
    .ingress(
      (
        resource: { id?: string },
        instance: { userName: string; displayName?: string; active?: boolean },
        ctx: Ctx,
      ) => {
        const store = ctx.standIn.store(ctx.app);
        if (resource.id) {
          const u = store.users.get(resource.id);
          if (!u) throw scimError(404, null, `Resource ${resource.id} not found`);
          const active = instance.active ?? u.active;
          if (u.active && !active) u.deactivations += 1;
          u.active = active;
          u.displayName = instance.displayName ?? u.displayName;
          u.writes += 1;
          return toScim(u);
        }
        const same = store.byUserName.get(instance.userName.toLowerCase()) ?? [];
        if ([...same].some((id) => store.users.get(id)?.userName === instance.userName))
          throw scimError(409, 'uniqueness', `userName ${instance.userName} already exists`);
        const u = newUser(instance.userName, instance.displayName, instance.active ?? true);
        store.users.set(u.id, u);
        indexUser(store, u);
        return toScim(u);
      },
    )
    .degress((resource: { id?: string }, ctx: Ctx) => {
      const store = ctx.standIn.store(ctx.app);
      const u = resource.id ? store.users.get(resource.id) : undefined;
      if (!u) throw scimError(404, null, `Resource ${resource.id ?? ''} not found`);
      store.users.delete(u.id);
      unindexUser(store, u);
    });
}

function newUser(userName: string, displayName?: string, active = true): ScimUserState {
  return {
    id: randomUUID(),
    userName,
    displayName: displayName ?? userName,
    active,
    deactivations: 0,
    writes: 0,
  };
}

function toScim(u: ScimUserState) {
  return {
    id: u.id,
    userName: u.userName,
    displayName: u.displayName,
    active: u.active,
    meta: { resourceType: 'User' },
  };
}

export class ScimStandIn {
  readonly control = new StandInControl();
  private apps = new Map<string, AppStore>();
  private server?: http.Server;
  url = '';

  constructor(apps: Record<string, { token: string }> = {}) {
    for (const [name, a] of Object.entries(apps)) this.addApp(name, a.token);
  }

  addApp(name: string, token: string): void {
    this.apps.set(name, { token, users: new Map(), byUserName: new Map() });
  }

  store(app: string): AppStore {
    const s = this.apps.get(app);
    if (!s) throw scimError(404, null, `no SCIM app "${app}"`);
    return s;
  }

  seedUser(
    app: string,
    userName: string,
    opts: { displayName?: string; active?: boolean } = {},
  ): ScimUserState {
    const u = newUser(userName, opts.displayName, opts.active ?? true);
    const store = this.store(app);
    store.users.set(u.id, u);
    indexUser(store, u);
    return u;
  }

  /** Puts back a user saved from an earlier run (`GET /_standin/apps`), as it was. */
  restoreUser(app: string, u: ScimUserState): void {
    const store = this.store(app);
    store.users.set(u.id, u);
    indexUser(store, u);
  }

  findUser(app: string, userName: string): ScimUserState | undefined {
    const store = this.store(app);
    for (const id of store.byUserName.get(userName.toLowerCase()) ?? []) {
      const u = store.users.get(id);
      if (u?.userName === userName) return u;
    }
    return undefined;
  }

  /** Base URL of an app's SCIM endpoint. */
  baseUrl(app: string): string {
    return `${this.url}/${app}/scim/v2`;
  }

  app(): express.Express {
    declareOnce();
    const app = express();
    app.disable('x-powered-by');
    app.use(
      this.control.middleware((status, message) => ({
        schemas: [ERROR_SCHEMA],
        status: String(status),
        detail: message,
      })),
    );
    app.get('/_standin/apps', (_req, res) =>
      res.json(Object.fromEntries([...this.apps].map(([k, v]) => [k, [...v.users.values()]]))),
    );
    const appOf = (req: Request) => /^\/([^/]+)\/scim\/v2/.exec(req.baseUrl)?.[1] ?? '';
    const routers = new SCIMMYRouters({
      type: 'bearer',
      docUri: 'https://datatracker.ietf.org/doc/html/rfc6750',
      handler: (req: Request) => {
        const store = this.apps.get(appOf(req));
        const m = /^Bearer (.+)$/.exec(req.header('authorization') ?? '');
        if (!store || !m || m[1] !== store.token) throw new Error('Authorization failure');
        return 'offboard';
      },
      context: (req: Request): Ctx => ({ standIn: this, app: appOf(req) }),
    });
    app.use('/:app/scim/v2', routers);
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
