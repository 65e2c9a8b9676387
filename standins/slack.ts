/**
 * STAND-IN for Slack's Web API (`/api/<method>`) and SCIM API (`/scim/v2/Users`), the parts the Slack
 * connector calls, with Slack's documented wire format: Web API answers are HTTP 200 with `{"ok": true, …}`
 * or `{"ok": false, "error": "…"}` (`not_authed` without a token, `invalid_auth` with a wrong one,
 * `missing_scope` with `needed` and `provided`, `user_not_found` / `users_not_found`); rate limiting is
 * HTTP 429 with `Retry-After` (`{"ok": false, "error": "ratelimited"}`). SCIM: `GET /Users/<id>` with
 * `active`, `DELETE /Users/<id>` deactivates (the Web API then shows `deleted: true`), errors `{"Errors":
 * {"description", "code"}}`; the SCIM API needs the `admin` scope. `users.lookupByEmail` does not find
 * deactivated users (assumed, the conservative reading). Enterprise Grid: each user's workspaces
 * (`enterprise_user.teams`), `admin.users.remove` (one workspace), `admin.users.session.reset`. Faults:
 * `control.inject` (standins/faults.ts, HTTP-level), `throttle(times, retryAfterSeconds)`, `scopes`.
 * `npm start` keeps the users across restarts (`snapshot`, `restore`; `onChange` saves each change).
 */
import http from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { closeServer, listen } from '../lib/http';
import { StandInControl } from './faults';
import { saveBeforeAnswering } from './persist';

export interface SlackStandInUser {
  id: string;
  name: string;
  email: string;
  realName: string;
  deleted: boolean;
  teams: string[];
  sessions: number;
  sessionResets: number;
}

const SCOPES: Record<string, string> = {
  'users.info': 'users:read',
  'users.lookupByEmail': 'users:read.email',
  'admin.users.session.reset': 'admin.users:write',
  'admin.users.remove': 'admin.users:write',
};
export const ALL_SCOPES = ['admin', 'admin.users:write', 'users:read', 'users:read.email'];

const scimError = (status: number, description: string) => ({ Errors: { description, code: status } });

/** What `npm start` saves of the stand-in (`snapshot`) and puts back on the next start (`restore`). */
export interface SlackStandInState {
  users: SlackStandInUser[];
}
/** The requests that change users (every other Web API method only reads, though it is a POST). */
const CHANGES = ['/api/admin.users.session.reset', '/api/admin.users.remove', '/scim/v2/Users', '/_standin'];

export class SlackStandIn {
  readonly control = new StandInControl();
  readonly users = new Map<string, SlackStandInUser>();
  scopes = [...ALL_SCOPES];
  readonly enterpriseId = 'E0STANDIN';
  /**
   * Called after each request that may have changed a user, before its answer is sent; the answer waits
   * for the promise (standins/persist.ts). `npm start` saves the state here.
   */
  onChange?: () => Promise<void>;
  private throttled = { times: 0, retryAfter: 0 };
  private next = 1000;
  private server?: http.Server;
  url = '';

  constructor(readonly token: string) {}

  /** The next `times` requests answer 429 `ratelimited` with `Retry-After: retryAfterSeconds`. */
  throttle(times: number, retryAfterSeconds: number): void {
    this.throttled = { times, retryAfter: retryAfterSeconds };
  }

  reset(): void {
    this.control.reset();
    this.throttled = { times: 0, retryAfter: 0 };
    this.scopes = [...ALL_SCOPES];
  }

  seedUser(
    email: string,
    opts: { realName?: string; teams?: string[]; sessions?: number } = {},
  ): SlackStandInUser {
    const u: SlackStandInUser = {
      id: `W${(this.next++).toString(36).toUpperCase()}STAND`,
      name: email.split('@')[0]!,
      email,
      realName: opts.realName ?? 'Test User',
      deleted: false,
      teams: opts.teams ?? ['T0MAIN'],
      sessions: opts.sessions ?? 1,
      sessionResets: 0,
    };
    this.users.set(u.id, u);
    return u;
  }

  snapshot(): SlackStandInState {
    return { users: [...this.users.values()] };
  }

  /** Puts back the users of an earlier run; new ids continue after theirs. */
  restore(state: SlackStandInState): void {
    for (const u of state.users) {
      this.users.set(u.id, u);
      const n = parseInt(/^W([0-9A-Z]+)STAND$/.exec(u.id)?.[1] ?? '', 36);
      if (n >= this.next) this.next = n + 1;
    }
  }

