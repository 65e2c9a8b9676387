/** The directory connector against a real OpenLDAP slapd with the ppolicy overlay. */
import { Client, InvalidCredentialsError } from 'ldapts';
import type { RevocationConnector, Subject } from '../activities/connector';
import { createConnectors } from '../activities/connectors';
import {
  createLdapConnector as createDirectory,
  createLdapGroupConnector as createRemoteAccess,
  PERMANENT_LOCK,
  renderFilter,
} from '../activities/ldap';
import { AccountNotFoundError, AmbiguousAccountError, ProtectedAccountError } from '../activities/errors';
import { discoverMatched, revokeMatched } from '../activities/matched';
import type { MatchContext } from '../activities/matching';
import type {
  Catalog,
  CatalogSystem,
  LdapConnectorConfig,
  LdapGroupConnectorConfig,
} from '../config/catalog';
import { defaultKeys, type ProtectedSettings } from '../config/matching';
import { LDAP_ADMIN, LDAP_ADMIN_PASSWORD, LDAP_BASE, ldapAdd } from './support/services';
import { env, ldapConnector, uniq } from './support/harness';

/** The catalog's matching of a directory (`ldap`, expects an account) or remote-access (`vpn`) entry. */
function matchOf(
  kind: 'ldap' | 'ldap-group',
  c: { userFilter?: string },
  prot: ProtectedSettings = { accounts: [], groups: [] },
): MatchContext {
  return {
    systemId: kind === 'ldap' ? 'ldap' : 'vpn',
    match: {
      keys: [...(c.userFilter ? [{ filter: c.userFilter }] : []), ...defaultKeys(kind)],
      expectAccount: kind === 'ldap',
    },
    protected: prot,
  };
}

/** A connector run as a step runs it (matching first), with the live audit as a yes/no. */
function asStep(c: RevocationConnector, ctx: MatchContext) {
  const sys = { id: ctx.systemId, name: ctx.systemId, ...ctx } as unknown as CatalogSystem;
  return {
    action: c.action,
    executingSystem: c.executingSystem,
    revoke: (subject: Subject) => revokeMatched(sys, c, subject),
    hasActiveAccount: async (subject: Subject) => (await c.audit(subject)).active.length > 0,
    discoverOwned: async (subject: Subject) => (await discoverMatched(sys, c, subject)).found,
    revokeOwned: (subject: Subject, item: { id: string; kind: string; name: string }) =>
      c.revokeOwned!(subject, item),
  };
}

function createLdapConnector(c: LdapConnectorConfig, password: string, prot?: ProtectedSettings) {
  const ctx = matchOf('ldap', c, prot);
  return asStep(createDirectory(c, password, ctx), ctx);
}

function createLdapGroupConnector(c: LdapGroupConnectorConfig, password: string) {
  const ctx = matchOf('ldap-group', c);
  return asStep(createRemoteAccess(c, password, ctx), ctx);
}

function cfg(over: Partial<LdapConnectorConfig> = {}): LdapConnectorConfig {
  return { ...ldapConnector(), timeout: '5s', ...over };
}

function person(groups: { cn: string; only: boolean }[]) {
  const id = uniq('L');
  const uid = id.toLowerCase();
  const dn = `uid=${uid},ou=people,${LDAP_BASE}`;
  ldapAdd(
    env.ldapUrl,
    [
      `dn: ${dn}`,
      'objectClass: inetOrgPerson',
      `uid: ${uid}`,
      `cn: ${id}`,
      `sn: ${id}`,
      `employeeNumber: ${id}`,
      'userPassword: pw-123456',
      '',
      ...groups.flatMap((g) => [
        `dn: cn=${uid}-${g.cn},ou=groups,${LDAP_BASE}`,
        'objectClass: groupOfNames',
        `cn: ${uid}-${g.cn}`,
        `member: ${dn}`,
        ...(g.only ? [] : [`member: cn=other,${LDAP_BASE}`]),
        '',
      ]),
    ].join('\n'),
  );
  return {
    dn,
    subject: {
      departureId: 'd',
      employeeId: id,
      employeeName: id,
      workEmail: `${uid}@example.com`,
      confirmedAt: new Date().toISOString(),
      managerEmail: null,
    },
  };
}

