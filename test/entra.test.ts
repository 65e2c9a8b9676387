/**
 * The Entra connector against the Graph stand-in (HTTPS, real wire format and error bodies): account
 * scope (disable, sessions, groups, licences, manager), authentication-methods scope, owned app
 * registrations, idempotent repeats, throttling on every kind of call, and a refused client secret.
 */
import { readFileSync } from 'node:fs';
import { Agent } from 'undici';
import type { Subject } from '../activities/connector';
import { matchContext } from '../activities/connectors';
import {
  ACCOUNT_ACTION,
  METHODS_ACTION,
  createEntraConnector,
  type EntraConnector,
} from '../activities/entra';
import {
  AccountNotFoundError,
  AmbiguousAccountError,
  ConfirmationMismatchError,
  ProtectedAccountError,
  TargetAuthError,
  TargetRejectedError,
  TargetThrottledError,
} from '../activities/errors';
import { discoverMatched, revokeMatched } from '../activities/matched';
import type { CatalogSystem, EntraConnectorConfig } from '../config/catalog';
import {
  PASSWORD_METHOD_ID,
  PHONE_METHOD_IDS,
  authMethods,
  graphApplication,
  graphError,
  type GraphApplicationState,
  type GraphUserState,
} from '../standins/graph';
import { SECRETS, eventually, startStandIns, testCatalog, uniq, type StandIns } from './support/harness';

const E3 = '05e9a617-0261-4cee-bb44-138d3ef5d965';
const E5 = '06ebc4ee-1bb5-47dd-8120-11324bc54e06';
const POWER_BI = 'f8a1db68-be16-40ed-86d5-cb42ce701560';
const VISIO = 'c5928f49-12ba-48f7-ada3-0d743a3601d5';

let s: StandIns;
let cfg: EntraConnectorConfig;
let system: CatalogSystem;
let mfaSystem: CatalogSystem;
const open: EntraConnector[] = [];

beforeAll(async () => {
  s = await startStandIns();
  const catalog = testCatalog(s);
  system = catalog.systems.find((x) => x.id === 'entra')!;
  mfaSystem = catalog.systems.find((x) => x.id === 'entra-mfa')!;
  if (system.connector.kind !== 'entra')
    throw new Error('test catalog: entra entry is not an entra connector');
  cfg = system.connector;
});

afterEach(() => {
  s.graph.control.reset();
  s.graph.pageSize = 100;
});

afterAll(async () => {
  await Promise.all(open.map((c) => c.close?.()));
  await s?.stop();
});

/**
 * The connector of the catalog's entra (or entra-mfa) entry; `revoke(subject)` runs it as a step does,
 * matching first (activities/matched.ts), and `live(subject)` is its live audit's findings.
 */
function connector(
  scope: EntraConnectorConfig['scope'] = 'account',
  secret = SECRETS.ENTRA_CLIENT_SECRET,
  over: Partial<CatalogSystem> = {},
) {
  const sys = { ...(scope === 'account' ? system : mfaSystem), ...over };
  const c = createEntraConnector({ ...cfg, scope }, secret, matchContext(sys));
  open.push(c);
  return {
    connector: c,
    action: c.action,
    discoverOwned: c.discoverOwned,
    revoke: (subject: Subject) => revokeMatched(sys, c, subject),
    discover: async (subject: Subject) => (await discoverMatched(sys, c, subject)).found,
    revokeOwned: (subject: Subject, item: { id: string; kind: string; name: string }) =>
      c.revokeOwned!(subject, item),
    live: async (subject: Subject) => (await c.audit(subject)).active,
  };
}
type TestConnector = ReturnType<typeof connector>;

function subjectOf(u: GraphUserState, over: Partial<Subject> = {}): Subject {
  return {
    departureId: uniq('dep'),
    employeeId: u.id,
    employeeName: u.displayName,
    workEmail: u.userPrincipalName,
    confirmedAt: new Date(Date.now() - 5 * 60_000).toISOString(),
    managerEmail: 'manager@example.com',
    ...over,
  };
}

