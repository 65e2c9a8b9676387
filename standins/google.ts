/**
 * STAND-IN for Google Workspace as the Google connector calls it, with Google's documented wire format:
 * the OAuth token endpoint of a service account with domain-wide delegation and Google's error bodies
 * (google-oauth.ts); Admin SDK Directory users (`users.list` with `customer` and `query`, `users.get` by
 * id, primary email or alias, `users.patch`, `users.signOut`), tokens, asps, verificationCodes,
 * twoStepVerification, groups and members, mobile devices and their actions; the Data Transfer API and
 * Gmail settings (google-handover-routes.ts). Each route needs one of the scopes Google's reference names
 * for it (else 403 insufficient scope with Google's challenge); Admin SDK calls must act as an admin
 * user, Gmail calls as the mailbox's owner.
 *
 * Faults: `control.inject` (standins/faults.ts), `quota(times, reason)` (403 `userRateLimitExceeded` or
 * `rateLimitExceeded`: Google's quota errors are 403, not 429), `requireScope(pathIncludes, scope)` (the
 * route needs a scope the client's tokens lack: a missing-scope 403), `granted` (the delegation's scopes;
 * a scope removed is refused at the token endpoint). Not documented by Google, so chosen here (U): Gmail
 * answers 400 `failedPrecondition` for a suspended user; a device's status after an account wipe.
 * `npm start` keeps the state across restarts (google-state.ts; `onChange` saves each change).
 */
import { createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import http from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { closeServer, listen } from '../lib/http';
import { StandInControl } from './faults';
import { mountDirectoryRoutes } from './google-directory-routes';
import { mountHandoverRoutes, type StandInTransfer } from './google-handover-routes';
import { GoogleOAuthStandIn, SCOPE_PREFIX, errorFor, googleError, insufficientScope } from './google-oauth';
import { saveBeforeAnswering } from './persist';

export interface GoogleStandInUser {
  id: string;
  primaryEmail: string;
  name: { givenName: string; familyName: string; fullName: string };
  aliases: string[];
  externalIds: { value: string; type: string }[];
  suspended: boolean;
  isAdmin: boolean;
  isEnrolledIn2Sv: boolean;
  isEnforcedIn2Sv: boolean;
  tokens: { clientId: string; displayText: string; scopes: string[] }[];
  asps: { codeId: number; name: string }[];
  backupCodes: string[];
  /** Sessions (not listable through the API; counted here for tests) and sign-outs received. */
  sessions: number;
  signOuts: number;
  delegates: Map<string, string>;
  forwardingAddresses: Map<string, string>;
  autoForwarding: { enabled: boolean; emailAddress?: string; disposition?: string };
  drive: { private: number; shared: number };
  calendarEvents: number;
}
export interface StandInGroup {
  id: string;
  email: string;
  name: string;
  members: Set<string>;
}
export interface StandInDevice {
  resourceId: string;
  deviceId: string;
  email: string[];
  model: string;
  type: string;
  status: string;
  actions: string[];
}

export { ACCOUNT_WIPING } from './google-directory-routes';

const s = (x: string) => `${SCOPE_PREFIX}${x}`;
/** The scopes (any one) Google's reference names per call of the Directory API. */
function directoryScopes(method: string, p: string): string[] {
  const read = method === 'GET';
  if (p.includes('/devices/mobile'))
    return p.endsWith('/action')
      ? [s('admin.directory.device.mobile'), s('admin.directory.device.mobile.action')]
      : [s('admin.directory.device.mobile'), s('admin.directory.device.mobile.readonly')];
  if (p.includes('/members/'))
    return read
      ? ['group', 'group.member', 'group.member.readonly', 'group.readonly'].map((x) =>
          s(`admin.directory.${x}`),
        )
      : [s('admin.directory.group'), s('admin.directory.group.member')];
  if (p.endsWith('/groups')) return [s('admin.directory.group'), s('admin.directory.group.readonly')];
  if (/\/users\/[^/]+\/(signOut|tokens|asps|verificationCodes|twoStepVerification)/.test(p))
    return [s('admin.directory.user.security')];
  return read ? [s('admin.directory.user'), s('admin.directory.user.readonly')] : [s('admin.directory.user')];
}
function scopesFor(method: string, p: string): string[] {
  if (p.startsWith('/gmail/'))
    return method === 'GET'
      ? ['gmail.settings.basic', 'gmail.modify', 'gmail.readonly'].map(s).concat('https://mail.google.com/')
      : [s('gmail.settings.sharing')];
  if (p.startsWith('/admin/datatransfer/'))
    return method === 'GET'
      ? [s('admin.datatransfer'), s('admin.datatransfer.readonly')]
      : [s('admin.datatransfer')];
  return directoryScopes(method, p);
}

const num = () => String(100_000_000_000_000_000_000n + BigInt(`0x${randomBytes(8).toString('hex')}`));

export class GoogleStandIn {
  readonly control = new StandInControl();
  readonly oauth: GoogleOAuthStandIn;
  readonly users = new Map<string, GoogleStandInUser>();
  readonly groups = new Map<string, StandInGroup>();
  readonly devices = new Map<string, StandInDevice>();
  /** Every data transfer asked for, by id. */
  readonly transfers = new Map<string, StandInTransfer>();
  /** Reads of a data transfer (GET) before it shows `completed` (0: the first read). */
  transferReadsToComplete = 0;
  /**
   * Called after each request that may have changed the state (any method but GET, HEAD and OPTIONS),
   * before its answer is sent; the answer waits for the promise (standins/persist.ts). A transfer that
   * completes on a read is saved with the next change (after a crash before it, a read completes it again).
   */
  onChange?: () => Promise<void>;
  private quotas: { times: number; reason: string; pathIncludes?: string }[] = [];
  private scopeOverrides: { pathIncludes: string; scope: string }[] = [];
  private server?: http.Server;
  url = '';

  constructor(
    clientEmail: string,
    publicKey: KeyObject | string,
    readonly domain = 'example.com',
  ) {
    const key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
    this.oauth = new GoogleOAuthStandIn(clientEmail, key, (e) => !!this.user(e));
    for (const x of [
      'admin.directory.user',
      'admin.directory.user.security',
      'admin.directory.group.readonly',
      'admin.directory.group.member',
      'admin.directory.device.mobile.readonly',
      'admin.directory.device.mobile.action',
      'admin.datatransfer',
      'gmail.settings.basic',
      'gmail.settings.sharing',
    ])
      this.oauth.granted.add(s(x));
  }

  get tokenUrl(): string {
    return `${this.url}/token`;
  }

  /** The next `times` API calls (whose path includes `pathIncludes`) are refused with a quota 403. */
  quota(times: number, reason = 'userRateLimitExceeded', pathIncludes?: string): void {
    this.quotas.push({ times, reason, pathIncludes });
  }
  /** Calls whose path includes `pathIncludes` need `scope` (short name), which no token is issued with. */
  requireScope(pathIncludes: string, scope: string): void {
    this.scopeOverrides.push({ pathIncludes, scope: s(scope) });
  }
  reset(): void {
    this.control.reset();
    this.quotas = [];
    this.scopeOverrides = [];
    this.transferReadsToComplete = 0;
  }

  seedUser(
    primaryEmail: string,
    o: Partial<
      Pick<GoogleStandInUser, 'aliases' | 'suspended' | 'isAdmin' | 'isEnrolledIn2Sv' | 'sessions'>
    > & {
      employeeId?: string;
      fullName?: string;
      /** App names (scopes `openid email`), or an app and the scopes it was granted. */
      tokens?: (string | { displayText: string; scopes: string[] })[];
      asps?: string[];
      backupCodes?: number;
      groups?: string[];
      drive?: { private: number; shared: number };
      calendarEvents?: number;
    } = {},
  ): GoogleStandInUser {
    const [givenName, familyName] = (o.fullName ?? 'Test User').split(' ');
    const u: GoogleStandInUser = {
      id: num().slice(0, 21),
      primaryEmail,
      name: { givenName: givenName!, familyName: familyName ?? '', fullName: o.fullName ?? 'Test User' },
      aliases: o.aliases ?? [],
      externalIds: o.employeeId ? [{ value: o.employeeId, type: 'organization' }] : [],
      suspended: o.suspended ?? false,
      isAdmin: o.isAdmin ?? false,
      isEnrolledIn2Sv: o.isEnrolledIn2Sv ?? false,
      isEnforcedIn2Sv: false,
      tokens: (o.tokens ?? []).map((t) => ({
        clientId: `${randomBytes(6).toString('hex')}.apps.googleusercontent.com`,
        ...(typeof t === 'string' ? { displayText: t, scopes: ['openid', 'email'] } : t),
      })),
      asps: (o.asps ?? []).map((name, i) => ({ codeId: 1000 + i, name })),
      backupCodes: Array.from({ length: o.backupCodes ?? 0 }, () => randomBytes(4).toString('hex')),
      sessions: o.sessions ?? 0,
      signOuts: 0,
      delegates: new Map(),
      forwardingAddresses: new Map(),
      autoForwarding: { enabled: false },
      drive: o.drive ?? { private: 0, shared: 0 },
      calendarEvents: o.calendarEvents ?? 0,
    };
    this.users.set(u.id, u);
    for (const g of o.groups ?? []) this.groups.get(g)?.members.add(u.id);
    return u;
  }
  addGroup(email: string): string {
    const id = randomBytes(8).toString('hex').slice(0, 15);
    this.groups.set(id, { id, email, name: email.split('@')[0]!, members: new Set() });
    return id;
  }
  addDevice(u: GoogleStandInUser, model = 'Pixel 8'): StandInDevice {
    const d: StandInDevice = {
      resourceId: `AFiQxQ${randomBytes(12).toString('base64url')}`,
      deviceId: randomBytes(8).toString('hex'),
      email: [u.primaryEmail],
      model,
      type: 'ANDROID',
      status: 'APPROVED',
      actions: [],
    };
    this.devices.set(d.resourceId, d);
    return d;
  }

  /** A user by id, primary email or alias. */
  user(key: string): GoogleStandInUser | undefined {
    const k = key.toLowerCase();
    return (
      this.users.get(key) ??
      [...this.users.values()].find(
        (u) => u.primaryEmail.toLowerCase() === k || u.aliases.some((a) => a.toLowerCase() === k),
      )
    );
  }

  toJson(u: GoogleStandInUser) {
    return {
      kind: 'admin#directory#user',
      id: u.id,
      etag: `"${u.id}/${Number(u.suspended)}"`,
      primaryEmail: u.primaryEmail,
      name: u.name,
      isAdmin: u.isAdmin,
      isDelegatedAdmin: false,
      suspended: u.suspended,
      ...(u.suspended ? { suspensionReason: 'ADMIN' } : {}),
      archived: false,
      isEnrolledIn2Sv: u.isEnrolledIn2Sv,
      isEnforcedIn2Sv: u.isEnforcedIn2Sv,
      ...(u.externalIds.length ? { externalIds: u.externalIds } : {}),
      ...(u.aliases.length ? { aliases: u.aliases } : {}),
      customerId: 'C01example',
      orgUnitPath: '/',
      isMailboxSetup: true,
    };
  }

  app(): express.Express {
    const app = express();
    app.disable('x-powered-by');
    app.use(express.json());
    app.use(express.urlencoded({ extended: false }));
    app.use(this.control.middleware(errorFor));
    app.post('/token', (req, res) => this.oauth.token(req, res));
    app.use((req, res, next) => this.guard(req, res, next));
    app.use(saveBeforeAnswering(() => this.onChange));
    // Admin routes for the demo and for people poking at the stand-in (no token needed).
    app.get('/_standin/users', (_req, res) => res.json([...this.users.values()].map((u) => this.toJson(u))));
    app.post('/_standin/users', (req, res) => {
      const b = (req.body ?? {}) as { primaryEmail?: unknown; fullName?: unknown; employeeId?: unknown };
      if (typeof b.primaryEmail !== 'string' || !b.primaryEmail.includes('@'))
        return res.status(400).json(googleError(400, 'primaryEmail required', 'invalid'));
      const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
      const u = this.seedUser(b.primaryEmail, { fullName: str(b.fullName), employeeId: str(b.employeeId) });
      res.status(201).json(this.toJson(u));
    });
    const D = '/admin/directory/v1';
    const notFound = (res: Response, what: string) =>
      res.status(404).json(googleError(404, `Resource Not Found: ${what}`, 'notFound'));
    const withUser =
      (h: (u: GoogleStandInUser, req: Request, res: Response) => void) => (req: Request, res: Response) => {
        const u = this.user(String(req.params['k']));
        if (!u) return notFound(res, 'userKey');
        h(u, req, res);
      };
    const matchesQuery = (u: GoogleStandInUser, clause: [string, string, string]) => {
      const [field, op, value] = clause;
      const v = value.toLowerCase();
      if (field === 'externalId')
        return u.externalIds.some((x) => (op === '=' ? x.value === value : x.value.includes(value)));
      if (field === 'email')
        return [u.primaryEmail, ...u.aliases].some((e) =>
          op === '=' ? e.toLowerCase() === v : e.toLowerCase().includes(v),
        );
      if (field === 'isSuspended') return String(u.suspended) === v;
      return false;
    };

    app.get(`${D}/users`, (req, res) => {
      if (!req.query['customer'] && !req.query['domain'])
        return res.status(400).json(googleError(400, 'Bad Request', 'badRequest'));
      const q = String(req.query['query'] ?? '');
      const clauses = [...q.matchAll(/(\w+)(=|:)(?:'((?:[^'\\]|\\.)*)'|(\S+))/g)].map(
        (m) => [m[1]!, m[2]!, (m[3] ?? m[4]!).replace(/\\(.)/g, '$1')] as [string, string, string],
      );
      if (
        q &&
        (clauses.length === 0 || clauses.some((c) => !['externalId', 'email', 'isSuspended'].includes(c[0])))
      )
        return res.status(400).json(googleError(400, 'Invalid Input', 'invalid'));
      const hits = [...this.users.values()].filter((u) => clauses.every((c) => matchesQuery(u, c)));
      const max = Math.min(500, Number(req.query['maxResults'] ?? 100) || 100);
      const from = Number(req.query['pageToken'] ?? 0) || 0;
      const page = hits.slice(from, from + max).map((u) => this.toJson(u));
      res.json({
        kind: 'admin#directory#users',
        ...(page.length ? { users: page } : {}),
        ...(from + max < hits.length ? { nextPageToken: String(from + max) } : {}),
      });
    });
    app.get(
      `${D}/users/:k`,
      withUser((u, _q, res) => res.json(this.toJson(u))),
    );
    app.patch(
      `${D}/users/:k`,
      withUser((u, req, res) => {
        const b = (req.body ?? {}) as { suspended?: unknown };
        if (typeof b.suspended === 'boolean') u.suspended = b.suspended;
        res.json(this.toJson(u));
      }),
    );
    app.post(
      `${D}/users/:k/signOut`,
      withUser((u, _q, res) => {
        u.sessions = 0;
        u.signOuts++;
        res.status(204).end();
      }),
    );
    mountDirectoryRoutes(app, this);
    mountHandoverRoutes(app, this);
    return app;
  }

  /** The bearer token, the scope the route needs, who the call acts as, then any quota refusal. */
  private guard(req: Request, res: Response, next: NextFunction): void {
    if (req.path.startsWith('/_standin')) return next();
    const t = this.oauth.bearer(req, res);
    if (!t) return;
    const override = this.scopeOverrides.find((o) => req.originalUrl.includes(o.pathIncludes));
    const needed = override ? [override.scope] : scopesFor(req.method, req.path);
    if (!needed.some((x) => t.scopes.includes(x))) return insufficientScope(res, needed);
    const mailbox = /^\/gmail\/v1\/users\/([^/]+)\//.exec(req.path)?.[1];
    if (mailbox ? decodeURIComponent(mailbox).toLowerCase() !== t.sub : !this.user(t.sub)?.isAdmin)
      return void res
        .status(403)
        .json(
          googleError(
            403,
            mailbox ? `Delegation denied for ${t.sub}` : 'Not Authorized to access this resource/api',
            'forbidden',
          ),
        );
    const q = this.quotas.find(
      (x) => x.times > 0 && (!x.pathIncludes || req.originalUrl.includes(x.pathIncludes)),
    );
    if (q) {
      q.times--;
      const msg = q.reason === 'userRateLimitExceeded' ? 'User Rate Limit Exceeded' : 'Rate Limit Exceeded';
      return void res.status(403).json(googleError(403, msg, q.reason, { domain: 'usageLimits' }));
    }
    next();
  }

  async start(port = 0): Promise<string> {
    this.server = http.createServer(this.app());
    this.url = `http://127.0.0.1:${await listen(this.server, port)}`;
    this.oauth.audience = this.tokenUrl;
    return this.url;
  }

  async stop(): Promise<void> {
    if (this.server) await closeServer(this.server);
  }
}