async function admin<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const c = new Client({ url: env.ldapUrl });
  await c.bind(LDAP_ADMIN, LDAP_ADMIN_PASSWORD);
  try {
    return await fn(c);
  } finally {
    await c.unbind();
  }
}

test('locks the account, removes every group (the last member replaced), and the user can no longer bind', async () => {
  const p = person([
    { cn: 'team', only: false },
    { cn: 'solo', only: true },
  ]);
  // Before: the user can bind.
  const before = new Client({ url: env.ldapUrl });
  await before.bind(p.dn, 'pw-123456');
  await before.unbind();

  const c = createLdapConnector(cfg(), LDAP_ADMIN_PASSWORD);
  const r = await c.revoke(p.subject);
  expect(r.changes).toEqual(
    expect.arrayContaining([
      'account disabled',
      expect.stringMatching(/removed from cn=.*-team/),
      expect.stringMatching(/removed from cn=.*-solo/),
    ]),
  );
  expect(r.confirmation).toMatchObject({ dn: p.dn, disabled: true, groups: 0 });

  await admin(async (a) => {
    const { searchEntries } = await a.search(p.dn, { scope: 'base', attributes: ['pwdAccountLockedTime'] });
    expect(searchEntries[0]?.pwdAccountLockedTime).toBe(PERMANENT_LOCK);
    const solo = await a.search(`cn=${p.dn.split(',')[0]!.slice(4)}-solo,ou=groups,${LDAP_BASE}`, {
      scope: 'base',
      attributes: ['member'],
    });
    expect(solo.searchEntries[0]?.member).toBe(`cn=placeholder,${LDAP_BASE}`);
  });
  const after = new Client({ url: env.ldapUrl });
  await expect(after.bind(p.dn, 'pw-123456')).rejects.toBeInstanceOf(InvalidCredentialsError);
  await after.unbind().catch(() => undefined);
  expect(await c.hasActiveAccount(p.subject)).toBe(false);

  // Idempotent: a second run changes nothing and still confirms.
  const again = await c.revoke(p.subject);
  expect(again.changes).toEqual([]);
  expect(again.confirmation).toMatchObject({ disabled: true, groups: 0 });
});

test('without a placeholder, a last-member group is a non-retryable error naming the fix', async () => {
  const p = person([{ cn: 'solo', only: true }]);
  const c = createLdapConnector(cfg({ emptyGroupMember: undefined }), LDAP_ADMIN_PASSWORD);
  await expect(c.revoke(p.subject)).rejects.toMatchObject({
    name: 'TargetRejectedError',
    message: expect.stringContaining('set connector.emptyGroupMember'),
  });
});

test('a wrong bind password is a TargetAuthError; an unreachable server is retryable', async () => {
  const p = person([]);
  await expect(createLdapConnector(cfg(), 'wrong').revoke(p.subject)).rejects.toMatchObject({
    name: 'TargetAuthError',
  });
  await expect(
    createLdapConnector(cfg({ url: 'ldap://127.0.0.1:1', timeout: '1s' }), 'x').revoke(p.subject),
  ).rejects.toMatchObject({
    name: 'TargetUnavailableError',
  });
});

test('startTls against a directory that offers none is a non-retryable error naming the alternatives', async () => {
  const p = person([]);
  await expect(
    createLdapConnector(cfg({ startTls: true }), LDAP_ADMIN_PASSWORD).revoke(p.subject),
  ).rejects.toMatchObject({
    name: 'TargetRejectedError',
    message: expect.stringContaining('the directory refused StartTLS'),
  });
  expect(await locked(p.dn)).toBeUndefined();
});

/** An inetOrgPerson with the given attributes (uid from `uid`); returns its DN. */
function entry(uid: string, attrs: string[]): string {
  const dn = `uid=${uid},ou=people,${LDAP_BASE}`;
  ldapAdd(
    env.ldapUrl,
    [
      `dn: ${dn}`,
      'objectClass: inetOrgPerson',
      `uid: ${uid}`,
      `cn: ${uid}`,
      `sn: ${uid}`,
      'userPassword: pw-123456',
      ...attrs,
      '',
    ].join('\n'),
  );
  return dn;
}

const locked = async (dn: string) =>
  asList((await read(dn, ['pwdAccountLockedTime'])).pwdAccountLockedTime)[0];

