/**
 * The Okta connector's HTTP client: JSON calls to the Management API (`<orgUrl>/api/v1`) with an API
 * token (`Authorization: SSWS <token>`), lists followed through their `Link: <…>; rel="next"` headers
 * (only to the org's own origin), and every failure mapped to a domain error from Okta's error body
 * (`errorCode`, `errorSummary`, `errorCauses`):
 *
 * - 401 (E0000011, an invalid or revoked token) and 403 (E0000006, the token's admin lacks the
 *   permission; with OAuth, `WWW-Authenticate: … error="insufficient_scope"`) → `TargetAuthError`,
 *   naming the OAuth scope and admin permission the call needs;
 * - 429 (E0000047) → `TargetThrottledError`, waiting until `X-Rate-Limit-Reset` (UTC epoch seconds,
 *   measured against the answer's own `Date` so that clock skew does not count), or `Retry-After`;
 * - 5xx and network failures → `TargetUnavailableError`; 404 is answered (the caller decides).
 *
 * The token never leaves this module: messages name the method, the path and Okta's own error.
 */
import { readFileSync } from 'node:fs';
import type { Dispatcher } from 'undici';
import type { OktaConnectorConfig } from '../config/catalog';
import { connectorAgent } from '../lib/http';
import { callJson, header, nextLink } from './http-json';
import {
  TargetAuthError,
  TargetRejectedError,
  TargetThrottledError,
  TargetUnavailableError,
  retryAfterMs,
} from './errors';

export interface OktaAnswer {
  status: number;
  json: unknown;
}

export interface OktaApi {
  /** `<orgUrl>/api/v1<path>`; 404 is answered, every other failure thrown. */
  call(method: Dispatcher.HttpMethod, path: string): Promise<OktaAnswer>;
  /** Every page of a list (null when the list's owner is gone: 404). */
  list<T>(path: string): Promise<T[] | null>;
  readonly host: string;
  close(): Promise<void>;
}

/** Okta's error body. */
interface OktaError {
  errorCode?: string;
  errorSummary?: string;
  errorCauses?: { errorSummary?: string }[];
}

/** Most pages of one list followed. */
const MAX_PAGES = 100;

/** `errorCode: errorSummary (causes)`, or the start of the text when the body is not Okta's. */
export function oktaReason(json: unknown, text: string): string {
  const e = (json ?? {}) as OktaError;
  if (typeof e.errorSummary !== 'string') return text.slice(0, 200);
  const causes = (e.errorCauses ?? []).map((c) => c.errorSummary).filter((c) => typeof c === 'string');
  return `${e.errorCode ?? ''} ${e.errorSummary}${causes.length ? ` (${causes.join('; ')})` : ''}`.trim();
}

/**
 * The OAuth scope and the admin permission a call needs (Okta's API reference names the scope per
 * operation; an SSWS token acts with the role of the admin who created it).
 */
export function permissionFor(method: string, path: string): string {
  const write = method !== 'GET';
  if (/^\/users\/[^/]+\/roles/.test(path))
    return write
      ? 'scope okta.roles.manage; an admin role that may manage admin role assignments (Super Administrator)'
      : 'scope okta.roles.read; an admin role that may view admin role assignments';
  if (path === '/groups' || (path.startsWith('/groups/') && !write && !path.includes('/users')))
    return 'scope okta.groups.read; an admin role that may view the group';
  if (path.startsWith('/groups/'))
    return 'scope okta.groups.manage; an admin role that may manage the group’s members';
  if (path.startsWith('/apps'))
    return write
      ? 'scope okta.apps.manage; an admin role that may manage the app’s assignments'
      : 'scope okta.apps.read; an admin role that may view the app’s assignments';
  if (path.includes('/grants') || path.includes('/clients'))
    return write ? 'scope okta.users.manage' : 'scope okta.users.read';
  return write
    ? 'scope okta.users.manage; an admin role that may manage the user (e.g. Group or Org Administrator)'
    : 'scope okta.users.read; an admin role that may view the user';
}

/**
 * Milliseconds until the rate-limit window resets: `X-Rate-Limit-Reset` (epoch seconds) minus the
 * answer's `Date` (or now), else `Retry-After`, else a second.
 */
export function oktaRetryMs(h: Record<string, string | string[] | undefined>, now = Date.now()): number {
  const reset = Number(header(h, 'x-rate-limit-reset'));
  if (Number.isFinite(reset) && reset > 0) {
    const date = Date.parse(header(h, 'date') ?? '');
    const base = Number.isFinite(date) ? date : now;
    return Math.max(0, reset * 1000 - base);
  }
  return retryAfterMs(header(h, 'retry-after'));
}

/** Creates the client of one catalog entry; `token` is the API token (never logged). */
export function createOktaApi(cfg: OktaConnectorConfig, token: string): OktaApi {
  const origin = new URL(cfg.orgUrl).origin;
  const base = `${origin}/api/v1`;
  const dispatcher = connectorAgent(cfg.caFile ? readFileSync(cfg.caFile, 'utf8') : undefined);
  const headers = { authorization: `SSWS ${token}`, accept: 'application/json' };

  async function send(method: Dispatcher.HttpMethod, url: string, what: string) {
    const res = await callJson(url, { method, dispatcher, headers }, `Okta ${what}`);
    const { status, json, text } = res;
    if (status < 400 || status === 404) return { status, json, next: nextLink(res.headers) };
    const msg = `Okta ${what}: ${status} ${oktaReason(json, text)}`;
    if (status === 401 || status === 403) {
      const challenge = header(res.headers, 'www-authenticate') ?? '';
      const scope = /error="insufficient_scope"/.test(challenge) ? ' (insufficient_scope)' : '';
      const path = what.slice(what.indexOf(' ') + 1);
      const fix =
        status === 401
          ? `check the API token in ${cfg.tokenEnv} (revoked, expired, or its admin deactivated)`
          : `the token lacks the permission: needs ${permissionFor(method, path)}`;
      throw new TargetAuthError(`${msg}${scope}: ${fix}`);
    }
    if (status === 429) throw new TargetThrottledError(msg, oktaRetryMs(res.headers));
    if (status >= 500) throw new TargetUnavailableError(msg);
    throw new TargetRejectedError(msg);
  }

  const whatOf = (method: string, path: string) => `${method} ${path.split('?')[0]}`;

  return {
    host: new URL(origin).host,
    async call(method, path) {
      const r = await send(method, `${base}${path}`, whatOf(method, path));
      return { status: r.status, json: r.json };
    },
    async list<T>(path: string): Promise<T[] | null> {
      const what = whatOf('GET', path);
      const out: T[] = [];
      let url: string | null = `${base}${path}`;
      for (let page = 0; url; page++) {
        if (page >= MAX_PAGES) throw new TargetRejectedError(`Okta ${what}: more than ${MAX_PAGES} pages`);
        const r: { status: number; json: unknown; next: string | null } = await send('GET', url, what);
        if (r.status === 404) return null;
        out.push(...((r.json as T[] | null) ?? []));
        // The token goes to the org only: a next link elsewhere is refused.
        if (r.next && new URL(r.next).origin !== origin)
          throw new TargetRejectedError(`Okta ${what}: a next-page link points outside ${origin}`);
        url = r.next;
      }
      return out;
    },
    async close() {
      await dispatcher.close();
    },
  };
}