/** A leaver with assigned and dynamic groups, direct and group-based licences, a manager and two apps. */
function seedLeaver(opts: { manager?: boolean } = {}) {
  const g = s.graph;
  const tag = uniq('x');
  const finance = g.seedGroup({ displayName: `Finance ${tag}` });
  const vpn = g.seedGroup({ displayName: `VPN users ${tag}` });
  const e5Group = g.seedGroup({ displayName: `E5 licensed ${tag}`, assignsLicenses: [E5] });
  const everyone = g.seedGroup({
    displayName: `All employees ${tag}`,
    dynamic: true,
    membershipRule: '(user.userType -eq "Member")',
    assignsLicenses: [POWER_BI],
  });
  const manager = opts.manager
    ? g.seedUser({ userPrincipalName: `${uniq('boss')}@example.com`, mail: `boss-${tag}@example.com` })
    : undefined;
  const apps: GraphApplicationState[] = [
    graphApplication({
      displayName: `Payroll export ${tag}`,
      secrets: ['prod', 'staging'],
      certificates: ['signing'],
    }),
    graphApplication({ displayName: `Report bot ${tag}`, secrets: ['bot'] }),
  ];
  const user = g.seedUser({
    userPrincipalName: `${uniq('leaver')}@example.com`,
    groups: [finance, vpn, e5Group, everyone],
    licenses: [E3, VISIO],
    managerId: manager?.id,
    ownedApplications: apps,
  });
  return { user, manager, finance, vpn, e5Group, everyone, apps };
}

/**
 * A user with one method of every type; the office phone is the default MFA method, so Graph refuses it
 * while the mobile phone (deleted after it) remains.
 */
function seedMfaUser(extra: { lockDefaultMethod?: boolean; unknownType?: string } = {}) {
  return s.graph.seedUser({
    userPrincipalName: `${uniq('mfa')}@example.com`,
    authenticationMethods: [
      authMethods.phone('mobile', '+1 5555550100'),
      authMethods.phone('alternateMobile', '+1 5555550101'),
      authMethods.phone('office', '+1 5555550102'),
      authMethods.microsoftAuthenticator(),
      authMethods.fido2(),
      authMethods.softwareOath(),
      authMethods.email('leaver@personal.example.net'),
      authMethods.temporaryAccessPass(),
      authMethods.windowsHelloForBusiness(),
      ...(extra.unknownType ? [authMethods.other(extra.unknownType)] : []),
    ],
    defaultMethodId: PHONE_METHOD_IDS.office,
    lockDefaultMethod: extra.lockDefaultMethod,
  });
}

const counters = (u: GraphUserState) => ({
  disable: u.disableCount,
  revoke: u.revokeCount,
  groups: u.groupRemoveCount,
  licences: u.licenceRemoveCount,
  methods: u.methodDeleteCount,
  apps: u.ownedApplications.map((a) => [a.secretRemoveCount, a.certificateRemoveCount]),
});

const writes = () => s.graph.control.calls.filter((c) => c.method !== 'GET' && !c.path.includes('/oauth2/'));

