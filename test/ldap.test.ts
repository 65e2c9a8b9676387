/** The directory connector against a real OpenLDAP slapd with the ppolicy overlay. */
import { Client, InvalidCredentialsError } from 'ldapts';
import { createConnectors } from '../activities/connectors';
import {
  createLdapConnector,
  createLdapGroupConnector,
  PERMANENT_LOCK,
  renderFilter,
} from '../activities/ldap';
import type { Catalog, LdapConnectorConfig, LdapGroupConnectorConfig } from '../config/catalog';
import { LDAP_ADMIN, LDAP_ADMIN_PASSWORD, LDAP_BASE, ldapAdd } from './support/services';
import { env, ldapConnector, uniq } from './support/harness';

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
  const subject = { ...person([]).subject, employeeId: uniq('GONE') };
  expect(await c.revoke(subject)).toMatchObject({ changes: [], confirmation: { exists: false } });
  expect(await c.hasActiveAccount(subject)).toBe(false);
});

test('createConnectors registers ldap-group entries', () => {
  const base = { owner: { name: 'o', email: 'o@example.com' } };
  const registry = createConnectors(
    {
      systems: [{ ...base, id: 'vpn', connector: groupCfg([`cn=vpn,ou=groups,${LDAP_BASE}`]) }],
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

  const found = await c.discoverOwned!(leader.subject);
  expect(found.sort((x, y) => x.id.localeCompare(y.id))).toEqual([
    { id: a, kind: 'LDAP service account', name: `${uid} backup job` },
    { id: b, kind: 'LDAP service account', name: `${uid}-svc-report` },
  ]);
  expect(await canBind(a, `${uid}-svc-backup-pw`)).toBe(true);

  for (const item of found) {
    const r = await c.revokeOwned!(leader.subject, item);
    expect(r.changes).toEqual(['password replaced', 'account disabled']);
    expect(r.confirmation).toMatchObject({ dn: item.id, disabled: true, bindRefused: true });
    expect((await read(item.id, ['pwdAccountLockedTime'])).pwdAccountLockedTime).toBe(PERMANENT_LOCK);
  }
  expect(await canBind(a, `${uid}-svc-backup-pw`)).toBe(false);
  expect(await canBind(b, `${uid}-svc-report-pw`)).toBe(false);
  // The leader's own account is the directory step's business, not this one's.
  expect(asList((await read(leader.dn, ['pwdAccountLockedTime'])).pwdAccountLockedTime)).toEqual([]);

  const again = await c.revokeOwned!(leader.subject, found[0]!);
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
  const [item] = await c.discoverOwned!(leader.subject);
  const r = await c.revokeOwned!(leader.subject, item!);
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
  expect((await byId.discoverOwned!(subject)).map((o) => o.id)).toEqual([svc]);
  const byDn = createLdapConnector(cfg({ ownedAccountFilter: OWNED_BY_DN }), LDAP_ADMIN_PASSWORD);
  expect(await byDn.discoverOwned!(subject)).toEqual([]);
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
    expect(await c.discoverOwned!({ ...leader.subject, employeeId })).toEqual([]);
  expect((await c.discoverOwned!({ ...leader.subject, employeeId: `${uid}(*)` })).map((o) => o.id)).toEqual([
    literal,
  ]);
  expect(renderFilter('(owner={dn})', { employeeId: '{dn}', workEmail: '', dn: 'cn=a*)(b' })).toBe(
    '(owner=cn=a\\2a\\29\\28b)',
  );
  expect(renderFilter('(x={employeeId})', { employeeId: '{dn}', workEmail: '', dn: 'cn=a' })).toBe(
    '(x={dn})',
  );

  await expect(
    c.revokeOwned!(leader.subject, { id: LDAP_ADMIN, kind: 'LDAP service account', name: 'admin' }),
  ).rejects.toMatchObject({ name: 'TargetRejectedError', message: expect.stringContaining('userBaseDn') });
  expect(
    await c.revokeOwned!(leader.subject, {
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
  const [item] = await c.discoverOwned!(subject);
  const r = await c.revokeOwned!(subject, item!);
  // Replacing the password clears a ppolicy lock, so the lock is put back after it.
  expect(r.changes).toEqual(['password replaced', 'account disabled']);
  expect(r.confirmation).toMatchObject({ dn: svc, disabled: true, bindRefused: true });
  expect((await c.revokeOwned!(subject, item!)).changes).toEqual([]);
});
