/**
 * The GitHub connector's HTTP client: JSON calls to the REST API (`apiUrl`, e.g. https://api.github.com)
 * and its GraphQL endpoint with a token (`Authorization: Bearer <token>`), lists followed through their
 * `Link: <…>; rel="next"` headers (only to the API's own origin), and every failure mapped to a domain
 * error from GitHub's answer (`{message, documentation_url}` and its headers):
 *
 * - 401 (a bad or revoked token) → `TargetAuthError` naming the variable that holds the token;
 * - 403 with `X-GitHub-SSO: required` (a classic token not authorized for the organization's SAML SSO)
 *   → `TargetAuthError` saying so;
 * - 403 or 429 with `x-ratelimit-remaining: 0` (the primary rate limit) → `TargetThrottledError`,
 *   waiting until `x-ratelimit-reset` (UTC epoch seconds, measured against the answer's own `Date`);
 *   403 or 429 with `retry-after` (a secondary rate limit) → `TargetThrottledError` for that long;
 * - any other 403 → `TargetAuthError` naming the missing scope (`X-Accepted-OAuth-Scopes` the call
 *   accepts minus `X-OAuth-Scopes` the token has; else the scope the call is documented to need);
 * - 5xx and network failures → `TargetUnavailableError`; 404 is answered (the caller decides).
 *
 * GraphQL answers 200 with `errors`: `INSUFFICIENT_SCOPES` is a `TargetAuthError`, `RATE_LIMITED` a
 * `TargetThrottledError`. The token never leaves this module: messages name the method, the path and
 * GitHub's own message.
 */
import { readFileSync } from 'node:fs';
import type { Dispatcher } from 'undici';
import type { GithubConnectorConfig } from '../config/catalog';
import { connectorAgent } from '../lib/http';
import { callJson, header, nextLink, type Headers } from './http-json';
import {
  TargetAuthError,
  TargetRejectedError,
  TargetThrottledError,
  TargetUnavailableError,
  retryAfterMs,
} from './errors';

export interface GithubAnswer {
  status: number;
  json: unknown;
}

export interface GithubApi {
  /** `<apiUrl><path>`; 404 is answered, every other failure thrown. */
  call(method: Dispatcher.HttpMethod, path: string): Promise<GithubAnswer>;
  /** Every page of a list (`per_page=100`); null when the list's owner is gone (404). */
  list<T>(path: string): Promise<T[] | null>;
  /** A GraphQL query's `data`; errors thrown. */
  graphql<T>(query: string, variables: Record<string, unknown>): Promise<T>;
  readonly host: string;
  close(): Promise<void>;
}

/** Most pages of one list followed. */
const MAX_PAGES = 100;