describe('scope account', () => {
  test('disables, revokes sessions, removes assigned groups and direct licences; dynamic groups are reported and untouched', async () => {
    const { user, finance, vpn, e5Group, everyone } = seedLeaver();
    s.graph.pageSize = 2; // four groups: memberOf is read in two pages
    const c = connector();
    expect(c.action).toBe(ACCOUNT_ACTION);
    const r = await c.revoke(subjectOf(user));

    expect(user.accountEnabled).toBe(false);
    expect(Date.parse(user.signInSessionsValidFromDateTime)).toBeGreaterThan(Date.now() - 60_000);
    expect(user.memberOf.map((g) => g.id)).toEqual([everyone.id]);
    // Direct licences gone, E5 left with its group, Power BI stays with the dynamic group.
    expect(user.licenseAssignmentStates.map((l) => [l.skuId, l.assignedByGroup])).toEqual([
      [POWER_BI, everyone.id],
    ]);
    expect(counters(user)).toMatchObject({ disable: 1, revoke: 1, groups: 3, licences: 2 });
    expect(s.graph.control.count(`/groups/${everyone.id}/members`, 'DELETE')).toBe(0);
    expect(s.graph.control.count('skiptoken', 'GET')).toBeGreaterThanOrEqual(1);

    expect(r.changes).toEqual([
      'accountEnabled=false',
      'revokeSignInSessions',
      `removed from group ${finance.displayName}`,
      `removed from group ${vpn.displayName}`,
      `removed from group ${e5Group.displayName}`,
      `removed licence ${E3}`,
      `removed licence ${VISIO}`,
    ]);
    expect(r.confirmation).toMatchObject({
      accountEnabled: false,
      assignedGroups: 0,
      directLicences: 0,
      dynamicGroups: [
        { id: everyone.id, displayName: everyone.displayName, membershipRule: everyone.membershipRule },
      ],
      groupBasedLicences: [{ skuId: POWER_BI, group: everyone.displayName }],
      groupBasedLicencesRemovedWithGroups: [{ skuId: E5, groupId: e5Group.id }],
    });
    expect(r.detail).toContain(`still in dynamic group ${everyone.displayName}`);
    expect(r.detail).toContain(`${POWER_BI} via ${everyone.displayName}`);
    expect(r.facts).toBeUndefined(); // the HRIS sent a manager
  });

  test('a second run on a revoked user changes nothing and still confirms', async () => {
    const { user } = seedLeaver();
    const c = connector();
    const subject = subjectOf(user);
    await c.revoke(subject);
    const before = counters(user);
    s.graph.control.reset();

    const again = await c.revoke(subject);
    expect(again.changes).toEqual([]);
    expect(counters(user)).toEqual(before);
    expect(writes()).toEqual([]);
    expect(again.confirmation).toMatchObject({ accountEnabled: false, assignedGroups: 0, directLicences: 0 });
  });

  test('a membership or licence already gone by the time of the call counts as done, not as a change', async () => {
    const { user, finance } = seedLeaver();
    // Another run removes the membership and the direct licences while this one's calls are in flight:
    // Graph then answers 404 (membership) and 400 "User does not have a corresponding license.".
    s.graph.control.inject({
      method: 'DELETE',
      pathIncludes: `/groups/${finance.id}/members/`,
      status: 404,
      times: 1,
      hangMs: 600,
    });
    s.graph.control.inject({
      method: 'POST',
      pathIncludes: '/assignLicense',
      status: 400,
      times: 1,
      hangMs: 600,
      body: graphError(400, 'Request_BadRequest', 'User does not have a corresponding license.'),
    });
    const running = connector().revoke(subjectOf(user));
    await eventually(async () => s.graph.control.count(`/groups/${finance.id}/members/`, 'DELETE') === 1);
    user.memberOf = user.memberOf.filter((g) => g.id !== finance.id);
    await eventually(async () => s.graph.control.count('/assignLicense', 'POST') === 1);
    user.licenseAssignmentStates = user.licenseAssignmentStates.filter((l) => l.assignedByGroup !== null);
    const r = await running;
    expect(r.changes).not.toContain(`removed from group ${finance.displayName}`);
    expect(r.changes.filter((c) => c.startsWith('removed licence'))).toEqual([]);
    expect(r.confirmation).toMatchObject({ assignedGroups: 0, directLicences: 0 });
    expect(user.groupRemoveCount).toBe(2);
  });

  test('the manager is learned from Entra only when the HRIS did not send one', async () => {
    const { user, manager } = seedLeaver({ manager: true });
    const c = connector();
    const learned = await c.revoke(subjectOf(user, { managerEmail: null }));
    expect(learned.facts).toEqual({ managerEmail: manager!.mail });
    expect(s.graph.control.count('/manager', 'GET')).toBe(1);

    s.graph.control.reset();
    const known = await c.revoke(subjectOf(user));
    expect(known.facts).toBeUndefined();
    expect(s.graph.control.count('/manager', 'GET')).toBe(0);

    const { user: alone } = seedLeaver();
    const none = await c.revoke(subjectOf(alone, { managerEmail: null }));
    expect(none.facts).toBeUndefined(); // GET manager answered 404: no manager
  });

  test('an unknown user is not green at the identity tier: AccountNotFoundError naming every key; live audit reads accountEnabled', async () => {
    const c = connector();
    const nobody: Subject = { ...subjectOf(seedLeaver().user), workEmail: 'nobody@example.com' };
    const err = await c.revoke(nobody).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AccountNotFoundError);
    expect((err as AccountNotFoundError).evidence).toMatchObject({ outcome: 'not_found', account: null });
    expect((err as Error).message).toContain(
      'no account found by employeeId, userPrincipalName, mail, proxyAddresses, otherMails',
    );
    expect(writes()).toEqual([]);
    const { user } = seedLeaver();
    expect(await c.live(subjectOf(user))).toEqual([
      expect.objectContaining({ id: user.id, by: ['userPrincipalName', 'mail', 'proxyAddresses'] }),
    ]);
    await c.revoke(subjectOf(user));
    expect(await c.live(subjectOf(user))).toEqual([]);
  });

  test('group-based licences that have not left with the group yet keep the step unconfirmed (retryable)', async () => {
    const { user, e5Group } = seedLeaver();
    const c = connector();
    const lingering = user.licenseAssignmentStates.find((l) => l.assignedByGroup === e5Group.id)!;
    await c.revoke(subjectOf(user));
    // Graph processes group licensing in the background: the E5 state can outlive the membership.
    user.licenseAssignmentStates.push(lingering);
    const err = await c.revoke(subjectOf(user)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfirmationMismatchError);
    expect((err as Error).message).toContain(`${E5} (group ${e5Group.id})`);
    user.licenseAssignmentStates = user.licenseAssignmentStates.filter((l) => l !== lingering);
    expect((await c.revoke(subjectOf(user))).changes).toEqual([]);
  });
});

