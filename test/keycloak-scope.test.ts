/**
 * The Keycloak connector's notice-period scope (`notice: scope`) against a real Keycloak 26, in a realm
 * of this file's own: the realm-management roles, the privileged realm role and the privileged group
 * (with its subgroup) go, the ordinary group and role stay, the user stays enabled with its password and
 * can still sign in, with a token that no longer carries the removed roles; the old session is logged
 * out; a repeat changes nothing. Red: a privileged group path the realm lacks (named, nothing changed),
 * an administration role left through an ordinary group (named), a connector account without
 * realm-admin (Keycloak refuses to remove administration roles: named, nothing changed).
 */
import { randomBytes } from 'node:crypto';
import type { RevocationConnector, Subject } from '../activities/connector';
import { createConnectors } from '../activities/connectors';
import type { KeycloakAccount } from '../activities/keycloak';
import { parseCatalog } from '../config/catalog';
import {
  KC_CLIENT_SECRET,
  KC_ENV,
  createTestRealm,
  createUser,
  describeKeycloak,
  keycloakCatalogYaml,
  passwordGrant,
  refresh,
  userState,
  type TestRealm,
  type TestUser,
} from './support/keycloak';

let r: TestRealm;
/** The realm-management client's uuid. */
let rm: string;
let account: RevocationConnector<KeycloakAccount>;
let mfa: RevocationConnector<KeycloakAccount>;
const opened: RevocationConnector[] = [];

const hex = () => randomBytes(3).toString('hex');
const PRIVILEGED = { privilegedGroups: ['/admins'], privilegedRoles: ['ops'] };

/** The connectors of a catalog of this realm with these connector settings (both tiers). */
function connectors(connector: Record<string, unknown>) {
  const env = { ...process.env, ...KC_ENV };
  const c = parseCatalog(keycloakCatalogYaml(r, { connector }), 'keycloak-catalog.yaml', env);
  const reg = createConnectors(c, env);
  opened.push(...reg.values());
  return {
    account: reg.get('keycloak') as RevocationConnector<KeycloakAccount>,
    mfa: reg.get('keycloak-mfa') as RevocationConnector<KeycloakAccount>,
  };
}

const subjectOf = (u: TestUser): Subject => ({
  departureId: `dep_${hex()}`,
  employeeId: `E-${hex()}`,
  employeeName: 'Test User',
  workEmail: u.email,
  confirmedAt: new Date(Date.now() - 60_000).toISOString(),
  managerEmail: null,
});

const realmManagementRole = async (name: string) =>
  (await r.setup.call<{ id: string; name: string }>('GET', `/${r.realm}/clients/${rm}/roles/${name}`)).json;
const realmRole = async (name: string) =>
  (await r.setup.call<{ id: string; name: string }>('GET', `/${r.realm}/roles/${name}`)).json;

/** Maps realm-management roles to a user or a group (`/users/<id>` or `/groups/<id>`). */
async function grantAdminRoles(owner: string, roles: string[]) {
  await r.setup.call(
    'POST',
    `/${r.realm}${owner}/role-mappings/clients/${rm}`,
    await Promise.all(roles.map(realmManagementRole)),
  );
}

/** A leaver who administers the realm: realm-management roles, `ops`, /admins and /admins/oncall, plus /staff and `reader`. */
async function adminLeaver(prefix: string): Promise<TestUser> {
  const name = `${prefix}-${hex()}`;
  const u = await createUser(r, {
    username: name,
    email: `${name}@example.com`,
    groups: ['/admins', '/admins/oncall', '/staff'],
  });
  await grantAdminRoles(`/users/${u.id}`, ['manage-users', 'view-users', 'realm-admin']);
  await r.setup.call('POST', `/${r.realm}/users/${u.id}/role-mappings/realm`, [
    await realmRole('ops'),
    await realmRole('reader'),
  ]);
  return u;
}

/** The user's direct roles and group paths, read with the set-up admin (the tests' own eyes). */
async function rolesAndGroups(id: string) {
  const m = (
    await r.setup.call<{
      realmMappings?: { name: string }[];
      clientMappings?: Record<string, { mappings: { name: string }[] }>;
    }>('GET', `/${r.realm}/users/${id}/role-mappings`)
  ).json;
  const groups = (await r.setup.call<{ path: string }[]>('GET', `/${r.realm}/users/${id}/groups`)).json;
  return {
    admin: (m.clientMappings?.['realm-management']?.mappings ?? []).map((x) => x.name).sort(),
    realm: (m.realmMappings ?? [])
      .map((x) => x.name)
      .filter((x) => !x.startsWith('default-roles'))
      .sort(),
    groups: groups.map((g) => g.path).sort(),
  };
}

