/**
 * Keycloak through its Admin REST API (`/admin/realms/<realm>`). One catalog entry revokes one `scope`:
 *
 * - `account` (identity tier, action `disable_end_sessions_remove_credentials_groups_links`): disable the
 *   user (`PUT {"enabled": false}`), delete every credential (password, OTP, WebAuthn, …), log out every
 *   online session (`POST …/logout`, which also sets `notBefore`), delete every offline session and
 *   revoke every consent (an admin logout leaves offline tokens alive: after a later re-enable they would
 *   refresh again), remove every group membership and every identity-provider link. Confirmed by reading
 *   all of it back: `enabled: false`, no session, no offline session for any client of the realm, no
 *   consent, no credential, no group, no link. The consents listed before their revocation are the apps
 *   the leaver authorised: the evidence's `consents` names each (client id and name, granted client
 *   scopes; a client holding only an offline token is listed as such).
 * - `credentials` (MFA tier, action `remove_credentials`): delete every credential; confirmed when the
 *   user lists none.
 *
 * During a notice period (`notice: scope`) an `account` entry scopes instead: activities/keycloak-scope.ts.
 *
 * Found by the catalog's keys (`username`, `email`, any other name is a user attribute searched with
 * `q=<name>:"<value>"`), each with `exact=true`. A repeat on a revoked user changes nothing.
 */
import pLimit from 'p-limit';
import type { KeycloakConnectorConfig } from '../config/catalog';
import type { Consent } from '../contract/consents';
import type { RevocationConnector, RevokeResult, Subject, TargetAccount } from './connector';
import { ConfirmationMismatchError, TargetRejectedError } from './errors';
import { createKeycloakAdmin } from './keycloak-admin';
import { createKeycloakScope } from './keycloak-scope';
import { createMatcher, type KeyQuery, type MatchContext } from './matching';

interface KcUser {
  id: string;
  username: string;
  email?: string;
  firstName?: string;
  lastName?: string;
  enabled?: boolean;
  /** Seconds: tokens issued before it are refused (set by an admin logout). */
  notBefore?: number;
  attributes?: Record<string, string[]>;
}
interface KcCredential {
  id: string;
  type: string;
  userLabel?: string;
}
interface KcSession {
  id: string;
  /** Client uuid → clientId of the clients the session holds. */
  clients?: Record<string, string>;
}
interface KcConsent {
  clientId: string;
  /** Names of the client scopes the user consented to (empty when only an offline token is held). */
  grantedClientScopes?: string[];
  /** E.g. `[{ client: "app", key: "Offline Token" }]`. */
  additionalGrants?: { client?: string; key?: string }[];
}
interface KcGroup {
  id: string;
  name?: string;
  path?: string;
}
interface KcLink {
  identityProvider: string;
}
interface KcClient {
  id: string;
  clientId: string;
  /** Display name; Keycloak's own clients name a message key, e.g. `${client_account}`. */
  name?: string;
}

export const ACCOUNT_ACTION = 'disable_end_sessions_remove_credentials_groups_links';
export const CREDENTIALS_ACTION = 'remove_credentials';

/** Page size of the paged lists (clients, groups); most pages followed. */
const PAGE = 100;
const MAX_PAGES = 100;

/** A Keycloak user as matching found it. */
export interface KeycloakAccount extends TargetAccount {
  user: KcUser;
}

const accountOf = (u: KcUser): KeycloakAccount => {
  const full = [u.firstName, u.lastName].filter(Boolean).join(' ');
  return {
    id: u.id,
    name: full ? `${full} <${u.username}>` : u.username,
    aliases: [u.username, u.email].filter((x): x is string => !!x),
    user: u,
  };
};

/** Does `u` carry the key's value? Keycloak keeps usernames and emails in lower case. */
function carries(u: KcUser, q: KeyQuery): boolean {
  if ('filter' in q.key) return false;
  const v = q.value.toLowerCase();
  if (q.key.attribute === 'username') return u.username.toLowerCase() === v;
  if (q.key.attribute === 'email') return (u.email ?? '').toLowerCase() === v;
  return (u.attributes?.[q.key.attribute] ?? []).some((x) => x.toLowerCase() === v);
}