describe('matching in the directory', () => {
  // No legacy userFilter: the default keys (employeeNumber, employeeID, mail, userPrincipalName, uid).
  const keysOnly = () => cfg({ userFilter: undefined });
  const subjectOf = (employeeId: string, workEmail: string): Subject => ({
    departureId: 'd',
    employeeId,
    employeeName: employeeId,
    workEmail,
    confirmedAt: new Date().toISOString(),
    managerEmail: null,
  });

  test('an entry whose mail and uid changed with a new name is found by employeeNumber and disabled', async () => {
    const id = uniq('M');
    const dn = entry(`${id.toLowerCase()}-oldname`, [`employeeNumber: ${id}`, 'mail: old.name@example.com']);
    const r = await createLdapConnector(keysOnly(), LDAP_ADMIN_PASSWORD).revoke(
      subjectOf(id, `${uniq('new.name')}@example.com`),
    );
    expect(r.match).toMatchObject({ outcome: 'found', by: 'employeeNumber', account: { id: dn } });
    expect(r.match.keys.map((k) => k.key)).toEqual([
      'employeeNumber',
      'employeeID',
      'mail',
      'userPrincipalName',
      'uid',
    ]);
    expect(await locked(dn)).toBe(PERMANENT_LOCK);
  });

  test('nobody found in the directory is red (AccountNotFoundError); the remote-access tier confirms none', async () => {
    const id = uniq('NONE');
    const subject = subjectOf(id, `${id.toLowerCase()}@example.com`);
    await expect(createLdapConnector(keysOnly(), LDAP_ADMIN_PASSWORD).revoke(subject)).rejects.toBeInstanceOf(
      AccountNotFoundError,
    );
    const vpn = createLdapGroupConnector(groupCfg([`cn=any,ou=groups,${LDAP_BASE}`]), LDAP_ADMIN_PASSWORD);
    expect((await vpn.revoke(subject)).match.outcome).toBe('not_found');
  });

  test('two entries carrying the leaver (employeeNumber on one, mail on the other) are ambiguous: both untouched', async () => {
    const id = uniq('AMB');
    const work = `${id.toLowerCase()}@example.com`;
    const a = entry(`${id.toLowerCase()}-a`, [`employeeNumber: ${id}`]);
    const b = entry(`${id.toLowerCase()}-b`, [`mail: ${work}`]);
    const err = await createLdapConnector(keysOnly(), LDAP_ADMIN_PASSWORD)
      .revoke(subjectOf(id, work))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AmbiguousAccountError);
    expect((err as AmbiguousAccountError).evidence.candidates.map((c) => c.id)).toEqual([a, b]);
    expect([await locked(a), await locked(b)]).toEqual([undefined, undefined]);
  });

  test('a member of a protected group, or a listed DN, is red and untouched', async () => {
    const id = uniq('PROT');
    const dn = entry(id.toLowerCase(), [`employeeNumber: ${id}`]);
    const admins = group(`${id.toLowerCase()}-admins`, 'groupOfNames', [dn]);
    const subject = subjectOf(id, `${id.toLowerCase()}@example.com`);
    for (const prot of [
      { accounts: [], groups: [admins.toUpperCase()] },
      { accounts: [dn], groups: [] },
    ]) {
      const err = await createLdapConnector(keysOnly(), LDAP_ADMIN_PASSWORD, prot)
        .revoke(subject)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProtectedAccountError);
    }
    expect(await locked(dn)).toBeUndefined();
    expect(asList((await read(admins, ['member'])).member)).toEqual([dn]);
  });

  test('a DN the HRIS named wins over every key; a DN outside userBaseDn is refused', async () => {
    const id = uniq('KNOWN');
    const decoy = entry(`${id.toLowerCase()}`, [`employeeNumber: ${id}`]);
    const real = entry(`${id.toLowerCase()}-real`, []);
    const c = createLdapConnector(keysOnly(), LDAP_ADMIN_PASSWORD);
    const subject = { ...subjectOf(id, `${id.toLowerCase()}@example.com`), accounts: { ldap: real } };
    expect((await c.revoke(subject)).match).toMatchObject({ by: 'known account id', account: { id: real } });
    expect([await locked(real), await locked(decoy)]).toEqual([PERMANENT_LOCK, undefined]);
    await expect(c.revoke({ ...subject, accounts: { ldap: LDAP_ADMIN } })).rejects.toMatchObject({
      name: 'TargetRejectedError',
      message: expect.stringContaining('userBaseDn'),
    });
  });

  test('the live audit finds an entry by any key, also one revocation never matched', async () => {
    const id = uniq('LIVE');
    const work = `${id.toLowerCase()}@example.com`;
    const dn = entry(id.toLowerCase(), [`employeeNumber: ${id}`, `mail: ${work}`]);
    const c = createLdapConnector(keysOnly(), LDAP_ADMIN_PASSWORD);
    await c.revoke(subjectOf(id, work));
    expect(await c.hasActiveAccount(subjectOf(id, work))).toBe(false);
    const second = entry(`${id.toLowerCase()}-2`, [`mail: ${work}`]);
    const ctx = matchOf('ldap', keysOnly());
    const finding = await createDirectory(keysOnly(), LDAP_ADMIN_PASSWORD, ctx).audit(subjectOf(id, work));
    expect(finding.found).toBe(2);
    expect(finding.active).toEqual([
      { id: second, name: `${id.toLowerCase()}-2`, by: ['mail'], why: 'account enabled' },
    ]);
    expect(dn).not.toBe(second);
  });
});

