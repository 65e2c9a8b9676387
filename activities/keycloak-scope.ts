/**
 * Keycloak during a notice period (`notice: scope`, the `account` scope only): the leaver keeps working,
 * so the user stays enabled and keeps its credentials and ordinary groups. Removed at once, each
 * confirmed by reading it back:
 *
 * - every role mapping of the `realm-management` client (Keycloak's administration roles);
 * - the realm roles the catalog names in `privilegedRoles`;
 * - membership of the groups named in `privilegedGroups` (by path, e.g. /admins) and of their subgroups
 *   (a subgroup's members inherit its parent's roles);
 * - then the user's sessions are logged out (`POST …/logout`, which also sets `notBefore`), so the
 *   reduced rights apply now: the next sign-in gets a token without them.
 *
 * Read back: no realm-management role and no privileged realm role, directly or effectively (through a
 * group or a composite role the catalog does not name: red, naming the group where one grants it),
 * in no privileged group, `notBefore` after the termination. A group path or role name the realm does
 * not have is a `TargetRejectedError` naming it, before anything is changed. A repeat changes nothing:
 * nothing is left to remove, and the logout is only repeated while `notBefore` is older than the
 * termination (a retry after a crash between the removal and the logout still logs out).
 *
 * Keycloak lets only an administrator who holds `realm-admin` remove realm-management roles: the
 * connector's account needs it for this step (a 403 says so).
 */
import type { KeycloakConnectorConfig } from '../config/catalog';
import type { RevokeResult, Subject } from './connector';
import { ConfirmationMismatchError, TargetRejectedError } from './errors';
import type { KeycloakAccount } from './keycloak';
import type { KeycloakAdmin } from './keycloak-admin';

interface KcUser {
  id: string;
  username: string;
  enabled?: boolean;
  /** Seconds: tokens issued before it are refused (set by an admin logout). */
  notBefore?: number;
}
interface KcRole {
  id: string;
  name: string;
}
interface KcGroup {
  id: string;
  name?: string;
  path?: string;
}
interface KcMappings {
  realmMappings?: KcRole[];
  clientMappings?: Record<string, { id: string; client: string; mappings?: KcRole[] }>;
}

/** The client whose roles are Keycloak's administration roles. */
export const REALM_MANAGEMENT = 'realm-management';

const PAGE = 100;
const MAX_PAGES = 100;

/** A group path as Keycloak writes it: one leading slash, no empty segment ("admins/" → "/admins"). */
export const groupPath = (p: string) => `/${p.split('/').filter(Boolean).join('/')}`;

const names = (roles: { name: string }[]) => roles.map((r) => r.name).join(', ');
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const groupLabel = (g: KcGroup) => g.path ?? g.name ?? g.id;

