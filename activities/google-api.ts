/**
 * The Google Workspace connector's HTTP client: JSON calls to the Admin SDK (Directory and Data Transfer
 * APIs, acting as the catalog's admin) and to the Gmail API (acting as the leaver, whose mail settings
 * they are), each with a token of the one OAuth scope the call needs (google-auth.ts), lists followed
 * through `pageToken`, and every failure mapped to a domain error from Google's error body
 * (`error.code`, `error.message`, `error.errors[].reason`, `error.details[].reason`):
 *
 * - 403 with reason `rateLimitExceeded`, `userRateLimitExceeded`, `quotaExceeded` (Google's quota errors
 *   are 403, not 429) and 429 → `TargetThrottledError`, after `Retry-After` or, as Google sends none,
 *   `QUOTA_RETRY_MS`;
 * - 403 for a missing scope (`insufficientPermissions`, `ACCESS_TOKEN_SCOPE_INSUFFICIENT`, `WWW-Authenticate:
 *   … error="insufficient_scope"`) → `TargetAuthError` naming the scope; any other 401 or 403 →
 *   `TargetAuthError` naming what to check;
 * - 5xx and network failures → `TargetUnavailableError`; 404 is answered (the caller decides); other
 *   4xx → `TargetRejectedError`.
 *
 * Messages name the method, the path without its query and with any email address in it replaced by
 * `{email}` (personal data stays out of logs), and Google's own reason; never a token or key.
 */
import { readFileSync } from 'node:fs';
import type { Dispatcher } from 'undici';
import type { GoogleConnectorConfig } from '../config/catalog';
import { connectorAgent } from '../lib/http';
import { createTokenSource, scopeUrl } from './google-auth';
import { callJson, header, type JsonAnswer } from './http-json';
import {
  TargetAuthError,
  TargetRejectedError,
  TargetThrottledError,
  TargetUnavailableError,
  retryAfterMs,
} from './errors';

export interface GoogleAnswer {
  status: number;
  json: unknown;
}

export interface GoogleApi {
  /** An Admin SDK call (`/admin/directory/v1/…`, `/admin/datatransfer/v1/…`) as the admin; 404 answered. */
  admin(method: Dispatcher.HttpMethod, path: string, body?: unknown): Promise<GoogleAnswer>;
  /** A Gmail call acting as `user` (`/gmail/v1/users/<user>/settings/…`); 404 answered. */
  gmail(user: string, method: Dispatcher.HttpMethod, path: string, body?: unknown): Promise<GoogleAnswer>;
  /** Every page of an Admin SDK list (the items under `field`), or null when its owner is gone (404). */
  list<T>(path: string, field: string): Promise<T[] | null>;
  readonly host: string;
  close(): Promise<void>;
}

/** Google's error body. */
interface GoogleError {
  error?: {
    code?: number;
    message?: string;
    status?: string;
    errors?: { reason?: string; domain?: string; message?: string }[];
    details?: { reason?: string }[];
  };
}

/** Google's quota reasons (403 on the Admin SDK and Gmail). */
export const QUOTA_REASONS = ['rateLimitExceeded', 'userRateLimitExceeded', 'quotaExceeded'];
/** The wait after a quota error without `Retry-After`: Google's per-minute quotas refill within it. */
export const QUOTA_RETRY_MS = 30_000;
/** Most pages of one list followed. */
const MAX_PAGES = 100;

/** The reasons of an error body (`errors[].reason` and `details[].reason`). */
export function reasonsOf(json: unknown): string[] {
  const e = (json as GoogleError | null)?.error;
  return [...(e?.errors ?? []), ...(e?.details ?? [])]
    .map((x) => x.reason)
    .filter((r): r is string => typeof r === 'string');
}

/** `code status: message (reasons)`, or the start of the text when the body is not Google's. */
export function googleReason(json: unknown, text: string): string {
  const e = (json as GoogleError | null)?.error;
  if (!e || typeof e.message !== 'string') return text.slice(0, 200);
  const reasons = [...new Set(reasonsOf(json))];
  return `${e.status ? `${e.status} ` : ''}${e.message}${reasons.length ? ` (${reasons.join(', ')})` : ''}`;
}

/** A path for messages: no query, and `{email}` for any segment holding an address (a user key, a delegate). */
export function pathLabel(path: string): string {
  return path
    .split('?')[0]!
    .split('/')
    .map((seg) => (/@|%40/i.test(seg) ? '{email}' : seg))
    .join('/');
}