test('filter values are escaped (no LDAP injection through HRIS fields)', () => {
  expect(renderFilter('(employeeNumber={employeeId})', { employeeId: '*)(uid=*', workEmail: '' })).toBe(
    '(employeeNumber=\\2a\\29\\28uid=\\2a)',
  );
});

// ------------------------------------------------------------------ remote access (ldap-group)

function groupCfg(groups: string[], over: Partial<LdapGroupConnectorConfig> = {}): LdapGroupConnectorConfig {
  const d = ldapConnector();
  return {
    kind: 'ldap-group',
    url: d.url,
    bindDn: d.bindDn,
    bindPasswordEnv: d.bindPasswordEnv,
    userBaseDn: d.userBaseDn,
    userFilter: d.userFilter,
    groups,
    emptyGroupMember: d.emptyGroupMember,
    timeout: '5s',
    ...over,
  };
}

/** A group of `kind` holding `members`; returns its DN. */
function group(name: string, kind: 'groupOfNames' | 'groupOfUniqueNames', members: string[]): string {
  const dn = `cn=${name},ou=groups,${LDAP_BASE}`;
  const attr = kind === 'groupOfNames' ? 'member' : 'uniqueMember';
  ldapAdd(
    env.ldapUrl,
    [`dn: ${dn}`, `objectClass: ${kind}`, `cn: ${name}`, ...members.map((m) => `${attr}: ${m}`), ''].join(
      '\n',
    ),
  );
  return dn;
}

async function read(dn: string, attributes: string[]) {
  return admin(async (a) => (await a.search(dn, { scope: 'base', attributes })).searchEntries[0]!);
}

const asList = (v: unknown) => (v === undefined ? [] : [v].flat().map(String));
const OTHER = `cn=other,${LDAP_BASE}`;

test('remote access: removed from a groupOfNames and a groupOfUniqueNames, the account left enabled; a second run changes nothing', async () => {
  const p = person([]);
  const uid = p.subject.employeeId.toLowerCase();
  const vpn = group(`${uid}-vpn`, 'groupOfNames', [p.dn, OTHER]);
  const ras = group(`${uid}-ras`, 'groupOfUniqueNames', [OTHER, p.dn]);
  const notIn = group(`${uid}-citrix`, 'groupOfNames', [OTHER]);
  const c = createLdapGroupConnector(groupCfg([vpn, ras, notIn]), LDAP_ADMIN_PASSWORD);
  expect(c.action).toBe('remove_remote_access_groups');
  expect(c.executingSystem).toMatch(/^LDAP @ 127\.0\.0\.1:\d+$/);
  expect(await c.hasActiveAccount(p.subject)).toBe(true);

  const r = await c.revoke(p.subject);
  expect(r.changes.sort()).toEqual([`removed from ${ras}`, `removed from ${vpn}`]);
  expect(r.confirmation).toMatchObject({ dn: p.dn, memberOf: [] });
  expect(asList((await read(vpn, ['member'])).member)).toEqual([OTHER]);
  expect(asList((await read(ras, ['uniqueMember'])).uniqueMember)).toEqual([OTHER]);
  expect(asList((await read(notIn, ['member'])).member)).toEqual([OTHER]);
  expect(await c.hasActiveAccount(p.subject)).toBe(false);

  // Only groups changed: the account is not locked by this step (the directory step does that).
  expect(asList((await read(p.dn, ['pwdAccountLockedTime'])).pwdAccountLockedTime)).toEqual([]);
  const bind = new Client({ url: env.ldapUrl });
  await bind.bind(p.dn, 'pw-123456');
  await bind.unbind();

  const again = await c.revoke(p.subject);
  expect(again.changes).toEqual([]);
  expect(again.confirmation).toMatchObject({ dn: p.dn, memberOf: [] });
});

