/**
 * The Slack connector's HTTP client: Web API methods (`<apiUrl>/<method>`, form-encoded, `Authorization:
 * Bearer <token>`) and the SCIM API (`<scimUrl>/Users/<id>`), every failure mapped to a domain error.
 * Web API failures come back as HTTP 200 with `{"ok": false, "error": "…"}`, so `ok` is checked:
 *
 * - `not_authed`, `invalid_auth`, `token_revoked`, `token_expired`, `account_inactive` →
 *   `TargetAuthError` naming the variable that holds the token; `missing_scope` → `TargetAuthError`
 *   naming the scope Slack says is `needed` (and those `provided`); `not_allowed_token_type`,
 *   `no_permission`, `access_denied`, `invalid_permissions`, `feature_not_enabled` → `TargetAuthError`;
 * - HTTP 429 (`ratelimited`) → `TargetThrottledError` waiting `Retry-After` seconds;
 * - 5xx, `fatal_error`, `internal_error`, `service_unavailable`, `request_timeout` and network failures
 *   → `TargetUnavailableError`; the "not found" errors are answered (the caller decides).
 *
 * SCIM: 401/403 → `TargetAuthError` (the token needs the `admin` scope of an Org Owner or Admin), 429 →
 * throttled, 5xx → unavailable, 404 answered. The token never leaves this module.
 */
import { readFileSync } from 'node:fs';
import type { Dispatcher } from 'undici';
import type { SlackConnectorConfig } from '../config/catalog';
import { connectorAgent } from '../lib/http';
import { callJson, header } from './http-json';
import {
  TargetAuthError,
  TargetRejectedError,
  TargetThrottledError,
  TargetUnavailableError,
  retryAfterMs,
} from './errors';

export interface SlackApi {
  /** A Web API method's answer; null when Slack answers one of `notFound` (e.g. `user_not_found`). */
  web<T>(method: string, args: Record<string, string>, notFound?: string[]): Promise<T | null>;
  /** `<scimUrl><path>`: the JSON, or null on 404. */
  scim<T>(method: Dispatcher.HttpMethod, path: string): Promise<T | null>;
  readonly host: string;
  close(): Promise<void>;
}

const AUTH = ['not_authed', 'invalid_auth', 'token_revoked', 'token_expired', 'account_inactive'];
const DENIED = [
  'not_allowed_token_type',
  'no_permission',
  'access_denied',
  'invalid_permissions',
  'feature_not_enabled',
];
const DOWN = ['fatal_error', 'internal_error', 'service_unavailable', 'request_timeout'];

/** The scope each Web API method needs (said when Slack refuses without naming it). */
export const METHOD_SCOPES: Record<string, string> = {
  'users.info': 'users:read',
  'users.lookupByEmail': 'users:read.email',
  'admin.users.session.reset': 'admin.users:write',
  'admin.users.remove': 'admin.users:write',
};

/** Creates the client of one catalog entry; `token` is the token (never logged). */
export function createSlackApi(cfg: SlackConnectorConfig, token: string): SlackApi {
  const api = cfg.apiUrl.replace(/\/+$/, '');
  const scimBase = cfg.scimUrl.replace(/\/+$/, '');
  const dispatcher = connectorAgent(cfg.caFile ? readFileSync(cfg.caFile, 'utf8') : undefined);
  const auth = { authorization: `Bearer ${token}` };

  async function send(method: Dispatcher.HttpMethod, url: string, what: string, body?: string) {
    return callJson(
      url,
      {
        method,
        dispatcher,
        headers: {
          ...auth,
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        },
        ...(body !== undefined ? { body } : {}),
      },
      `Slack ${what}`,
    );
  }

  return {
    host: new URL(api).host,
    async web<T>(method: string, args: Record<string, string>, notFound: string[] = []) {
      const r = await send('POST', `${api}/${method}`, method, new URLSearchParams(args).toString());
      const body = (r.json ?? {}) as { ok?: boolean; error?: string; needed?: string; provided?: string };
      if (r.status === 429 || body.error === 'ratelimited')
        throw new TargetThrottledError(
          `Slack ${method}: ${r.status} ratelimited`,
          retryAfterMs(header(r.headers, 'retry-after')),
        );
      if (r.status >= 500)
        throw new TargetUnavailableError(`Slack ${method}: ${r.status} ${r.text.slice(0, 200)}`);
      if (body.ok === true) return body as T;
      const error = body.error ?? `HTTP ${r.status} without ok`;
      const msg = `Slack ${method}: ${error}`;
      if (notFound.includes(error)) return null;
      if (AUTH.includes(error))
        throw new TargetAuthError(
          `${msg}: check the token in ${cfg.tokenEnv} (revoked, expired or mistyped)`,
        );
      if (error === 'missing_scope')
        throw new TargetAuthError(
          `${msg}: the token lacks the permission: needs scope ${body.needed ?? METHOD_SCOPES[method] ?? '?'}` +
            (body.provided !== undefined ? ` (the token has ${body.provided || 'no scope'})` : ''),
        );
      if (DENIED.includes(error))
        throw new TargetAuthError(
          `${msg}: the token lacks the permission: needs scope ${METHOD_SCOPES[method] ?? '?'} on a user token ` +
            'of an Org Owner or Admin, from an app installed on the whole organization',
        );
      if (DOWN.includes(error)) throw new TargetUnavailableError(msg);
      throw new TargetRejectedError(msg);
    },
    async scim<T>(method: Dispatcher.HttpMethod, path: string) {
      const what = `SCIM ${method} ${path}`;
      const r = await send(method, `${scimBase}${path}`, what);
      if (r.status === 404) return null;
      if (r.status < 400) return (r.json ?? {}) as T;
      const e = (r.json ?? {}) as { Errors?: { description?: string }; detail?: string };
      const msg = `Slack ${what}: ${r.status} ${e.Errors?.description ?? e.detail ?? r.text.slice(0, 200)}`;
      if (r.status === 401)
        throw new TargetAuthError(
          `${msg}: check the token in ${cfg.tokenEnv} (revoked, expired or mistyped)`,
        );
      if (r.status === 403)
        throw new TargetAuthError(
          `${msg}: the token lacks the permission: needs scope admin (SCIM) on a user token of an Org Owner or ` +
            'Admin, on a Business+ or Enterprise plan',
        );
      if (r.status === 429)
        throw new TargetThrottledError(msg, retryAfterMs(header(r.headers, 'retry-after')));
      if (r.status >= 500) throw new TargetUnavailableError(msg);
      throw new TargetRejectedError(msg);
    },
    async close() {
      await dispatcher.close();
    },
  };
}
