/**
 * The directory connector's notice-period scope (`notice: scope`, activities/ldap-scope.ts) against the
 * test slapd (OpenLDAP with ppolicy): the privileged groups listed by DN and those
 * `privilegedGroupFilter` finds under `groupBaseDn` lose the leaver (`member` and `uniqueMember`; a
 * last member is replaced by `emptyGroupMember`); the ordinary groups stay, the account is not locked
 * and its password still binds; a repeat changes nothing. Red: a listed DN that does not exist (named,
 * nothing changed), a last member without `emptyGroupMember`.
 */
import { Client } from 'ldapts';
import type { RevocationConnector, Subject } from '../activities/connector';
import { TargetRejectedError } from '../activities/errors';
import { createLdapConnector, type LdapAccount } from '../activities/ldap';
import type { MatchContext } from '../activities/matching';
import type { LdapConnectorConfig } from '../config/catalog';
import { defaultKeys } from '../config/matching';
import { LDAP_ADMIN, LDAP_ADMIN_PASSWORD, LDAP_BASE, ldapAdd } from './support/services';
import { env, ldapConnector, uniq } from './support/harness';

const PASSWORD = 'pw-123456';
const GROUPS = `ou=groups,${LDAP_BASE}`;
const PLACEHOLDER = `cn=placeholder,${LDAP_BASE}`;
const OTHER = `cn=other,${LDAP_BASE}`;
/** The test catalog's filter: the leaver's groups named `*-admins`. */
const ADMINS_FILTER = '(&(objectClass=groupOfNames)(member={dn})(cn=*-admins))';

const asList = (v: unknown) => (v === undefined ? [] : [v].flat().map(String));

function cfg(over: Partial<LdapConnectorConfig> = {}): LdapConnectorConfig {
  return { ...ldapConnector(), timeout: '5s', ...over };
}

const match = (c: LdapConnectorConfig): MatchContext => ({
  systemId: 'ldap',
  match: {
    keys: [...(c.userFilter ? [{ filter: c.userFilter }] : []), ...defaultKeys('ldap')],
    expectAccount: true,
  },
  protected: { accounts: [], groups: [] },
});

/** The connector with these settings; `scope(p)` finds the leaver as a step does, then scopes it. */
function connector(over: Partial<LdapConnectorConfig>) {
  const c = cfg(over);
  const conn: RevocationConnector<LdapAccount> = createLdapConnector(c, LDAP_ADMIN_PASSWORD, match(c));
  return async (p: { dn: string; subject: Subject }) => {
    const found = await conn.find(p.subject);
    expect(found.account?.id).toBe(p.dn);
    return conn.scope!(p.subject, found.account!);
  };
}

type GroupSpec = { cn: string; cls?: 'groupOfNames' | 'groupOfUniqueNames'; only?: boolean };

/**
 * A person with a password and employeeNumber, and groups `cn=<uid>-<cn>` under ou=groups holding it
 * (with another member, unless `only`); returns its DN, subject and the groups' DNs by `cn`.
 */
