/**
 * STAND-IN for GitHub's REST API and GraphQL endpoint, the parts the GitHub connector calls, with
 * GitHub's documented wire format: token auth (`Authorization: Bearer <token>`; else 401 `Bad
 * credentials`), error bodies `{message, documentation_url}`, `Link: <…>; rel="next"` paging (`page`,
 * `per_page`), the classic token's scopes on every answer (`X-OAuth-Scopes`) and the scopes each call
 * accepts (`X-Accepted-OAuth-Scopes`; a token without one of them is refused 403), SAML enforcement
 * (`requireSso`: 403 with `X-GitHub-SSO: required; url=…`), and rate limiting: every answer carries
 * `x-ratelimit-limit`, `-remaining`, `-used`, `-reset` (UTC epoch seconds) and `-resource`; over the
 * primary limit 403 with `x-ratelimit-remaining: 0`; a secondary limit 403 with `retry-after`.
 * Organization members (`GET /orgs/{org}/members/{u}` 204/404, `…/memberships/{u}` active or pending,
 * removal also ends team memberships), outside collaborators, SAML SSO credential authorizations (listed
 * by `login`, revoked by `credential_id`; dropped with the membership, as GitHub does), users by login
 * and by id, and GraphQL `organization.samlIdentityProvider.externalIdentities(userName:)`. Faults:
 * `control.inject` (standins/faults.ts), `throttle(times, resetInSeconds)`, `secondaryLimit(times,
 * retryAfterSeconds)`, `scopes` (the token's), `requireSso`.
 */
import http from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { closeServer, listen } from '../lib/http';
import { StandInControl } from './faults';

export interface GithubStandInUser {
  login: string;
  id: number;
  name: string;
}
export interface Credential {
  credential_id: number;
  credential_type: 'personal access token' | 'SSH key';
  token_last_eight?: string;
  fingerprint?: string;
  authorized_credential_note?: string;
  credential_authorized_at: string;
}
interface Member {
  state: 'active' | 'pending';
  role: 'admin' | 'member';
  teams: string[];
}

const DOCS = 'https://docs.github.com/rest';
export const githubError = (message: string, doc = DOCS) => ({ message, documentation_url: doc });
const errorFor = (status: number, message: string) =>
  githubError(
    status === 401
      ? 'Bad credentials'
      : status === 404
        ? 'Not Found'
        : status >= 500
          ? 'Server Error'
          : status === 403
            ? 'Forbidden'
            : message,
  );

export class GithubStandIn {
  readonly control = new StandInControl();
  readonly users = new Map<string, GithubStandInUser>();
  /** login → membership of the organization. */
  readonly members = new Map<string, Member>();
  readonly collaborators = new Set<string>();
  /** login → credentials authorized for SAML SSO. */
  readonly credentials = new Map<string, Credential[]>();
  /** SAML nameId → login (a linked identity; null login: not linked to a GitHub user). */
  readonly samlIdentities: { nameId: string; login: string | null }[] = [];
  /** Whether the organization has a SAML identity provider (GraphQL `samlIdentityProvider`). */
  saml = true;
  /** The classic token's scopes. */
  scopes = ['admin:org', 'read:org'];
  /** The token is not authorized for the organization's SAML SSO. */
  requireSso = false;
  limitPerHour = 5000;
  private used = { start: 0, n: 0 };
  private throttled = { times: 0, resetAt: 0 };
  private secondary = { times: 0, retryAfter: 0 };
  private nextId = 1000;
  private server?: http.Server;
  url = '';

  constructor(
    readonly token: string,
    readonly org = 'example-corp',
  ) {}

  /** The next `times` requests hit the primary limit (403, remaining 0), resetting in `resetInSeconds`. */
  throttle(times: number, resetInSeconds: number): void {
    this.throttled = { times, resetAt: Math.ceil(Date.now() / 1000) + resetInSeconds };
  }
  /** The next `times` requests hit a secondary limit (403 with `retry-after`). */
  secondaryLimit(times: number, retryAfterSeconds: number): void {
    this.secondary = { times, retryAfter: retryAfterSeconds };
  }

  reset(): void {
    this.control.reset();
    this.throttled = { times: 0, resetAt: 0 };
    this.secondary = { times: 0, retryAfter: 0 };
    this.scopes = ['admin:org', 'read:org'];
    this.requireSso = false;
    this.saml = true;
  }