describe('matching: the leaver is found by every catalog key, or the step is red with nothing changed', () => {
  const employeeId = () => uniq('E');
  const subjectFor = (id: string, workEmail: string, over: Partial<Subject> = {}): Subject => ({
    departureId: uniq('dep'),
    employeeId: id,
    employeeName: 'Leaver',
    workEmail,
    confirmedAt: new Date(Date.now() - 5 * 60_000).toISOString(),
    managerEmail: 'manager@example.com',
    ...over,
  });

  test('an account under another UPN (a name change) is found by employee id and disabled; the evidence names the key', async () => {
    const id = employeeId();
    const old = s.graph.seedUser({
      userPrincipalName: `${uniq('old.name')}@example.com`,
      displayName: 'Dana Old-Name',
      employeeId: id,
    });
    const r = await connector().revoke(subjectFor(id, `${uniq('new.name')}@example.com`));
    expect(old.accountEnabled).toBe(false);
    expect(r.match).toMatchObject({
      outcome: 'found',
      by: 'employeeId',
      account: { id: old.id, name: `Dana Old-Name <${old.userPrincipalName}>` },
    });
    expect(r.match.keys.map((k) => [k.key, k.found.length])).toEqual([
      ['employeeId', 1],
      ['userPrincipalName', 0],
      ['mail', 0],
      ['proxyAddresses', 0],
      ['otherMails', 0],
    ]);
    expect(r.detail).toMatch(
      /^matched by employeeId: Dana Old-Name .* nothing under userPrincipalName, mail, proxyAddresses, otherMails; account disabled/,
    );
    // One advanced query for every key.
    const query = s.graph.control.calls.find((x) => x.path.startsWith('/v1.0/users?'))!;
    expect(decodeURIComponent(query.path)).toContain(`employeeId eq '${id}' or userPrincipalName eq`);
  });

  test('an alias (proxyAddresses) or an alternate address (otherMails) finds the account too', async () => {
    const work = `${uniq('alias')}@example.com`;
    const byProxy = s.graph.seedUser({
      userPrincipalName: `${uniq('p')}@example.com`,
      proxyAddresses: [`SMTP:${uniq('p')}@example.com`, `smtp:${work.toUpperCase()}`],
    });
    expect((await connector().revoke(subjectFor(employeeId(), work))).match).toMatchObject({
      by: 'proxyAddresses',
      account: { id: byProxy.id },
    });
    const other = `${uniq('other')}@example.net`;
    const byOther = s.graph.seedUser({ userPrincipalName: `${uniq('o')}@example.com`, otherMails: [other] });
    expect((await connector().revoke(subjectFor(employeeId(), other))).match).toMatchObject({
      by: 'otherMails',
      account: { id: byOther.id },
    });
    expect([byProxy.accountEnabled, byOther.accountEnabled]).toEqual([false, false]);
  });

  test('two keys finding different accounts is ambiguous: red, both named, neither touched', async () => {
    const id = employeeId();
    const work = `${uniq('two')}@example.com`;
    const a = s.graph.seedUser({ userPrincipalName: `${uniq('a')}@example.com`, employeeId: id });
    const b = s.graph.seedUser({ userPrincipalName: work, displayName: 'Someone Else' });
    s.graph.control.reset();
    const err = await connector()
      .revoke(subjectFor(id, work))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AmbiguousAccountError);
    expect((err as AmbiguousAccountError).evidence.candidates.map((c) => c.id)).toEqual([a.id, b.id]);
    expect((err as Error).message).toContain(
      `2 different accounts match: ${a.displayName} <${a.userPrincipalName}> (${a.id}) by employeeId; ` +
        `Someone Else <${work}> (${b.id}) by userPrincipalName, mail, proxyAddresses`,
    );
    expect((err as Error).message).toContain('Nothing was changed');
    expect(writes()).toEqual([]);
    expect([a.accountEnabled, b.accountEnabled]).toEqual([true, true]);
  });

  test('one key finding two accounts is ambiguous too', async () => {
    const shared = `${uniq('shared')}@example.com`;
    const a = s.graph.seedUser({ userPrincipalName: `${uniq('a')}@example.com`, mail: shared });
    const b = s.graph.seedUser({ userPrincipalName: `${uniq('b')}@example.com`, mail: shared });
    const err = await connector()
      .revoke(subjectFor(employeeId(), shared))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AmbiguousAccountError);
    expect([a.accountEnabled, b.accountEnabled]).toEqual([true, true]);
  });

  test('a protected account (listed, or a member of a protected group) is red and untouched', async () => {
    const breakGlass = s.graph.seedUser({ userPrincipalName: `${uniq('breakglass')}@example.com` });
    const admins = s.graph.seedGroup({ displayName: `Global admins ${uniq('g')}` });
    const admin = s.graph.seedUser({ userPrincipalName: `${uniq('admin')}@example.com`, groups: [admins] });
    const c = connector('account', undefined, {
      protected: { accounts: [breakGlass.userPrincipalName.toUpperCase()], groups: [admins.displayName] },
    });
    s.graph.control.reset();
    for (const [u, why] of [
      [breakGlass, 'protected account list'],
      [admin, `member of protected group ${admins.displayName}`],
    ] as const) {
      const err = await c.revoke(subjectFor(employeeId(), u.userPrincipalName)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProtectedAccountError);
      expect((err as ProtectedAccountError).evidence).toMatchObject({ outcome: 'protected' });
      expect((err as ProtectedAccountError).evidence.protectedBy).toContain(why);
      expect(u.accountEnabled).toBe(true);
    }
    expect(writes()).toEqual([]);
  });

  test('an account id the HRIS named wins over every key; one that does not exist is red even where no account is expected', async () => {
    const work = `${uniq('named')}@example.com`;
    const decoy = s.graph.seedUser({ userPrincipalName: work });
    const real = s.graph.seedUser({ userPrincipalName: `${uniq('real')}@example.com` });
    const id = employeeId();
    const r = await connector().revoke(subjectFor(id, work, { accounts: { entra: real.id } }));
    expect(r.match).toMatchObject({ by: 'known account id', account: { id: real.id } });
    expect([real.accountEnabled, decoy.accountEnabled]).toEqual([false, true]);

    const mfa = connector('authentication-methods');
    const err = await mfa
      .revoke(subjectFor(id, work, { accounts: { 'entra-mfa': 'no-such-object-id' } }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AccountNotFoundError);
    expect((err as Error).message).toContain('no account found by known account id');
  });

  test('where no account is expected (the MFA tier), none found is confirmed and names the keys', async () => {
    const r = await connector('authentication-methods').revoke(
      subjectFor(employeeId(), `${uniq('nobody')}@example.com`),
    );
    expect(r.changes).toEqual([]);
    expect(r.match.outcome).toBe('not_found');
    expect(r.detail).toBe(
      'no account in Entra MFA methods (no account found by employeeId, userPrincipalName, mail, proxyAddresses, otherMails)',
    );
  });

  test('the live audit searches by every key: an account revocation never matched is found and named', async () => {
    const id = employeeId();
    const work = `${uniq('live')}@example.com`;
    const main = s.graph.seedUser({ userPrincipalName: work, employeeId: id });
    const c = connector();
    await c.revoke(subjectFor(id, work));
    expect(main.accountEnabled).toBe(false);
    // Later, a second account turns up carrying the leaver's address as an alternate one.
    const second = s.graph.seedUser({
      userPrincipalName: `${uniq('second')}@example.com`,
      otherMails: [work],
    });
    expect(await c.live(subjectFor(id, work))).toEqual([
      {
        id: second.id,
        name: `${second.displayName} <${second.userPrincipalName}>`,
        by: ['otherMails'],
        why: 'accountEnabled=true',
      },
    ]);
  });
});