function leaver(groups: GroupSpec[]) {
  const id = uniq('S');
  const uid = id.toLowerCase();
  const dn = `uid=${uid},ou=people,${LDAP_BASE}`;
  const dnOf = (cn: string) => `cn=${uid}-${cn},${GROUPS}`;
  ldapAdd(
    env.ldapUrl,
    [
      `dn: ${dn}`,
      'objectClass: inetOrgPerson',
      `uid: ${uid}`,
      `cn: ${id}`,
      `sn: ${id}`,
      `employeeNumber: ${id}`,
      `userPassword: ${PASSWORD}`,
      '',
      ...groups.flatMap((g) => {
        const attr = g.cls === 'groupOfUniqueNames' ? 'uniqueMember' : 'member';
        return [
          `dn: ${dnOf(g.cn)}`,
          `objectClass: ${g.cls ?? 'groupOfNames'}`,
          `cn: ${uid}-${g.cn}`,
          `${attr}: ${dn}`,
          ...(g.only ? [] : [`${attr}: ${OTHER}`]),
          '',
        ];
      }),
    ].join('\n'),
  );
  const subject: Subject = {
    departureId: uniq('dep'),
    employeeId: id,
    employeeName: id,
    workEmail: `${uid}@example.com`,
    confirmedAt: new Date(Date.now() - 60_000).toISOString(),
    managerEmail: null,
  };
  return { dn, subject, group: dnOf };
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

/** A group's members as the admin reads them (both membership attributes). */
const members = (group: string) =>
  admin(async (c) => {
    const { searchEntries } = await c.search(group, {
      scope: 'base',
      attributes: ['member', 'uniqueMember'],
    });
    const e = searchEntries[0]!;
    return [...asList(e.member), ...asList(e.uniqueMember)].sort();
  });

/** Every group under ou=groups that lists `dn`, by either attribute. */
const groupsOf = (dn: string) =>
  admin(async (c) => {
    const { searchEntries } = await c.search(GROUPS, {
      scope: 'sub',
      filter: `(|(member=${dn})(uniqueMember=${dn}))`,
      attributes: ['1.1'],
    });
    return searchEntries.map((e) => e.dn).sort();
  });

const lockedTime = (dn: string) =>
  admin(async (c) => {
    const { searchEntries } = await c.search(dn, { scope: 'base', attributes: ['pwdAccountLockedTime'] });
    return searchEntries[0]?.pwdAccountLockedTime;
  });

async function binds(dn: string, password: string): Promise<boolean> {
  const c = new Client({ url: env.ldapUrl });
  try {
    await c.bind(dn, password);
    return true;
  } catch {
    return false;
  } finally {
    await c.unbind().catch(() => undefined);
  }
}

test('removes the listed groups (member and uniqueMember) and the ones the filter finds; keeps the ordinary groups; the account is not locked and still binds; a repeat changes nothing', async () => {
  const p = leaver([
    { cn: 'root' }, // listed by DN
    { cn: 'prod', cls: 'groupOfUniqueNames' }, // listed by DN, uniqueMember
    { cn: 'ops-admins' }, // found by the filter
    { cn: 'db-admins' }, // found by the filter
    { cn: 'team' }, // ordinary
    { cn: 'admins-readers' }, // ordinary: the filter wants *-admins
  ]);
  const listed = [p.group('root'), p.group('prod').toUpperCase()]; // DNs compare without regard to case
  expect(await binds(p.dn, PASSWORD)).toBe(true);
  const scope = connector({ privilegedGroups: listed, privilegedGroupFilter: ADMINS_FILTER });

  const r = await scope(p);

  const privileged = ['root', 'prod', 'ops-admins', 'db-admins'].map(p.group);
  const named = [...listed, p.group('ops-admins'), p.group('db-admins')].sort();
  expect(r.changes.sort()).toEqual(named.map((g) => `removed from privileged group ${g}`));
  expect(await groupsOf(p.dn)).toEqual([p.group('admins-readers'), p.group('team')].sort());
  for (const g of privileged) expect(await members(g)).toEqual([OTHER]);
  expect(await members(p.group('team'))).toEqual([OTHER, p.dn].sort());
  expect(r.confirmation).toEqual({
    dn: p.dn,
    privilegedGroupsChecked: expect.any(Array),
    memberOf: [],
    enabled: true,
  });
  expect((r.confirmation.privilegedGroupsChecked as string[]).sort()).toEqual(named);
  expect(r.detail).toContain('member of none of the 4 privileged group(s) (removed from 4)');
  expect(r.detail).toContain('account stays enabled');
  // Not locked, and the password still works: the leaver works until the last day.
  expect(asList(await lockedTime(p.dn))).toEqual([]);
  expect(await binds(p.dn, PASSWORD)).toBe(true);

  // A repeat: nothing left to remove, still confirmed.
  const again = await scope(p);
  expect(again.changes).toEqual([]);
  expect(again.confirmation).toMatchObject({ dn: p.dn, memberOf: [], enabled: true });
  expect(await groupsOf(p.dn)).toEqual([p.group('admins-readers'), p.group('team')].sort());
});

test('a privileged group whose last member is the leaver gets emptyGroupMember in its place', async () => {
  const p = leaver([
    { cn: 'solo', only: true }, // listed, groupOfNames with the leaver alone
    { cn: 'unique', cls: 'groupOfUniqueNames', only: true }, // listed, groupOfUniqueNames alone
    { cn: 'alone-admins', only: true }, // found by the filter, alone
    { cn: 'team' },
  ]);
  const r = await connector({
    privilegedGroups: [p.group('solo'), p.group('unique')],
    privilegedGroupFilter: ADMINS_FILTER,
  })(p);
  expect(r.changes).toHaveLength(3);
  for (const g of ['solo', 'unique', 'alone-admins'])
    expect(await members(p.group(g))).toEqual([PLACEHOLDER]);
  expect(await groupsOf(p.dn)).toEqual([p.group('team')]);
  expect(await binds(p.dn, PASSWORD)).toBe(true);
});

test('without emptyGroupMember, a last member is a TargetRejectedError naming the fix; the account stays usable', async () => {
  const p = leaver([{ cn: 'solo', only: true }]);
  const err = await connector({ privilegedGroups: [p.group('solo')], emptyGroupMember: undefined })(p).catch(
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TargetRejectedError);
  expect((err as Error).message).toContain('set connector.emptyGroupMember');
  expect(await members(p.group('solo'))).toEqual([p.dn]);
  expect(await binds(p.dn, PASSWORD)).toBe(true);
});

test('a listed group DN that does not exist is a TargetRejectedError naming it; nothing changed', async () => {
  const p = leaver([{ cn: 'root' }, { cn: 'ops-admins' }, { cn: 'team' }]);
  const missing = `cn=${uniq('no-such')},${GROUPS}`;
  const err = await connector({
    privilegedGroups: [p.group('root'), missing],
    privilegedGroupFilter: ADMINS_FILTER,
  })(p).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(TargetRejectedError);
  expect((err as Error).message).toContain(`privileged group ${missing}`);
  expect((err as Error).message).toContain('does not exist');
  // Checked before anything changes: the leaver is still in every group.
  expect(await groupsOf(p.dn)).toEqual(['root', 'ops-admins', 'team'].map(p.group).sort());
  expect(await binds(p.dn, PASSWORD)).toBe(true);
});

test('with neither privilegedGroups nor a filter: nothing to remove, confirmed', async () => {
  const p = leaver([{ cn: 'team' }, { cn: 'x-admins' }]);
  const r = await connector({})(p);
  expect(r.changes).toEqual([]);
  expect(r.confirmation).toMatchObject({ privilegedGroupsChecked: [], enabled: true });
  expect(await groupsOf(p.dn)).toEqual([p.group('team'), p.group('x-admins')].sort());
});
