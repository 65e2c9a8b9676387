/**
 * Okta through its Management API (`/api/v1`, API token). One catalog entry revokes one `scope`:
 *
 * - `account` (identity tier, action `deactivate_clear_sessions_grants_factors_groups_apps`): clear the
 *   user's sessions with `oauthTokens=true&forgetDevices=true` passed explicitly (Okta's defaults differ
 *   between engines), revoke every grant and every client's tokens and grants, delete every factor,
 *   remove every direct app assignment and every group membership (not the built-in Everyone group,
 *   which no one can leave), then deactivate (not suspend: a suspended user keeps its assignments).
 *   Confirmed by reading back status DEPROVISIONED (Okta's status of a deactivated user; a pending
 *   `transitioningToStatus` is not yet confirmed), no factor, no group but built-in ones, no app link,
 *   no direct assignment (each removed one answers 404), no grant, no client with tokens. Okta has no
 *   API that lists a user's sessions: the evidence says so, and what was read instead. The grants and
 *   clients are read first (clearing sessions with `oauthTokens=true` ends tokens): the evidence's
 *   `consents` names each app the leaver authorised, with its client id and granted scopes.
 * - `factors` (MFA tier, action `delete_factors`): delete every factor; confirmed when none is listed.
 *
 * During a notice period (`notice: scope`) an `account` entry scopes instead: activities/okta-scope.ts.
 *
 * Found by the catalog's keys, each an exact `search=profile.<attribute> eq "<value>"` (search, unlike
 * a plain list, also finds deactivated users); a hit must carry the value (login and email without
 * regard to case). A repeat on a revoked user changes nothing.
 */
import type { OktaConnectorConfig } from '../config/catalog';
import type { Consent } from '../contract/consents';
import type { RevocationConnector, RevokeResult, TargetAccount } from './connector';
import { ConfirmationMismatchError, TargetRejectedError } from './errors';
import { createMatcher, type KeyQuery, type MatchContext } from './matching';
import { createOktaApi } from './okta-api';
import { createOktaScope } from './okta-scope';

interface OktaUser {
  id: string;
  status: string;
  transitioningToStatus?: string | null;
  profile: Record<string, unknown> & { login: string; email?: string; firstName?: string; lastName?: string };
}
interface OktaFactor {
  id: string;
  factorType: string;
  provider?: string;
}
interface OktaGroup {
  id: string;
  /** OKTA_GROUP, APP_GROUP or BUILT_IN (Everyone). */
  type: string;
  profile?: { name?: string };
}
interface OktaAppLink {
  appInstanceId: string;
  appName?: string;
  label?: string;
}
interface OktaApp {
  id: string;
  label?: string;
  name?: string;
  _embedded?: { user?: { id: string; scope?: string } };
}
interface OktaGrant {
  id: string;
  clientId?: string;
  /** The granted scope (`okta.users.read`, or a custom authorization server's scope id). */
  scopeId?: string;
}
interface OktaClient {
  client_id: string;
  client_name?: string;
}

export const ACCOUNT_ACTION = 'deactivate_clear_sessions_grants_factors_groups_apps';
export const FACTORS_ACTION = 'delete_factors';
export const DEPROVISIONED = 'DEPROVISIONED';

/** What the account scope reads back, and what it cannot read. */
const READ_BACK = ['status', 'factors', 'groups', 'appLinks', 'direct app assignments', 'grants', 'clients'];
const NOT_READABLE = [
  'Okta sessions (Okta has no API that lists a user’s sessions: they were cleared, not read back)',
  'sessions that web or native apps created themselves (clearing Okta sessions does not end them)',
];

/** An Okta user as matching found it. */
export interface OktaAccount extends TargetAccount {
  user: OktaUser;
}

const accountOf = (u: OktaUser): OktaAccount => {
  const full = [u.profile.firstName, u.profile.lastName].filter(Boolean).join(' ');
  return {
    id: u.id,
    name: full ? `${full} <${u.profile.login}>` : u.profile.login,
    aliases: [u.profile.login, u.profile.email].filter((x): x is string => !!x),
    user: u,
  };
};

/** Does `u` carry the key's value? Logins and emails compare without case, other attributes exactly. */
function carries(u: OktaUser, q: KeyQuery): boolean {
  if ('filter' in q.key) return false;
  const v = u.profile[q.key.attribute];
  const values = (Array.isArray(v) ? v : [v]).filter((x) => typeof x === 'string' || typeof x === 'number');
  const caseless = q.key.attribute === 'login' || q.key.attribute === 'email';
  return values.some((x) =>
    caseless ? String(x).toLowerCase() === q.value.toLowerCase() : String(x) === q.value,
  );
}

