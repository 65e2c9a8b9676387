/**
 * The Entra connector's notice-period scope (`notice: scope`, activities/entra-scope.ts) against the
 * Graph stand-in (standins/graph.ts with graph-roles.ts): active directory role assignments, PIM
 * eligibilities and the privileged groups (named by display name and by id) go, sessions are renewed;
 * the ordinary groups, the enabled account and its MFA methods stay; a repeat changes nothing. Red: a
 * privileged group with dynamic membership or a catalog group the tenant lacks (named, nothing changed),
 * a 429 on a role call (the Retry-After kept), a role, an eligibility or a group still listed on read-back.
 */
import { readFileSync } from 'node:fs';
import { Agent } from 'undici';
import type { Subject } from '../activities/connector';
import { matchContext } from '../activities/connectors';
import { createEntraConnector, type EntraAccount, type EntraConnector } from '../activities/entra';
import { ConfirmationMismatchError, TargetRejectedError, TargetThrottledError } from '../activities/errors';
import type { CatalogSystem, EntraConnectorConfig } from '../config/catalog';
import { PHONE_METHOD_IDS, authMethods, type GraphGroupState, type GraphUserState } from '../standins/graph';
import { DIRECTORY_ROLES } from '../standins/graph-roles';
import { SECRETS, startStandIns, testCatalog, uniq, type StandIns } from './support/harness';

const { globalAdministrator, userAdministrator, privilegedRoleAdministrator } = DIRECTORY_ROLES;

let s: StandIns;
let system: CatalogSystem;
let base: EntraConnectorConfig;
const open: EntraConnector[] = [];

beforeAll(async () => {
  s = await startStandIns();
  system = testCatalog(s).systems.find((x) => x.id === 'entra')!;
  if (system.connector.kind !== 'entra')
    throw new Error('test catalog: entra entry is not an entra connector');
  base = system.connector;
});

afterEach(() => s.graph.control.reset());

afterAll(async () => {
  await Promise.all(open.map((c) => c.close?.()));
  await s?.stop();
});

/** The account-scope connector with these privileged groups; `scope(u)` finds the user, then scopes it. */
function connector(privilegedGroups: string[]) {
  const c = createEntraConnector(
    { ...base, scope: 'account', privilegedGroups },
    SECRETS.ENTRA_CLIENT_SECRET,
    matchContext(system),
  );
  open.push(c);
  return {
    connector: c,
    async scope(u: GraphUserState) {
      const subject = subjectOf(u);
      const found = await c.find(subject);
      expect(found.account?.id).toBe(u.id);
      return c.scope!(subject, found.account as EntraAccount);
    },
  };
}

function subjectOf(u: GraphUserState): Subject {
  return {
    departureId: uniq('dep'),
    employeeId: u.id,
    employeeName: u.displayName,
    workEmail: u.userPrincipalName,
    confirmedAt: new Date(Date.now() - 5 * 60_000).toISOString(),
    managerEmail: 'manager@example.com',
  };
}

/**
 * A leaver who administers the tenant: two active roles and one PIM eligibility, two privileged groups
 * (one to be named by display name, one by id), an ordinary and a dynamic group, MFA methods.
 */
function seedAdmin(opts: { privilegedDynamic?: boolean } = {}) {
  const g = s.graph;
  const tag = uniq('x');
  const byName = g.seedGroup({
    displayName: `Tenant admins ${tag}`,
    ...(opts.privilegedDynamic ? { dynamic: true, membershipRule: '(user.department -eq "IT")' } : {}),
  });
  const byId = g.seedGroup({ displayName: `Prod break-glass ${tag}` });
  const ordinary = g.seedGroup({ displayName: `Finance ${tag}` });
  const everyone = g.seedGroup({ displayName: `All staff ${tag}`, dynamic: true });
  const user = g.seedUser({
    userPrincipalName: `${uniq('admin')}@example.com`,
    groups: [byName, byId, ordinary, everyone],
    roles: [globalAdministrator, userAdministrator],
    eligibleRoles: [privilegedRoleAdministrator],
    authenticationMethods: [
      authMethods.phone('mobile', '+1 5555550100'),
      authMethods.microsoftAuthenticator(),
    ],
    defaultMethodId: PHONE_METHOD_IDS.mobile,
  });
  return { user, byName, byId, ordinary, everyone, privileged: [byName.displayName, byId.id] };
}

