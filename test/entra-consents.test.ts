/**
 * Shadow IT from the leaver's consents, Entra ID against the Graph stand-in (HTTPS, Graph's wire format):
 * the account revocation lists the delegated permission grants and app role assignments of the leaver,
 * names the apps from their service principals, revokes each and reads them back gone; a second run
 * changes nothing; a read-back that still lists one is never green; a refused permission names the
 * permissions consents need. Compared with the catalog, an app no system covers is reported uncovered
 * and a covered one is not. The stand-in's own routes answer as Graph documents them.
 */
import { Agent } from 'undici';
import { matchContext } from '../activities/connectors';
import type { Subject } from '../activities/connector';
import { coverageOf, normaliseAppName, withShadowIt } from '../activities/consents';
import { createEntraConnector } from '../activities/entra';
import { ConfirmationMismatchError, TargetAuthError } from '../activities/errors';
import { revokeMatched } from '../activities/matched';
import { parseCatalog, type Catalog, type CatalogSystem, type EntraConnectorConfig } from '../config/catalog';
import { consentsOf } from '../contract/consents';
import type { GraphUserState } from '../standins/graph';
import {
  DEFAULT_ACCESS_ROLE,
  MICROSOFT_GRAPH_SP,
  appRoleGrant,
  delegatedGrant,
  servicePrincipal,
} from '../standins/graph-consents';
import { SECRETS, catalogYaml, startStandIns, testCatalog, uniq, type StandIns } from './support/harness';

let s: StandIns;
let catalog: Catalog;
let system: CatalogSystem;
let cfg: EntraConnectorConfig;
const open: { close?: () => Promise<void> }[] = [];

beforeAll(async () => {
  s = await startStandIns();
  catalog = testCatalog(s);
  system = catalog.systems.find((x) => x.id === 'entra')!;
  if (system.connector.kind !== 'entra') throw new Error('test catalog: entra is not an entra connector');
  cfg = system.connector;
});
afterEach(() => s.graph.control.reset());
afterAll(async () => {
  await Promise.all(open.map((c) => c.close?.()));
  await s?.stop();
});

function revoke(subject: Subject) {
  const c = createEntraConnector(cfg, SECRETS.ENTRA_CLIENT_SECRET, matchContext(system));
  open.push(c);
  return revokeMatched(system, c, subject);
}

const subjectOf = (u: GraphUserState): Subject => ({
  departureId: uniq('dep'),
  employeeId: u.id,
  employeeName: u.displayName,
  workEmail: u.userPrincipalName,
  confirmedAt: new Date(Date.now() - 5 * 60_000).toISOString(),
  managerEmail: 'manager@example.com',
});

/** What the stand-in keeps of a user's consents (the tests' own eyes, not the connector's). */
const held = (u: GraphUserState) => ({
  grants: (u.oauth2PermissionGrants ?? []).map((g) => `${g.client.displayName}: ${g.scope}`),
  assignments: (u.appRoleAssignments ?? []).map((a) => a.resource.displayName),
});

const writes = () => s.graph.control.calls.filter((c) => c.method !== 'GET' && !c.path.includes('/token'));

/**
 * A leaver who consented to Miro (no catalog system) with two grants (Graph and Miro's own API), to the
 * team wiki (the catalog's "Team Wiki"), and is assigned to the CRM enterprise app (the catalog's "CRM")
 * with its `Sales` role; and a colleague who consented to Miro too.
 */
function seedLeaver() {
  const tag = uniq('c');
  const miro = servicePrincipal({ displayName: 'Miro' });
  const miroApi = servicePrincipal({ displayName: `Miro API ${tag}` });
  const wiki = servicePrincipal({ displayName: 'Team Wiki' });
  const crm = servicePrincipal({ displayName: 'CRM', roles: ['Sales', 'Admin'] });
  const user = s.graph.seedUser({
    userPrincipalName: `${uniq('leaver')}@example.com`,
    delegatedGrants: [
      delegatedGrant(miro, ['openid', 'User.Read', 'Files.Read.All']),
      delegatedGrant(miro, ['boards:read'], miroApi),
      delegatedGrant(wiki, ['User.Read']),
    ],
    appRoleAssignments: [appRoleGrant(crm, 'Sales')],
  });
  const colleague = s.graph.seedUser({
    userPrincipalName: `${uniq('colleague')}@example.com`,
    delegatedGrants: [delegatedGrant(miro, ['User.Read'])],
  });
  return { user, colleague, miro, wiki, crm };
}

