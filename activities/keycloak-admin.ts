/**
 * The Keycloak connector's HTTP client: an admin token from the token endpoint (client credentials or a
 * password grant, cached until shortly before it expires), and JSON calls to the Admin REST API of one
 * realm with every failure mapped to a domain error. Neither the secret nor a token ever leaves this
 * module: messages name the method, the path and Keycloak's own error, nothing else.
 */
import { readFileSync } from 'node:fs';
import { request, type Dispatcher } from 'undici';
import type { KeycloakConnectorConfig } from '../config/catalog';
import { CALL_TIMEOUT_MS, connectorAgent } from '../lib/http';
import { TargetAuthError, TargetUnavailableError, errorForStatus } from './errors';

export interface KeycloakAnswer {
  status: number;
  json: unknown;
}

export interface KeycloakAdmin {
  /** `GET|PUT|POST|DELETE <base>/admin/realms/<realm><path>`; 404 is answered, every other failure thrown. */
  call(method: Dispatcher.HttpMethod, path: string, body?: unknown): Promise<KeycloakAnswer>;
  /** The host the connector talks to, for the step table. */
  readonly host: string;
  close(): Promise<void>;
}

/** Keycloak's error body: `{"error": "...", "error_description": "..."}` or `{"errorMessage": "..."}`. */
function reason(json: unknown, text: string): string {
  const j = (json ?? {}) as { error?: unknown; error_description?: unknown; errorMessage?: unknown };
  const parts = [j.error, j.error_description, j.errorMessage].filter((x) => typeof x === 'string');
  return parts.length > 0 ? parts.join(': ') : text.slice(0, 200);
}

/** Creates the admin client of one catalog entry; `secret` is the client secret or the password. */
export function createKeycloakAdmin(cfg: KeycloakConnectorConfig, secret: string): KeycloakAdmin {
  const base = cfg.baseUrl.replace(/\/$/, '');
  const adminBase = `${base}/admin/realms/${encodeURIComponent(cfg.realm)}`;
  const tokenUrl = `${base}/realms/${encodeURIComponent(cfg.tokenRealm)}/protocol/openid-connect/token`;
  const dispatcher = connectorAgent(cfg.caFile ? readFileSync(cfg.caFile, 'utf8') : undefined);
  let cached: { token: string; expiresAt: number } | null = null;

  async function send(
    method: Dispatcher.HttpMethod,
    url: string,
    headers: Record<string, string>,
    body: string | undefined,
    what: string,
  ): Promise<{ status: number; json: unknown; text: string; retryAfter: string | null }> {
    try {
      const res = await request(url, {
        method,
        dispatcher,
        headers,
        body,
        headersTimeout: CALL_TIMEOUT_MS,
        bodyTimeout: CALL_TIMEOUT_MS,
      });
      const text = await res.body.text();
      let json: unknown = null;
      try {
        json = text ? JSON.parse(text) : null;
      } catch {
        json = null;
      }
      const ra = res.headers['retry-after'];
      return { status: res.statusCode, json, text, retryAfter: (Array.isArray(ra) ? ra[0] : ra) ?? null };
    } catch (e) {
      throw new TargetUnavailableError(`Keycloak ${what}: ${(e as Error).message}`);
    }
  }

  async function token(): Promise<string> {
    if (cached && cached.expiresAt > Date.now() + 10_000) return cached.token;
    const form: Record<string, string> =
      cfg.grant === 'password'
        ? {
            grant_type: 'password',
            client_id: cfg.clientId ?? 'admin-cli',
            username: cfg.username ?? '',
            password: secret,
          }
        : { grant_type: 'client_credentials', client_id: cfg.clientId ?? '', client_secret: secret };
    const what = `token request (${cfg.grant}) to realm ${cfg.tokenRealm}`;
    const r = await send(
      'POST',
      tokenUrl,
      { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      new URLSearchParams(form).toString(),
      what,
    );
    const body = (r.json ?? {}) as { access_token?: string; expires_in?: number };
    if (r.status >= 400 || !body.access_token) {
      const msg =
        `Keycloak refused the ${what} (${r.status} ${reason(r.json, r.text)}): check connector.clientId` +
        `${cfg.grant === 'password' ? ', connector.username' : ''} and the secret in ${cfg.secretEnv}`;
      // The token endpoint answers a wrong secret or user with 400/401 (invalid_grant, invalid_client).
      if (r.status === 400 || r.status === 401 || r.status === 403) throw new TargetAuthError(msg);
      throw errorForStatus(r.status, msg, r.retryAfter);
    }
    cached = { token: body.access_token, expiresAt: Date.now() + (body.expires_in ?? 60) * 1000 };
    return cached.token;
  }

  async function call(method: Dispatcher.HttpMethod, path: string, body?: unknown): Promise<KeycloakAnswer> {
    const what = `${method} ${path.split('?')[0]}`;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    for (let attempt = 1; ; attempt++) {
      const headers: Record<string, string> = {
        authorization: `Bearer ${await token()}`,
        accept: 'application/json',
        ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
      };
      const r = await send(method, `${adminBase}${path}`, headers, payload, what);
      // A token Keycloak no longer accepts (expired early, its session logged out): fetch one more once.
      if (r.status === 401 && attempt === 1) {
        cached = null;
        continue;
      }
      if (r.status >= 400 && r.status !== 404) {
        const hint =
          r.status !== 403
            ? ''
            : method === 'DELETE' && path.includes('/role-mappings/clients/')
              ? // Keycloak lets only an administrator holding realm-admin remove its administration roles.
                ' (removing realm-management roles during a notice period needs the realm-management role realm-admin)'
              : ' (the admin account needs the realm-management roles manage-users, view-users and view-clients)';
        throw errorForStatus(
          r.status,
          `Keycloak ${what}: ${r.status} ${reason(r.json, r.text)}${hint}`,
          r.retryAfter,
        );
      }
      return { status: r.status, json: r.json };
    }
  }

  return {
    call,
    host: new URL(base).host,
    async close() {
      await dispatcher.close();
    },
  };
}
