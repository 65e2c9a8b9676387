/**
 * STAND-IN for Google's OAuth 2.0 token endpoint as a service account with domain-wide delegation uses
 * it (RFC 7523 JWT bearer grant), and the bearer check of Google's APIs: the assertion's RS256 signature
 * against the service account's public key, `iss`, `aud` (the token URL), `iat`/`exp` (at most an hour),
 * `sub` (a user of the domain; else `invalid_grant` "Invalid email or User ID") and every scope in
 * `scope` granted to the client by the domain-wide delegation (else 401 `unauthorized_client`).
 * Also Google's error bodies (`{"error":{code,message,status,errors:[{message,domain,reason}]}}`).
 */
import { randomBytes, verify, type KeyObject } from 'node:crypto';
import type { Request, Response } from 'express';

export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
export const SCOPE_PREFIX = 'https://www.googleapis.com/auth/';

const STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

/** Google's JSON error body. */
export function googleError(
  code: number,
  message: string,
  reason: string,
  o: { domain?: string; details?: unknown[] } = {},
) {
  return {
    error: {
      code,
      message,
      errors: [{ message, domain: o.domain ?? 'global', reason }],
      status: STATUS[code] ?? 'UNKNOWN',
      ...(o.details ? { details: o.details } : {}),
    },
  };
}

/** The error body of a status without a more specific one (injected faults). */
export const errorFor = (status: number, message: string) =>
  googleError(
    status,
    status >= 500 ? 'Internal error encountered.' : message,
    status >= 500 ? 'backendError' : 'invalid',
  );

/** 403 for a token without the scope the method needs, as Google answers it (body and challenge). */
export function insufficientScope(res: Response, needed: string[]): void {
  res.setHeader(
    'WWW-Authenticate',
    `Bearer realm="https://accounts.google.com/", error="insufficient_scope", scope="${needed.join(' ')}"`,
  );
  res.status(403).json(
    googleError(403, 'Request had insufficient authentication scopes.', 'insufficientPermissions', {
      details: [
        {
          '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
          reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT',
          domain: 'googleapis.com',
        },
      ],
    }),
  );
}

export interface IssuedToken {
  sub: string;
  scopes: string[];
  exp: number;
}

const b64json = (s: string) =>
  JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as Record<string, unknown>;

export class GoogleOAuthStandIn {
  /** Scopes (full URLs) the domain-wide delegation grants the client. */
  readonly granted = new Set<string>();
  readonly tokens = new Map<string, IssuedToken>();
  /** Every token issued: who it acts as, with which scopes. */
  readonly issued: { sub: string; scopes: string[] }[] = [];
  /** The token URL (the assertion's audience). */
  audience = '';

  constructor(
    readonly clientEmail: string,
    private readonly publicKey: KeyObject,
    private readonly knownUser: (email: string) => boolean,
  ) {}

  /** `POST /token`: a form with `grant_type` (JWT bearer) and `assertion`. */
  token(req: Request, res: Response): void {
    const body = (req.body ?? {}) as Record<string, string>;
    const fail = (status: number, error: string, description: string) =>
      void res.status(status).json({ error, error_description: description });
    if (body['grant_type'] !== JWT_BEARER) return fail(400, 'unsupported_grant_type', 'Invalid grant_type: ');
    const parts = String(body['assertion'] ?? '').split('.');
    if (parts.length !== 3)
      return fail(400, 'invalid_request', 'Invalid JWT: Token must be a short-lived token');
    let head: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      head = b64json(parts[0]!);
      claims = b64json(parts[1]!);
    } catch {
      return fail(400, 'invalid_request', 'Invalid JWT');
    }
    const signed = verify(
      'RSA-SHA256',
      Buffer.from(`${parts[0]}.${parts[1]}`),
      this.publicKey,
      Buffer.from(parts[2]!, 'base64url'),
    );
    if (head['alg'] !== 'RS256' || !signed) return fail(400, 'invalid_grant', 'Invalid JWT Signature.');
    const now = Math.floor(Date.now() / 1000);
    const iat = Number(claims['iat']);
    const exp = Number(claims['exp']);
    if (claims['iss'] !== this.clientEmail)
      return fail(401, 'invalid_client', 'The OAuth client was not found.');
    if (claims['aud'] !== this.audience) return fail(400, 'invalid_grant', 'Invalid JWT: audience');
    if (!(iat <= now + 60 && exp > now && exp - iat <= 3600))
      return fail(
        400,
        'invalid_grant',
        'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.',
      );
    const sub = String(claims['sub'] ?? '');
    if (!sub || !this.knownUser(sub)) return fail(400, 'invalid_grant', 'Invalid email or User ID');
    const scopes = String(claims['scope'] ?? '')
      .split(' ')
      .filter(Boolean);
    if (scopes.length === 0 || scopes.some((s) => !this.granted.has(s)))
      return fail(
        401,
        'unauthorized_client',
        'Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.',
      );
    const token = `ya29.${randomBytes(24).toString('base64url')}`;
    this.tokens.set(token, { sub: sub.toLowerCase(), scopes, exp: Date.now() + 3_600_000 });
    this.issued.push({ sub, scopes });
    res.json({ access_token: token, expires_in: 3599, token_type: 'Bearer' });
  }

  /** The token a request carries, or null (a 401 is then sent). */
  bearer(req: Request, res: Response): IssuedToken | null {
    const m = /^Bearer (.+)$/.exec(req.header('authorization') ?? '');
    const t = m ? this.tokens.get(m[1]!) : undefined;
    if (t && t.exp > Date.now()) return t;
    res
      .status(401)
      .json(
        googleError(
          401,
          'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.',
          'authError',
        ),
      );
    return null;
  }
}
