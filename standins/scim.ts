/**
 * STAND-IN for SaaS applications' SCIM 2.0 endpoints (RFC 7643/7644), built on SCIMMY and its Express
 * routers so the wire format (ListResponse, PatchOp, Error schema, filters) follows the standard.
 * One server hosts several apps at `/<app>/scim/v2`, each with its own bearer token and user store,
 * and counts calls and state changes per app. An app can be told to ignore filters (`ignoreFilters`),
 * as some real servers do: every list answers every user.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import express, { type Request } from 'express';
import SCIMMY from 'scimmy';
import SCIMMYRouters from 'scimmy-routers';
import { closeServer, listen } from '../lib/http';
import { StandInControl } from './faults';
import { saveBeforeAnswering } from './persist';

export interface ScimUserState {
  id: string;
  userName: string;
  /** The provisioning client's id of the user (e.g. the HR employee id), or null. */
  externalId?: string | null;
  /** Email addresses, the first one primary. */
  emails?: string[];
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
  /**
   * User ids by `<attribute>:<lower-cased value>` of userName, externalId and each email: a filter
   * `userName eq "..."` (or on externalId, emails.value) is a lookup, as in a real server.
   */
  byUserName: Map<string, Set<string>>;
  /** Answer every list with every user, whatever its filter (a server that ignores filters). */
  ignoresFilters: boolean;
}

/** The indexed values of a user. */
function indexKeys(u: ScimUserState): string[] {
  return [
    `username:${u.userName.toLowerCase()}`,
    ...(u.externalId ? [`externalid:${u.externalId.toLowerCase()}`] : []),
    ...(u.emails ?? []).map((e) => `emails.value:${e.toLowerCase()}`),
  ];
}

function indexUser(store: AppStore, u: ScimUserState): void {
  for (const key of indexKeys(u)) {
    const ids = store.byUserName.get(key) ?? new Set<string>();
    ids.add(u.id);
    store.byUserName.set(key, ids);
  }
}

function unindexUser(store: AppStore, u: ScimUserState): void {
  for (const key of indexKeys(u)) store.byUserName.get(key)?.delete(u.id);
}

type ParsedFilter = { match(v: unknown[]): unknown[] } & ArrayLike<Record<string, unknown>>;

/**
 * The index key of a filter that is exactly `<attr> eq "<value>"` on an indexed attribute (userName,
 * externalId, emails.value), else null. SCIMMY parses `emails.value` as `{ emails: { value: [...] } }`.
 */