describe('scope authentication-methods', () => {
  test('removes every method type by its own endpoint (default phone last); only the password remains', async () => {
    const user = seedMfaUser();
    const c = connector('authentication-methods');
    expect(c.action).toBe(METHODS_ACTION);
    const r = await c.revoke(subjectOf(user));

    expect(user.authenticationMethods.map((m) => m['@odata.type'])).toEqual([
      '#microsoft.graph.passwordAuthenticationMethod',
    ]);
    expect(user.methodDeleteCount).toBe(9);
    expect(r.changes).toHaveLength(9);
    for (const segment of [
      'phoneMethods',
      'microsoftAuthenticatorMethods',
      'fido2Methods',
      'softwareOathMethods',
      'emailMethods',
      'temporaryAccessPassMethods',
      'windowsHelloForBusinessMethods',
    ])
      expect(s.graph.control.count(`/authentication/${segment}/`, 'DELETE')).toBeGreaterThanOrEqual(1);
    // The default (office) phone was refused once while other methods remained, then deleted last.
    const office = s.graph.control.calls.filter((x) =>
      x.path.includes(`/phoneMethods/${PHONE_METHOD_IDS.office}`),
    );
    expect(office.map((x) => x.status)).toEqual([400, 204]);
    expect(r.changes.at(-1)).toBe(`removed phone (office) method ${PHONE_METHOD_IDS.office}`);
    expect(r.confirmation).toMatchObject({ remainingMethods: ['password'], removed: 9 });
    expect(r.detail).toContain('only the password method remains');
    // The MFA entry's live audit asks for methods: none left.
    expect(await c.live(subjectOf(user))).toEqual([]);

    s.graph.control.reset();
    const again = await c.revoke(subjectOf(user));
    expect(again.changes).toEqual([]);
    expect(user.methodDeleteCount).toBe(9);
    expect(writes()).toEqual([]);
  });

  test('a default method Graph still refuses after the others are gone is escalated, never ignored', async () => {
    const user = seedMfaUser({ lockDefaultMethod: true });
    const c = connector('authentication-methods');
    const err = await c.revoke(subjectOf(user)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TargetRejectedError);
    expect((err as Error).message).toMatch(/refuses to delete the phone \(office\) method/);
    expect((err as Error).message).toMatch(/Cannot delete default method with other methods configured/);
    expect((err as Error).message).toMatch(/change the user's default sign-in method/);
    // Everything else was removed.
    expect(user.authenticationMethods.map((m) => m.id).sort()).toEqual(
      [PASSWORD_METHOD_ID, PHONE_METHOD_IDS.office].sort(),
    );
    expect(await c.live(subjectOf(user))).toEqual([
      expect.objectContaining({ why: '1 authentication method(s) registered: phone (office)' }),
    ]);
  });

  test('an unknown method type is a clear non-retryable error naming the type', async () => {
    const user = seedMfaUser({ unknownType: '#microsoft.graph.platformCredentialAuthenticationMethod' });
    const err = await connector('authentication-methods')
      .revoke(subjectOf(user))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TargetRejectedError);
    expect((err as Error).message).toContain('#microsoft.graph.platformCredentialAuthenticationMethod');
  });
});

