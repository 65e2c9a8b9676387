/**
 * Okta during a notice period (`notice: scope`, the `account` scope only): the leaver keeps working, so
 * the user stays ACTIVE with its factors, app assignments and ordinary groups. Removed at once, each
 * confirmed by reading it back:
 *
 * - every admin role assigned to the user (`GET /users/<id>/roles`, `DELETE /users/<id>/roles/<roleAssignmentId>`;
 *   a role assigned through a group goes with the group);
 * - membership of the groups the catalog names in `privilegedGroups` (group id or profile name;
 *   `DELETE /groups/<groupId>/users/<id>`);
 * - the user's Okta sessions and OAuth tokens (`DELETE /users/<id>/sessions?oauthTokens=true&forgetDevices=false`:
 *   the person signs in again and gets the reduced rights; remembered devices stay, MFA is not reset).
 *   Cleared before the removals whenever there is something to remove, so that a retry after a crash
 *   between the two clears them again; a repeat with nothing to remove clears nothing.
 *
 * Read back: the user lists no role assignment at all, is in no privileged group, and its status (still
 * ACTIVE: nothing here changes it). A role left through a group the catalog does not name is red,
 * naming the group. A `privilegedGroups` entry that is no group of the org is a `TargetRejectedError`
 * naming it, before anything is changed. Okta has no API that lists a user's sessions: the evidence says
 * they were cleared, not read back.
 */
import type { OktaConnectorConfig } from '../config/catalog';
import type { RevokeResult, Subject } from './connector';
import { ConfirmationMismatchError, TargetRejectedError } from './errors';
import type { OktaAccount } from './okta';
import type { OktaApi } from './okta-api';

interface OktaUser {
  id: string;
  status: string;
  profile: { login: string };
}
interface OktaGroup {
  id: string;
  /** OKTA_GROUP, APP_GROUP or BUILT_IN (Everyone). */
  type: string;
  profile?: { name?: string };
}
/** A role assignment as `GET /users/<id>/roles` lists it. */
interface OktaRole {
  id: string;
  /** SUPER_ADMIN, ORG_ADMIN, …, or CUSTOM. */
  type: string;
  label?: string;
  /** USER (assigned to the user) or GROUP (through a group the user is in). */
  assignmentType?: string;
  _links?: { assignee?: { href?: string } };
}

/** The session call of a notice period: OAuth tokens revoked, remembered devices kept (both explicit). */
export const SCOPE_SESSIONS_QUERY = 'oauthTokens=true&forgetDevices=false';

const READ_BACK = ['status', 'role assignments', 'groups'];
const NOT_READABLE = [
  'Okta sessions (Okta has no API that lists a user’s sessions: they were cleared, not read back)',
  'sessions that web or native apps created themselves (clearing Okta sessions does not end them)',
];

