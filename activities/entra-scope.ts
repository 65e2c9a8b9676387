/**
 * Entra ID during a notice period (`notice: scope`): the leaver keeps a working account, but loses at
 * once every directory role assignment, every PIM eligibility and membership of the groups the catalog
 * marks privileged; sign-in sessions are revoked so the reduced rights apply now. The account stays
 * enabled and its MFA methods stay. Everything is read back before the step is green.
 *
 * Graph calls: `GET/DELETE /roleManagement/directory/roleAssignments` (filtered by principalId), `GET
 * /roleManagement/directory/roleEligibilitySchedules` and `POST .../roleEligibilityScheduleRequests`
 * with `action: adminRemove` (PIM), `DELETE /groups/{id}/members/{user}/$ref`, `POST
 * /users/{id}/revokeSignInSessions`. Permissions: RoleManagement.ReadWrite.Directory and
 * GroupMember.ReadWrite.All besides the connector's usual ones.
 */
import type { Client } from '@microsoft/microsoft-graph-client';
import type { EntraConnectorConfig } from '../config/catalog';
import type { RevokeResult, Subject } from './connector';
import { ConfirmationMismatchError, TargetRejectedError } from './errors';

interface RoleAssignment {
  id: string;
  principalId: string;
  roleDefinitionId: string;
  directoryScopeId?: string | null;
}

interface GroupRef {
  id: string;
  displayName?: string | null;
  groupTypes?: string[];
}

/** What the scope needs of the Entra connector: its client, its mapped calls and its readers. */
export interface GraphAccess {
  client: Client;
  call<T>(what: string, fn: () => Promise<T>): Promise<T>;
  callOr404<T>(what: string, fn: () => Promise<T>): Promise<T | null>;
  listAll<T>(what: string, path: string, select?: string): Promise<T[]>;
  listGroups(userId: string): Promise<GroupRef[]>;
  getUser(id: string): Promise<{
    id: string;
    accountEnabled?: boolean | null;
    signInSessionsValidFromDateTime?: string | null;
  } | null>;
}

const isDynamic = (g: GroupRef) => (g.groupTypes ?? []).includes('DynamicMembership');
const nameOf = (g: GroupRef) => g.displayName ?? g.id;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const byPrincipal = (id: string) => `$filter=${encodeURIComponent(`principalId eq '${id}'`)}`;

