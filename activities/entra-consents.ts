/**
 * Entra ID: the third-party applications the leaver authorised, part of the account revocation
 * (activities/entra.ts). Listed, named, revoked one by one and read back gone:
 *
 * - delegated permission grants the user consented to (`GET /oauth2PermissionGrants?$filter=principalId
 *   eq '<id>'`; `GET /users/{id}/oauth2PermissionGrants` is documented for delegated permissions only, so
 *   an app-only connector uses the collection), each deleted with `DELETE /oauth2PermissionGrants/{id}`.
 *   Tenant-wide admin consents (`consentType: AllPrincipals`) have no principal: never the leaver's;
 * - app role assignments of the user (`GET /users/{id}/appRoleAssignments`), each deleted with `DELETE
 *   /users/{id}/appRoleAssignments/{id}`. Graph lists the roles of the user's groups there too: those
 *   leave with the membership (the account step removes assigned groups first) and are only counted;
 * - the apps' names, app ids and role values from `GET /servicePrincipals/{id}`.
 *
 * Permissions besides the connector's usual ones: DelegatedPermissionGrant.ReadWrite.All,
 * AppRoleAssignment.ReadWrite.All, Application.Read.All. Graph documents replication delays for grants
 * just deleted: a read-back that still lists one is a ConfirmationMismatchError, and the retry reads again.
 */
import type { Client } from '@microsoft/microsoft-graph-client';
import type { Consent } from '../contract/consents';
import { ConfirmationMismatchError, TargetAuthError } from './errors';

interface DelegatedGrant {
  id: string;
  clientId: string;
  consentType?: string;
  principalId?: string | null;
  resourceId: string;
  scope?: string | null;
}

interface AppRoleAssignment {
  id: string;
  appRoleId: string;
  principalId: string;
  principalType?: string;
  resourceId: string;
  resourceDisplayName?: string | null;
}

interface ServicePrincipal {
  id: string;
  appId?: string;
  displayName?: string | null;
  appRoles?: { id: string; value?: string | null }[];
}

/** What the consents need of the Entra connector: its client and its mapped calls. */
export interface ConsentGraph {
  client: Client;
  callOr404<T>(what: string, fn: () => Promise<T>): Promise<T | null>;
  listAll<T>(what: string, path: string, select?: string): Promise<T[]>;
}

const PERMISSIONS =
  'reading and revoking consents needs DelegatedPermissionGrant.ReadWrite.All, ' +
  'AppRoleAssignment.ReadWrite.All and Application.Read.All';

/** The app role assignment that names no role (Graph's "default access"). */
const DEFAULT_ACCESS = '00000000-0000-0000-0000-000000000000';

const scopesOf = (g: DelegatedGrant) => (g.scope ?? '').split(' ').filter(Boolean);

/** Creates the consent part of one Entra connector's account revocation. */
export function createEntraConsents(graph: ConsentGraph) {
  const { client, callOr404, listAll } = graph;

  /** Runs `fn`; a refused permission says which ones consents need. */
  async function permitted<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof TargetAuthError) throw new TargetAuthError(`${e.message} (${PERMISSIONS})`);
      throw e;
    }
  }

  /** The user's own grants and assignments, and how many assignments come from their groups. */
  async function read(userId: string) {
    const filter = encodeURIComponent(`principalId eq '${userId}'`);
    const [grants, assignments] = await Promise.all([
      listAll<DelegatedGrant>('GET delegated permission grants', `/oauth2PermissionGrants?$filter=${filter}`),
      listAll<AppRoleAssignment>('GET app role assignments', `/users/${userId}/appRoleAssignments`),
    ]);
    return {
      grants: grants.filter((g) => g.principalId === userId),
      assignments: assignments.filter((a) => a.principalId === userId),
      viaGroups: assignments.filter((a) => a.principalId !== userId).length,
    };
  }

  /** Service principals by object id, each asked once per revocation. */
  function principals() {
    const cache = new Map<string, Promise<ServicePrincipal | null>>();
    return (id: string) => {
      let p = cache.get(id);
      if (!p) {
        p = callOr404('GET service principal', () =>
          client
            .api(`/servicePrincipals/${encodeURIComponent(id)}`)
            .select('id,appId,displayName,appRoles')
            .get(),
        ) as Promise<ServicePrincipal | null>;
        cache.set(id, p);
      }
      return p;
    };
  }

  /**
   * Lists the leaver's consents, revokes each (every deletion a change; one already gone is not) and
   * returns them as the evidence names them, one per app and kind.
   */
  async function revoke(
    userId: string,
    changes: string[],
  ): Promise<{ consents: Consent[]; viaGroups: number }> {
    return permitted(async () => {
      const { grants, assignments, viaGroups } = await read(userId);
      const sp = principals();
      const byApp = new Map<string, Consent>();
      const add = (key: string, c: Consent) => {
        const prior = byApp.get(key);
        if (prior) prior.scopes = [...new Set([...prior.scopes, ...c.scopes])];
        else byApp.set(key, c);
      };
      for (const g of grants) {
        const app = await sp(g.clientId);
        const name = app?.displayName || g.clientId;
        add(`delegated:${g.clientId}`, {
          appId: app?.appId ?? g.clientId,
          name,
          scopes: scopesOf(g),
          kind: 'delegated-permission',
        });
        const gone = await callOr404(`DELETE delegated permission grant of ${name}`, () =>
          client.api(`/oauth2PermissionGrants/${encodeURIComponent(g.id)}`).delete(),
        );
        // 404: deleted meanwhile (a repeat after a crash).
        if (gone !== null)
          changes.push(`revoked consent to ${name} (${scopesOf(g).join(' ') || 'no scope'})`);
      }
      for (const a of assignments) {
        const app = await sp(a.resourceId);
        const name = a.resourceDisplayName || app?.displayName || a.resourceId;
        const role = a.appRoleId === DEFAULT_ACCESS ? null : app?.appRoles?.find((r) => r.id === a.appRoleId);
        add(`app-role:${a.resourceId}`, {
          appId: app?.appId ?? a.resourceId,
          name,
          scopes: role ? [role.value || a.appRoleId] : a.appRoleId === DEFAULT_ACCESS ? [] : [a.appRoleId],
          kind: 'app-role-assignment',
        });
        const gone = await callOr404(`DELETE app role assignment to ${name}`, () =>
          client.api(`/users/${userId}/appRoleAssignments/${encodeURIComponent(a.id)}`).delete(),
        );
        if (gone !== null) changes.push(`removed app role assignment to ${name}`);
      }
      return { consents: [...byApp.values()], viaGroups };
    });
  }

  /** Confirmation: no grant and no assignment of the user's own is listed any more. */
  async function confirmGone(userId: string): Promise<{ viaGroups: number }> {
    const left = await permitted(() => read(userId));
    const what = [
      ...left.grants.map((g) => `a delegated permission grant to client ${g.clientId} (${g.scope ?? ''})`),
      ...left.assignments.map((a) => `app role assignment to ${a.resourceDisplayName ?? a.resourceId}`),
    ];
    if (what.length > 0)
      throw new ConfirmationMismatchError(
        `Entra still lists ${what.join(', ')} (Graph documents replication delays for grants: a retry reads again)`,
      );
    return { viaGroups: left.viaGroups };
  }

  return { revoke, confirmGone };
}