function indexedEquals(filter: ParsedFilter): { key: string; value: string; exact: boolean } | null {
  if (filter.length !== 1) return null;
  const entries = Object.entries(filter[0]!);
  if (entries.length !== 1) return null;
  let [attr, expr] = entries[0]!;
  if (!Array.isArray(expr) && expr && typeof expr === 'object') {
    const inner = Object.entries(expr as Record<string, unknown>);
    if (inner.length !== 1) return null;
    attr = `${attr}.${inner[0]![0]}`;
    expr = inner[0]![1];
  }
  const name = attr.toLowerCase();
  if (!['username', 'externalid', 'emails.value'].includes(name)) return null;
  if (!Array.isArray(expr) || expr.length !== 2) return null;
  const [op, value] = expr as unknown[];
  return typeof op === 'string' && op.toLowerCase() === 'eq' && typeof value === 'string'
    ? { key: `${name}:${value.toLowerCase()}`, value, exact: name === 'externalid' }
    : null;
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
  // SCIMMY 1.3.3 declares the common attribute `externalId` write-only (direction "in"), so a user's
  // externalId never comes back; RFC 7643 §3.1 has it readWrite and returned by default, and clients
  // match on it. (No upstream issue found as of 2026-12.)
  S.Schemas.User.definition.attribute('externalId').config.direction = 'both';
  S.Resources.declare(S.Resources.User)
    .egress((resource: { id?: string; filter?: ParsedFilter }, ctx: Ctx) => {
      const store = ctx.standIn.store(ctx.app);
      if (resource.id) {
        const u = store.users.get(resource.id);
        if (!u) throw scimError(404, null, `Resource ${resource.id} not found`);
        return toScim(u);
      }
      if (store.ignoresFilters) return [...store.users.values()].map(toScim);
      // An equality on an indexed attribute is a lookup that honours the attribute's caseExact, as
      // RFC 7644 §3.4.2.2 asks (userName and emails compare without case, externalId exactly): SCIMMY
      // 1.3.3's Filter.match compares every `eq` case-exactly. Other filters go to SCIMMY's match.
      const key = resource.filter ? indexedEquals(resource.filter) : null;
      if (key === null) {
        const scim = [...store.users.values()].map(toScim);
        return resource.filter ? resource.filter.match(scim) : scim;
      }
      return [...(store.byUserName.get(key.key) ?? [])]
        .map((id) => store.users.get(id))
        .filter((u): u is ScimUserState => !!u && (!key.exact || u.externalId === key.value))
        .map(toScim);
    })
    .ingress(
      (
        resource: { id?: string },
        instance: {
          userName: string;
          displayName?: string;
          active?: boolean;
          externalId?: string;
          emails?: { value?: string }[];
        },
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
        const same = store.byUserName.get(`username:${instance.userName.toLowerCase()}`) ?? [];
        if ([...same].some((id) => store.users.get(id)?.userName === instance.userName))
          throw scimError(409, 'uniqueness', `userName ${instance.userName} already exists`);
        const u = newUser(instance.userName, instance.displayName, instance.active ?? true, {
          externalId: instance.externalId,
          emails: (instance.emails ?? []).map((e) => e.value ?? '').filter(Boolean),
        });
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

function newUser(
  userName: string,
  displayName?: string,
  active = true,
  ids: { externalId?: string; emails?: string[] } = {},
): ScimUserState {
  return {
    id: randomUUID(),
    userName,
    externalId: ids.externalId ?? null,
    emails: ids.emails ?? [],
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
    ...(u.externalId ? { externalId: u.externalId } : {}),
    ...(u.emails?.length
      ? { emails: u.emails.map((value, i) => ({ value, type: 'work', primary: i === 0 })) }
      : {}),
    displayName: u.displayName,
    active: u.active,
    meta: { resourceType: 'User' },
  };
}

export class ScimStandIn {
  readonly control = new StandInControl();
  /**
   * Called after each request that may have changed the state (any method but GET, HEAD and OPTIONS),
   * before its answer is sent; the answer waits for the promise (standins/persist.ts). `npm start`
   * saves the state here, so a crash loses no change a caller was told about.
   */
  onChange?: () => Promise<void>;
  private apps = new Map<string, AppStore>();
  private server?: http.Server;
  url = '';

  constructor(apps: Record<string, { token: string }> = {}) {
    for (const [name, a] of Object.entries(apps)) this.addApp(name, a.token);
  }

  addApp(name: string, token: string): void {
    this.apps.set(name, { token, users: new Map(), byUserName: new Map(), ignoresFilters: false });
  }

  store(app: string): AppStore {
    const s = this.apps.get(app);
    if (!s) throw scimError(404, null, `no SCIM app "${app}"`);
    return s;
  }

  seedUser(
    app: string,
    userName: string,
    opts: { displayName?: string; active?: boolean; externalId?: string; emails?: string[] } = {},
  ): ScimUserState {
    const u = newUser(userName, opts.displayName, opts.active ?? true, opts);
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

  /** Makes an app answer every list with every user, whatever the filter (as some servers do). */
  ignoreFilters(app: string, ignore = true): void {
    this.store(app).ignoresFilters = ignore;
  }

  findUser(app: string, userName: string): ScimUserState | undefined {
    const store = this.store(app);
    for (const id of store.byUserName.get(`username:${userName.toLowerCase()}`) ?? []) {
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
    app.use(saveBeforeAnswering(() => this.onChange));
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
