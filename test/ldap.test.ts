/** The directory connector against a real OpenLDAP slapd with the ppolicy overlay. */
import { Client, InvalidCredentialsError } from 'ldapts';
import { createLdapConnector, PERMANENT_LOCK, renderFilter } from '../activities/ldap';
import type { LdapConnectorConfig } from '../config/catalog';
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