test('remote access: a group DN that does not exist is a non-retryable error naming it, and nothing changes', async () => {
  const p = person([]);
  const uid = p.subject.employeeId.toLowerCase();
  const vpn = group(`${uid}-vpn`, 'groupOfNames', [p.dn, OTHER]);
  const missing = `cn=${uid}-no-such-group,ou=groups,${LDAP_BASE}`;
  const c = createLdapGroupConnector(groupCfg([vpn, missing]), LDAP_ADMIN_PASSWORD);
  await expect(c.revoke(p.subject)).rejects.toMatchObject({
    name: 'TargetRejectedError',
    message: expect.stringContaining(missing),
  });
  expect(asList((await read(vpn, ['member'])).member)).toEqual([p.dn, OTHER]);
  await expect(c.hasActiveAccount(p.subject)).rejects.toMatchObject({ name: 'TargetRejectedError' });
});

test('remote access: the last member is replaced by emptyGroupMember; without it the error names the setting', async () => {
  const p = person([]);
  const uid = p.subject.employeeId.toLowerCase();
  const solo = group(`${uid}-vpn-solo`, 'groupOfNames', [p.dn]);
  const soloUnique = group(`${uid}-ras-solo`, 'groupOfUniqueNames', [p.dn]);

  const strict = createLdapGroupConnector(
    groupCfg([solo, soloUnique], { emptyGroupMember: undefined }),
    LDAP_ADMIN_PASSWORD,
  );
  await expect(strict.revoke(p.subject)).rejects.toMatchObject({
    name: 'TargetRejectedError',
    message: expect.stringContaining('connector.emptyGroupMember'),
  });
  expect(asList((await read(solo, ['member'])).member)).toEqual([p.dn]);

  const c = createLdapGroupConnector(groupCfg([solo, soloUnique]), LDAP_ADMIN_PASSWORD);
  const r = await c.revoke(p.subject);
  expect(r.changes.sort()).toEqual([`removed from ${soloUnique}`, `removed from ${solo}`]);
  expect(asList((await read(solo, ['member'])).member)).toEqual([`cn=placeholder,${LDAP_BASE}`]);
  expect(asList((await read(soloUnique, ['uniqueMember'])).uniqueMember)).toEqual([
    `cn=placeholder,${LDAP_BASE}`,
  ]);
  expect((await c.revoke(p.subject)).changes).toEqual([]);
});

test('remote access: no directory account means nothing to remove, confirmed by search', async () => {
  const c = createLdapGroupConnector(groupCfg([`cn=whatever,ou=groups,${LDAP_BASE}`]), LDAP_ADMIN_PASSWORD);
  const gone = uniq('GONE');
  const subject = { ...person([]).subject, employeeId: gone, workEmail: `${gone.toLowerCase()}@example.com` };
  expect(await c.revoke(subject)).toMatchObject({ changes: [], confirmation: { exists: false } });
  expect(await c.hasActiveAccount(subject)).toBe(false);
});

test('createConnectors registers ldap-group entries', () => {
  const base = { owner: { name: 'o', email: 'o@example.com' } };
  const registry = createConnectors(
    {
      systems: [
        {
          ...base,
          id: 'vpn',
          connector: groupCfg([`cn=vpn,ou=groups,${LDAP_BASE}`]),
          match: { keys: [], expectAccount: false },
          protected: { accounts: [], groups: [] },
        },
      ],
    } as unknown as Catalog,
    { LDAP_BIND_PASSWORD: LDAP_ADMIN_PASSWORD },
  );
  expect(registry.get('vpn')?.action).toBe('remove_remote_access_groups');
});