/** Creates the scope call of one Entra connector. */
export function createEntraScope(cfg: EntraConnectorConfig, graph: GraphAccess) {
  const { client, call, callOr404, listAll, listGroups, getUser } = graph;
  const privileged = (cfg.privilegedGroups ?? []).map((x) => x.toLowerCase());
  const isPrivileged = (g: GroupRef) =>
    privileged.includes(g.id.toLowerCase()) || privileged.includes((g.displayName ?? '').toLowerCase());

  const listAssignments = (userId: string) =>
    listAll<RoleAssignment>(
      'GET directory role assignments',
      `/roleManagement/directory/roleAssignments?${byPrincipal(userId)}`,
    );
  const listEligibilities = (userId: string) =>
    listAll<RoleAssignment>(
      'GET PIM role eligibilities',
      `/roleManagement/directory/roleEligibilitySchedules?${byPrincipal(userId)}`,
    );

  /** A PIM eligibility removed through a schedule request; one already gone changes nothing. */
  async function removeEligibility(e: RoleAssignment): Promise<boolean> {
    try {
      await call(`POST adminRemove eligibility ${e.roleDefinitionId}`, () =>
        client.api('/roleManagement/directory/roleEligibilityScheduleRequests').post({
          action: 'adminRemove',
          principalId: e.principalId,
          roleDefinitionId: e.roleDefinitionId,
          directoryScopeId: e.directoryScopeId ?? '/',
          justification: 'Offboard: notice period, privileged access removed',
        }),
      );
      return true;
    } catch (err) {
      // "RoleAssignmentDoesNotExist": removed meanwhile (a repeat after a crash). Reading back decides.
      if (err instanceof Error && /RoleAssignmentDoesNotExist/.test(err.message)) return false;
      throw err;
    }
  }

  /** Every privileged group the catalog names exists (once per connector): a typo is never silent. */
  let checked = false;
  async function checkCatalogGroups(): Promise<void> {
    if (checked) return;
    for (const name of cfg.privilegedGroups ?? []) {
      const found = GUID.test(name)
        ? await callOr404(`GET group ${name}`, () => client.api(`/groups/${name}`).select('id').get())
        : (
            (await call(`GET group named ${name}`, () =>
              client
                .api('/groups')
                // Percent-encoded: the SDK puts $filter in the URL as given (a name may hold & # + %).
                .filter(encodeURIComponent(`displayName eq '${name.replace(/'/g, "''")}'`))
                .select('id,displayName')
                .get(),
            )) as { value: unknown[] }
          ).value[0];
      if (!found)
        throw new TargetRejectedError(
          `privileged group "${name}" (catalog connector.privilegedGroups) does not exist in the tenant`,
        );
    }
    checked = true;
  }

  return async function scope(subject: Subject, account: { id: string }): Promise<RevokeResult> {
    await checkCatalogGroups();
    const userId = account.id;
    const changes: string[] = [];
    // Checked before anything changes: a dynamic group cannot lose a member by request.
    const groups = (await listGroups(userId)).filter(isPrivileged);
    const dynamic = groups.filter(isDynamic);
    if (dynamic.length > 0)
      throw new TargetRejectedError(
        `privileged group ${dynamic.map(nameOf).join(', ')} has dynamic membership: its rule, not Offboard, ` +
          'decides who is in it (change the rule or the catalog)',
      );
    for (const a of await listAssignments(userId)) {
      const gone = await callOr404(`DELETE role assignment ${a.roleDefinitionId}`, () =>
        client.api(`/roleManagement/directory/roleAssignments/${a.id}`).delete(),
      );
      if (gone !== null) changes.push(`removed directory role ${a.roleDefinitionId}`);
    }
    for (const e of await listEligibilities(userId))
      if (await removeEligibility(e)) changes.push(`removed PIM eligibility ${e.roleDefinitionId}`);

    for (const g of groups) {
      const removed = await callOr404(`DELETE member of group ${nameOf(g)}`, () =>
        client.api(`/groups/${g.id}/members/${userId}/$ref`).delete(),
      );
      if (removed !== null) changes.push(`removed from privileged group ${nameOf(g)}`);
    }

    // Sessions renewed after the scope (and after the confirmation), so tokens carry the reduced rights.
    const before = await getUser(userId);
    const since = Math.min(Date.parse(subject.confirmedAt), Date.now() - 60_000);
    const validFrom = (u: typeof before) =>
      u?.signInSessionsValidFromDateTime ? Date.parse(u.signInSessionsValidFromDateTime) : 0;
    if (changes.length > 0 || validFrom(before) < since) {
      await call('POST revokeSignInSessions', () =>
        client.api(`/users/${userId}/revokeSignInSessions`).post({}),
      );
      changes.push('revokeSignInSessions');
    }

    // ---- Confirmation: read everything back.
    const after = await getUser(userId);
    if (!after) throw new ConfirmationMismatchError('the account disappeared while it was being scoped');
    const roles = await listAssignments(userId);
    if (roles.length > 0)
      throw new ConfirmationMismatchError(
        `Entra still lists directory role ${roles.map((r) => r.roleDefinitionId).join(', ')}`,
      );
    const eligible = await listEligibilities(userId);
    if (eligible.length > 0)
      throw new ConfirmationMismatchError(
        `Entra still lists PIM eligibility for ${eligible.map((r) => r.roleDefinitionId).join(', ')}`,
      );
    const still = (await listGroups(userId)).filter(isPrivileged);
    if (still.length > 0)
      throw new ConfirmationMismatchError(
        `Entra still lists membership of privileged group ${still.map(nameOf).join(', ')}`,
      );
    if (validFrom(after) < since)
      throw new ConfirmationMismatchError(
        `Entra sign-in sessions are still valid from ${after.signInSessionsValidFromDateTime ?? 'ever'}`,
      );
    const count = (prefix: string) => changes.filter((c) => c.startsWith(prefix)).length;
    return {
      changes,
      confirmation: {
        id: after.id,
        accountEnabled: after.accountEnabled ?? null,
        signInSessionsValidFromDateTime: after.signInSessionsValidFromDateTime ?? null,
        directoryRoles: 0,
        pimEligibilities: 0,
        privilegedGroups: 0,
        privilegedGroupsChecked: cfg.privilegedGroups ?? [],
      },
      detail:
        `scoped for the notice period: no directory role (removed ${count('removed directory role')}), ` +
        `no PIM eligibility (removed ${count('removed PIM')}), no privileged group (removed ` +
        `${count('removed from privileged')}); account ${after.accountEnabled === false ? 'DISABLED' : 'stays enabled'}, ` +
        `sessions valid only from ${after.signInSessionsValidFromDateTime ?? 'n/a'}`,
    };
  };
}