/** The search expression of one key (the value quoted, `"` and `\` escaped). */
export function searchOf(q: KeyQuery): string {
  if ('filter' in q.key) throw new TargetRejectedError('an Okta key cannot be an LDAP filter');
  return `profile.${q.key.attribute} eq "${q.value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const factorLabel = (f: OktaFactor) => (f.provider ? `${f.factorType} (${f.provider})` : f.factorType);
const groupLabel = (g: OktaGroup) => g.profile?.name ?? g.id;
const appLabel = (a: { label?: string; name?: string; appName?: string; id?: string }) =>
  a.label ?? a.name ?? a.appName ?? a.id ?? '?';
const clientLabel = (c: OktaClient) => c.client_name ?? c.client_id;

/** The apps the user authorised: each client with grants or tokens, with the scopes granted to it. */
function consentsOf(grants: OktaGrant[], clients: OktaClient[]): Consent[] {
  const names = new Map(clients.map((c) => [c.client_id, c.client_name ?? c.client_id]));
  const ids = [...new Set([...clients.map((c) => c.client_id), ...grants.flatMap((g) => g.clientId ?? [])])];
  return ids.map((id) => {
    const scopes = [...new Set(grants.filter((g) => g.clientId === id).flatMap((g) => g.scopeId ?? []))];
    const granted = grants.some((g) => g.clientId === id);
    return { appId: id, name: names.get(id) ?? id, scopes, kind: granted ? 'scope-grant' : 'oauth-token' };
  });
}

/** Creates the Okta connector for one catalog entry; `match` says how the leaver's account is found. */
export function createOktaConnector(
  cfg: OktaConnectorConfig,
  token: string,
  match: MatchContext,
): RevocationConnector<OktaAccount> {
  const api = createOktaApi(cfg, token);
  const enc = encodeURIComponent;
  const user = (id: string) => `/users/${enc(id)}`;

  async function get<T>(path: string): Promise<T | null> {
    const r = await api.call('GET', path);
    return r.status === 404 ? null : (r.json as T);
  }
  /** Deletes what `path` names; false when it was already gone (a repeat after a crash). */
  async function del(path: string): Promise<boolean> {
    return (await api.call('DELETE', path)).status !== 404;
  }

  const factors = (id: string) => api.list<OktaFactor>(`${user(id)}/factors`);
  const groups = (id: string) => api.list<OktaGroup>(`${user(id)}/groups?limit=200`);
  const appLinks = (id: string) => api.list<OktaAppLink>(`${user(id)}/appLinks`);
  const grants = (id: string) => api.list<OktaGrant>(`${user(id)}/grants`);
  const clients = (id: string) => api.list<OktaClient>(`${user(id)}/clients`);
  /** Apps the user is assigned to directly (`scope: USER`); group assignments come with the groups. */
  async function directApps(id: string): Promise<OktaApp[]> {
    const apps = await api.list<OktaApp>(
      `/apps?filter=${enc(`user.id eq "${id}"`)}&expand=${enc(`user/${id}`)}&limit=200`,
    );
    return (apps ?? []).filter((a) => (a._embedded?.user?.scope ?? 'USER').toUpperCase() === 'USER');
  }

  const gone = (id: string, changes: string[]): RevokeResult => ({
    changes,
    confirmation: { id, exists: false },
    detail: 'the user no longer exists in Okta (confirmed by lookup)',
  });

  /** Deletes every factor; each one deleted is a change. */
  async function deleteFactors(id: string, changes: string[]): Promise<number> {
    let n = 0;
    for (const f of (await factors(id)) ?? [])
      if (await del(`${user(id)}/factors/${enc(f.id)}`)) {
        changes.push(`deleted factor ${factorLabel(f)}`);
        n++;
      }
    return n;
  }

  async function readBack(id: string) {
    const [u, fs, gs, links, direct, gr, cl] = await Promise.all([
      get<OktaUser>(user(id)),
      factors(id),
      groups(id),
      appLinks(id),
      directApps(id),
      grants(id),
      clients(id),
    ]);
    if (!u || !fs || !gs || !links || !gr || !cl) return null;
    return { user: u, factors: fs, groups: gs, links, direct, grants: gr, clients: cl };
  }

  async function revokeAccount(_subject: unknown, account: OktaAccount): Promise<RevokeResult> {
    const id = account.id;
    const before = await get<OktaUser>(user(id));
    if (!before) return gone(id, []);
    const deactivated = before.status === DEPROVISIONED;
    const pending = before.transitioningToStatus === DEPROVISIONED;
    const changes: string[] = [];
    const done = { sessions: false, grants: 0, clients: 0, factors: 0, apps: [] as OktaApp[], groups: 0 };
    // The apps the leaver authorised, read before the session clearing below ends their tokens.
    const gr = (await grants(id)) ?? [];
    const consents = consentsOf(gr, (await clients(id)) ?? []);

    // Sessions first, while the user can still hold them: both flags explicitly (Okta's defaults:
    // oauthTokens false; forgetDevices true on Identity Engine, false on Classic Engine).
    if (!deactivated) {
      await api.call('DELETE', `${user(id)}/sessions?oauthTokens=true&forgetDevices=true`);
      changes.push('cleared Okta sessions (oauthTokens=true, forgetDevices=true)');
      done.sessions = true;
    }
    if (gr.length > 0) {
      await api.call('DELETE', `${user(id)}/grants`);
      const of = [...new Set(gr.map((g) => g.clientId).filter(Boolean))].join(', ');
      changes.push(`revoked ${plural(gr.length, 'grant')}${of ? ` (clients ${of})` : ''}`);
      done.grants = gr.length;
    }
    for (const c of (await clients(id)) ?? []) {
      await del(`${user(id)}/clients/${enc(c.client_id)}/tokens`);
      await del(`${user(id)}/clients/${enc(c.client_id)}/grants`);
      changes.push(`revoked tokens and grants of client ${clientLabel(c)}`);
      done.clients++;
    }
    done.factors = await deleteFactors(id, changes);
    for (const a of await directApps(id))
      if (await del(`/apps/${enc(a.id)}/users/${enc(id)}?sendEmail=false`)) {
        changes.push(`removed direct assignment to app ${appLabel(a)}`);
        done.apps.push(a);
      }
    const builtIn: string[] = [];
    for (const g of (await groups(id)) ?? []) {
      if (g.type === 'BUILT_IN') {
        builtIn.push(groupLabel(g));
        continue;
      }
      // Okta answers 204 whether or not the user was still a member: the list above decides.
      await del(`/groups/${enc(g.id)}/users/${enc(id)}`);
      changes.push(`removed from group ${groupLabel(g)}`);
      done.groups++;
    }
    if (!deactivated && !pending) {
      await api.call('POST', `${user(id)}/lifecycle/deactivate?sendEmail=false`);
      changes.push('deactivated (not suspended: a suspended user keeps its assignments)');
    }

    // ---- Confirmation: read everything back.
    const after = await readBack(id);
    if (!after) return gone(id, changes);
    const left: string[] = [];
    if (after.user.status !== DEPROVISIONED) left.push(`status ${after.user.status}`);
    if (after.user.transitioningToStatus)
      left.push(`still transitioning to ${after.user.transitioningToStatus}`);
    if (after.factors.length > 0) left.push(`factors ${after.factors.map(factorLabel).join(', ')}`);
    const stillIn = after.groups.filter((g) => g.type !== 'BUILT_IN');
    if (stillIn.length > 0) left.push(`membership of ${stillIn.map(groupLabel).join(', ')}`);
    if (after.links.length > 0) left.push(`app links ${after.links.map(appLabel).join(', ')}`);
    if (after.direct.length > 0) left.push(`direct assignments to ${after.direct.map(appLabel).join(', ')}`);
    for (const a of done.apps)
      if ((await get(`/apps/${enc(a.id)}/users/${enc(id)}`)) !== null)
        left.push(`app ${appLabel(a)} still lists the user`);
    if (after.grants.length > 0) left.push(plural(after.grants.length, 'grant'));
    if (after.clients.length > 0) left.push(`tokens of clients ${after.clients.map(clientLabel).join(', ')}`);
    if (left.length > 0)
      throw new ConfirmationMismatchError(`Okta still shows, after revocation: ${left.join('; ')}`);
    const kept = after.groups.map(groupLabel);
    const n = (count: number, what: string) => (count ? ` (${count} ${what})` : '');
    return {
      changes,
      confirmation: {
        id,
        login: after.user.profile.login,
        status: DEPROVISIONED,
        factors: 0,
        groups: 0,
        builtInGroupsKept: kept,
        appLinks: 0,
        directAppAssignments: 0,
        grants: 0,
        clientsWithTokens: 0,
        consents,
        sessions: done.sessions
          ? 'cleared with DELETE /users/{id}/sessions?oauthTokens=true&forgetDevices=true (204); not readable'
          : `not cleared in this run: the user was already ${DEPROVISIONED}; not readable`,
        readBack: READ_BACK,
        notReadable: NOT_READABLE,
      },
      detail: [
        `user deactivated (status ${DEPROVISIONED}${deactivated ? ', already' : ''})`,
        done.sessions
          ? 'Okta sessions and OAuth tokens cleared (sessions cannot be listed in Okta, so not read back)'
          : 'sessions not cleared again (already deactivated; Okta cannot list sessions)',
        `no grant${n(done.grants, 'revoked')}`,
        `no client with tokens${n(done.clients, 'revoked')}`,
        `no factor${n(done.factors, 'deleted')}`,
        `no direct app assignment${n(done.apps.length, 'removed')}, no app link`,
        `in no group${n(done.groups, 'left')}` +
          (kept.length
            ? `; still in ${kept.join(', ')} (built-in: every user is a member, it cannot be removed)`
            : ''),
      ].join('; '),
    };
  }

  async function revokeFactors(_subject: unknown, account: OktaAccount): Promise<RevokeResult> {
    const id = account.id;
    const changes: string[] = [];
    const removed = await deleteFactors(id, changes);
    const after = await factors(id);
    if (after === null) return gone(id, changes);
    if (after.length > 0)
      throw new ConfirmationMismatchError(`Okta still lists factors ${after.map(factorLabel).join(', ')}`);
    return {
      changes,
      confirmation: { id, login: account.user.profile.login, factors: 0 },
      detail: removed
        ? `${plural(removed, 'factor')} deleted (${changes.map((c) => c.replace(/^deleted factor /, '')).join(', ')}); none left`
        : 'no factor to delete; none left',
    };
  }

  /** What still gives access through the user, or would after a reactivation. */
  async function liveAccess(a: OktaAccount): Promise<string | null> {
    const id = a.id;
    const fs = await factors(id);
    if (fs === null) return null;
    const why: string[] = [];
    if (cfg.scope === 'account') {
      const [u, gs, links, gr] = await Promise.all([
        get<OktaUser>(user(id)),
        groups(id),
        appLinks(id),
        grants(id),
      ]);
      if (!u) return null;
      if (u.status !== DEPROVISIONED) why.push(`status=${u.status}`);
      const member = (gs ?? []).filter((g) => g.type !== 'BUILT_IN');
      if (member.length) why.push(`groups ${member.map(groupLabel).join(', ')}`);
      if (links?.length) why.push(`app links ${links.map(appLabel).join(', ')}`);
      if (gr?.length) why.push(plural(gr.length, 'grant'));
    }
    if (fs.length > 0) why.push(`factors ${fs.map(factorLabel).join(', ')}`);
    return why.length > 0 ? why.join('; ') : null;
  }

  async function searchKey(q: KeyQuery): Promise<OktaAccount[]> {
    const found = await api.list<OktaUser>(`/users?search=${enc(searchOf(q))}&limit=200`);
    if (found === null) throw new TargetRejectedError('Okta /api/v1/users not found: check connector.orgUrl');
    return found.filter((u) => carries(u, q)).map(accountOf);
  }

  const matcher = createMatcher<OktaAccount>(
    {
      async lookup(id) {
        const u = await get<OktaUser>(user(id));
        return u ? accountOf(u) : null;
      },
      search: (queries) => Promise.all(queries.map(searchKey)),
      async groupsOf(a) {
        return ((await groups(a.id)) ?? []).flatMap((g) => [g.id, g.profile?.name ?? '']).filter(Boolean);
      },
      liveAccess,
    },
    match,
  );

  const accountScope = cfg.scope === 'account';
  return {
    executingSystem: `Okta @ ${api.host}`,
    action: accountScope ? ACCOUNT_ACTION : FACTORS_ACTION,
    find: matcher.find,
    audit: matcher.audit,
    revoke: accountScope ? revokeAccount : revokeFactors,
    // Notice periods: admin roles and privileged groups removed, the user kept ACTIVE (okta-scope.ts).
    ...(accountScope ? { scope: createOktaScope(cfg, api) } : {}),
    close: () => api.close(),
  };
}