// ------------------------------------------------------------------ service accounts the leaver owns

/** A service account (`account` + `simpleSecurityObject`; `extensibleObject` carries `owner`). */
function serviceAccount(uid: string, attrs: string[]): string {
  const dn = `uid=${uid},ou=people,${LDAP_BASE}`;
  ldapAdd(
    env.ldapUrl,
    [
      `dn: ${dn}`,
      'objectClass: account',
      'objectClass: simpleSecurityObject',
      'objectClass: extensibleObject',
      `uid: ${uid}`,
      `userPassword: ${uid}-pw`,
      ...attrs,
      '',
    ].join('\n'),
  );
  return dn;
}

async function canBind(dn: string, password: string): Promise<boolean> {
  const c = new Client({ url: env.ldapUrl });
  try {
    await c.bind(dn, password);
    return true;
  } catch (e) {
    if (e instanceof InvalidCredentialsError) return false;
    throw e;
  } finally {
    await c.unbind().catch(() => undefined);
  }
}

const OWNED_BY_DN = '(&(objectClass=account)(owner={dn}))';

test('service accounts owned by the leader are found, locked (their bind fails), confirmed, and a second run changes nothing', async () => {
  const leader = person([]);
  const other = person([]);
  const uid = leader.subject.employeeId.toLowerCase();
  const a = serviceAccount(`${uid}-svc-backup`, [`owner: ${leader.dn}`, `cn: ${uid} backup job`]);
  const b = serviceAccount(`${uid}-svc-report`, [`owner: ${leader.dn}`]);
  serviceAccount(`${uid}-svc-theirs`, [`owner: ${other.dn}`]);
  const c = createLdapConnector(cfg({ ownedAccountFilter: OWNED_BY_DN }), LDAP_ADMIN_PASSWORD);

  const found = await c.discoverOwned(leader.subject);
  expect(found.sort((x, y) => x.id.localeCompare(y.id))).toEqual([
    { id: a, kind: 'LDAP service account', name: `${uid} backup job` },
    { id: b, kind: 'LDAP service account', name: `${uid}-svc-report` },
  ]);
  expect(await canBind(a, `${uid}-svc-backup-pw`)).toBe(true);

  for (const item of found) {
    const r = await c.revokeOwned(leader.subject, item);
    expect(r.changes).toEqual(['password replaced', 'account disabled']);
    expect(r.confirmation).toMatchObject({ dn: item.id, disabled: true, bindRefused: true });
    expect((await read(item.id, ['pwdAccountLockedTime'])).pwdAccountLockedTime).toBe(PERMANENT_LOCK);
  }
  expect(await canBind(a, `${uid}-svc-backup-pw`)).toBe(false);
  expect(await canBind(b, `${uid}-svc-report-pw`)).toBe(false);
  // The leader's own account is the directory step's business, not this one's.
  expect(asList((await read(leader.dn, ['pwdAccountLockedTime'])).pwdAccountLockedTime)).toEqual([]);

  const again = await c.revokeOwned(leader.subject, found[0]!);
  expect(again.changes).toEqual([]);
  expect(again.confirmation).toMatchObject({ disabled: true });
});

test('a service account under a policy without lockout still cannot bind: its password is replaced', async () => {
  const leader = person([]);
  const uid = leader.subject.employeeId.toLowerCase();
  const policy = `cn=${uid}-nolock,ou=policies,${LDAP_BASE}`;
  ldapAdd(
    env.ldapUrl,
    [
      `dn: ${policy}`,
      'objectClass: pwdPolicy',
      'objectClass: device',
      `cn: ${uid}-nolock`,
      'pwdAttribute: userPassword',
      'pwdLockout: FALSE',
      '',
    ].join('\n'),
  );
  const svc = serviceAccount(`${uid}-svc-nolock`, [`owner: ${leader.dn}`, `pwdPolicySubentry: ${policy}`]);
  const c = createLdapConnector(cfg({ ownedAccountFilter: OWNED_BY_DN }), LDAP_ADMIN_PASSWORD);
  const [item] = await c.discoverOwned(leader.subject);
  const r = await c.revokeOwned(leader.subject, item!);
  expect(r.confirmation).toMatchObject({ disabled: true, passwordReplaced: true, bindRefused: false });
  expect(r.detail).toMatch(/no lockout policy/);
  expect(await canBind(svc, `${uid}-svc-nolock-pw`)).toBe(false);
});