/** Creates the `scope` method of one `account` entry, on the connector's admin client. */
export function createKeycloakScope(
  cfg: KeycloakConnectorConfig,
  admin: KeycloakAdmin,
): (subject: Subject, account: KeycloakAccount) => Promise<RevokeResult> {
  const enc = encodeURIComponent;
  const privilegedRoles = cfg.privilegedRoles ?? [];
  const privilegedGroups = (cfg.privilegedGroups ?? []).map(groupPath);

  async function get<T>(path: string): Promise<T | null> {
    const r = await admin.call('GET', path);
    return r.status === 404 ? null : (r.json as T);
  }

  async function paged<T>(path: string): Promise<T[] | null> {
    const out: T[] = [];
    const sep = path.includes('?') ? '&' : '?';
    for (let page = 0; page < MAX_PAGES; page++) {
      const items = await get<T[]>(`${path}${sep}first=${page * PAGE}&max=${PAGE}`);
      if (items === null) return null;
      out.push(...items);
      if (items.length < PAGE) return out;
    }
    throw new TargetRejectedError(`Keycloak GET ${path.split('?')[0]}: more than ${MAX_PAGES} pages`);
  }

  /**
   * What the catalog names, looked up in the realm before anything changes: the realm-management
   * client, each privileged group (by path) and each privileged realm role. What is missing is named.
   */
  async function resolve() {
    const clients = await get<{ id: string; clientId: string }[]>(
      `/clients?clientId=${REALM_MANAGEMENT}&exact=true`,
    );
    if (clients === null)
      throw new TargetRejectedError(`Keycloak realm "${cfg.realm}" not found: check connector.realm`);
    const rm = clients.find((c) => c.clientId === REALM_MANAGEMENT);
    if (!rm) throw new TargetRejectedError(`Keycloak realm "${cfg.realm}" has no ${REALM_MANAGEMENT} client`);
    const groups = await Promise.all(
      privilegedGroups.map(async (p) => ({
        path: p,
        group: await get<KcGroup>(`/group-by-path/${p.split('/').filter(Boolean).map(enc).join('/')}`),
      })),
    );
    const realmRoles = privilegedRoles.length
      ? new Set(((await paged<KcRole>('/roles?briefRepresentation=true')) ?? []).map((r) => r.name))
      : new Set<string>();
    const missing = [
      ...groups.filter((g) => !g.group).map((g) => `group "${g.path}" (connector.privilegedGroups)`),
      ...privilegedRoles
        .filter((r) => !realmRoles.has(r))
        .map((r) => `realm role "${r}" (connector.privilegedRoles)`),
    ];
    if (missing.length > 0)
      throw new TargetRejectedError(
        `Keycloak realm "${cfg.realm}" has no ${missing.join(', no ')}: nothing was changed; correct the catalog`,
      );
    return { rm, groups: groups.map((g) => ({ id: g.group!.id, path: g.group!.path ?? g.path })) };
  }

  /** Which of the user's groups grant any of `roles` (effective: with composites): named when red. */
  async function grantingGroups(groups: KcGroup[], rmId: string, roles: Set<string>): Promise<string[]> {
    const out: string[] = [];
    for (const g of groups) {
      const [client, realm] = await Promise.all([
        get<KcRole[]>(`/groups/${enc(g.id)}/role-mappings/clients/${enc(rmId)}/composite`),
        get<KcRole[]>(`/groups/${enc(g.id)}/role-mappings/realm/composite`),
      ]);
      if ([...(client ?? []), ...(realm ?? [])].some((r) => roles.has(r.name))) out.push(groupLabel(g));
    }
    return out;
  }

  return async function scope(subject, account) {
    const id = account.id;
    const u = `/users/${enc(id)}`;
    const gone = (changes: string[]): RevokeResult => ({
      changes,
      confirmation: { id, exists: false },
      detail: 'the user no longer exists in Keycloak (confirmed by lookup)',
    });
    const before = await get<KcUser>(u);
    if (!before) return gone([]);
    const { rm, groups: privileged } = await resolve();
    const isPrivileged = (g: KcGroup) =>
      privileged.some((p) => g.id === p.id || (!!g.path && g.path.startsWith(`${p.path}/`)));
    const privilegedRole = (r: KcRole) => privilegedRoles.includes(r.name);

    // ---- Remove: administration roles, privileged realm roles, privileged groups.
    const changes: string[] = [];
    const done = { adminRoles: 0, realmRoles: 0, groups: 0, loggedOut: false };
    const mappings = await get<KcMappings>(`${u}/role-mappings`);
    if (!mappings) return gone(changes);
    const adminRoles = mappings.clientMappings?.[REALM_MANAGEMENT]?.mappings ?? [];
    if (adminRoles.length > 0) {
      await admin.call('DELETE', `${u}/role-mappings/clients/${enc(rm.id)}`, adminRoles);
      changes.push(`removed ${REALM_MANAGEMENT} roles ${names(adminRoles)}`);
      done.adminRoles = adminRoles.length;
    }
    const realmRoles = (mappings.realmMappings ?? []).filter(privilegedRole);
    if (realmRoles.length > 0) {
      await admin.call('DELETE', `${u}/role-mappings/realm`, realmRoles);
      changes.push(`removed realm ${realmRoles.length === 1 ? 'role' : 'roles'} ${names(realmRoles)}`);
      done.realmRoles = realmRoles.length;
    }
    for (const g of ((await paged<KcGroup>(`${u}/groups?briefRepresentation=true`)) ?? []).filter(
      isPrivileged,
    )) {
      // Keycloak answers 204 whether or not the user was still a member: the list above decides.
      await admin.call('DELETE', `${u}/groups/${enc(g.id)}`);
      changes.push(`removed from group ${groupLabel(g)}`);
      done.groups++;
    }

    // ---- Sessions: logged out when something was removed now, or while notBefore is older than the
    // termination (a retry after a crash before the logout; the first scoping of a user with nothing to
    // remove). Bounded by now minus a minute, in case the HRIS clock runs ahead of Keycloak's.
    const terminatedAt = Math.min(Date.parse(subject.confirmedAt), Date.now() - 60_000);
    const staleNotBefore = (x: KcUser) => (x.notBefore ?? 0) * 1000 < terminatedAt - 1000;
    if (changes.length > 0 || staleNotBefore(before)) {
      const sessions = (await get<unknown[]>(`${u}/sessions`)) ?? [];
      await admin.call('POST', `${u}/logout`);
      changes.push(
        `logged out (${plural(sessions.length, 'online session')} open) so the reduced rights apply now`,
      );
      done.loggedOut = true;
    }

    // ---- Confirmation: read back the direct and the effective roles, the groups and the user.
    const [after, direct, effectiveAdmin, effectiveRealm, groups] = await Promise.all([
      get<KcUser>(u),
      get<KcMappings>(`${u}/role-mappings`),
      get<KcRole[]>(`${u}/role-mappings/clients/${enc(rm.id)}/composite?briefRepresentation=true`),
      get<KcRole[]>(`${u}/role-mappings/realm/composite?briefRepresentation=true`),
      paged<KcGroup>(`${u}/groups?briefRepresentation=true`),
    ]);
    if (!after || !direct || !effectiveAdmin || !effectiveRealm || !groups) return gone(changes);
    const left: string[] = [];
    const directAdmin = direct.clientMappings?.[REALM_MANAGEMENT]?.mappings ?? [];
    if (directAdmin.length > 0) left.push(`${REALM_MANAGEMENT} roles ${names(directAdmin)}`);
    const directRealm = (direct.realmMappings ?? []).filter(privilegedRole);
    if (directRealm.length > 0) left.push(`realm roles ${names(directRealm)}`);
    const inherited = (effective: KcRole[], directly: KcRole[]) =>
      effective.filter((r) => !directly.some((d) => d.name === r.name));
    const via = [
      ...inherited(effectiveAdmin, directAdmin),
      ...inherited(effectiveRealm.filter(privilegedRole), directRealm),
    ];
    if (via.length > 0) {
      const from = await grantingGroups(groups, rm.id, new Set(via.map((r) => r.name)));
      left.push(
        `${names(via)} through ` +
          (from.length > 0
            ? `group ${from.join(', ')}, which the catalog does not name (add it to privilegedGroups)`
            : 'a composite role or a parent group the catalog does not name (add it to privilegedRoles or privilegedGroups)'),
      );
    }
    const stillIn = groups.filter(isPrivileged);
    if (stillIn.length > 0) left.push(`membership of ${stillIn.map(groupLabel).join(', ')}`);
    if (staleNotBefore(after))
      left.push(`notBefore ${after.notBefore ?? 0} is from before the termination (no logout)`);
    if (left.length > 0)
      throw new ConfirmationMismatchError(`Keycloak still shows, after scoping: ${left.join('; ')}`);

    const enabled = after.enabled !== false;
    const removed = [
      done.adminRoles ? plural(done.adminRoles, `${REALM_MANAGEMENT} role`) : '',
      done.realmRoles ? plural(done.realmRoles, 'realm role') : '',
      done.groups ? plural(done.groups, 'group') : '',
    ].filter(Boolean);
    return {
      changes,
      confirmation: {
        id,
        username: after.username,
        enabled,
        realmManagementRoles: 0,
        privilegedRealmRoles: 0,
        privilegedRolesChecked: privilegedRoles,
        privilegedGroups: 0,
        privilegedGroupsChecked: privileged.map((p) => p.path),
        groupsKept: groups.map(groupLabel),
        notBefore: after.notBefore ?? 0,
        sessions: done.loggedOut
          ? 'logged out (POST /users/{id}/logout): tokens issued before notBefore are refused'
          : 'not logged out again: notBefore is already after the termination',
      },
      detail: [
        removed.length
          ? `admin roles and privileged groups removed (${removed.join(', ')})`
          : 'no admin role or privileged group to remove (none left)',
        done.loggedOut ? 'sessions logged out' : '',
        enabled ? 'account stays enabled' : 'account is disabled (not by this step)',
      ]
        .filter(Boolean)
        .join('; '),
    };
  };
}
