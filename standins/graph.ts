/**
 * STAND-IN for Microsoft Entra ID / Microsoft Graph (v1.0), served over HTTPS because the Graph SDK
 * only attaches bearer tokens to https URLs. Speaks the real wire format for what Offboard uses:
 * the v2.0 client-credentials token endpoint, `GET/PATCH /v1.0/users/{id|upn}`,
 * `POST /v1.0/users/{id}/revokeSignInSessions`, and Graph's error body
 * `{ "error": { "code", "message", "innerError": { "date", "request-id", "client-request-id" } } }`.
 * It counts calls and state changes so tests can prove nothing was done twice.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import https from 'node:https';
import express, { type Request, type Response } from 'express';
import { closeServer, listen } from '../lib/http';
import { StandInControl } from './faults';
import { generateTlsMaterial, type TlsMaterial } from './tls';

export interface GraphUserState {
  id: string;
  userPrincipalName: string;
  displayName: string;
  mail: string;
  accountEnabled: boolean;
  signInSessionsValidFromDateTime: string;
  /** Times the account went from enabled to disabled. */
  disableCount: number;
  /** Times sessions were revoked. */
  revokeCount: number;
}

export interface GraphStandInOptions {
  tenantId: string;
  clientId: string;
  clientSecret: string;
  port?: number;
  tls?: TlsMaterial;
}

export function graphError(status: number, code: string, message: string, req?: Request) {
  return {
    error: {
      code,
      message,
      innerError: {
        date: new Date().toISOString().replace(/\.\d{3}Z$/, ''),
        'request-id': randomUUID(),
        'client-request-id': (req?.headers['client-request-id'] as string | undefined) ?? randomUUID(),
      },
    },
  };
}

const CODE_BY_STATUS: Record<number, string> = {
  400: 'BadRequest',
  401: 'InvalidAuthenticationToken',
  403: 'Authorization_RequestDenied',
  404: 'Request_ResourceNotFound',
  429: 'TooManyRequests',
  500: 'InternalServerError',
  503: 'ServiceUnavailable',
  504: 'GatewayTimeout',
};

export class GraphStandIn {
  readonly control = new StandInControl();
  readonly users = new Map<string, GraphUserState>();
  private tokens = new Set<string>();
  private server?: https.Server;
  readonly tls: TlsMaterial;
  url = '';

  constructor(private readonly opts: GraphStandInOptions) {
    this.tls = opts.tls ?? generateTlsMaterial();
  }

  /** Adds (or replaces) a user; returns its state object. */
  seedUser(u: {
    userPrincipalName: string;
    displayName?: string;
    accountEnabled?: boolean;
    id?: string;
  }): GraphUserState {
    const state: GraphUserState = {
      id: u.id ?? randomUUID(),
      userPrincipalName: u.userPrincipalName,
      displayName: u.displayName ?? u.userPrincipalName.split('@')[0]!,
      mail: u.userPrincipalName,
      accountEnabled: u.accountEnabled ?? true,
      signInSessionsValidFromDateTime: '2024-01-01T00:00:00Z',
      disableCount: 0,
      revokeCount: 0,
    };
    this.users.set(state.id, state);
    return state;
  }

  find(idOrUpn: string): GraphUserState | undefined {
    const key = idOrUpn.toLowerCase();
    return (
      this.users.get(idOrUpn) ??
      [...this.users.values()].find((u) => u.userPrincipalName.toLowerCase() === key)
    );
  }

  /** The user named by `:id` (object id or UPN), or a Graph 404 answered and undefined. */
  private userOr404(req: Request, res: Response): GraphUserState | undefined {
    const u = this.find(String(req.params.id));
    if (!u)
      res
        .status(404)
        .json(
          graphError(
            404,
            'Request_ResourceNotFound',
            `Resource '${String(req.params.id)}' does not exist or one of its queried reference-property objects are not present.`,
            req,
          ),
        );
    return u;
  }

  private view(u: GraphUserState, select?: string) {
    const full = {
      id: u.id,
      userPrincipalName: u.userPrincipalName,
      displayName: u.displayName,
      mail: u.mail,
      accountEnabled: u.accountEnabled,
      signInSessionsValidFromDateTime: u.signInSessionsValidFromDateTime,
    };
    const fields = select ? select.split(',').map((s) => s.trim()) : Object.keys(full);
    const out: Record<string, unknown> = {
      '@odata.context': `${this.url}/v1.0/$metadata#users(${select ?? ''})/$entity`,
    };
    for (const f of fields) if (f in full) out[f] = full[f as keyof typeof full];
    return out;
  }