test('the leaver’s consents are listed with their apps, revoked one by one and read back gone; a colleague’s stay', async () => {
  const { user, colleague, miro, wiki, crm } = seedLeaver();
  const r = await revoke(subjectOf(user));

  expect(held(user)).toEqual({ grants: [], assignments: [] });
  expect(user.consentDeleteCount).toBe(4);
  expect(held(colleague).grants).toEqual(['Miro: User.Read']);
  expect(r.changes).toEqual(
    expect.arrayContaining([
      'revoked consent to Miro (openid User.Read Files.Read.All)',
      'revoked consent to Miro (boards:read)',
      'revoked consent to Team Wiki (User.Read)',
      'removed app role assignment to CRM',
    ]),
  );
  // One entry per app and kind, with every scope granted to it; the role by its value.
  expect(consentsOf(r)).toEqual([
    {
      appId: miro.appId,
      name: 'Miro',
      scopes: ['openid', 'User.Read', 'Files.Read.All', 'boards:read'],
      kind: 'delegated-permission',
    },
    { appId: wiki.appId, name: 'Team Wiki', scopes: ['User.Read'], kind: 'delegated-permission' },
    { appId: crm.appId, name: 'CRM', scopes: ['Sales'], kind: 'app-role-assignment' },
  ]);
  expect(r.confirmation).toMatchObject({ accountEnabled: false, appRoleAssignmentsViaGroups: 0 });
  expect(r.detail).toContain('no third-party consent (revoked 3)');
  // Listed by principal (app-only tokens cannot use /users/{id}/oauth2PermissionGrants), deleted by id.
  expect(s.graph.control.count(`/oauth2PermissionGrants?$filter=principalId`, 'GET')).toBe(2);
  expect(s.graph.control.count('/oauth2PermissionGrants/', 'DELETE')).toBe(3);
  expect(s.graph.control.count(`/users/${user.id}/appRoleAssignments/`, 'DELETE')).toBe(1);
  // Each service principal asked once.
  expect(s.graph.control.count(`/servicePrincipals/${miro.id}`, 'GET')).toBe(1);
});

test('a second run changes nothing and still confirms', async () => {
  const { user } = seedLeaver();
  await revoke(subjectOf(user));
  s.graph.control.reset();
  const again = await revoke(subjectOf(user));
  expect(again.changes).toEqual([]);
  expect(writes()).toEqual([]);
  expect(user.consentDeleteCount).toBe(4);
  expect(consentsOf(again)).toEqual([]);
  expect(again.detail).toContain('no third-party consent');
  expect(again.detail).not.toContain('revoked');
});

test('compared with the catalog: an app no system covers is uncovered, a covered one is not', async () => {
  const { user, miro } = seedLeaver();
  const r = withShadowIt(await revoke(subjectOf(user)), catalog);
  expect(consentsOf(r).map((c) => [c.name, c.coveredBy])).toEqual([
    ['Miro', null],
    ['Team Wiki', 'wiki'],
    ['CRM', 'crm'],
  ]);
  expect(r.detail).toContain(
    `shadow IT: 1 of 3 third-party app(s) the leaver authorised are in no catalog system (uncovered; consent revoked): Miro (${miro.appId})`,
  );
  expect(r.detail).not.toMatch(/uncovered[^;]*Team Wiki/);

  // The catalog's allow list: a known app is not shadow IT, by name or by app id.
  const allowed = { ...catalog, shadowIt: { knownApps: ['MIRO'] } };
  expect(coverageOf(allowed)({ appId: 'x', name: 'Miro', scopes: [], kind: 'oauth-token' })).toBe(
    'knownApps',
  );
  const byId = { ...catalog, shadowIt: { knownApps: [miro.appId] } };
  expect(coverageOf(byId)({ appId: miro.appId, name: 'Whatever', scopes: [], kind: 'oauth-token' })).toBe(
    'knownApps',
  );
  // The allow list in the catalog file (an empty name is refused, naming the field).
  const parsed = parseCatalog(
    catalogYaml(s).replace(/^systems:/m, 'shadowIt: { knownApps: [Miro] }\nsystems:'),
    'c.yaml',
    { ...process.env, ...SECRETS },
  );
  expect(coverageOf(parsed)({ appId: 'x', name: 'miro', scopes: [], kind: 'oauth-token' })).toBe('knownApps');
  expect(() =>
    parseCatalog(catalogYaml(s).replace(/^systems:/m, "shadowIt: { knownApps: [''] }\nsystems:"), 'c.yaml', {
      ...process.env,
      ...SECRETS,
    }),
  ).toThrow(/field "shadowIt.knownApps.0"/);
  const all = withShadowIt(r, allowed);
  expect(all.detail).toContain('every one covered by the catalog');
  // Names compare like `offboard shadow-it` compares an export.
  expect(normaliseAppName('Team-Wiki')).toBe(normaliseAppName('team wiki'));
  // No consents: the result is left as it is.
  const none = { changes: [], confirmation: { consents: [] }, detail: 'x' };
  expect(withShadowIt(none, catalog)).toBe(none);
});

