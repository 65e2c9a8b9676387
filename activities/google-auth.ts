/**
 * Access tokens of a Google service account with domain-wide delegation: a JWT (RS256, signed with
 * node:crypto) with `iss` the service account, `sub` the user it acts as, `scope` one OAuth scope, `aud`
 * the token endpoint, sent as an RFC 7523 JWT bearer grant. One token per (user, scope), cached until a
 * minute before it expires: asking one scope at a time lets a refusal (`unauthorized_client`: the
 * delegation does not grant it) name exactly the scope that is missing.
 *
 * The private key never leaves this module: messages name the environment variable, never its value.
 */
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import type { Dispatcher } from 'undici';
import { callJson, header } from './http-json';
import {
  TargetAuthError,
  TargetRejectedError,
  TargetThrottledError,
  TargetUnavailableError,
  retryAfterMs,
} from './errors';

export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** Full URL of a short scope name (`admin.directory.user` → https://www.googleapis.com/auth/…). */
export const scopeUrl = (scope: string) => `https://www.googleapis.com/auth/${scope}`;

/** The private key of an environment value: PEM (literal `\n` allowed), or a service account JSON key file. */
export function privateKeyOf(value: string): KeyObject {
  let pem = value.trim();
  if (pem.startsWith('{')) pem = String((JSON.parse(pem) as { private_key?: unknown }).private_key ?? '');
  return createPrivateKey(pem.replaceAll('\\n', '\n'));
}

const b64url = (v: string | Buffer) => Buffer.from(v).toString('base64url');

/** A signed JWT bearer assertion. */
export function assertion(
  key: KeyObject,
  claims: { iss: string; sub: string; scope: string; aud: string },
  now = Date.now(),
): string {
  const iat = Math.floor(now / 1000);
  const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify({ ...claims, iat, exp: iat + 3600 }));
  const sig = sign('RSA-SHA256', Buffer.from(`${head}.${body}`), key);
  return `${head}.${body}.${b64url(sig)}`;
}

export interface TokenSource {
  /** A bearer token acting as `sub` with `scope` (a short name such as `admin.directory.user`). */
  token(sub: string, scope: string): Promise<string>;
}

/** Most tokens cached (per user and scope); the oldest go first. */
const MAX_CACHED = 2_000;

export function createTokenSource(o: {
  tokenUrl: string;
  serviceAccountEmail: string;
  privateKey: string;
  privateKeyEnv: string;
  dispatcher: Dispatcher;
}): TokenSource {
  const cache = new Map<string, { token: string; until: number }>();
  let key: KeyObject | null = null;

  function keyOf(): KeyObject {
    if (key) return key;
    try {
      key = privateKeyOf(o.privateKey);
    } catch {
      throw new TargetAuthError(
        `Google: the service account key in ${o.privateKeyEnv} is not a PEM private key or a JSON key file`,
      );
    }
    return key;
  }

  async function fetchToken(sub: string, scope: string) {
    const jwt = assertion(keyOf(), {
      iss: o.serviceAccountEmail,
      sub,
      scope: scopeUrl(scope),
      aud: o.tokenUrl,
    });
    const body = new URLSearchParams({ grant_type: JWT_BEARER, assertion: jwt }).toString();
    const label = `Google token endpoint (scope ${scope})`;
    const r = await callJson(
      o.tokenUrl,
      {
        method: 'POST',
        dispatcher: o.dispatcher,
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body,
      },
      label,
    );
    const j = (r.json ?? {}) as {
      access_token?: string;
      expires_in?: number;
      error?: string;
      error_description?: string;
    };
    if (r.status === 200 && typeof j.access_token === 'string')
      return { token: j.access_token, until: Date.now() + Math.max(60, (j.expires_in ?? 3600) - 60) * 1000 };
    const why = j.error
      ? `${j.error}${j.error_description ? ` (${j.error_description})` : ''}`
      : r.text.slice(0, 200);
    const msg = `${label}: ${r.status} ${why}`;
    if (j.error === 'unauthorized_client')
      throw new TargetAuthError(
        `${msg}: the domain-wide delegation of ${o.serviceAccountEmail} does not grant scope ${scopeUrl(scope)}; ` +
          'add it to the client in the Admin console (Security > Access and data control > API controls > ' +
          'Domain-wide delegation)',
      );
    if (j.error === 'invalid_grant' || j.error === 'invalid_client' || r.status === 401 || r.status === 403)
      throw new TargetAuthError(
        `${msg}: check the service account key in ${o.privateKeyEnv}, the account ${o.serviceAccountEmail}, ` +
          'that the user it acts as exists, and the clock',
      );
    if (r.status === 429) throw new TargetThrottledError(msg, retryAfterMs(header(r.headers, 'retry-after')));
    if (r.status >= 500) throw new TargetUnavailableError(msg);
    throw new TargetRejectedError(msg);
  }

  return {
    async token(sub, scope) {
      const k = `${sub.toLowerCase()} ${scope}`;
      const hit = cache.get(k);
      if (hit && hit.until > Date.now()) return hit.token;
      const t = await fetchToken(sub, scope);
      cache.delete(k);
      cache.set(k, t);
      if (cache.size > MAX_CACHED) cache.delete(cache.keys().next().value!);
      return t.token;
    },
  };
}
