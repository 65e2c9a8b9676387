/**
 * STAND-IN for Okta's Management API (`/api/v1`), the parts the Okta connector calls, with Okta's
 * documented wire format: API-token auth (`Authorization: SSWS <token>`; else 401 E0000011), error
 * bodies `{errorCode, errorSummary, errorLink, errorId, errorCauses}`, `Link: <…>; rel="next"` paging
 * (`limit`, `after`), and rate limiting: every answer carries `X-Rate-Limit-Limit`, `-Remaining` and
 * `-Reset` (UTC epoch seconds); over the limit, 429 E0000047. Users: search (`search=profile.<attr> eq
 * "<value>"`, which also finds DEPROVISIONED users), lifecycle deactivate (status DEPROVISIONED; app
 * assignments deprovisioned; group memberships kept) and suspend (assignments kept), sessions (clearing
 * only; Okta has no list), grants and per-client tokens, factors, groups (the BUILT_IN Everyone group
 * holds every user), app links and app assignments (scope USER or GROUP). Admin role assignments
 * (Role Assignment API): `GET /users/{id}/roles` lists the user's own (`assignmentType: USER`) and
 * those of its groups (`GROUP`, `_links.assignee` the group), `GET`/`DELETE …/roles/{roleAssignmentId}`
 * (204; unknown or a group's: 404 E0000007). Groups by id (`GET /groups/{id}`) and by name (`GET
 * /groups?search=profile.name eq "<name>"`). Faults: `control.inject` (standins/faults.ts),
 * `throttle(times, resetInSeconds)`, `deny(pathIncludes, method)` (403 E0000006).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { closeServer, listen } from '../lib/http';
import { StandInControl } from './faults';

export interface OktaStandInUser {
  id: string;
  status: 'ACTIVE' | 'SUSPENDED' | 'DEPROVISIONED' | 'STAGED';
  profile: { login: string; email: string; firstName: string; lastName: string; employeeNumber?: string };
  factors: { id: string; factorType: string; provider: string; status: string }[];
  /** Group ids (the Everyone group is implied). */
  groups: Set<string>;
  /** App ids assigned to the user directly (scope USER). */
  apps: Set<string>;
  grants: { id: string; clientId: string; scopeId: string }[];
  /** Client id → refresh tokens issued to the user. */
  tokens: Map<string, number>;
  /** Okta sessions (not listable through the API; counted here for tests). */
  sessions: number;
  /** The query of each `DELETE /users/{id}/sessions`. */
  sessionClears: Record<string, string>[];
  /** Admin roles assigned to the user itself (`assignmentType: USER`). */
  roles: RoleAssignment[];
}

/** A standard admin role assignment, to a user or to a group. */
export interface RoleAssignment {
  id: string;
  type: string;
  label: string;
  created: string;
}

/** Okta's labels of its standard admin roles. */
const ROLE_LABELS: Record<string, string> = {
  SUPER_ADMIN: 'Super Administrator',
  ORG_ADMIN: 'Organization Administrator',
  APP_ADMIN: 'Application Administrator',
  USER_ADMIN: 'Group Administrator',
  HELP_DESK_ADMIN: 'Help Desk Administrator',
  READ_ONLY_ADMIN: 'Read-only Administrator',
  MOBILE_ADMIN: 'Mobile Administrator',
  API_ACCESS_MANAGEMENT_ADMIN: 'API Access Management Administrator',
  REPORT_ADMIN: 'Report Administrator',
  GROUP_MEMBERSHIP_ADMIN: 'Group Membership Administrator',
};

interface Group {
  id: string;
  type: 'OKTA_GROUP' | 'APP_GROUP' | 'BUILT_IN';
  name: string;
  /** Apps assigned to the group (its members get them with scope GROUP). */
  apps: Set<string>;
  /** Admin roles assigned to the group (its members hold them, `assignmentType: GROUP`). */
  roles: RoleAssignment[];
}

