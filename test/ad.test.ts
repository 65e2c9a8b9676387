/**
 * The directory connector in Active Directory mode (`disableMethod: ad-useraccountcontrol`) against a
 * real Samba 4 AD domain controller (test/support/samba.ts): matching by AD's keys, disable with
 * accountExpires, every group removed (the primary group noted), the move to a disabled OU, the refused
 * bind, the notice-period scope (privileged groups only, the account kept enabled), the live audit,
 * ambiguous and not-found cases, and the transport security AD insists on.
 */
import { AccountNotFoundError, AmbiguousAccountError, ProtectedAccountError } from '../activities/errors';
import { fileTime, fileTimeMs } from '../activities/ldap-ad';
import { uniq } from './support/harness';
import {
  USER_PASSWORD,
  adConfig,
  adStep,
  asAdmin,
  bindAs,
  createGroup,
  createTestOu,
  createUser,
  readAd,
  subjectOf,
  type TestOu,
} from './support/ad-fixtures';
import { AD_BASE, AD_LDAP_URL, describeAd, sharedSamba } from './support/samba';

const asList = (v: unknown) => (v === undefined ? [] : [v].flat().map(String));
const DOMAIN_USERS = `CN=Domain Users,CN=Users,${AD_BASE}`;

describeAd('Active Directory (Samba AD DC)', () => {
  let t: TestOu;
  let caFile: string;
  const cfg = (over: Parameters<typeof adConfig>[2] = {}) => adConfig(t, caFile, over);

  beforeAll(async () => {
    ({ caFile } = await sharedSamba());
    t = await createTestOu('ad');
  }, 180_000);

  /** A leaver with every key set (employeeID, UPN and mail = work email, sAMAccountName = local part). */
  async function leaver(extra: Record<string, string | string[]> = {}) {
    const id = uniq('A');
    const sam = id.toLowerCase();
    const work = `${sam}@example.com`;
    const dn = await createUser(t.staff, `Leaver ${id}`, {
      sAMAccountName: sam,
      employeeID: id,
      mail: work,
      userPrincipalName: work,
      ...extra,
    });
    return { dn, id, sam, work, subject: subjectOf(id, work) };
  }

  test('disables (other userAccountControl bits kept), sets accountExpires, removes every group, notes the primary group; the bind is refused with data 533; a second run changes nothing', async () => {
    // 66048 = NORMAL_ACCOUNT | DONT_EXPIRE_PASSWORD: the second bit must survive the disable.
    const p = await leaver({ userAccountControl: '66048' });
    const team = await createGroup(t.groups, `team-${p.sam}`, [p.dn]);
    const vpn = await createGroup(t.groups, `vpn-${p.sam}`, [p.dn]);
    // A group outside groupBaseDn: found through the entry's memberOf.
    const elsewhere = await createGroup(t.ou, `x-${p.sam}`, [p.dn]);
    const c = adStep(cfg());

    expect(await bindAs(p.dn, USER_PASSWORD)).toBe('ok');
    const before = await c.audit(p.subject);
    expect(before.active).toEqual([
      {
        id: p.dn,
        name: `Leaver ${p.id}`,
        by: ['employeeID', 'userPrincipalName', 'mail', 'sAMAccountName'],
        why: 'account enabled',
      },
    ]);

    const r = await c.revoke(p.subject);
    expect(r.match).toMatchObject({ outcome: 'found', by: 'employeeID', account: { id: p.dn } });
    expect(r.changes.sort()).toEqual(
      [
        'account disabled',
        `account expires ${p.subject.confirmedAt}`,
        `removed from ${elsewhere}`,
        `removed from ${team}`,
        `removed from ${vpn}`,
      ].sort(),
    );
    expect(r.confirmation).toMatchObject({
      dn: p.dn,
      disabled: true,
      userAccountControl: 66050,
      accountExpires: p.subject.confirmedAt,
      memberOf: [],
      primaryGroup: { dn: DOMAIN_USERS, primaryGroupID: 513 },
    });
    expect(r.confirmation.objectGUID).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
    expect(r.detail).toContain(`AD keeps the primary group ${DOMAIN_USERS} (primaryGroupID 513)`);

    // Read back as the admin: the bits, the expiry as a FILETIME, no group left.
    const e = await readAd(p.dn, ['userAccountControl', 'accountExpires', 'memberOf']);
    expect(e.userAccountControl).toBe('66050');
    expect(e.accountExpires).toBe(fileTime(Date.parse(p.subject.confirmedAt)));
    expect(fileTimeMs(String(e.accountExpires))).toBe(Date.parse(p.subject.confirmedAt));
    expect(asList(e.memberOf)).toEqual([]);
    for (const g of [team, vpn, elsewhere]) expect(asList((await readAd(g, ['member'])).member)).toEqual([]);

    // The password is still right; AD refuses the account: data 533 (52e would be a wrong password).
    expect(await bindAs(p.dn, USER_PASSWORD)).toBe('533');
    expect(await bindAs(p.dn, 'Wrong-Passw0rd!')).toBe('52e');

    const after = await c.audit(p.subject);
    expect(after).toMatchObject({ found: 1, active: [] });

    const again = await c.revoke(p.subject);
    expect(again.changes).toEqual([]);
    expect(again.confirmation).toMatchObject({
      dn: p.dn,
      disabled: true,
      memberOf: [],
      userAccountControl: 66050,
    });
  });

  test('notice period (scope): the privileged groups go (listed by DN, and found by privilegedGroupFilter), the ordinary group stays; the account stays enabled and binds; a repeat changes nothing', async () => {
    const p = await leaver();
    // A privileged group outside groupBaseDn (listed by DN), one the filter finds, an ordinary one.
    const tier0 = await createGroup(t.ou, `t0-${p.sam}`, [p.dn]);
    const admins = await createGroup(t.groups, `adm-${p.sam}`, [p.dn]);
    const team = await createGroup(t.groups, `team-${p.sam}`, [p.dn]);
    const c = adStep(
      cfg({
        privilegedGroups: [tier0],
        privilegedGroupFilter: '(&(objectClass=group)(member={dn})(cn=adm-*))',
      }),
    );
    const found = await c.connector.find(p.subject);
    expect(found.account?.id).toBe(p.dn);

    const r = await c.connector.scope!(p.subject, found.account!);
    expect(r.changes.sort()).toEqual(
      [`removed from privileged group ${tier0}`, `removed from privileged group ${admins}`].sort(),
    );
    expect(r.confirmation).toMatchObject({ dn: p.dn, memberOf: [], enabled: true });
    expect(r.detail).toContain('account stays enabled');
    expect(asList((await readAd(tier0, ['member'])).member)).toEqual([]);
    expect(asList((await readAd(admins, ['member'])).member)).toEqual([]);
    expect(asList((await readAd(team, ['member'])).member)).toEqual([p.dn]);
    const e = await readAd(p.dn, ['userAccountControl', 'memberOf']);
    expect(Number(e.userAccountControl) & 0x2).toBe(0); // no ACCOUNTDISABLE
    expect(asList(e.memberOf)).toEqual([team]);
    expect(await bindAs(p.dn, USER_PASSWORD)).toBe('ok');

    const again = await c.connector.scope!(p.subject, found.account!);
    expect(again.changes).toEqual([]);
    expect(again.confirmation).toMatchObject({ enabled: true });
  });

  test.each([
    ['employeeID', (id: string) => ({ employeeID: id, sAMAccountName: `e${id.slice(2)}` })],
    [
      'userPrincipalName',
      (id: string, work: string) => ({ userPrincipalName: work, sAMAccountName: `u${id.slice(2)}` }),
    ],
    ['mail', (id: string, work: string) => ({ mail: work, sAMAccountName: `m${id.slice(2)}` })],
    ['sAMAccountName', (id: string) => ({ sAMAccountName: id.toLowerCase() })],
  ])('an account that carries only its %s is found by it and revoked', async (key, attrs) => {
    const id = uniq('K');
    const work = `${id.toLowerCase()}@example.com`;
    const dn = await createUser(t.staff, `Key ${id}`, attrs(id, work));
    const r = await adStep(cfg()).revoke(subjectOf(id, work));
    expect(r.match).toMatchObject({ outcome: 'found', by: key, account: { id: dn } });
    expect(r.match.keys.map((k) => k.key)).toEqual([
      'employeeID',
      'employeeNumber',
      'userPrincipalName',
      'mail',
      'sAMAccountName',
    ]);
    expect((await readAd(dn, ['userAccountControl'])).userAccountControl).toBe('514');
  });

  test('with disabledOu: the entry moves there, is found again by objectGUID, and stays found by its keys; a name taken there gets the account name added', async () => {
    const p = await leaver();
    const c = adStep(cfg({ disabledOu: t.disabled }));
    const r = await c.revoke(p.subject);
    const moved = `CN=Leaver ${p.id},${t.disabled}`;
    expect(r.changes).toContain(`moved to ${moved}`);
    expect(r.confirmation).toMatchObject({ dn: moved, disabled: true, disabledOu: t.disabled });
    expect(r.detail).toContain(`in ${t.disabled}`);
    const guid = (await readAd(moved, ['objectGUID'])).objectGUID as Buffer;
    expect(r.confirmation.objectGUID).toBeDefined();
    expect(guid.length).toBe(16);

    // disabledOu is outside userBaseDn (a sibling OU): it is searched too, so the leaver is still found.
    const again = await c.revoke(p.subject);
    expect(again.match.account?.id).toBe(moved);
    expect(again.changes).toEqual([]);
    expect(await c.audit(p.subject)).toMatchObject({ found: 1, active: [] });

    // Another "Leaver <id>" in Staff: the name is taken in Disabled, so the RDN gets the account name.
    const twin = await createUser(t.staff, `Leaver ${p.id}`, {
      sAMAccountName: `${p.sam}-2`.slice(0, 20),
      employeeID: `${p.id}-2`,
    });
    const r2 = await c.revoke(subjectOf(`${p.id}-2`, `${p.sam}-2@example.com`));
    expect(r2.confirmation.dn).toBe(`CN=Leaver ${p.id} (${p.sam}-2),${t.disabled}`);
    expect(twin).not.toBe(r2.confirmation.dn);
  });

  test('a disabledOu that does not exist is refused before anything changes', async () => {
    const p = await leaver();
    const missing = `OU=No Such OU,${t.ou}`;
    await expect(adStep(cfg({ disabledOu: missing })).revoke(p.subject)).rejects.toMatchObject({
      name: 'TargetRejectedError',
      message: expect.stringContaining(missing),
    });
    expect((await readAd(p.dn, ['userAccountControl'])).userAccountControl).toBe('512');
  });

  test('two accounts sharing the mail are ambiguous: both untouched; a contact with the mail is no candidate', async () => {
    const id = uniq('AMB');
    const work = `${id.toLowerCase()}@example.com`;
    const a = await createUser(t.staff, `Amb A ${id}`, { sAMAccountName: `a${id.slice(4)}`, mail: work });
    const b = await createUser(t.staff, `Amb B ${id}`, { sAMAccountName: `b${id.slice(4)}`, mail: work });
    const g = await createGroup(t.groups, `amb-${id}`, [a, b]);
    await asAdmin((c) =>
      c.add(`CN=Contact ${id},${t.staff}`, { objectClass: ['top', 'contact'], mail: work }),
    );
    const err = await adStep(cfg())
      .revoke(subjectOf(id, work))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AmbiguousAccountError);
    expect((err as AmbiguousAccountError).evidence.candidates.map((c) => c.id).sort()).toEqual([a, b].sort());
    for (const dn of [a, b])
      expect((await readAd(dn, ['userAccountControl'])).userAccountControl).toBe('512');
    expect(asList((await readAd(g, ['member'])).member).sort()).toEqual([a, b].sort());
    expect(await bindAs(a, USER_PASSWORD)).toBe('ok');
    // The live audit reports both: each is an enabled account a key finds.
    expect((await adStep(cfg()).audit(subjectOf(id, work))).active.map((x) => x.id).sort()).toEqual(
      [a, b].sort(),
    );
  });

  test('nobody found is red (AccountNotFoundError) and changes nothing; the audit finds nobody', async () => {
    const bystander = await leaver();
    const id = uniq('NONE');
    const subject = subjectOf(id, `${id.toLowerCase()}@example.com`);
    const err = await adStep(cfg())
      .revoke(subject)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AccountNotFoundError);
    expect((err as AccountNotFoundError).evidence.keys.map((k) => k.found.length)).toEqual([0, 0, 0, 0, 0]);
    expect(await adStep(cfg()).audit(subject)).toMatchObject({ found: 0, active: [] });
    expect((await readAd(bystander.dn, ['userAccountControl'])).userAccountControl).toBe('512');
  });

  test('the live audit reports an enabled account any key finds, also one revocation never matched', async () => {
    const p = await leaver();
    const c = adStep(cfg());
    await c.revoke(p.subject);
    // A second account carrying the leaver's work email as its UPN only (created after the revocation).
    const other = await createUser(t.staff, `Other ${p.id}`, {
      sAMAccountName: `o${p.id.slice(2)}`,
      userPrincipalName: `alt-${p.work}`,
      mail: p.work,
    });
    const finding = await c.audit(p.subject);
    expect(finding.found).toBe(2);
    expect(finding.active).toEqual([
      { id: other, name: `Other ${p.id}`, by: ['mail'], why: 'account enabled' },
    ]);
  });

  test('a member of a protected group (read from memberOf, or the primary group) is red and untouched', async () => {
    const p = await leaver();
    const admins = await createGroup(t.ou, `adm-${p.sam}`, [p.dn]);
    for (const group of [admins.toUpperCase(), DOMAIN_USERS]) {
      const err = await adStep(cfg(), { protected: { accounts: [], groups: [group] } })
        .revoke(p.subject)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ProtectedAccountError);
    }
    expect((await readAd(p.dn, ['userAccountControl'])).userAccountControl).toBe('512');
    expect(asList((await readAd(admins, ['member'])).member)).toEqual([p.dn]);
  });

  describe('transport security', () => {
    test('clear ldap:// is refused by AD with an error that says what to do, and nothing changes', async () => {
      const p = await leaver();
      const err = await adStep(cfg({ url: AD_LDAP_URL, startTls: false, caFile: undefined }))
        .revoke(p.subject)
        .catch((e: unknown) => e);
      expect(err).toMatchObject({
        name: 'TargetAuthError',
        message: expect.stringContaining(
          'the directory requires an encrypted connection: use ldaps:// or startTls: true',
        ),
      });
      expect((await readAd(p.dn, ['userAccountControl'])).userAccountControl).toBe('512');
    });

    test('ldap:// upgrades with StartTLS by default for AD, and the revocation goes through', async () => {
      const p = await leaver();
      const r = await adStep(cfg({ url: AD_LDAP_URL })).revoke(p.subject);
      expect(r.confirmation).toMatchObject({ disabled: true });
      expect(await bindAs(p.dn, USER_PASSWORD)).toBe('533');
    });

    test("the DC's certificate: refused without its CA (naming caFile), accepted with caFileEnv or an explicit tlsRejectUnauthorized: false", async () => {
      const p = await leaver();
      for (const url of [undefined, AD_LDAP_URL]) {
        const err = await adStep(cfg({ caFile: undefined, ...(url ? { url } : {}) }))
          .audit(p.subject)
          .catch((e: unknown) => e);
        expect(err).toMatchObject({
          name: 'TargetRejectedError',
          message: expect.stringMatching(/TLS certificate was not accepted .*connector\.caFile/),
        });
      }
      process.env.AD_TEST_CA_FILE = caFile;
      const viaEnv = adStep(cfg({ caFile: undefined, caFileEnv: 'AD_TEST_CA_FILE' }));
      expect((await viaEnv.audit(p.subject)).active).toHaveLength(1);
      const unverified = adStep(cfg({ caFile: undefined, tlsRejectUnauthorized: false }));
      expect((await unverified.audit(p.subject)).active).toHaveLength(1);
      await expect(adStep(cfg({ caFile: '/nonexistent/ca.pem' })).audit(p.subject)).rejects.toMatchObject({
        name: 'TargetRejectedError',
        message: expect.stringContaining('cannot read the CA file /nonexistent/ca.pem (connector.caFile)'),
      });
    });

    test('a wrong bind password is a TargetAuthError', async () => {
      const p = await leaver();
      await expect(
        adStep(cfg(), { bindPassword: 'Wrong-Passw0rd!' }).revoke(p.subject),
      ).rejects.toMatchObject({
        name: 'TargetAuthError',
        message: expect.stringContaining('data 52e'),
      });
    });
  });
});