test('owned-account discovery without the leader entry: {employeeId} filters still work, {dn} finds nothing', async () => {
  const id = uniq('GONE');
  const uid = id.toLowerCase();
  const svc = serviceAccount(`${uid}-svc`, [`description: owner ${id}`]);
  const subject = { ...person([]).subject, employeeId: id, workEmail: `${uid}@example.com` };

  const byId = createLdapConnector(
    cfg({ ownedAccountFilter: '(&(objectClass=account)(description=owner {employeeId}))' }),
    LDAP_ADMIN_PASSWORD,
  );
  expect((await byId.discoverOwned(subject)).map((o) => o.id)).toEqual([svc]);
  const byDn = createLdapConnector(cfg({ ownedAccountFilter: OWNED_BY_DN }), LDAP_ADMIN_PASSWORD);
  expect(await byDn.discoverOwned(subject)).toEqual([]);
});

test('owned-account filters escape employeeId (no injection), and revokeOwned refuses DNs outside userBaseDn', async () => {
  const leader = person([]);
  const uid = leader.subject.employeeId.toLowerCase();
  const literal = serviceAccount(`${uid}-svc-lit`, [`description: owner ${uid}(*)`]);
  serviceAccount(`${uid}-svc-x`, [`description: owner ${uid}-x`]);
  const c = createLdapConnector(
    cfg({ ownedAccountFilter: '(&(objectClass=account)(description=owner {employeeId}))' }),
    LDAP_ADMIN_PASSWORD,
  );
  // A wildcard or a filter fragment in the HRIS value matches only itself.
  for (const employeeId of ['*', `${uid}*`, `*)(objectClass=*`, `${uid}-x)(|(uid=*`])
    expect(await c.discoverOwned({ ...leader.subject, employeeId })).toEqual([]);
  expect((await c.discoverOwned({ ...leader.subject, employeeId: `${uid}(*)` })).map((o) => o.id)).toEqual([
    literal,
  ]);
  expect(renderFilter('(owner={dn})', { employeeId: '{dn}', workEmail: '', dn: 'cn=a*)(b' })).toBe(
    '(owner=cn=a\\2a\\29\\28b)',
  );
  expect(renderFilter('(x={employeeId})', { employeeId: '{dn}', workEmail: '', dn: 'cn=a' })).toBe(
    '(x={dn})',
  );

  await expect(
    c.revokeOwned(leader.subject, { id: LDAP_ADMIN, kind: 'LDAP service account', name: 'admin' }),
  ).rejects.toMatchObject({ name: 'TargetRejectedError', message: expect.stringContaining('userBaseDn') });
  expect(
    await c.revokeOwned(leader.subject, {
      id: `uid=${uid}-deleted,ou=people,${LDAP_BASE}`,
      kind: 'LDAP service account',
      name: 'deleted',
    }),
  ).toMatchObject({ changes: [], confirmation: { exists: false } });
});

test('a service account already locked before the termination still gets its password replaced, once', async () => {
  const leader = person([]);
  const uid = leader.subject.employeeId.toLowerCase();
  const svc = serviceAccount(`${uid}-svc-prelocked`, [
    `owner: ${leader.dn}`,
    `pwdAccountLockedTime: ${PERMANENT_LOCK}`,
  ]);
  // The termination is confirmed after the account's password was last set (whole seconds).
  await new Promise((r) => setTimeout(r, 1100));
  const subject = { ...leader.subject, confirmedAt: new Date().toISOString() };
  const c = createLdapConnector(cfg({ ownedAccountFilter: OWNED_BY_DN }), LDAP_ADMIN_PASSWORD);
  const [item] = await c.discoverOwned(subject);
  const r = await c.revokeOwned(subject, item!);
  // Replacing the password clears a ppolicy lock, so the lock is put back after it.
  expect(r.changes).toEqual(['password replaced', 'account disabled']);
  expect(r.confirmation).toMatchObject({ dn: svc, disabled: true, bindRefused: true });
  expect((await c.revokeOwned(subject, item!)).changes).toEqual([]);
});