  private userJson(u: SlackStandInUser) {
    return {
      id: u.id,
      team_id: u.teams[0] ?? 'T0MAIN',
      name: u.name,
      deleted: u.deleted,
      real_name: u.realName,
      profile: { email: u.email, real_name: u.realName },
      enterprise_user: { enterprise_id: this.enterpriseId, teams: u.teams },
    };
  }

  app(): express.Express {
    const app = express();
    app.disable('x-powered-by');
    app.use(express.urlencoded({ extended: false }));
    app.use((req, res, next) => {
      if (req.path.startsWith('/_standin') || this.throttled.times <= 0) return next();
      this.throttled.times--;
      this.control.calls.push({ method: req.method, path: req.originalUrl, at: Date.now(), status: 429 });
      res.setHeader('Retry-After', String(this.throttled.retryAfter));
      res.status(429).json({ ok: false, error: 'ratelimited' });
    });
    app.use(this.control.middleware((status, message) => ({ ok: false, error: message, status })));
    app.use(
      CHANGES,
      saveBeforeAnswering(() => this.onChange),
    );

    const web = (method: string, handler: (args: Record<string, string>, res: Response) => void) =>
      app.post(`/api/${method}`, (req: Request, res: Response) => {
        const auth = req.header('authorization');
        if (!auth) return res.json({ ok: false, error: 'not_authed' });
        if (auth !== `Bearer ${this.token}`) return res.json({ ok: false, error: 'invalid_auth' });
        const needed = SCOPES[method]!;
        if (!this.scopes.includes(needed))
          return res.json({ ok: false, error: 'missing_scope', needed, provided: this.scopes.join(',') });
        handler((req.body ?? {}) as Record<string, string>, res);
      });
    const user = (id: string | undefined) => (id ? this.users.get(id) : undefined);

    web('users.info', (a, res) => {
      const u = user(a['user']);
      if (!u) return res.json({ ok: false, error: 'user_not_found' });
      res.json({ ok: true, user: this.userJson(u) });
    });
    web('users.lookupByEmail', (a, res) => {
      const email = (a['email'] ?? '').toLowerCase();
      const u = [...this.users.values()].find((x) => !x.deleted && x.email.toLowerCase() === email);
      if (!u) return res.json({ ok: false, error: 'users_not_found' });
      res.json({ ok: true, user: this.userJson(u) });
    });
    web('admin.users.session.reset', (a, res) => {
      const u = user(a['user_id']);
      if (!u) return res.json({ ok: false, error: 'user_not_found' });
      u.sessions = 0;
      u.sessionResets++;
      res.json({ ok: true });
    });
    web('admin.users.remove', (a, res) => {
      const u = user(a['user_id']);
      if (!u) return res.json({ ok: false, error: 'user_not_found' });
      if (!u.teams.includes(a['team_id'] ?? '')) return res.json({ ok: false, error: 'user_not_found' });
      u.teams = u.teams.filter((t) => t !== a['team_id']);
      res.json({ ok: true });
    });

    const scimAuth = (req: Request, res: Response, next: NextFunction) => {
      if (req.header('authorization') !== `Bearer ${this.token}`)
        return res.status(401).json(scimError(401, 'invalid_authentication'));
      if (!this.scopes.includes('admin')) return res.status(403).json(scimError(403, 'missing_scope: admin'));
      next();
    };
    app.get('/scim/v2/Users/:id', scimAuth, (req, res) => {
      const u = user(String(req.params['id']));
      if (!u) return res.status(404).json(scimError(404, 'no_such_user'));
      res.json({
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
        id: u.id,
        userName: u.name,
        active: !u.deleted,
        emails: [{ value: u.email, primary: true }],
      });
    });
    app.delete('/scim/v2/Users/:id', scimAuth, (req, res) => {
      const u = user(String(req.params['id']));
      if (!u) return res.status(404).json(scimError(404, 'no_such_user'));
      u.deleted = true;
      u.sessions = 0;
      res.status(204).end();
    });

    // Admin routes for the demo and for people poking at the stand-in.
    app.get('/_standin/users', (_req, res) => res.json([...this.users.values()]));
    app.post('/_standin/users', express.json(), (req, res) => {
      const b = (req.body ?? {}) as { email?: unknown; realName?: unknown };
      if (typeof b.email !== 'string' || !b.email.includes('@'))
        return res.status(400).json({ error: 'email required' });
      res
        .status(201)
        .json(this.seedUser(b.email, { realName: typeof b.realName === 'string' ? b.realName : undefined }));
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