const EVERYONE = '00g0everyone000000000';
const id = (prefix: string) => `${prefix}${randomBytes(9).toString('hex').slice(0, 17)}`;
/** A role assignment id as Okta writes them (e.g. JBCUYUC7IRCVGS27IFCE2SKO): upper-case base32. */
const roleAssignmentId = () =>
  [...randomBytes(20)].map((b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[b % 32]).join('');

/** Okta's error body. */
export function oktaError(code: string, summary: string, causes: string[] = []) {
  return {
    errorCode: code,
    errorSummary: summary,
    errorLink: code,
    errorId: `oae${randomUUID().replaceAll('-', '').slice(0, 19)}`,
    errorCauses: causes.map((c) => ({ errorSummary: c })),
  };
}

const CODES: Record<number, [string, string]> = {
  400: ['E0000001', 'Api validation failed'],
  401: ['E0000011', 'Invalid token provided'],
  403: ['E0000006', 'You do not have permission to perform the requested action'],
  404: ['E0000007', 'Not found: Resource not found'],
  429: ['E0000047', 'API call exceeded rate limit due to too many requests.'],
  500: ['E0000009', 'Internal Server Error'],
};
const errorFor = (status: number, message: string) => {
  const [code, summary] = CODES[status] ?? ['E0000009', message];
  return oktaError(code, summary);
};

export class OktaStandIn {
  readonly control = new StandInControl();
  readonly users = new Map<string, OktaStandInUser>();
  readonly groups = new Map<string, Group>([
    [EVERYONE, { id: EVERYONE, type: 'BUILT_IN', name: 'Everyone', apps: new Set(), roles: [] }],
  ]);
  readonly apps = new Map<string, { id: string; name: string; label: string }>();
  readonly clients = new Map<string, string>();
  /** Requests per minute before 429 (the org-wide limit of the window). */
  limitPerMinute = 600;
  private window = { start: 0, used: 0 };
  private throttled = { times: 0, resetAt: 0 };
  private denied: { pathIncludes: string; method?: string }[] = [];
  private server?: http.Server;
  url = '';

  constructor(readonly token: string) {}

  /** The next `times` requests are answered 429 E0000047, resetting `resetInSeconds` from now. */
  throttle(times: number, resetInSeconds: number): void {
    this.throttled = { times, resetAt: Math.ceil(Date.now() / 1000) + resetInSeconds };
  }

  /** Requests whose path includes `pathIncludes` (and method) are refused: 403 E0000006. */
  deny(pathIncludes: string, method?: string): void {
    this.denied.push({ pathIncludes, method });
  }

  reset(): void {
    this.control.reset();
    this.denied = [];
    this.throttled = { times: 0, resetAt: 0 };
  }

  addGroup(name: string, apps: string[] = []): string {
    const gid = id('00g');
    this.groups.set(gid, { id: gid, type: 'OKTA_GROUP', name, apps: new Set(apps), roles: [] });
    return gid;
  }
  /** Assigns a standard admin role (e.g. `SUPER_ADMIN`) to a user or to a group (by id). */
  assignRole(to: OktaStandInUser | string, type: string): RoleAssignment {
    const r = {
      id: roleAssignmentId(),
      type,
      label: ROLE_LABELS[type] ?? type,
      created: new Date().toISOString(),
    };
    if (typeof to === 'string') this.groups.get(to)!.roles.push(r);
    else to.roles.push(r);
    return r;
  }
  addApp(label: string): string {
    const aid = id('0oa');
    this.apps.set(aid, { id: aid, name: label.toLowerCase().replace(/\W+/g, '_'), label });
    return aid;
  }
  addClient(name: string): string {
    const cid = id('0oa');
    this.clients.set(cid, name);
    return cid;
  }

  seedUser(
    login: string,
    opts: Partial<OktaStandInUser['profile']> & {
      status?: OktaStandInUser['status'];
      factors?: string[];
      groups?: string[];
      apps?: string[];
      /** Client ids (a grant of `okta.users.read.self`), or a client and the scope it was granted. */
      grants?: (string | { clientId: string; scopeId: string })[];
      tokens?: string[];
      sessions?: number;
      /** Standard admin roles assigned to the user, e.g. `SUPER_ADMIN`. */
      roles?: string[];
    } = {},
  ): OktaStandInUser {
    const u: OktaStandInUser = {
      id: id('00u'),
      status: opts.status ?? 'ACTIVE',
      profile: {
        login,
        email: opts.email ?? login,
        firstName: opts.firstName ?? 'Test',
        lastName: opts.lastName ?? 'User',
        ...(opts.employeeNumber ? { employeeNumber: opts.employeeNumber } : {}),
      },
      factors: (opts.factors ?? []).map((t) => ({
        id: id('mfa'),
        factorType: t,
        provider: t === 'token:software:totp' ? 'GOOGLE' : 'OKTA',
        status: 'ACTIVE',
      })),
      groups: new Set(opts.groups ?? []),
      apps: new Set(opts.apps ?? []),
      grants: (opts.grants ?? []).map((g) => ({
        id: id('oag'),
        ...(typeof g === 'string' ? { clientId: g, scopeId: 'okta.users.read.self' } : g),
      })),
      tokens: new Map((opts.tokens ?? []).map((c) => [c, 1])),
      sessions: opts.sessions ?? 0,
      sessionClears: [],
      roles: [],
    };
    this.users.set(u.id, u);
    for (const r of opts.roles ?? []) this.assignRole(u, r);
    return u;
  }

  /** A user by id or login. */
  private user(key: string): OktaStandInUser | undefined {
    return (
      this.users.get(key) ??
      [...this.users.values()].find((u) => u.profile.login.toLowerCase() === key.toLowerCase())
    );
  }

  /** The apps a user holds: direct (USER) and through groups (GROUP); none once deprovisioned. */
  private appsOf(u: OktaStandInUser): Map<string, 'USER' | 'GROUP'> {
    const out = new Map<string, 'USER' | 'GROUP'>();
    if (u.status === 'DEPROVISIONED') return out;
    for (const gid of u.groups) for (const a of this.groups.get(gid)?.apps ?? []) out.set(a, 'GROUP');
    for (const a of u.apps) out.set(a, 'USER');
    return out;
  }

  /** A user's role assignments as the Role Assignment API lists them: its own, then its groups'. */
  private rolesOf(u: OktaStandInUser) {
    const json = (r: RoleAssignment, assignmentType: 'USER' | 'GROUP', assignee: string) => ({
      id: r.id,
      label: r.label,
      type: r.type,
      status: 'ACTIVE',
      created: r.created,
      lastUpdated: r.created,
      assignmentType,
      _links: { assignee: { href: `${this.url}/api/v1/${assignee}` } },
    });
    return [
      ...u.roles.map((r) => json(r, 'USER', `users/${u.id}`)),
      ...[...u.groups].flatMap((gid) =>
        (this.groups.get(gid)?.roles ?? []).map((r) => json(r, 'GROUP', `groups/${gid}`)),
      ),
    ];
  }

  private groupJson(g: Group) {
    return {
      id: g.id,
      created: '2024-01-01T00:00:00.000Z',
      lastUpdated: '2024-01-01T00:00:00.000Z',
      lastMembershipUpdated: '2024-01-01T00:00:00.000Z',
      objectClass: ['okta:user_group'],
      type: g.type,
      profile: { name: g.name, description: null },
      _links: { self: { href: `${this.url}/api/v1/groups/${g.id}` } },
    };
  }

  private toJson(u: OktaStandInUser) {
    return {
      id: u.id,
      status: u.status,
      transitioningToStatus: null,
      created: '2024-01-01T00:00:00.000Z',
      profile: u.profile,
      _links: { self: { href: `${this.url}/api/v1/users/${u.id}` } },
    };
  }

  app(): express.Express {
    const app = express();
    app.disable('x-powered-by');
    app.use((req, res, next) => this.rateLimit(req, res, next));
    app.use(this.control.middleware(errorFor));
    app.use((req, res, next) => {
      if (req.path.startsWith('/_standin')) return next();
      if (req.header('authorization') !== `SSWS ${this.token}`)
        return res.status(401).json(oktaError('E0000011', 'Invalid token provided'));
      const d = this.denied.find(
        (x) => req.originalUrl.includes(x.pathIncludes) && (!x.method || x.method === req.method),
      );
      if (d) return res.status(403).json(errorFor(403, ''));
      next();
    });
    const notFound = (res: Response, what: string) =>
      res.status(404).json(oktaError('E0000007', `Not found: Resource not found: ${what}`));
    const withUser = (handler: (u: OktaStandInUser, req: Request, res: Response) => void) => {
      return (req: Request, res: Response) => {
        const u = this.user(String(req.params['uid']));
        if (!u) return notFound(res, `${String(req.params['uid'])} (User)`);
        handler(u, req, res);
      };
    };
    const page = <T>(req: Request, res: Response, items: T[]) => {
      const limit = Math.max(1, Math.min(200, Number(req.query['limit'] ?? 200) || 200));
      const after = Number(req.query['after'] ?? 0) || 0;
      const slice = items.slice(after, after + limit);
      if (after + limit < items.length) {
        const next = new URL(`${this.url}${req.originalUrl}`);
        next.searchParams.set('after', String(after + limit));
        res.setHeader('Link', `<${next.toString()}>; rel="next"`);
      }
      res.json(slice);
    };

    app.get('/_standin/users', (_req, res) => res.json([...this.users.values()].map((u) => this.toJson(u))));

    app.get('/api/v1/users', (req, res) => {
      const search = String(req.query['search'] ?? '');
      const m = /^profile\.([A-Za-z][\w.-]*) eq "((?:[^"\\]|\\.)*)"$/.exec(search);
      if (!m)
        return res
          .status(400)
          .json(oktaError('E0000001', 'Api validation failed: search', [`Invalid search: ${search}`]));
      const [, attr, raw] = m;
      const value = raw!.replace(/\\(.)/g, '$1').toLowerCase();
      const hits = [...this.users.values()].filter((u) => {
        const v = (u.profile as Record<string, unknown>)[attr!];
        return typeof v === 'string' && v.toLowerCase() === value;
      });
      page(
        req,
        res,
        hits.map((u) => this.toJson(u)),
      );
    });
    app.get(
      '/api/v1/users/:uid',
      withUser((u, _req, res) => res.json(this.toJson(u))),
    );
    app.post(
      '/api/v1/users/:uid/lifecycle/deactivate',
      withUser((u, _req, res) => {
        if (u.status === 'DEPROVISIONED')
          return res
            .status(400)
            .json(
              oktaError('E0000001', 'Api validation failed: deactivate', ['User is already deactivated']),
            );
        u.status = 'DEPROVISIONED';
        u.apps.clear();
        u.sessions = 0;
        res.status(200).json({});
      }),
    );
    app.post(
      '/api/v1/users/:uid/lifecycle/suspend',
      withUser((u, _req, res) => {
        if (u.status !== 'ACTIVE')
          return res.status(400).json(oktaError('E0000001', 'Api validation failed: suspend'));
        u.status = 'SUSPENDED';
        res.status(200).json({});
      }),
    );
    app.delete(
      '/api/v1/users/:uid/sessions',
      withUser((u, req, res) => {
        u.sessionClears.push(Object.fromEntries(Object.entries(req.query).map(([k, v]) => [k, String(v)])));
        u.sessions = 0;
        if (req.query['oauthTokens'] === 'true') u.tokens.clear();
        res.status(204).end();
      }),
    );
    app.get(
      '/api/v1/users/:uid/grants',
      // Okta's OAuth2ScopeConsentGrant: the user's consent to one scope for one client.
      withUser((u, req, res) =>
        page(
          req,
          res,
          u.grants.map((g) => ({
            ...g,
            userId: u.id,
            issuer: this.url,
            status: 'ACTIVE',
            source: 'END_USER',
          })),
        ),
      ),
    );
    app.delete(
      '/api/v1/users/:uid/grants',
      withUser((u, _req, res) => {
        u.grants = [];
        res.status(204).end();
      }),
    );
    app.get(
      '/api/v1/users/:uid/clients',
      withUser((u, req, res) => {
        const ids = new Set([...u.tokens.keys(), ...u.grants.map((g) => g.clientId)]);
        page(
          req,
          res,
          [...ids].map((c) => ({ client_id: c, client_name: this.clients.get(c) ?? c })),
        );
      }),
    );
    app.delete(
      '/api/v1/users/:uid/clients/:cid/tokens',
      withUser((u, req, res) => {
        u.tokens.delete(String(req.params['cid']));
        res.status(204).end();
      }),
    );
    app.delete(
      '/api/v1/users/:uid/clients/:cid/grants',
      withUser((u, req, res) => {
        u.grants = u.grants.filter((g) => g.clientId !== req.params['cid']);
        res.status(204).end();
      }),
    );
    app.get(
      '/api/v1/users/:uid/factors',
      withUser((u, _req, res) => res.json(u.factors)),
    );
    app.delete(
      '/api/v1/users/:uid/factors/:fid',
      withUser((u, req, res) => {
        const before = u.factors.length;
        u.factors = u.factors.filter((f) => f.id !== req.params['fid']);
        if (u.factors.length === before) return notFound(res, `${String(req.params['fid'])} (Factor)`);
        res.status(204).end();
      }),
    );
    app.get(
      '/api/v1/users/:uid/groups',
      withUser((u, req, res) =>
        page(
          req,
          res,
          [EVERYONE, ...u.groups]
            .map((g) => this.groups.get(g))
            .filter((g): g is Group => !!g)
            .map((g) => ({ id: g.id, type: g.type, profile: { name: g.name } })),
        ),
      ),
    );
    app.get(
      '/api/v1/users/:uid/roles',
      withUser((u, _req, res) => res.json(this.rolesOf(u))),
    );
    app.get(
      '/api/v1/users/:uid/roles/:rid',
      withUser((u, req, res) => {
        const r = this.rolesOf(u).find((x) => x.id === req.params['rid']);
        if (!r) return notFound(res, `${String(req.params['rid'])} (Role)`);
        res.json(r);
      }),
    );
    app.delete(
      '/api/v1/users/:uid/roles/:rid',
      withUser((u, req, res) => {
        // Only the user's own assignments: one through a group is the group's (unassigned there).
        const before = u.roles.length;
        u.roles = u.roles.filter((r) => r.id !== req.params['rid']);
        if (u.roles.length === before) return notFound(res, `${String(req.params['rid'])} (Role)`);
        res.status(204).end();
      }),
    );
    app.get('/api/v1/groups', (req, res) => {
      const search = String(req.query['search'] ?? '');
      const m = /^profile\.name eq "((?:[^"\\]|\\.)*)"$/.exec(search);
      if (!m)
        return res
          .status(400)
          .json(oktaError('E0000001', 'Api validation failed: search', [`Invalid search: ${search}`]));
      const name = m[1]!.replace(/\\(.)/g, '$1');
      page(
        req,
        res,
        [...this.groups.values()].filter((g) => g.name === name).map((g) => this.groupJson(g)),
      );
    });
    app.get('/api/v1/groups/:gid', (req, res) => {
      const g = this.groups.get(String(req.params['gid']));
      if (!g) return notFound(res, `${String(req.params['gid'])} (UserGroup)`);
      res.json(this.groupJson(g));
    });
    app.delete('/api/v1/groups/:gid/users/:uid', (req, res) => {
      const g = this.groups.get(String(req.params['gid']));
      const u = this.user(String(req.params['uid']));
      if (!g || !u) return notFound(res, `${String(req.params['gid'])} (UserGroup)`);
      if (g.type !== 'OKTA_GROUP')
        return res
          .status(403)
          .json(
            oktaError('E0000006', errorFor(403, '').errorSummary, [`Cannot remove users from ${g.name}`]),
          );
      u.groups.delete(g.id);
      res.status(204).end();
    });
    app.get(
      '/api/v1/users/:uid/appLinks',
      withUser((u, _req, res) =>
        res.json(
          [...this.appsOf(u).keys()].map((a) => ({
            id: id('00a'),
            appInstanceId: a,
            appName: this.apps.get(a)?.name,
            label: this.apps.get(a)?.label,
          })),
        ),
      ),
    );
    app.get('/api/v1/apps', (req, res) => {
      const m = /^user\.id eq "([^"]+)"$/.exec(String(req.query['filter'] ?? ''));
      const u = m ? this.user(m[1]!) : undefined;
      if (!m) return res.status(400).json(oktaError('E0000001', 'Api validation failed: filter'));
      const held = u ? this.appsOf(u) : new Map<string, string>();
      page(
        req,
        res,
        [...held].map(([a, scope]) => ({
          ...this.apps.get(a),
          ...(String(req.query['expand'] ?? '').startsWith('user/')
            ? { _embedded: { user: { id: u!.id, scope, status: 'PROVISIONED' } } }
            : {}),
        })),
      );
    });
    app.get('/api/v1/apps/:aid/users/:uid', (req, res) => {
      const u = this.user(String(req.params['uid']));
      const scope = u ? this.appsOf(u).get(String(req.params['aid'])) : undefined;
      if (!u || !scope) return notFound(res, `${String(req.params['uid'])} (AppUser)`);
      res.json({ id: u.id, scope, status: 'PROVISIONED' });
    });
    app.delete('/api/v1/apps/:aid/users/:uid', (req, res) => {
      const u = this.user(String(req.params['uid']));
      if (!u || !u.apps.delete(String(req.params['aid'])))
        return notFound(res, `${String(req.params['uid'])} (AppUser)`);
      res.status(204).end();
    });
    return app;
  }

  /** Rate-limit headers on every answer; 429 E0000047 over the limit or while `throttle`d. */
  private rateLimit(req: Request, res: Response, next: NextFunction): void {
    if (req.path.startsWith('/_standin')) return next();
    const now = Date.now();
    if (now - this.window.start >= 60_000) this.window = { start: now, used: 0 };
    this.window.used++;
    let reset = Math.ceil((this.window.start + 60_000) / 1000);
    let remaining = Math.max(0, this.limitPerMinute - this.window.used);
    const throttled = this.throttled.times > 0 || this.window.used > this.limitPerMinute;
    if (this.throttled.times > 0) {
      this.throttled.times--;
      reset = this.throttled.resetAt;
      remaining = 0;
    }
    res.setHeader('X-Rate-Limit-Limit', String(this.limitPerMinute));
    res.setHeader('X-Rate-Limit-Remaining', String(remaining));
    res.setHeader('X-Rate-Limit-Reset', String(reset));
    if (!throttled) return next();
    this.control.calls.push({ method: req.method, path: req.originalUrl, at: now, status: 429 });
    res.status(429).json(errorFor(429, ''));
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