/** The search parameters of one key (`q` quotes its value: Keycloak splits `q` at blanks). */
function searchParams(q: KeyQuery): URLSearchParams {
  if ('filter' in q.key) throw new TargetRejectedError('a Keycloak key cannot be an LDAP filter');
  const p = new URLSearchParams({ exact: 'true', briefRepresentation: 'false', max: '20' });
  const attr = q.key.attribute;
  if (attr === 'username' || attr === 'email') p.set(attr, q.value);
  else p.set('q', `${attr}:"${q.value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`);
  return p;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const credentialLabel = (c: KcCredential) => (c.userLabel ? `${c.type} "${c.userLabel}"` : c.type);
const groupLabel = (g: KcGroup) => g.path ?? g.name ?? g.id;

/** Creates the Keycloak connector for one catalog entry; `match` says how the leaver's account is found. */
export function createKeycloakConnector(
  cfg: KeycloakConnectorConfig,
  secret: string,
  match: MatchContext,
): RevocationConnector<KeycloakAccount> {
  const admin = createKeycloakAdmin(cfg, secret);
  const user = (id: string) => `/users/${encodeURIComponent(id)}`;

  async function get<T>(path: string): Promise<T | null> {
    const r = await admin.call('GET', path);
    return r.status === 404 ? null : (r.json as T);
  }

  /** A list under a user: null when the user is gone. */
  const list = <T>(id: string, tail: string) => get<T[]>(`${user(id)}${tail}`);

  /** Deletes what `path` names; false when it was already gone (a repeat after a crash). */
  async function del(path: string): Promise<boolean> {
    return (await admin.call('DELETE', path)).status !== 404;
  }

  async function paged<T>(path: string): Promise<T[] | null> {
    const out: T[] = [];
    for (let page = 0; page < MAX_PAGES; page++) {
      const sep = path.includes('?') ? '&' : '?';
      const items = await get<T[]>(`${path}${sep}first=${page * PAGE}&max=${PAGE}`);
      if (items === null) return null;
      out.push(...items);
      if (items.length < PAGE) return out;
    }
    throw new TargetRejectedError(`Keycloak GET ${path.split('?')[0]}: more than ${MAX_PAGES} pages`);
  }

  async function clients(): Promise<KcClient[]> {
    const all = await paged<KcClient>('/clients');
    if (all === null)
      throw new TargetRejectedError(`Keycloak realm "${cfg.realm}" not found: check connector.realm`);
    return all;
  }

  /**
   * The user's offline sessions, read client by client (Keycloak lists them per client only); one
   * session can hold several clients. `clients` is how many clients were asked.
   */
  async function offlineSessions(id: string): Promise<{ sessions: KcSession[]; clients: number } | null> {
    const all = await clients();
    const limit = pLimit(8);
    const lists = await Promise.all(
      all.map((c) => limit(() => list<KcSession>(id, `/offline-sessions/${encodeURIComponent(c.id)}`))),
    );
    // A 404 is the user gone, or a client deleted meanwhile (it holds no session then).
    if ((await get<KcUser>(user(id))) === null) return null;
    const byId = new Map<string, KcSession>();
    for (const l of lists) for (const s of l ?? []) byId.set(s.id, s);
    return { sessions: [...byId.values()], clients: all.length };
  }

  /** The apps the user authorised, named by their clients' display names where they have one. */
  async function consentsOf(granted: KcConsent[]): Promise<Consent[]> {
    if (granted.length === 0) return [];
    const names = new Map((await clients()).map((c) => [c.clientId, c.name]));
    return granted.map((c) => {
      const name = names.get(c.clientId);
      const scopes = c.grantedClientScopes ?? [];
      return {
        appId: c.clientId,
        name: name && !name.startsWith('${') ? name : c.clientId,
        scopes,
        kind: scopes.length === 0 && (c.additionalGrants ?? []).length > 0 ? 'offline-token' : 'user-consent',
      };
    });
  }

  const sessionClients = (s: KcSession) => Object.values(s.clients ?? {}).join(', ') || 'no client';

  /** Everything the read-back checks, read at once. */
  async function readBack(id: string) {
    const [u, sessions, offline, consents, credentials, groups, links] = await Promise.all([
      get<KcUser>(user(id)),
      list<KcSession>(id, '/sessions'),
      offlineSessions(id),
      list<KcConsent>(id, '/consents'),
      list<KcCredential>(id, '/credentials'),
      paged<KcGroup>(`${user(id)}/groups?briefRepresentation=true`),
      list<KcLink>(id, '/federated-identity'),
    ]);
    if (!u || !sessions || !offline || !consents || !credentials || !groups || !links) return null;
    return { user: u, sessions, offline, consents, credentials, groups, links };
  }

  const gone = (id: string, changes: string[]): RevokeResult => ({
    changes,
    confirmation: { id, exists: false },
    detail: 'the user no longer exists in Keycloak (confirmed by lookup)',
  });

  /** Deletes every credential of the user; each one deleted is a change. */
  async function removeCredentials(id: string, changes: string[]): Promise<number> {
    let n = 0;
    for (const c of (await list<KcCredential>(id, '/credentials')) ?? [])
      if (await del(`${user(id)}/credentials/${encodeURIComponent(c.id)}`)) {
        changes.push(`removed ${credentialLabel(c)} credential`);
        n++;
      }
    return n;
  }

  async function revokeAccount(subject: Subject, account: KeycloakAccount): Promise<RevokeResult> {
    const id = account.id;
    const before = await get<KcUser>(user(id));
    if (!before) return gone(id, []);
    const changes: string[] = [];
    const done = {
      disabled: false,
      loggedOut: false,
      offline: 0,
      consents: 0,
      credentials: 0,
      groups: 0,
      links: 0,
    };
    if (before.enabled !== false) {
      await admin.call('PUT', user(id), { enabled: false });
      changes.push('enabled=false');
      done.disabled = true;
    }
    done.credentials = await removeCredentials(id, changes);
    // Online sessions: an admin logout ends them all and refuses tokens issued before it (notBefore).
    // Needed while a session is open, or when notBefore is still from before the termination; a
    // repeat of this step finds neither and does not log out again. (Bounded by now minus a minute, in
    // case the HRIS clock runs ahead of Keycloak's.)
    const terminatedAt = Math.min(Date.parse(subject.confirmedAt), Date.now() - 60_000);
    const staleNotBefore = (u: KcUser) => (u.notBefore ?? 0) * 1000 < terminatedAt - 1000;
    const sessions = (await list<KcSession>(id, '/sessions')) ?? [];
    if (sessions.length > 0 || staleNotBefore(before)) {
      await admin.call('POST', `${user(id)}/logout`);
      changes.push(`logged out (${plural(sessions.length, 'online session')} open)`);
      done.loggedOut = true;
    }
    // The apps the leaver authorised, listed while their offline tokens still count (Keycloak lists a
    // client holding only an offline token among the consents, until that token is revoked below).
    const granted = (await list<KcConsent>(id, '/consents')) ?? [];
    const consents = await consentsOf(granted);
    // Offline sessions and consents outlive a logout and a disable: delete them one by one.
    for (const s of (await offlineSessions(id))?.sessions ?? [])
      if (await del(`/sessions/${encodeURIComponent(s.id)}?isOffline=true`)) {
        changes.push(`revoked offline session ${s.id} (${sessionClients(s)})`);
        done.offline++;
      }
    for (const c of granted)
      if (await del(`${user(id)}/consents/${encodeURIComponent(c.clientId)}`)) {
        changes.push(`revoked consent of client ${c.clientId}`);
        done.consents++;
      }
    for (const g of (await paged<KcGroup>(`${user(id)}/groups?briefRepresentation=true`)) ?? []) {
      // Keycloak answers 204 whether or not the user was still a member: the list above decides.
      await del(`${user(id)}/groups/${encodeURIComponent(g.id)}`);
      changes.push(`removed from group ${groupLabel(g)}`);
      done.groups++;
    }
    for (const l of (await list<KcLink>(id, '/federated-identity')) ?? [])
      if (await del(`${user(id)}/federated-identity/${encodeURIComponent(l.identityProvider)}`)) {
        changes.push(`removed identity-provider link ${l.identityProvider}`);
        done.links++;
      }

    // ---- Confirmation: read everything back.
    const after = await readBack(id);
    if (!after) return gone(id, changes);
    const left: string[] = [];
    if (after.user.enabled !== false) left.push(`enabled=${String(after.user.enabled)}`);
    if (after.sessions.length > 0) left.push(plural(after.sessions.length, 'online session'));
    if (staleNotBefore(after.user))
      left.push(`notBefore ${after.user.notBefore ?? 0} is from before the termination`);
    if (after.offline.sessions.length > 0)
      left.push(
        `${plural(after.offline.sessions.length, 'offline session')} (${after.offline.sessions.map(sessionClients).join('; ')})`,
      );
    if (after.consents.length > 0)
      left.push(`consents of ${after.consents.map((c) => c.clientId).join(', ')}`);
    if (after.credentials.length > 0)
      left.push(`credentials ${after.credentials.map(credentialLabel).join(', ')}`);
    if (after.groups.length > 0) left.push(`membership of ${after.groups.map(groupLabel).join(', ')}`);
    if (after.links.length > 0)
      left.push(`identity-provider links ${after.links.map((l) => l.identityProvider).join(', ')}`);
    if (left.length > 0)
      throw new ConfirmationMismatchError(`Keycloak still shows, after revocation: ${left.join('; ')}`);
    const n = (count: number, what: string) => (count ? ` (${count} ${what})` : '');
    return {
      changes,
      confirmation: {
        id,
        username: after.user.username,
        enabled: false,
        notBefore: after.user.notBefore ?? 0,
        sessions: 0,
        offlineSessions: 0,
        clientsChecked: after.offline.clients,
        // Every consent the user had, revoked: the read-back above found none left.
        consents,
        credentials: 0,
        groups: 0,
        identityProviderLinks: 0,
      },
      detail: [
        `user disabled${done.disabled ? '' : ' (already)'}`,
        `no online session${done.loggedOut ? ' (logged out)' : ''}`,
        `no offline session for any of ${plural(after.offline.clients, 'client')}${n(done.offline, 'revoked')}`,
        `no consent${n(done.consents, 'revoked')}`,
        `no credential${n(done.credentials, 'removed')}`,
        `in no group${n(done.groups, 'left')}`,
        `no identity-provider link${n(done.links, 'removed')}`,
      ].join('; '),
    };
  }

  async function revokeCredentials(_subject: Subject, account: KeycloakAccount): Promise<RevokeResult> {
    const id = account.id;
    const changes: string[] = [];
    const removed = await removeCredentials(id, changes);
    const after = await list<KcCredential>(id, '/credentials');
    if (after === null) return gone(id, changes);
    if (after.length > 0)
      throw new ConfirmationMismatchError(
        `Keycloak still lists credentials ${after.map(credentialLabel).join(', ')}`,
      );
    return {
      changes,
      confirmation: { id, username: account.user.username, credentials: 0 },
      detail: removed
        ? `${plural(removed, 'credential')} removed (${changes.map((c) => c.replace(/^removed | credential$/g, '')).join(', ')}); none left`
        : 'no credential to remove; none left',
    };
  }

  /**
   * What still gives access through the user, or would after a re-enable: the account scope reads
   * `enabled`, online and offline sessions, credentials and identity-provider links; the credentials
   * scope reads credentials.
   */
  async function liveAccess(a: KeycloakAccount): Promise<string | null> {
    const id = a.id;
    const credentials = await list<KcCredential>(id, '/credentials');
    if (credentials === null) return null;
    const why: string[] = [];
    if (cfg.scope === 'account') {
      const [u, sessions, offline, links] = await Promise.all([
        get<KcUser>(user(id)),
        list<KcSession>(id, '/sessions'),
        offlineSessions(id),
        list<KcLink>(id, '/federated-identity'),
      ]);
      if (!u) return null;
      if (u.enabled !== false) why.push('enabled=true');
      if (sessions?.length) why.push(plural(sessions.length, 'online session'));
      if (offline?.sessions.length)
        why.push(
          `${plural(offline.sessions.length, 'offline session')} (${offline.sessions.map(sessionClients).join('; ')})`,
        );
      if (links?.length)
        why.push(`identity-provider links ${links.map((l) => l.identityProvider).join(', ')}`);
    }
    if (credentials.length > 0) why.push(`credentials ${credentials.map(credentialLabel).join(', ')}`);
    return why.length > 0 ? why.join('; ') : null;
  }

  async function searchKey(q: KeyQuery): Promise<KeycloakAccount[]> {
    const found = await get<KcUser[]>(`/users?${searchParams(q).toString()}`);
    if (found === null)
      throw new TargetRejectedError(`Keycloak realm "${cfg.realm}" not found: check connector.realm`);
    return found.filter((u) => carries(u, q)).map(accountOf);
  }

  const matcher = createMatcher<KeycloakAccount>(
    {
      async lookup(id) {
        const u = await get<KcUser>(user(id));
        return u ? accountOf(u) : null;
      },
      search: (queries) => Promise.all(queries.map(searchKey)),
      async groupsOf(a) {
        const groups = (await paged<KcGroup>(`${user(a.id)}/groups?briefRepresentation=true`)) ?? [];
        return groups.flatMap((g) => [g.id, g.name ?? '', g.path ?? '']).filter(Boolean);
      },
      liveAccess,
    },
    match,
  );

  const accountScope = cfg.scope === 'account';
  return {
    executingSystem: `Keycloak @ ${admin.host} (realm ${cfg.realm})`,
    action: accountScope ? ACCOUNT_ACTION : CREDENTIALS_ACTION,
    find: matcher.find,
    audit: matcher.audit,
    revoke: accountScope ? revokeAccount : revokeCredentials,
    // Notice periods: admin roles and privileged groups removed, the account kept (keycloak-scope.ts).
    ...(accountScope ? { scope: createKeycloakScope(cfg, admin) } : {}),
    close: () => admin.close(),
  };
}