const groupIds = (u: GraphUserState) => u.memberOf.map((x) => x.id).sort();
const ids = (...gs: GraphGroupState[]) => gs.map((x) => x.id).sort();
const roleIds = (u: GraphUserState) => (u.roleAssignments ?? []).map((r) => r.roleDefinitionId).sort();
const eligibleIds = (u: GraphUserState) => (u.roleEligibilities ?? []).map((r) => r.roleDefinitionId).sort();
/** Requests that change something (neither reads nor the token). */
const writes = () => s.graph.control.calls.filter((c) => c.method !== 'GET' && !c.path.includes('/oauth2/'));

/** The state of `u` a scope must not touch, and what it must remove. */
function snapshot(u: GraphUserState) {
  return {
    roles: roleIds(u),
    eligible: eligibleIds(u),
    groups: groupIds(u),
    accountEnabled: u.accountEnabled,
    revokeCount: u.revokeCount,
    methods: u.authenticationMethods.map((m) => m.id),
  };
}

describe('scope', () => {
  test('removes active roles, PIM eligibilities and both privileged groups; keeps the ordinary groups, the enabled account and MFA; renews sessions; a repeat changes nothing', async () => {
    const x = seedAdmin();
    // Another holder of the same roles: the principalId filter keeps them out of the scope.
    const bystander = s.graph.seedUser({
      userPrincipalName: `${uniq('other')}@example.com`,
      groups: [x.byName],
      roles: [globalAdministrator],
      eligibleRoles: [privilegedRoleAdministrator],
    });
    const methods = x.user.authenticationMethods.map((m) => m.id);
    const c = connector(x.privileged);

    const r = await c.scope(x.user);

    expect(r.changes.sort()).toEqual(
      [
        `removed directory role ${globalAdministrator}`,
        `removed directory role ${userAdministrator}`,
        `removed PIM eligibility ${privilegedRoleAdministrator}`,
        `removed from privileged group ${x.byName.displayName}`,
        `removed from privileged group ${x.byId.displayName}`,
        'revokeSignInSessions',
      ].sort(),
    );
    // The stand-in's state: roles, eligibility and the privileged groups gone, the rest kept.
    expect(x.user.roleAssignments).toEqual([]);
    expect(x.user.roleEligibilities).toEqual([]);
    expect(groupIds(x.user)).toEqual(ids(x.ordinary, x.everyone));
    expect(x.user.accountEnabled).toBe(true);
    expect(x.user.disableCount).toBe(0);
    expect(x.user.authenticationMethods.map((m) => m.id)).toEqual(methods);
    expect(x.user.methodDeleteCount).toBe(0);
    expect(x.user.licenceRemoveCount).toBe(0);
    expect(x.user.revokeCount).toBe(1);
    expect(Date.parse(x.user.signInSessionsValidFromDateTime)).toBeGreaterThan(Date.now() - 60_000);
    // The dynamic group is not privileged here: never asked to drop the member.
    expect(s.graph.control.count(`/groups/${x.everyone.id}/members`, 'DELETE')).toBe(0);
    expect(snapshot(bystander)).toMatchObject({
      roles: [globalAdministrator],
      eligible: [privilegedRoleAdministrator],
      groups: ids(x.byName),
    });

    expect(r.confirmation).toEqual({
      id: x.user.id,
      accountEnabled: true,
      signInSessionsValidFromDateTime: x.user.signInSessionsValidFromDateTime,
      directoryRoles: 0,
      pimEligibilities: 0,
      privilegedGroups: 0,
      privilegedGroupsChecked: x.privileged,
    });
    expect(r.detail).toContain('no directory role (removed 2)');
    expect(r.detail).toContain('no PIM eligibility (removed 1)');
    expect(r.detail).toContain('no privileged group (removed 2)');
    expect(r.detail).toContain('account stays enabled');

    // A repeat (a retry after a crash) changes nothing and does not revoke the sessions again.
    s.graph.control.reset();
    const again = await c.scope(x.user);
    expect(again.changes).toEqual([]);
    expect(writes()).toEqual([]);
    expect(s.graph.control.count('/revokeSignInSessions', 'POST')).toBe(0);
    expect(x.user.revokeCount).toBe(1);
    expect(again.confirmation).toMatchObject({ directoryRoles: 0, pimEligibilities: 0, privilegedGroups: 0 });
  });

  test('a catalog group name with characters reserved in a URL (& # + %) or a quote is found, and the names compare without regard to case', async () => {
    const tag = uniq('y');
    const special = s.graph.seedGroup({ displayName: `R&D + Ops #1 100% O'Brien ${tag}` });
    const ordinary = s.graph.seedGroup({ displayName: `R&D ${tag}` });
    const user = s.graph.seedUser({
      userPrincipalName: `${uniq('rnd')}@example.com`,
      groups: [special, ordinary],
    });
    const r = await connector([special.displayName.toUpperCase()]).scope(user);
    expect(r.changes).toEqual([
      `removed from privileged group ${special.displayName}`,
      'revokeSignInSessions',
    ]);
    expect(groupIds(user)).toEqual(ids(ordinary));
  });

  test('a user with nothing privileged: only the sessions are renewed', async () => {
    const ordinary = s.graph.seedGroup({ displayName: uniq('Plain') });
    const user = s.graph.seedUser({ userPrincipalName: `${uniq('plain')}@example.com`, groups: [ordinary] });
    const r = await connector([]).scope(user);
    expect(r.changes).toEqual(['revokeSignInSessions']);
    expect(groupIds(user)).toEqual(ids(ordinary));
    expect(r.confirmation).toMatchObject({ privilegedGroupsChecked: [] });
  });
});

