/**
 * Operator authentication: bearer tokens mapped to roles. Only SHA-256 hashes of tokens are configured
 * (`OPERATOR_TOKENS=name:role:sha256hex,...`); `admin` may do everything.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { MINTED_TOKEN_PATTERN } from '../config/production';
import { AppError } from '../lib/errors';

export type Role = 'hr' | 'it' | 'itdesk' | 'admin';
export interface Operator {
  name: string;
  role: Role;
}

export interface TokenEntry {
  name: string;
  role: string;
  sha256: string;
  /**
   * Only the minted form of the token is accepted (`offboard token`: 32 random bytes). Set for every
   * entry when NODE_ENV=production, where a token's strength cannot be read from its hash at start-up.
   */
  mintedOnly?: boolean;
}

/** SHA-256 hex of a token, as configured in OPERATOR_TOKENS. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

declare module 'express-serve-static-core' {
  interface Request {
    operator?: Operator;
  }
}

/**
 * Middleware factory: `requireRole('it')` admits `it` and `admin`; `requireRole.only('hr', 'it')` admits
 * exactly those roles (for acts that are personal to a function, such as signing a report off).
 */
export function createAuth(tokens: TokenEntry[]) {
  const entries = tokens.map((t) => ({ ...t, digest: Buffer.from(t.sha256, 'hex') }));
  function identify(req: Request): Operator {
    const h = req.headers.authorization;
    const m = h ? /^Bearer\s+(\S+)$/i.exec(h) : null;
    if (!m) throw new AppError('unauthenticated', 'an operator bearer token is required');
    const digest = Buffer.from(hashToken(m[1]!), 'hex');
    let found: (typeof entries)[number] | undefined;
    for (const e of entries) if (timingSafeEqual(e.digest, digest)) found = e;
    if (!found) throw new AppError('unauthenticated', 'unknown operator token');
    if (found.mintedOnly && !MINTED_TOKEN_PATTERN.test(m[1]!))
      throw new AppError(
        'unauthenticated',
        'this operator token is not of the minted form (offb_ and 32 random bytes); mint one with `offboard token`',
      );
    return { name: found.name, role: found.role as Role };
  }
  const guard = (roles: Role[], adminToo: boolean) => (req: Request, _res: Response, next: NextFunction) => {
    const op = identify(req);
    if (!(adminToo && op.role === 'admin') && !roles.includes(op.role))
      throw new AppError(
        'forbidden',
        `role "${op.role}" may not do this; needs ${[...roles, ...(adminToo && !roles.includes('admin') ? ['admin'] : [])].join(' or ')}`,
      );
    req.operator = op;
    next();
  };
  const requireRole = (...roles: Role[]) => guard(roles, true);
  requireRole.only = (...roles: Role[]) => guard(roles, false);
  return requireRole;
}