test('a grant Graph still lists after its deletion is never green: the read-back catches it', async () => {
  const { user } = seedLeaver();
  const grant = user.oauth2PermissionGrants![0]!;
  // Graph answers 204 but the grant stays (a replication delay, or a target that lies).
  s.graph.control.inject({
    method: 'DELETE',
    pathIncludes: `/oauth2PermissionGrants/${grant.id}`,
    status: 204,
    times: 1,
  });
  const err = await revoke(subjectOf(user)).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ConfirmationMismatchError);
  expect((err as Error).message).toContain(
    `a delegated permission grant to client ${grant.client.id} (${grant.scope})`,
  );
  expect((err as Error).message).not.toContain(grant.id);
  // The retry deletes it and confirms.
  const r = await revoke(subjectOf(user));
  expect(r.changes).toEqual([`revoked consent to Miro (${grant.scope})`]);
  expect(held(user).grants).toEqual([]);
});

test('without the permission to read grants the step is red, naming the permissions consents need', async () => {
  const { user } = seedLeaver();
  s.graph.control.inject({
    method: 'GET',
    pathIncludes: '/oauth2PermissionGrants',
    status: 403,
    times: 1,
  });
  const err = await revoke(subjectOf(user)).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(TargetAuthError);
  expect((err as Error).message).toContain('DelegatedPermissionGrant.ReadWrite.All');
  expect((err as Error).message).toContain('AppRoleAssignment.ReadWrite.All');
});

test('the stand-in answers as Graph documents: filters, app-only refusal, service principals, 404s', async () => {
  const { user, miro, crm } = seedLeaver();
  const token = await fetchToken();
  const get = async (path: string) => {
    const res = await fetch(`${s.graph.url}/v1.0${path}`, {
      headers: { authorization: `Bearer ${token}` },
      dispatcher,
    } as RequestInit);
    return { status: res.status, json: (await res.json().catch(() => null)) as Record<string, unknown> };
  };
  const byClient = await get(
    `/oauth2PermissionGrants?$filter=${encodeURIComponent(`clientId eq '${miro.id}'`)}`,
  );
  expect(byClient.status).toBe(200);
  expect(byClient.json.value).toEqual(
    expect.arrayContaining([
      {
        clientId: miro.id,
        consentType: 'Principal',
        id: user.oauth2PermissionGrants![0]!.id,
        principalId: user.id,
        resourceId: MICROSOFT_GRAPH_SP.id,
        scope: 'openid User.Read Files.Read.All',
      },
    ]),
  );
  expect(
    (await get(`/oauth2PermissionGrants?$filter=${encodeURIComponent("scope eq 'x'")}`)).json,
  ).toMatchObject({
    error: { code: 'Request_UnsupportedQuery' },
  });
  expect((await get(`/users/${user.id}/oauth2PermissionGrants`)).status).toBe(403);
  expect((await get('/oauth2PermissionGrants/nope')).json).toMatchObject({
    error: { code: 'Request_ResourceNotFound' },
  });
  const assignments = await get(`/users/${user.userPrincipalName}/appRoleAssignments`);
  expect(assignments.json.value).toEqual([
    expect.objectContaining({
      principalId: user.id,
      principalType: 'User',
      resourceId: crm.id,
      resourceDisplayName: 'CRM',
      appRoleId: crm.appRoles.find((x) => x.value === 'Sales')!.id,
    }),
  ]);
  expect(await get(`/servicePrincipals(appId='${crm.appId}')?$select=id,displayName`)).toMatchObject({
    status: 200,
    json: { id: crm.id, displayName: 'CRM' },
  });
  expect((await get(`/servicePrincipals/${crm.id}`)).json).toMatchObject({
    appId: crm.appId,
    appRoles: [
      expect.objectContaining({ value: 'Sales', allowedMemberTypes: ['User'] }),
      expect.objectContaining({ value: 'Admin' }),
    ],
  });
  expect((await get('/servicePrincipals/nope')).status).toBe(404);
  expect(appRoleGrant(crm).appRoleId).toBe(DEFAULT_ACCESS_ROLE);
});

// ---- a plain HTTPS client for the stand-in's own routes (the connector has its own)
let dispatcher: Agent;
beforeAll(() => {
  dispatcher = new Agent({ connect: { ca: s.graph.tls.cert } });
});
afterAll(() => dispatcher?.close());

async function fetchToken(): Promise<string> {
  const res = await fetch(`${s.graph.url}/tenant-test/oauth2/v2.0/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: 'client-test',
      client_secret: SECRETS.ENTRA_CLIENT_SECRET,
      scope: `${s.graph.url}/.default`,
    }),
    dispatcher,
  } as RequestInit);
  return ((await res.json()) as { access_token: string }).access_token;
}