  seedUser(
    login: string,
    opts: {
      name?: string;
      member?: 'active' | 'pending';
      role?: 'admin' | 'member';
      teams?: string[];
      collaborator?: boolean;
      nameId?: string;
      tokens?: number;
      sshKeys?: number;
    } = {},
  ): GithubStandInUser {
    const u = { login, id: this.nextId++, name: opts.name ?? login };
    this.users.set(login.toLowerCase(), u);
    if (opts.member)
      this.members.set(login.toLowerCase(), {
        state: opts.member,
        role: opts.role ?? 'member',
        teams: opts.teams ?? [],
      });
    if (opts.collaborator) this.collaborators.add(login.toLowerCase());
    if (opts.nameId) this.samlIdentities.push({ nameId: opts.nameId, login });
    const creds: Credential[] = [];
    for (let i = 0; i < (opts.tokens ?? 0); i++)
      creds.push({
        credential_id: this.nextId++,
        credential_type: 'personal access token',
        token_last_eight: `${i}`.padStart(8, 'a'),
        authorized_credential_note: `token ${i + 1}`,
        credential_authorized_at: '2025-01-01T00:00:00Z',
      });
    for (let i = 0; i < (opts.sshKeys ?? 0); i++)
      creds.push({
        credential_id: this.nextId++,
        credential_type: 'SSH key',
        fingerprint: `SHA256:${login}${i}`,
        credential_authorized_at: '2025-01-01T00:00:00Z',
      });
    if (creds.length) this.credentials.set(login.toLowerCase(), creds);
    return u;
  }

  /** Does the login still hold anything in the organization? */
  holds(login: string): boolean {
    const k = login.toLowerCase();
    return this.members.has(k) || this.collaborators.has(k) || (this.credentials.get(k)?.length ?? 0) > 0;
  }

  app(): express.Express {
    const app = express();
    app.disable('x-powered-by');
    app.use(express.json());
    app.use((req, res, next) => this.rateLimit(req, res, next));
    app.use(this.control.middleware(errorFor));
    app.use((req, res, next) => {
      if (req.path.startsWith('/_standin')) return next();
      if (req.header('authorization') !== `Bearer ${this.token}`)
        return res.status(401).json(githubError('Bad credentials'));
      res.setHeader('X-OAuth-Scopes', this.scopes.join(', '));
      if (this.requireSso && req.path.startsWith(`/orgs/`)) {
        res.setHeader(
          'X-GitHub-SSO',
          `required; url=https://github.com/orgs/${this.org}/sso?authorization_request=x`,
        );
        return res
          .status(403)
          .json(
            githubError(
              'Resource protected by organization SAML enforcement. You must grant your Personal Access token access to this organization.',
            ),
          );
      }
      next();
    });
    /** Refuses the call unless the token holds one of `accepted`. */
    const needs =
      (...accepted: string[]) =>
      (_req: Request, res: Response, next: NextFunction) => {
        res.setHeader('X-Accepted-OAuth-Scopes', accepted.join(', '));
        if (accepted.some((s) => this.scopes.includes(s))) return next();
        res.status(403).json(githubError('Resource not accessible by personal access token'));
      };
    const orgOnly = (req: Request, res: Response, next: NextFunction) => {
      if (String(req.params['org']).toLowerCase() !== this.org.toLowerCase())
        return res.status(404).json(githubError('Not Found'));
      next();
    };
    const page = <T>(req: Request, res: Response, items: T[]) => {
      const per = Math.max(1, Math.min(100, Number(req.query['per_page'] ?? 30) || 30));
      const p = Math.max(1, Number(req.query['page'] ?? 1) || 1);
      if (p * per < items.length) {
        const next = new URL(`${this.url}${req.originalUrl}`);
        next.searchParams.set('page', String(p + 1));
        res.setHeader('Link', `<${next.toString()}>; rel="next"`);
      }
      res.json(items.slice((p - 1) * per, p * per));
    };
    const userJson = (u: GithubStandInUser) => ({ login: u.login, id: u.id, name: u.name, type: 'User' });
    const remove = (login: string) => {
      this.members.delete(login);
      // Removal from the organization ends its SAML credential authorizations.
      this.credentials.delete(login);
    };

    app.get('/users/:login', (req, res) => {
      const u = this.users.get(String(req.params['login']).toLowerCase());
      if (!u) return res.status(404).json(githubError('Not Found'));
      res.json(userJson(u));
    });
    app.get('/user/:id', (req, res) => {
      const u = [...this.users.values()].find((x) => String(x.id) === req.params['id']);
      if (!u) return res.status(404).json(githubError('Not Found'));
      res.json(userJson(u));
    });
    app.get('/orgs/:org/members/:login', orgOnly, needs('read:org', 'admin:org'), (req, res) => {
      const m = this.members.get(String(req.params['login']).toLowerCase());
      if (m?.state !== 'active')
        return res
          .status(404)
          .json(githubError('User does not exist or is not a member of the organization'));
      res.status(204).end();
    });
    app.delete('/orgs/:org/members/:login', orgOnly, needs('admin:org'), (req, res) => {
      remove(String(req.params['login']).toLowerCase());
      res.status(204).end();
    });
    app.get('/orgs/:org/memberships/:login', orgOnly, needs('read:org', 'admin:org'), (req, res) => {
      const login = String(req.params['login']).toLowerCase();
      const m = this.members.get(login);
      if (!m) return res.status(404).json(githubError('Not Found'));
      res.json({
        state: m.state,
        role: m.role,
        organization: { login: this.org },
        user: userJson(this.users.get(login)!),
      });
    });
    app.delete('/orgs/:org/memberships/:login', orgOnly, needs('admin:org'), (req, res) => {
      const login = String(req.params['login']).toLowerCase();
      if (!this.members.has(login)) return res.status(404).json(githubError('Not Found'));
      remove(login);
      res.status(204).end();
    });
    app.get('/orgs/:org/outside_collaborators', orgOnly, needs('read:org', 'admin:org'), (req, res) =>
      page(
        req,
        res,
        [...this.collaborators].map((l) => userJson(this.users.get(l)!)),
      ),
    );
    app.delete('/orgs/:org/outside_collaborators/:login', orgOnly, needs('admin:org'), (req, res) => {
      const login = String(req.params['login']).toLowerCase();
      if (this.members.get(login)?.state === 'active')
        return res
          .status(422)
          .json(
            githubError('You cannot specify an organization member to remove as an outside collaborator.'),
          );
      this.collaborators.delete(login);
      res.status(204).end();
    });
    app.get('/orgs/:org/credential-authorizations', orgOnly, needs('read:org', 'admin:org'), (req, res) => {
      const filter = req.query['login'] ? String(req.query['login']).toLowerCase() : null;
      const all = [...this.credentials].flatMap(([login, cs]) =>
        cs.map((c) => ({ login: this.users.get(login)!.login, ...c })),
      );
      page(
        req,
        res,
        all.filter((c) => !filter || c.login.toLowerCase() === filter),
      );
    });
    app.delete('/orgs/:org/credential-authorizations/:cid', orgOnly, needs('admin:org'), (req, res) => {
      const cid = Number(req.params['cid']);
      for (const [login, cs] of this.credentials) {
        const left = cs.filter((c) => c.credential_id !== cid);
        if (left.length !== cs.length) {
          this.credentials.set(login, left);
          return res.status(204).end();
        }
      }
      res.status(404).json(githubError('Not Found'));
    });
    app.post('/graphql', (req, res) => {
      const body = (req.body ?? {}) as { query?: string; variables?: Record<string, unknown> };
      const query = String(body.query ?? '');
      if (!query.includes('externalIdentities'))
        return res.json({ errors: [{ type: 'INTERNAL', message: 'unsupported query in the stand-in' }] });
      if (!this.scopes.includes('admin:org')) {
        res.setHeader('X-Accepted-OAuth-Scopes', 'admin:org');
        return res.json({
          data: null,
          errors: [
            {
              type: 'INSUFFICIENT_SCOPES',
              message:
                "Your token has not been granted the required scopes to execute this query. The 'samlIdentityProvider' field requires one of the following scopes: ['admin:org'].",
            },
          ],
        });
      }
      const org = String(body.variables?.['org'] ?? '');
      const userName = String(body.variables?.['userName'] ?? '').toLowerCase();
      if (org.toLowerCase() !== this.org.toLowerCase()) return res.json({ data: { organization: null } });
      const nodes = this.samlIdentities
        .filter((i) => i.nameId.toLowerCase() === userName)
        .map((i) => {
          const u = i.login ? this.users.get(i.login.toLowerCase()) : undefined;
          return {
            guid: `guid-${i.nameId}`,
            samlIdentity: { nameId: i.nameId },
            scimIdentity: { username: null },
            user: u ? { login: u.login, databaseId: u.id, name: u.name } : null,
          };
        });
      res.json({
        data: {
          organization: { samlIdentityProvider: this.saml ? { externalIdentities: { nodes } } : null },
        },
      });
    });
    return app;
  }