describe('refused before anything changes', () => {
  test('a privileged group with dynamic membership is a TargetRejectedError naming it; the roles stay', async () => {
    const x = seedAdmin({ privilegedDynamic: true });
    const before = snapshot(x.user);
    const err = await connector(x.privileged)
      .scope(x.user)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TargetRejectedError);
    expect((err as Error).message).toContain(
      `privileged group ${x.byName.displayName} has dynamic membership`,
    );
    expect(snapshot(x.user)).toEqual(before);
    expect(before.roles).toHaveLength(2);
    expect(writes()).toEqual([]);
  });

  test.each([
    ['a display name', () => `No such group ${uniq('z')}`],
    ['an object id', () => '00000000-0000-4000-8000-0000000d0e5e'],
  ])(
    'a privileged group the tenant lacks (by %s) is a TargetRejectedError naming it; nothing changed',
    async (_kind, missing) => {
      const x = seedAdmin();
      const before = snapshot(x.user);
      const name = missing();
      const err = await connector([...x.privileged, name])
        .scope(x.user)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TargetRejectedError);
      expect((err as Error).message).toContain(`privileged group "${name}"`);
      expect((err as Error).message).toContain('does not exist');
      expect(snapshot(x.user)).toEqual(before);
      expect(writes()).toEqual([]);
    },
  );
});

