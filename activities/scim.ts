/**
 * Non-SSO applications through SCIM 2.0 (RFC 7644): find the user by `userName`, `PATCH active=false`,
 * then `GET` the user to confirm.
 */
import { request } from 'undici';
import type { ScimConnectorConfig } from '../config/catalog';
import { CALL_TIMEOUT_MS, connectorAgent } from '../lib/http';
import type { RevocationConnector, Subject } from './connector';
import {
  ConfirmationMismatchError,
  TargetRejectedError,
  TargetUnavailableError,
  errorForStatus,
} from './errors';

const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

interface ScimUser {
  id: string;
  userName: string;
  active?: boolean;
}

/** Creates the SCIM connector for one catalog entry. */
export function createScimConnector(cfg: ScimConnectorConfig, token: string): RevocationConnector {
  const base = cfg.baseUrl.replace(/\/$/, '');

  const dispatcher = connectorAgent();
  const headers = {
    authorization: `Bearer ${token}`,
    accept: 'application/scim+json, application/json',
  };

  async function call(
    method: 'GET' | 'PATCH',
    path: string,
    body?: unknown,
  ): Promise<{ status: number; json: unknown }> {
    let status: number;
    let text: string;
    let retryAfter: string | null = null;
    try {
      const res = await request(`${base}${path}`, {
        method,
        dispatcher,
        headers: body ? { ...headers, 'content-type': 'application/scim+json' } : headers,
        body: body ? JSON.stringify(body) : undefined,
        headersTimeout: CALL_TIMEOUT_MS,
        bodyTimeout: CALL_TIMEOUT_MS,
      });
      status = res.statusCode;
      const ra = res.headers['retry-after'];
      retryAfter = (Array.isArray(ra) ? ra[0] : ra) ?? null;
      text = await res.body.text();
    } catch (e) {
      throw new TargetUnavailableError(`SCIM ${method} ${path}: ${(e as Error).message}`);
    }
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (status >= 400 && status !== 404) {
      const detail = (json as { detail?: string; scimType?: string } | null) ?? {};
      throw errorForStatus(
        status,
        `SCIM ${method} ${path}: ${status} ${detail.scimType ?? ''} ${detail.detail ?? text.slice(0, 200)}`.trim(),
        retryAfter,
      );
    }
    return { status, json };
  }

  function userName(subject: Subject): string {
    return cfg.userNameFrom === 'employeeId' ? subject.employeeId : subject.workEmail;
  }

  async function find(subject: Subject): Promise<ScimUser | null> {
    const name = userName(subject).replaceAll('\\', '\\\\').replaceAll('"', '\\"');
    const { status, json } = await call(
      'GET',
      `/Users?filter=${encodeURIComponent(`userName eq "${name}"`)}`,
    );
    if (status === 404)
      throw new TargetRejectedError('SCIM /Users endpoint not found: check connector.baseUrl');
    const list = json as { totalResults?: number; Resources?: ScimUser[] };
    const hits = list.Resources ?? [];
    if (hits.length > 1) throw new TargetRejectedError(`userName matched ${hits.length} SCIM users`);
    return hits[0] ?? null;
  }

  async function get(id: string): Promise<ScimUser | null> {
    const { status, json } = await call('GET', `/Users/${encodeURIComponent(id)}`);
    return status === 404 ? null : (json as ScimUser);
  }

  return {
    executingSystem: `SCIM 2.0 @ ${new URL(base).host}`,
    action: 'deactivate_user',
    async revoke(subject) {
      const user = await find(subject);
      if (!user) {
        return {
          changes: [],
          confirmation: { exists: false },
          detail: 'no account (confirmed by SCIM filter)',
        };
      }
      const changes: string[] = [];
      if (user.active !== false) {
        const { status } = await call('PATCH', `/Users/${encodeURIComponent(user.id)}`, {
          schemas: [PATCH_OP],
          Operations: [{ op: 'replace', path: 'active', value: false }],
        });
        if (status === 404)
          return { changes, confirmation: { id: user.id, exists: false }, detail: 'account removed' };
        changes.push('active=false');
      }
      const after = await get(user.id);
      if (!after) return { changes, confirmation: { id: user.id, exists: false }, detail: 'account removed' };
      if (after.active !== false) throw new ConfirmationMismatchError('SCIM still reports active=true');
      return {
        changes,
        confirmation: { id: after.id, userName: after.userName, active: false },
        detail: 'SCIM user deactivated (active=false confirmed)',
      };
    },
    async hasActiveAccount(subject) {
      const u = await find(subject);
      return !!u && u.active !== false;
    },
    async close() {
      await dispatcher.close();
    },
  };
}
