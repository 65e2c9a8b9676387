/**
 * Non-SSO applications through SCIM 2.0 (RFC 7644): find the user by the catalog's keys (`externalId`,
 * `userName`, `emails`; one filtered `GET /Users` each), `PATCH active=false`, then `GET` the user to
 * confirm. A hit that does not carry the value searched for is no match: some servers ignore filters
 * and answer every user.
 */
import { request } from 'undici';
import type { ScimConnectorConfig } from '../config/catalog';
import { CALL_TIMEOUT_MS, connectorAgent } from '../lib/http';
import type { RevocationConnector, TargetAccount } from './connector';
import { createMatcher, type KeyQuery, type MatchContext } from './matching';
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
  externalId?: string;
  displayName?: string;
  active?: boolean;
  emails?: { value?: string; type?: string; primary?: boolean }[];
  groups?: { value?: string; display?: string }[];
}

/** A SCIM user as matching found it. */
export interface ScimAccount extends TargetAccount {
  user: ScimUser;
}

const accountOf = (u: ScimUser): ScimAccount => ({
  id: u.id,
  name: u.displayName && u.displayName !== u.userName ? `${u.displayName} <${u.userName}>` : u.userName,
  aliases: [u.userName, ...(u.emails ?? []).map((e) => e.value ?? '')].filter(Boolean),
  user: u,
});

/** The SCIM filter of one key (string values in double quotes, `"` and `\` escaped). */
function filterOf(q: KeyQuery): string {
  if ('filter' in q.key) throw new TargetRejectedError('a SCIM key cannot be an LDAP filter');
  const v = `"${q.value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
  return q.key.attribute === 'emails' ? `emails.value eq ${v}` : `${q.key.attribute} eq ${v}`;
}

/**
 * Does `u` carry the key's value? `externalId` is case-exact (RFC 7643 §3.1); `userName` and email
 * addresses are not.
 */
function carries(u: ScimUser, q: KeyQuery): boolean {
  if ('filter' in q.key) return false;
  const v = q.value.toLowerCase();
  if (q.key.attribute === 'externalId') return u.externalId === q.value;
  if (q.key.attribute === 'userName') return (u.userName ?? '').toLowerCase() === v;
  if (q.key.attribute === 'emails') return (u.emails ?? []).some((e) => (e.value ?? '').toLowerCase() === v);
  return false;
}

/** Creates the SCIM connector for one catalog entry; `match` says how the leaver's account is found. */
export function createScimConnector(
  cfg: ScimConnectorConfig,
  token: string,
  match: MatchContext,
): RevocationConnector<ScimAccount> {
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

  /** The users one key finds (only those that carry its value). */
  async function searchKey(q: KeyQuery): Promise<ScimAccount[]> {
    const { status, json } = await call('GET', `/Users?filter=${encodeURIComponent(filterOf(q))}`);
    if (status === 404)
      throw new TargetRejectedError('SCIM /Users endpoint not found: check connector.baseUrl');
    const hits = (json as { Resources?: ScimUser[] } | null)?.Resources ?? [];
    return hits.filter((u) => carries(u, q)).map(accountOf);
  }

  async function get(id: string): Promise<ScimUser | null> {
    const { status, json } = await call('GET', `/Users/${encodeURIComponent(id)}`);
    return status === 404 ? null : (json as ScimUser);
  }

  const matcher = createMatcher<ScimAccount>(
    {
      async lookup(id) {
        const u = await get(id);
        return u ? accountOf(u) : null;
      },
      search: (queries) => Promise.all(queries.map(searchKey)),
      async groupsOf(a) {
        return (a.user.groups ?? []).flatMap((g) => [g.value ?? '', g.display ?? '']).filter(Boolean);
      },
      async liveAccess(a) {
        return a.user.active !== false ? 'active=true' : null;
      },
    },
    match,
  );

  return {
    executingSystem: `SCIM 2.0 @ ${new URL(base).host}`,
    action: 'deactivate_user',
    find: matcher.find,
    audit: matcher.audit,
    async revoke(_subject, account) {
      const user = account.user;
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
    async close() {
      await dispatcher.close();
    },
  };
}