/** An Okta group id (20 characters, `00g…`) rather than a group name. */
const GROUP_ID = /^00g[A-Za-z0-9]{17}$/;

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const roleLabel = (r: OktaRole) => (r.label ? `${r.label} (${r.type})` : r.type);
const groupLabel = (g: OktaGroup) => g.profile?.name ?? g.id;
const quote = (v: string) => `"${v.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
/** The group a GROUP role assignment comes through: the id its assignee link ends with. */
const assigneeGroup = (r: OktaRole) =>
  /\/groups\/([^/?#]+)/.exec(r._links?.assignee?.href ?? '')?.[1] ?? null;

/** Creates the `scope` method of one `account` entry, on the connector's API client. */
export function createOktaScope(
  cfg: OktaConnectorConfig,
  api: OktaApi,
): (subject: Subject, account: OktaAccount) => Promise<RevokeResult> {
  const enc = encodeURIComponent;

  async function get<T>(path: string): Promise<T | null> {
    const r = await api.call('GET', path);
    return r.status === 404 ? null : (r.json as T);
  }

  /** The catalog's privileged groups, found in the org before anything changes; what is missing is named. */
  async function resolve(): Promise<OktaGroup[]> {
    const found: OktaGroup[] = [];
    const wrong: string[] = [];
    for (const entry of cfg.privilegedGroups ?? []) {
      const byId = GROUP_ID.test(entry) ? await get<OktaGroup>(`/groups/${enc(entry)}`) : null;
      if (byId) {
        found.push(byId);
        continue;
      }
      const hits = (
        (await api.list<OktaGroup>(`/groups?search=${enc(`profile.name eq ${quote(entry)}`)}&limit=200`)) ??
        []
      ).filter((g) => g.profile?.name === entry);
      if (hits.length === 1) found.push(hits[0]!);
      else wrong.push(hits.length === 0 ? `no group "${entry}"` : `${hits.length} groups named "${entry}"`);
    }
    if (wrong.length > 0)
      throw new TargetRejectedError(
        `Okta has ${wrong.join(', ')} (connector.privilegedGroups: a group id or an exact group name): nothing was changed; correct the catalog`,
      );
    return found;
  }

  return async function scope(_subject, account) {
    const id = account.id;
    const u = `/users/${enc(id)}`;
    const gone = (changes: string[]): RevokeResult => ({
      changes,
      confirmation: { id, exists: false },
      detail: 'the user no longer exists in Okta (confirmed by lookup)',
    });
    const before = await get<OktaUser>(u);
    if (!before) return gone([]);
    const privileged = await resolve();
    const isPrivileged = (g: OktaGroup) => privileged.some((p) => p.id === g.id);
    const [roles, groups] = await Promise.all([
      api.list<OktaRole>(`${u}/roles`),
      api.list<OktaGroup>(`${u}/groups?limit=200`),
    ]);
    if (!roles || !groups) return gone([]);
    const direct = roles.filter((r) => (r.assignmentType ?? 'USER').toUpperCase() === 'USER');
    const member = groups.filter(isPrivileged);

    // ---- Sessions first (see above), then the admin roles and the privileged groups.
    const changes: string[] = [];
    let cleared = false;
    if (direct.length + member.length > 0) {
      await api.call('DELETE', `${u}/sessions?${SCOPE_SESSIONS_QUERY}`);
      changes.push('cleared Okta sessions and OAuth tokens (oauthTokens=true, forgetDevices=false)');
      cleared = true;
    }
    let rolesRemoved = 0;
    for (const r of direct)
      if ((await api.call('DELETE', `${u}/roles/${enc(r.id)}`)).status !== 404) {
        changes.push(`removed admin role ${roleLabel(r)}`);
        rolesRemoved++;
      }
    for (const g of member) {
      // Okta answers 204 whether or not the user was still a member: the list above decides.
      await api.call('DELETE', `/groups/${enc(g.id)}/users/${enc(id)}`);
      changes.push(`removed from group ${groupLabel(g)}`);
    }

    // ---- Confirmation: read back the user, every role assignment and the groups.
    const [after, rolesAfter, groupsAfter] = await Promise.all([
      get<OktaUser>(u),
      api.list<OktaRole>(`${u}/roles`),
      api.list<OktaGroup>(`${u}/groups?limit=200`),
    ]);
    if (!after || !rolesAfter || !groupsAfter) return gone(changes);
    const left: string[] = [];
    for (const r of rolesAfter) {
      const gid = (r.assignmentType ?? '').toUpperCase() === 'GROUP' ? assigneeGroup(r) : null;
      const g = gid ? (groupsAfter.find((x) => x.id === gid) ?? { id: gid, type: 'OKTA_GROUP' }) : null;
      left.push(
        g
          ? `admin role ${roleLabel(r)} through group ${groupLabel(g)}, which the catalog does not name (add it to privilegedGroups)`
          : `admin role ${roleLabel(r)}`,
      );
    }
    const stillIn = groupsAfter.filter(isPrivileged);
    if (stillIn.length > 0) left.push(`membership of ${stillIn.map(groupLabel).join(', ')}`);
    if (left.length > 0)
      throw new ConfirmationMismatchError(`Okta still shows, after scoping: ${left.join('; ')}`);

    const removed = [
      rolesRemoved ? plural(rolesRemoved, 'admin role') : '',
      member.length ? plural(member.length, 'group') : '',
    ].filter(Boolean);
    return {
      changes,
      confirmation: {
        id,
        login: after.profile.login,
        status: after.status,
        adminRoles: 0,
        privilegedGroups: 0,
        privilegedGroupsChecked: privileged.map(groupLabel),
        groupsKept: groupsAfter.map(groupLabel),
        sessions: cleared
          ? `cleared with DELETE /users/{id}/sessions?${SCOPE_SESSIONS_QUERY} (204); not readable`
          : 'not cleared in this run: nothing was left to remove; not readable',
        readBack: READ_BACK,
        notReadable: NOT_READABLE,
      },
      detail: [
        removed.length
          ? `admin roles and privileged groups removed (${removed.join(', ')})`
          : 'no admin role or privileged group to remove (none left)',
        cleared
          ? 'Okta sessions and OAuth tokens cleared (sessions cannot be listed in Okta, so not read back)'
          : '',
        after.status === 'ACTIVE' ? 'account stays active' : `account is ${after.status} (not by this step)`,
      ]
        .filter(Boolean)
        .join('; '),
    };
  };
}