describe('owned credentials', () => {
  test('finds every app registration the leaver owns and removes its secrets and certificates', async () => {
    const { user, apps } = seedLeaver();
    s.graph.pageSize = 1;
    const c = connector();
    const found = await c.discover(subjectOf(user));
    expect(found).toEqual(
      apps.map((a) => ({
        id: a.id,
        kind: 'Entra app registration',
        name: `${a.displayName} (appId ${a.appId})`,
      })),
    );
    expect(s.graph.control.count('skiptoken', 'GET')).toBe(1);

    const [payroll, bot] = apps as [GraphApplicationState, GraphApplicationState];
    const r = await c.revokeOwned!(subjectOf(user), found[0]!);
    expect(payroll.passwordCredentials).toEqual([]);
    expect(payroll.keyCredentials).toEqual([]);
    expect([payroll.secretRemoveCount, payroll.certificateRemoveCount]).toEqual([2, 1]);
    expect(r.changes).toHaveLength(3);
    expect(r.confirmation).toMatchObject({ id: payroll.id, passwordCredentials: 0, keyCredentials: 0 });
    await c.revokeOwned!(subjectOf(user), found[1]!);
    expect([bot.secretRemoveCount, bot.certificateRemoveCount]).toEqual([1, 0]);
    expect(s.graph.control.count(`/applications/${bot.id}`, 'PATCH')).toBe(0); // no certificate: no PATCH

    s.graph.control.reset();
    for (const item of found) expect((await c.revokeOwned!(subjectOf(user), item)).changes).toEqual([]);
    expect(writes()).toEqual([]);
    expect([payroll.secretRemoveCount, payroll.certificateRemoveCount, bot.secretRemoveCount]).toEqual([
      2, 1, 1,
    ]);

    expect(
      await c.revokeOwned!(subjectOf(user), { id: 'gone-app', kind: 'Entra app registration', name: 'x' }),
    ).toMatchObject({
      confirmation: { id: 'gone-app', exists: false },
    });
  });

  test('only the account scope offers owned credentials', () => {
    expect(connector('authentication-methods').discoverOwned).toBeUndefined();
    expect(connector('account').discoverOwned).toBeDefined();
  });
});