  app(): express.Express {
    const app = express();
    app.disable('x-powered-by');
    app.use(
      this.control.middleware((status, message) =>
        graphError(status, CODE_BY_STATUS[status] ?? 'UnknownError', message),
      ),
    );

    app.post(
      '/:tenant/oauth2/v2.0/token',
      express.urlencoded({ extended: false }),
      (req: Request, res: Response) => {
        const b = req.body as Record<string, string | undefined>;
        if (req.params.tenant !== this.opts.tenantId)
          return res.status(400).json({
            error: 'invalid_request',
            error_description: `AADSTS90002: Tenant '${String(req.params.tenant)}' not found.`,
          });
        if (b.grant_type !== 'client_credentials')
          return res.status(400).json({ error: 'unsupported_grant_type', error_description: 'AADSTS70003' });
        if (b.client_id !== this.opts.clientId || b.client_secret !== this.opts.clientSecret)
          return res.status(401).json({
            error: 'invalid_client',
            error_description: 'AADSTS7000215: Invalid client secret provided.',
          });
        const token = randomBytes(24).toString('base64url');
        this.tokens.add(token);
        return res.json({
          token_type: 'Bearer',
          expires_in: 3599,
          ext_expires_in: 3599,
          access_token: token,
        });
      },
    );

    const v1 = express.Router();
    v1.use((req, res, next) => {
      const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
      if (!m || !this.tokens.has(m[1]!))
        return res
          .status(401)
          .json(graphError(401, 'InvalidAuthenticationToken', 'Access token is empty or invalid.', req));
      next();
    });
    v1.get('/users/:id', (req, res) => {
      const u = this.find(String(req.params.id));
      if (!u)
        return res
          .status(404)
          .json(
            graphError(
              404,
              'Request_ResourceNotFound',
              `Resource '${String(req.params.id)}' does not exist or one of its queried reference-property objects are not present.`,
              req,
            ),
          );
      res.json(this.view(u, typeof req.query.$select === 'string' ? req.query.$select : undefined));
    });
    v1.patch('/users/:id', express.json(), (req, res) => {
      const u = this.userOr404(req, res);
      if (!u) return;
      const body = req.body as { accountEnabled?: unknown };
      if ('accountEnabled' in body) {
        if (typeof body.accountEnabled !== 'boolean')
          return res
            .status(400)
            .json(
              graphError(
                400,
                'Request_BadRequest',
                "Invalid value specified for property 'accountEnabled' of resource 'User'.",
                req,
              ),
            );
        if (u.accountEnabled && !body.accountEnabled) u.disableCount += 1;
        u.accountEnabled = body.accountEnabled;
      }
      res.status(204).end();
    });
    v1.post('/users/:id/revokeSignInSessions', (req, res) => {
      const u = this.userOr404(req, res);
      if (!u) return;
      u.signInSessionsValidFromDateTime = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      u.revokeCount += 1;
      res.json({ '@odata.context': `${this.url}/v1.0/$metadata#Edm.Boolean`, value: true });
    });
    v1.use((req, res) =>
      res
        .status(400)
        .json(
          graphError(
            400,
            'BadRequest',
            `Resource not found for the segment '${req.path.split('/')[1] ?? ''}'.`,
            req,
          ),
        ),
    );
    app.use('/v1.0', v1);

    // Admin routes for the demo and for people poking at the stand-in.
    app.get('/_standin/users', (_req, res) => res.json([...this.users.values()]));
    app.post('/_standin/users', express.json(), (req, res) => {
      const b = req.body as { userPrincipalName?: unknown; displayName?: unknown };
      if (typeof b.userPrincipalName !== 'string')
        return res.status(400).json({ error: 'userPrincipalName required' });
      res.status(201).json(
        this.seedUser({
          userPrincipalName: b.userPrincipalName,
          displayName: typeof b.displayName === 'string' ? b.displayName : undefined,
        }),
      );
    });
    return app;
  }

  async start(): Promise<string> {
    this.server = https.createServer({ key: this.tls.key, cert: this.tls.cert }, this.app());
    this.url = `https://localhost:${await listen(this.server, this.opts.port ?? 0)}`;
    return this.url;
  }

  async stop(): Promise<void> {
    if (this.server) await closeServer(this.server);
  }
}