describe('throttling and read-back', () => {
  test.each([
    ['GET roleAssignments', 'GET', '/roleManagement/directory/roleAssignments?'],
    ['DELETE roleAssignment', 'DELETE', '/roleManagement/directory/roleAssignments/'],
    ['GET roleEligibilitySchedules', 'GET', '/roleManagement/directory/roleEligibilitySchedules'],
    ['POST adminRemove', 'POST', '/roleManagement/directory/roleEligibilityScheduleRequests'],
    ['GET group by display name', 'GET', '/groups?'],
  ])(
    'a 429 with Retry-After on %s is a TargetThrottledError with the delay; the retry finishes',
    async (_name, method, path) => {
      const x = seedAdmin();
      const c = connector(x.privileged);
      s.graph.control.inject({ method, pathIncludes: path, status: 429, times: 1, retryAfterSeconds: 9 });
      const err = await c.scope(x.user).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TargetThrottledError);
      expect((err as TargetThrottledError).retryAfterMs).toBe(9000);
      // The connector did not call again by itself: the throttled call was its last one.
      expect(s.graph.control.calls.at(-1)).toMatchObject({ method, status: 429 });
      expect(s.graph.control.calls.at(-1)!.path).toContain(path);
      expect(x.user.revokeCount).toBe(0);

      // Temporal retries after the delay: the next attempt finishes the work.
      const r = await c.scope(x.user);
      expect(r.changes).toContain('revokeSignInSessions');
      expect(snapshot(x.user)).toMatchObject({
        roles: [],
        eligible: [],
        groups: ids(x.ordinary, x.everyone),
      });
    },
  );

  test('a role assignment still listed after its DELETE was answered 204 is a ConfirmationMismatchError naming the role; the retry confirms', async () => {
    const x = seedAdmin();
    const c = connector(x.privileged);
    // The first DELETE is answered 204 by the fault control before the stand-in removes anything.
    s.graph.control.inject({
      method: 'DELETE',
      pathIncludes: '/roleManagement/directory/roleAssignments/',
      status: 204,
      times: 1,
    });
    const err = await c.scope(x.user).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfirmationMismatchError);
    expect((err as Error).message).toMatch(/^Entra still lists directory role /);
    const [left, ...more] = roleIds(x.user);
    expect(more).toEqual([]);
    expect((err as Error).message).toContain(left);
    expect(x.user.accountEnabled).toBe(true);

    const r = await c.scope(x.user);
    expect(r.changes).toEqual([`removed directory role ${left}`, 'revokeSignInSessions']);
    expect(roleIds(x.user)).toEqual([]);
    expect(r.confirmation).toMatchObject({ directoryRoles: 0 });
  });

  test.each([
    [
      'a PIM eligibility (adminRemove answered 201)',
      { method: 'POST', pathIncludes: '/roleEligibilityScheduleRequests', status: 201, body: {} },
      () => `Entra still lists PIM eligibility for ${privilegedRoleAdministrator}`,
    ],
    [
      'a privileged group membership (DELETE $ref answered 204)',
      { method: 'DELETE', pathIncludes: '/members/', status: 204 },
      (x: ReturnType<typeof seedAdmin>) =>
        `Entra still lists membership of privileged group ${x.byName.displayName}`,
    ],
  ])(
    '%s still listed on read-back is a ConfirmationMismatchError naming it',
    async (_what, fault, message) => {
      const x = seedAdmin();
      s.graph.control.inject({ ...fault, times: 1 });
      const err = await connector(x.privileged)
        .scope(x.user)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfirmationMismatchError);
      expect((err as Error).message).toBe(message(x));
      expect(x.user.accountEnabled).toBe(true);
    },
  );

  test('a PIM eligibility listed but gone by the time of adminRemove (400 RoleAssignmentDoesNotExist) counts as already removed', async () => {
    const user = s.graph.seedUser({ userPrincipalName: `${uniq('pim')}@example.com` });
    const c = connector([]);
    // A stale list: the eligibility was removed by someone else after Graph listed it.
    s.graph.control.inject({
      method: 'GET',
      pathIncludes: '/roleManagement/directory/roleEligibilitySchedules',
      status: 200,
      times: 1,
      body: {
        value: [
          {
            id: 'stale',
            principalId: user.id,
            roleDefinitionId: userAdministrator,
            directoryScopeId: '/',
            memberType: 'Direct',
            status: 'Provisioned',
          },
        ],
      },
    });
    const r = await c.scope(user);
    expect(r.changes).toEqual(['revokeSignInSessions']);
    expect(
      s.graph.control.calls.find((x) => x.path.includes('/roleEligibilityScheduleRequests')),
    ).toMatchObject({ method: 'POST', status: 400 });
    expect(r.confirmation).toMatchObject({ pimEligibilities: 0 });
  });
});