describe('throttling: 429 with Retry-After on every kind of call', () => {
  type Case = {
    name: string;
    method: string;
    path: (x: ReturnType<typeof seedLeaver> & { mfa: GraphUserState }) => string;
    run: (c: TestConnector, x: ReturnType<typeof seedLeaver> & { mfa: GraphUserState }) => Promise<unknown>;
    pageSize?: number;
  };
  const account = (c: TestConnector, x: { user: GraphUserState }) =>
    c.revoke(subjectOf(x.user, { managerEmail: null }));
  const owned = async (c: TestConnector, x: { user: GraphUserState }) => {
    for (const item of await c.discover(subjectOf(x.user))) await c.revokeOwned(subjectOf(x.user), item);
  };
  const cases: Case[] = [
    { name: 'token endpoint', method: 'POST', path: () => '/oauth2/v2.0/token', run: account },
    { name: 'GET users by matching keys', method: 'GET', path: () => '/users?', run: account },
    { name: 'PATCH user', method: 'PATCH', path: (x) => `/users/${x.user.id}`, run: account },
    { name: 'POST revokeSignInSessions', method: 'POST', path: () => '/revokeSignInSessions', run: account },
    { name: 'GET memberOf', method: 'GET', path: () => '/memberOf/', run: account },
    { name: 'GET memberOf next page', method: 'GET', path: () => 'skiptoken', run: account, pageSize: 2 },
    { name: 'DELETE group member', method: 'DELETE', path: (x) => `/members/${x.user.id}/`, run: account },
    { name: 'POST assignLicense', method: 'POST', path: () => '/assignLicense', run: account },
    { name: 'GET manager', method: 'GET', path: () => '/manager', run: account },
    {
      name: 'GET authentication methods',
      method: 'GET',
      path: () => '/authentication/methods',
      run: (c, x) => c.revoke(subjectOf(x.mfa)),
    },
    {
      name: 'DELETE authentication method',
      method: 'DELETE',
      path: () => '/authentication/',
      run: (c, x) => c.revoke(subjectOf(x.mfa)),
    },
    { name: 'GET ownedObjects', method: 'GET', path: () => '/ownedObjects/', run: owned },
    { name: 'GET ownedObjects next page', method: 'GET', path: () => 'skiptoken', run: owned, pageSize: 1 },
    { name: 'GET application', method: 'GET', path: () => '/applications/', run: owned },
    { name: 'POST removePassword', method: 'POST', path: () => '/removePassword', run: owned },
    { name: 'PATCH application', method: 'PATCH', path: () => '/applications/', run: owned },
  ];

  test.each(cases.map((k, i) => [k.name, k, i + 2] as const))('%s', async (_name, k, seconds) => {
    const x = { ...seedLeaver({ manager: true }), mfa: seedMfaUser() };
    const scope = k.name.includes('authentication') ? 'authentication-methods' : 'account';
    const c = connector(scope); // fresh: no cached token
    if (k.pageSize) s.graph.pageSize = k.pageSize;
    const path = k.path(x);
    s.graph.control.inject({
      method: k.method,
      pathIncludes: path,
      status: 429,
      times: 1,
      retryAfterSeconds: seconds,
    });

    const err = await k.run(c, x).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TargetThrottledError);
    expect((err as TargetThrottledError).retryAfterMs).toBe(seconds * 1000);
    // The connector did not call again by itself: the throttled call was its last one.
    const calls = s.graph.control.calls;
    expect(s.graph.control.count(path, k.method)).toBe(1);
    expect(calls.at(-1)).toMatchObject({ method: k.method, status: 429 });
    expect(calls.at(-1)!.path).toContain(path);

    // Temporal retries after the delay: the next attempt completes.
    await k.run(c, x);
  });

  test('503 with Retry-After is throttling too', async () => {
    const { user } = seedLeaver();
    s.graph.control.inject({
      method: 'GET',
      pathIncludes: '/memberOf/',
      status: 503,
      times: 1,
      retryAfterSeconds: 7,
    });
    const err = await connector()
      .revoke(subjectOf(user))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TargetThrottledError);
    expect((err as TargetThrottledError).retryAfterMs).toBe(7000);
  });
});