  /** Rate-limit headers on every answer; 403 with remaining 0 over the primary limit, with retry-after over a secondary one. */
  private rateLimit(req: Request, res: Response, next: NextFunction): void {
    if (req.path.startsWith('/_standin')) return next();
    const now = Date.now();
    if (now - this.used.start >= 3_600_000) this.used = { start: now, n: 0 };
    this.used.n++;
    let reset = Math.ceil((this.used.start + 3_600_000) / 1000);
    let remaining = Math.max(0, this.limitPerHour - this.used.n);
    const primary = this.throttled.times > 0 || this.used.n > this.limitPerHour;
    if (this.throttled.times > 0) {
      this.throttled.times--;
      reset = this.throttled.resetAt;
      remaining = 0;
    }
    res.setHeader('x-ratelimit-limit', String(this.limitPerHour));
    res.setHeader('x-ratelimit-remaining', String(remaining));
    res.setHeader('x-ratelimit-used', String(Math.min(this.used.n, this.limitPerHour)));
    res.setHeader('x-ratelimit-reset', String(reset));
    res.setHeader('x-ratelimit-resource', req.path === '/graphql' ? 'graphql' : 'core');
    if (primary) {
      this.control.calls.push({ method: req.method, path: req.originalUrl, at: now, status: 403 });
      res
        .status(403)
        .json(
          githubError(
            `API rate limit exceeded for user ID 1.`,
            `${DOCS}/overview/rate-limits-for-the-rest-api`,
          ),
        );
      return;
    }
    if (this.secondary.times > 0) {
      this.secondary.times--;
      this.control.calls.push({ method: req.method, path: req.originalUrl, at: now, status: 403 });
      res.setHeader('retry-after', String(this.secondary.retryAfter));
      res
        .status(403)
        .json(
          githubError(
            'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
            `${DOCS}/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits`,
          ),
        );
      return;
    }
    next();
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