/** The claims of an access token (its payload, not verified: the tests' own look at what Keycloak issued). */
function claims(token: string) {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as {
    realm_access?: { roles: string[] };
    resource_access?: Record<string, { roles: string[] }>;
  };
}

describeKeycloak('Keycloak connector: notice-period scope (real Keycloak)', () => {
  beforeAll(async () => {
    r = await createTestRealm('kc-scope');
    rm = (
      await r.setup.call<{ id: string }[]>('GET', `/${r.realm}/clients?clientId=realm-management&exact=true`)
    ).json[0]!.id;
    // Keycloak lets only a realm-admin remove administration roles: the revocation client gets it here.
    // `offboard-basic` keeps the three roles revocation needs (the 403 below).
    const sa = (
      await r.setup.call<{ id: string }>(
        'GET',
        `/${r.realm}/clients/${(await r.setup.call<{ id: string }[]>('GET', `/${r.realm}/clients?clientId=offboard`)).json[0]!.id}/service-account-user`,
      )
    ).json;
    await grantAdminRoles(`/users/${sa.id}`, ['realm-admin']);
    await r.setup.createRevocationClient(r.realm, 'offboard-basic', KC_CLIENT_SECRET);
    for (const name of ['ops', 'reader']) await r.setup.create(`/${r.realm}/roles`, { name });
    const admins = await r.setup.create(`/${r.realm}/groups`, { name: 'admins' });
    await r.setup.create(`/${r.realm}/groups/${admins}/children`, { name: 'oncall' });
    ({ account, mfa } = connectors(PRIVILEGED));
  }, 300_000);
  afterAll(async () => {
    for (const c of opened) await c.close?.();
  });

  test('scope: admin roles, the privileged role and groups go; the account, its password, /staff and reader stay; sessions logged out; a repeat changes nothing', async () => {
    const u = await adminLeaver('dana');
    const subject = subjectOf(u);
    const before = await passwordGrant(r, u);
    expect(before.status).toBe(200);
    expect(claims(before.json.access_token!).resource_access?.['realm-management']?.roles).toEqual(
      expect.arrayContaining(['manage-users', 'view-users', 'realm-admin']),
    );
    expect(claims(before.json.access_token!).realm_access?.roles).toEqual(
      expect.arrayContaining(['ops', 'reader']),
    );
    expect(await rolesAndGroups(u.id)).toEqual({
      admin: ['manage-users', 'realm-admin', 'view-users'],
      realm: ['ops', 'reader'],
      groups: ['/admins', '/admins/oncall', '/staff'],
    });

    const m = await account.find(subject);
    expect(m.evidence).toMatchObject({ outcome: 'found', account: { id: u.id } });
    const res = await account.scope!(subject, m.account!);
    expect(res.changes).toEqual([
      expect.stringMatching(
        /^removed realm-management roles (manage-users|view-users|realm-admin)(, \S+){2}$/,
      ),
      'removed realm role ops',
      'removed from group /admins',
      'removed from group /admins/oncall',
      expect.stringMatching(
        /^logged out \([1-9]\d* online sessions? open\) so the reduced rights apply now$/,
      ),
    ]);
    expect(res.confirmation).toMatchObject({
      id: u.id,
      username: u.username,
      enabled: true,
      realmManagementRoles: 0,
      privilegedRealmRoles: 0,
      privilegedRolesChecked: ['ops'],
      privilegedGroups: 0,
      privilegedGroupsChecked: ['/admins'],
      groupsKept: ['/staff'],
      sessions: expect.stringContaining('logged out'),
    });
    expect(res.detail).toBe(
      'admin roles and privileged groups removed (3 realm-management roles, 1 realm role, 2 groups); sessions logged out; account stays enabled',
    );

    // Our own read-back: the privileged ones are gone, the ordinary ones and the account stay.
    expect(await rolesAndGroups(u.id)).toEqual({ admin: [], realm: ['reader'], groups: ['/staff'] });
    const state = await userState(r, u.id);
    expect(state.user.enabled).toBe(true);
    expect(state.credentials.map((c) => c.type)).toEqual(['password']);
    expect(state.sessions).toEqual([]);
    // The old session is over; the leaver still signs in, and the new token carries the reduced rights.
    expect(await refresh(r, before.json.refresh_token!)).toMatchObject({
      status: 400,
      json: { error: 'invalid_grant' },
    });
    const after = await passwordGrant(r, u);
    expect(after.status).toBe(200);
    const c = claims(after.json.access_token!);
    expect(c.resource_access?.['realm-management']).toBeUndefined();
    expect(c.realm_access?.roles).toContain('reader');
    expect(c.realm_access?.roles).not.toContain('ops');

    // Idempotent: nothing left to remove, no second logout (the new session stays open).
    const notBefore = res.confirmation['notBefore'];
    const again = await account.scope!(subject, (await account.find(subject)).account!);
    expect(again.changes).toEqual([]);
    expect(again.detail).toBe(
      'no admin role or privileged group to remove (none left); account stays enabled',
    );
    expect(again.confirmation).toMatchObject({ notBefore, enabled: true, groupsKept: ['/staff'] });
    expect((await userState(r, u.id)).sessions).toHaveLength(1);
    expect((await refresh(r, after.json.refresh_token!)).status).toBe(200);
  });

  test('a privileged group path the realm lacks is red, named, with nothing changed; so is an unknown role', async () => {
    const u = await adminLeaver('ghost');
    const { account: wrong } = connectors({
      privilegedGroups: ['/admins', '/ghosts'],
      privilegedRoles: ['ops'],
    });
    const m = await wrong.find(subjectOf(u));
    const err = (await wrong.scope!(subjectOf(u), m.account!).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ name: 'TargetRejectedError' });
    expect(err.message).toBe(
      `Keycloak realm "${r.realm}" has no group "/ghosts" (connector.privilegedGroups): nothing was changed; correct the catalog`,
    );
    const { account: role } = connectors({
      privilegedGroups: ['admins'],
      privilegedRoles: ['ops', 'wizard'],
    });
    await expect(role.scope!(subjectOf(u), m.account!)).rejects.toMatchObject({
      name: 'TargetRejectedError',
      message: expect.stringContaining('has no realm role "wizard" (connector.privilegedRoles)'),
    });
    expect(await rolesAndGroups(u.id)).toEqual({
      admin: ['manage-users', 'realm-admin', 'view-users'],
      realm: ['ops', 'reader'],
      groups: ['/admins', '/admins/oncall', '/staff'],
    });
  });

  test('an administration role left through a group the catalog does not name is red and says how to fix it', async () => {
    const helpdesk = await r.setup.create(`/${r.realm}/groups`, { name: `helpdesk-${hex()}` });
    await grantAdminRoles(`/groups/${helpdesk}`, ['view-users']);
    const name = `sam-${hex()}`;
    const u = await createUser(r, { username: name, email: `${name}@example.com`, groups: ['/staff'] });
    await r.setup.call('PUT', `/${r.realm}/users/${u.id}/groups/${helpdesk}`);
    const m = await account.find(subjectOf(u));
    const err = (await account.scope!(subjectOf(u), m.account!).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ name: 'ConfirmationMismatchError' });
    // view-users is itself composite (query-users, query-groups): the effective roles are named.
    expect(err.message).toMatch(
      /^Keycloak still shows, after scoping: (view-users|query-users|query-groups)(, \S+){2} through group \/helpdesk-\w+, which the catalog does not name \(add it to privilegedGroups\)$/,
    );
    expect((await userState(r, u.id)).user.enabled).toBe(true);
  });

  test('without realm-admin Keycloak refuses to remove administration roles: red, naming the role needed, nothing changed', async () => {
    const u = await adminLeaver('basic');
    const { account: basic } = connectors({ ...PRIVILEGED, clientId: 'offboard-basic' });
    const m = await basic.find(subjectOf(u));
    const err = (await basic.scope!(subjectOf(u), m.account!).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ name: 'TargetAuthError' });
    expect(err.message).toMatch(
      /^Keycloak DELETE \/users\/[\w-]+\/role-mappings\/clients\/[\w-]+: 403 .*\(removing realm-management roles during a notice period needs the realm-management role realm-admin\)$/,
    );
    expect(err.message).not.toContain(KC_CLIENT_SECRET);
    expect((await rolesAndGroups(u.id)).admin).toEqual(['manage-users', 'realm-admin', 'view-users']);
  });

  test('only the account entry scopes: the credentials entry has no scope', () => {
    expect(typeof account.scope).toBe('function');
    expect(mfa.scope).toBeUndefined();
  });
});