describe('the stand-in answers like Graph', () => {
  const agent = () => new Agent({ connect: { ca: readFileSync(s.caFile, 'utf8') } });
  async function graph(method: string, path: string, body?: unknown) {
    const dispatcher = agent();
    try {
      const t = await fetch(`${s.graph.url}/tenant-test/oauth2/v2.0/token`, {
        method: 'POST',
        body: new URLSearchParams({
          grant_type: 'client_credentials',
          client_id: 'client-test',
          client_secret: SECRETS.ENTRA_CLIENT_SECRET,
          scope: `${s.graph.url}/.default`,
        }),
        dispatcher,
      } as RequestInit);
      const { access_token } = (await t.json()) as { access_token: string };
      const res = await fetch(`${s.graph.url}/v1.0${path}`, {
        method,
        headers: { authorization: `Bearer ${access_token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        dispatcher,
      } as RequestInit);
      const text = await res.text();
      return {
        status: res.status,
        json: (text ? JSON.parse(text) : null) as {
          error?: { code: string; message: string };
          value?: Record<string, unknown>[];
        },
      };
    } finally {
      await dispatcher.close();
    }
  }
  const q = (filter: string) => `$filter=${encodeURIComponent(filter)}`;

  test('role lists filter by principalId only: another $filter is 400 Request_UnsupportedQuery', async () => {
    const user = s.graph.seedUser({
      userPrincipalName: `${uniq('q')}@example.com`,
      roles: [userAdministrator],
      eligibleRoles: [globalAdministrator],
    });
    const ok = await graph(
      'GET',
      `/roleManagement/directory/roleAssignments?${q(`principalId eq '${user.id}'`)}`,
    );
    expect(ok.status).toBe(200);
    expect(ok.json.value).toEqual([
      expect.objectContaining({
        principalId: user.id,
        roleDefinitionId: userAdministrator,
        directoryScopeId: '/',
      }),
    ]);
    for (const path of [
      `/roleManagement/directory/roleAssignments?${q(`roleDefinitionId eq '${userAdministrator}'`)}`,
      `/roleManagement/directory/roleEligibilitySchedules?${q(`startswith(principalId,'${user.id}')`)}`,
      '/roleManagement/directory/roleAssignments',
      `/groups?${q("startswith(displayName,'Fin')")}`,
    ]) {
      const bad = await graph('GET', path);
      expect({ path, status: bad.status, code: bad.json.error?.code }).toEqual({
        path,
        status: 400,
        code: 'Request_UnsupportedQuery',
      });
    }
  });

  test('adminRemove: removes an eligibility (201, Revoked); a second time, or one never held, is 400 RoleAssignmentDoesNotExist', async () => {
    const user = s.graph.seedUser({
      userPrincipalName: `${uniq('r')}@example.com`,
      eligibleRoles: [globalAdministrator],
    });
    const request = (roleDefinitionId: string) =>
      graph('POST', '/roleManagement/directory/roleEligibilityScheduleRequests', {
        action: 'adminRemove',
        principalId: user.id,
        roleDefinitionId,
        directoryScopeId: '/',
        justification: 'test',
      });
    const done = await request(globalAdministrator);
    expect(done.status).toBe(201);
    expect(done.json).toMatchObject({ action: 'adminRemove', status: 'Revoked', principalId: user.id });
    expect(user.roleEligibilities).toEqual([]);
    for (const role of [globalAdministrator, userAdministrator]) {
      const gone = await request(role);
      expect(gone.status).toBe(400);
      expect(gone.json.error?.code).toBe('RoleAssignmentDoesNotExist');
    }
    const unknown = await graph('DELETE', '/roleManagement/directory/roleAssignments/no-such-assignment');
    expect(unknown.status).toBe(404);
    expect(unknown.json.error?.code).toBe('Request_ResourceNotFound');
  });
});