describe('credentials and errors', () => {
  test('a refused client secret (401 from the token endpoint) is a TargetAuthError on every path', async () => {
    const { user } = seedLeaver();
    const c = connector('account', 'wrong-secret');
    await expect(c.revoke(subjectOf(user))).rejects.toBeInstanceOf(TargetAuthError);
    await expect(c.discover(subjectOf(user))).rejects.toBeInstanceOf(TargetAuthError);
    await expect(c.live(subjectOf(user))).rejects.toBeInstanceOf(TargetAuthError);
    await expect(
      connector('authentication-methods', 'wrong-secret').revoke(subjectOf(user)),
    ).rejects.toBeInstanceOf(TargetAuthError);
    expect(s.graph.control.count('/oauth2/v2.0/token', 'POST')).toBe(4);
    expect(s.graph.control.calls.filter((x) => x.path.startsWith('/v1.0'))).toEqual([]);
    expect(user.accountEnabled).toBe(true);
  });
});

describe('the stand-in answers like Graph', () => {
  test('users $filter: matching clauses joined by or; an unsupported clause is 400 Request_UnsupportedQuery', async () => {
    const u = s.graph.seedUser({ userPrincipalName: `${uniq('f')}@example.com`, employeeId: uniq('E') });
    const get = async (filter: string) => {
      const r = await graph(
        'GET',
        `/users?$count=true&$select=id,employeeId&$filter=${encodeURIComponent(filter)}`,
      );
      return { status: r.status, body: r.json as unknown as Record<string, unknown> };
    };
    const ok = await get(`employeeId eq '${u.employeeId!}' or mail eq 'nobody@example.com'`);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ '@odata.count': 1, value: [{ id: u.id, employeeId: u.employeeId }] });
    const bad = await get(`startswith(displayName,'x')`);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { code: 'Request_UnsupportedQuery' } });
    expect((await get(`displayName eq 'x'`)).body).toMatchObject({
      error: {
        message:
          "Unsupported or invalid query filter clause specified for property 'displayName' of resource 'User'.",
      },
    });
  });

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
        json: (text ? JSON.parse(text) : null) as { error?: { code: string; message: string } },
      };
    } finally {
      await dispatcher.close();
    }
  }

  test('dynamic groups refuse member removal; assignLicense validates SKUs and group-based licences', async () => {
    const { user, everyone, e5Group } = seedLeaver();
    const dyn = await graph('DELETE', `/groups/${everyone.id}/members/${user.id}/$ref`);
    expect(dyn.status).toBe(403);
    expect(dyn.json.error).toMatchObject({ code: 'Authorization_RequestDenied' });

    const unknownSku = '00000000-0000-0000-0000-00000000abcd';
    const bad = await graph('POST', `/users/${user.id}/assignLicense`, {
      addLicenses: [],
      removeLicenses: [unknownSku],
    });
    expect(bad.status).toBe(400);
    expect(bad.json.error?.message).toBe(
      `License ${unknownSku} does not correspond to a valid company License.`,
    );

    const inherited = await graph('POST', `/users/${user.id}/assignLicense`, {
      addLicenses: [],
      removeLicenses: [E5],
    });
    expect(inherited.status).toBe(400);
    expect(inherited.json.error?.message).toMatch(/inherited from a group membership/);
    expect(user.licenseAssignmentStates.some((l) => l.assignedByGroup === e5Group.id)).toBe(true);

    const mixed = await graph('POST', `/users/${user.id}/assignLicense`, {
      addLicenses: [],
      removeLicenses: [POWER_BI, E3],
    });
    expect(mixed.status).toBe(400); // Power BI is only group-based here: the whole request is refused
    expect(user.licenceRemoveCount).toBe(0);

    const pw = await graph(
      'DELETE',
      `/users/${user.id}/authentication/passwordMethods/${PASSWORD_METHOD_ID}`,
    );
    expect(pw.status).toBe(405);
    const noManager = await graph('GET', `/users/${user.id}/manager`);
    expect(noManager.status).toBe(404);
    expect(noManager.json.error?.message).toContain("Resource 'manager' does not exist");
  });
});

test('a work address with "+" or "&" is found: the $filter is percent-encoded as Graph requires', async () => {
  const tag = uniq('plus').toLowerCase();
  const user = s.graph.seedUser({ userPrincipalName: `dana+${tag}&co@example.com`, employeeId: `E-${tag}` });
  const c = connector();
  const r = await c.revoke(subjectOf(user, { employeeId: 'E-unknown' }));
  expect(r.match).toMatchObject({ outcome: 'found', by: 'userPrincipalName' });
  expect(user.accountEnabled).toBe(false);
});