/** The one OAuth scope (short name) a call needs; every call asks for exactly this one. */
export function scopeFor(method: string, path: string): string {
  const p = path.split('?')[0]!;
  if (p.startsWith('/gmail/')) return method === 'GET' ? 'gmail.settings.basic' : 'gmail.settings.sharing';
  if (p.startsWith('/admin/datatransfer/')) return 'admin.datatransfer';
  if (p.includes('/devices/mobile'))
    return p.endsWith('/action')
      ? 'admin.directory.device.mobile.action'
      : 'admin.directory.device.mobile.readonly';
  if (/\/groups\/[^/]+\/members\//.test(p)) return 'admin.directory.group.member';
  if (p.endsWith('/groups')) return 'admin.directory.group.readonly';
  if (/\/users\/[^/]+\/(signOut|tokens|asps|verificationCodes|twoStepVerification)/.test(p))
    return 'admin.directory.user.security';
  return 'admin.directory.user';
}

/** Creates the client of one catalog entry; `privateKey` is the service account's key (never logged). */
export function createGoogleApi(cfg: GoogleConnectorConfig, privateKey: string): GoogleApi {
  const adminOrigin = new URL(cfg.adminUrl).origin;
  const gmailOrigin = new URL(cfg.gmailUrl).origin;
  const dispatcher = connectorAgent(cfg.caFile ? readFileSync(cfg.caFile, 'utf8') : undefined);
  const tokens = createTokenSource({
    tokenUrl: cfg.tokenUrl,
    serviceAccountEmail: cfg.serviceAccountEmail,
    privateKey,
    privateKeyEnv: cfg.privateKeyEnv,
    dispatcher,
  });

  function fail(r: JsonAnswer, what: string, scope: string, sub: string): never {
    const msg = `Google ${what}: ${r.status} ${googleReason(r.json, r.text)}`;
    const reasons = reasonsOf(r.json);
    const challenge = header(r.headers, 'www-authenticate') ?? '';
    if (r.status === 429 || (r.status === 403 && reasons.some((x) => QUOTA_REASONS.includes(x))))
      throw new TargetThrottledError(msg, retryAfterMs(header(r.headers, 'retry-after'), QUOTA_RETRY_MS));
    if (
      r.status === 403 &&
      (reasons.includes('insufficientPermissions') ||
        reasons.includes('ACCESS_TOKEN_SCOPE_INSUFFICIENT') ||
        challenge.includes('insufficient_scope'))
    ) {
      // Google's challenge names the scopes (any one) the method accepts; the token had `scope`.
      const wanted = (/scope="([^"]*)"/.exec(challenge)?.[1] ?? '').split(' ').filter(Boolean);
      throw new TargetAuthError(
        `${msg}: missing OAuth scope ` +
          (wanted.length === 1
            ? wanted[0]
            : wanted.length > 1
              ? `(one of) ${wanted.join(', ')}`
              : `(the call was made with ${scopeUrl(scope)}, which is not enough)`) +
          `; grant it to ${cfg.serviceAccountEmail} in the domain-wide delegation`,
      );
    }
    if (r.status === 401)
      throw new TargetAuthError(`${msg}: Google refused the access token of ${cfg.serviceAccountEmail}`);
    if (r.status === 403)
      throw new TargetAuthError(
        sub === cfg.adminEmail
          ? `${msg}: the admin the service account acts as (connector.adminEmail) lacks the admin privilege for this call`
          : `${msg}: the call acting as the leaver was refused (is Gmail enabled for them?)`,
      );
    if (r.status >= 500) throw new TargetUnavailableError(msg);
    throw new TargetRejectedError(msg);
  }

  async function send(
    origin: string,
    sub: string,
    method: Dispatcher.HttpMethod,
    path: string,
    body?: unknown,
  ) {
    const scope = scopeFor(method, path);
    const what = `${method} ${pathLabel(path)}`;
    const token = await tokens.token(sub, scope);
    const r = await callJson(
      `${origin}${path}`,
      {
        method,
        dispatcher,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      },
      `Google ${what}`,
    );
    if (r.status < 400 || r.status === 404) return { status: r.status, json: r.json };
    return fail(r, what, scope, sub);
  }

  return {
    host: new URL(adminOrigin).host,
    admin: (method, path, body) => send(adminOrigin, cfg.adminEmail, method, path, body),
    gmail: (user, method, path, body) => send(gmailOrigin, user, method, path, body),
    async list<T>(path: string, field: string): Promise<T[] | null> {
      const out: T[] = [];
      let pageToken: string | undefined;
      for (let page = 0; ; page++) {
        if (page >= MAX_PAGES)
          throw new TargetRejectedError(`Google GET ${pathLabel(path)}: more than ${MAX_PAGES} pages`);
        const sep = path.includes('?') ? '&' : '?';
        const r = await send(
          adminOrigin,
          cfg.adminEmail,
          'GET',
          pageToken ? `${path}${sep}pageToken=${encodeURIComponent(pageToken)}` : path,
        );
        if (r.status === 404) return null;
        const j = (r.json ?? {}) as Record<string, unknown>;
        out.push(...((j[field] as T[] | undefined) ?? []));
        pageToken =
          typeof j['nextPageToken'] === 'string' && j['nextPageToken'] ? j['nextPageToken'] : undefined;
        if (!pageToken) return out;
      }
    },
    async close() {
      await dispatcher.close();
    },
  };
}