const scopesOf = (v: string | null) =>
  (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** GitHub's error message, or the start of the text when the body is not GitHub's. */
export function githubReason(json: unknown, text: string): string {
  const m = (json as { message?: unknown } | null)?.message;
  return typeof m === 'string' ? m : text.slice(0, 200);
}

/**
 * The classic-token scope a call needs when GitHub does not say (`X-Accepted-OAuth-Scopes`), and the
 * fine-grained / GitHub App permission that does the same.
 */
export function scopeFor(method: string, path: string): string {
  const write = method !== 'GET';
  if (path.includes('/credential-authorizations'))
    return write ? 'admin:org' : 'read:org (admin:org to revoke)';
  if (path === '/graphql') return 'admin:org (SAML external identities)';
  return write
    ? 'admin:org, or the organization permission "Members: write"'
    : 'read:org, or the organization permission "Members: read"';
}

/**
 * Milliseconds until GitHub lets the token call again: `x-ratelimit-reset` (epoch seconds) minus the
 * answer's `Date` (or now) when the primary limit is spent, else `retry-after`, else a minute (GitHub's
 * advice for a secondary limit without either header).
 */
export function githubRetryMs(h: Headers, now = Date.now()): number {
  const reset = Number(header(h, 'x-ratelimit-reset'));
  if (header(h, 'x-ratelimit-remaining') === '0' && Number.isFinite(reset) && reset > 0) {
    const date = Date.parse(header(h, 'date') ?? '');
    return Math.max(0, reset * 1000 - (Number.isFinite(date) ? date : now));
  }
  return retryAfterMs(header(h, 'retry-after'), 60_000);
}

/** Is this 403/429 a rate limit (primary or secondary) rather than a refusal? */
const rateLimited = (status: number, h: Headers, message: string) =>
  status === 429 ||
  header(h, 'x-ratelimit-remaining') === '0' ||
  header(h, 'retry-after') !== null ||
  /rate limit/i.test(message);

/** The GraphQL endpoint of a REST base: `/graphql` beside it, `/api/graphql` for `/api/v3`. */
export function graphqlUrlOf(apiUrl: string): string {
  const base = apiUrl.replace(/\/+$/, '');
  return base.endsWith('/api/v3') ? `${base.slice(0, -2)}graphql` : `${base}/graphql`;
}

/** Creates the client of one catalog entry; `token` is the token (never logged). */
export function createGithubApi(cfg: GithubConnectorConfig, token: string): GithubApi {
  const base = cfg.apiUrl.replace(/\/+$/, '');
  const origin = new URL(base).origin;
  const dispatcher = connectorAgent(cfg.caFile ? readFileSync(cfg.caFile, 'utf8') : undefined);
  const headers = {
    authorization: `Bearer ${token}`,
    accept: 'application/vnd.github+json',
    'x-github-api-version': '2022-11-28',
    'user-agent': 'offboard',
  };

  async function send(method: Dispatcher.HttpMethod, url: string, what: string, body?: string) {
    const {
      status,
      headers: h,
      json,
      text,
    } = await callJson(
      url,
      {
        method,
        dispatcher,
        headers: body ? { ...headers, 'content-type': 'application/json' } : headers,
        ...(body ? { body } : {}),
      },
      `GitHub ${what}`,
    );
    if (status < 400 || status === 404) return { status, json, next: nextLink(h) };
    const reason = githubReason(json, text);
    const msg = `GitHub ${what}: ${status} ${reason}`;
    if (status === 401)
      throw new TargetAuthError(`${msg}: check the token in ${cfg.tokenEnv} (revoked, expired or mistyped)`);
    if ((status === 403 || status === 429) && rateLimited(status, h, reason))
      throw new TargetThrottledError(msg, githubRetryMs(h));
    if (status === 403) {
      const sso = header(h, 'x-github-sso');
      if (sso?.startsWith('required'))
        throw new TargetAuthError(
          `${msg}: the token in ${cfg.tokenEnv} is not authorized for the organization's SAML single ` +
            `sign-on (X-GitHub-SSO: required): authorize it for ${cfg.org} (Configure SSO)`,
        );
      const accepted = scopesOf(header(h, 'x-accepted-oauth-scopes'));
      const has = scopesOf(header(h, 'x-oauth-scopes'));
      const missing = accepted.filter((s) => !has.includes(s));
      const path = what.slice(what.indexOf(' ') + 1);
      const needs = missing.length ? missing.join(' or ') : scopeFor(method, path);
      const held =
        header(h, 'x-oauth-scopes') !== null ? ` (the token has ${has.join(', ') || 'no scope'})` : '';
      throw new TargetAuthError(
        `${msg}: the token lacks the permission: needs scope ${needs}${held}, and an organization owner's role`,
      );
    }
    if (status >= 500) throw new TargetUnavailableError(msg);
    throw new TargetRejectedError(msg);
  }

  const whatOf = (method: string, path: string) => `${method} ${path.split('?')[0]}`;
  const withPerPage = (path: string) => `${path}${path.includes('?') ? '&' : '?'}per_page=100`;

  return {
    host: new URL(origin).host,
    async call(method, path) {
      const r = await send(method, `${base}${path}`, whatOf(method, path));
      return { status: r.status, json: r.json };
    },
    async list<T>(path: string): Promise<T[] | null> {
      const what = whatOf('GET', path);
      const out: T[] = [];
      let url: string | null = `${base}${withPerPage(path)}`;
      for (let page = 0; url; page++) {
        if (page >= MAX_PAGES) throw new TargetRejectedError(`GitHub ${what}: more than ${MAX_PAGES} pages`);
        const r: { status: number; json: unknown; next: string | null } = await send('GET', url, what);
        if (r.status === 404) return null;
        out.push(...((r.json as T[] | null) ?? []));
        // The token goes to the API only: a next link elsewhere is refused.
        if (r.next && new URL(r.next).origin !== origin)
          throw new TargetRejectedError(`GitHub ${what}: a next-page link points outside ${origin}`);
        url = r.next;
      }
      return out;
    },
    async graphql<T>(query: string, variables: Record<string, unknown>): Promise<T> {
      const r = await send('POST', graphqlUrlOf(base), 'POST /graphql', JSON.stringify({ query, variables }));
      const body = (r.json ?? {}) as {
        data?: T;
        errors?: { type?: string; message?: string }[];
      };
      const errors = body.errors ?? [];
      if (errors.length > 0) {
        const text = errors.map((e) => `${e.type ?? 'ERROR'}: ${e.message ?? ''}`.trim()).join('; ');
        const msg = `GitHub POST /graphql: ${text}`;
        if (errors.some((e) => e.type === 'RATE_LIMITED')) throw new TargetThrottledError(msg, 60_000);
        if (errors.some((e) => e.type === 'INSUFFICIENT_SCOPES' || e.type === 'FORBIDDEN'))
          throw new TargetAuthError(
            `${msg}: the token lacks the permission: needs scope ${scopeFor('POST', '/graphql')}`,
          );
        throw new TargetRejectedError(msg);
      }
      if (r.status === 404 || body.data === undefined)
        throw new TargetRejectedError(
          `GitHub POST /graphql: ${r.status} without data: check connector.apiUrl`,
        );
      return body.data;
    },
    async close() {
      await dispatcher.close();
    },
  };
}
