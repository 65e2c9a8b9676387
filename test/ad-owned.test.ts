/**
 * Active Directory, continued (test/ad.test.ts has the leaver's own account): the service accounts a
 * leaver owns against the real Samba AD DC, and an AD catalog entry from YAML to a working connector.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { createConnectors } from '../activities/connectors';
import { AD_OWNED_FILTER } from '../activities/ldap-ad';
import { parseCatalog } from '../config/catalog';
import { uniq } from './support/harness';
import {
  adConfig,
  adStep,
  bindAs,
  createTestOu,
  createUser,
  readAd,
  subjectOf,
  type TestOu,
} from './support/ad-fixtures';
import { AD_ADMIN, AD_ADMIN_PASSWORD, AD_LDAPS_URL, describeAd, sharedSamba } from './support/samba';

/** An AD directory entry as an operator writes it (docs/configuration.md, "Active Directory"). */
function adCatalog(connector: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  return stringify({
    version: 1,
    organization: {
      hr: { name: 'HR', email: 'hr@example.com' },
      it: { name: 'IT', email: 'it@example.com' },
    },
    systems: [
      {
        id: 'ad',
        name: 'Active Directory',
        category: 'identity',
        tier: 'directory',
        integration: 'api',
        sso: false,
        owner: { name: 'Directory Team', email: 'directory@example.com' },
        escalationOwner: { name: 'CISO', email: 'ciso@example.com' },
        ownedCredentials: { integration: 'api' },
        ...extra,
        connector: {
          kind: 'ldap',
          url: 'ldaps://dc1.example.com',
          bindDn: 'CN=svc-offboard,OU=Service Accounts,DC=example,DC=com',
          bindPasswordEnv: 'AD_BIND_PASSWORD',
          userBaseDn: 'OU=Staff,DC=example,DC=com',
          groupBaseDn: 'DC=example,DC=com',
          disableMethod: 'ad-useraccountcontrol',
          ...connector,
        },
      },
    ],
  });
}

const refusal = (text: string, env: NodeJS.ProcessEnv = { AD_BIND_PASSWORD: 'x' }) => {
  try {
    parseCatalog(text, 'catalog.yaml', env);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected the catalog to be refused');
};

test('an AD entry gets the AD keys and may own credentials without a filter; mistakes are named', () => {
  const c = parseCatalog(
    adCatalog({ disabledOu: 'OU=Disabled Users,DC=example,DC=com', caFileEnv: 'AD_CA_FILE' }),
    'catalog.yaml',
    { AD_BIND_PASSWORD: 'x', AD_CA_FILE: '/etc/ssl/ad-ca.pem' },
  );
  expect(c.systems[0]!.match.keys.map((k) => ('attribute' in k ? k.attribute : k.filter))).toEqual([
    'employeeID',
    'employeeNumber',
    'userPrincipalName',
    'mail',
    'sAMAccountName',
  ]);
  expect(refusal(adCatalog({ caFileEnv: 'AD_CA_FILE' }))).toMatch(
    /field "connector.caFileEnv": environment variable AD_CA_FILE is not set/,
  );
  expect(
    refusal(adCatalog({ caFile: '/a.pem', caFileEnv: 'AD_CA_FILE' }), {
      AD_BIND_PASSWORD: 'x',
      AD_CA_FILE: 'y',
    }),
  ).toMatch(/field "connector.caFileEnv": give the CA file once/);
  expect(refusal(adCatalog({ startTls: true }))).toMatch(/field "connector.startTls": is for ldap:\/\/ URLs/);
  expect(refusal(adCatalog({ disableMethod: 'openldap-ppolicy', disabledOu: 'OU=x' }))).toMatch(
    /field "connector.disabledOu": is supported with disableMethod "ad-useraccountcontrol" only/,
  );
  expect(refusal(adCatalog({ disableMethod: 'openldap-ppolicy' }))).toMatch(
    /field "ownedCredentials": needs connector.ownedAccountFilter/,
  );
});

test('the Active Directory example of the catalog reference (docs/configuration.md) is a valid entry', () => {
  const doc = readFileSync(path.resolve(__dirname, '..', 'docs', 'configuration.md'), 'utf8');
  const section = doc.slice(doc.indexOf('### Active Directory'));
  const yaml = /```yaml\n([\s\S]*?)```/.exec(section)![1]!;
  const text = stringify({ ...(parse(adCatalog({})) as object), systems: parse(yaml) as unknown[] });
  const c = parseCatalog(text, 'configuration.md', { AD_BIND_PASSWORD: 'x', AD_CA_FILE: '/ca.pem' });
  expect(c.systems[0]!.connector).toMatchObject({
    kind: 'ldap',
    disableMethod: 'ad-useraccountcontrol',
    disabledOu: 'OU=Disabled Users,DC=example,DC=com',
    caFileEnv: 'AD_CA_FILE',
  });
});

describeAd('Active Directory: service accounts the leaver owns', () => {
  let t: TestOu;
  let caFile: string;
  const cfg = (over: Parameters<typeof adConfig>[2] = {}) => adConfig(t, caFile, over);

  beforeAll(async () => {
    ({ caFile } = await sharedSamba());
    t = await createTestOu('adown');
  }, 180_000);

  async function leaver() {
    const id = uniq('O');
    const sam = id.toLowerCase();
    const work = `${sam}@example.com`;
    // Confirmed a minute ago: every password below is set after the termination, while enabled.
    const subject = subjectOf(id, work, new Date(Date.now() - 60_000));
    const dn = await createUser(t.staff, `Owner ${id}`, { sAMAccountName: sam, employeeID: id, mail: work });
    return { dn, id, sam, subject };
  }

  /** A service account of `objectClass` (a computer-derived class takes a `$` name) managed by `owner`. */
  async function service(objectClass: string, name: string, attrs: Record<string, string>) {
    const computer = objectClass !== 'user';
    const password = `Svc-${name}-Passw0rd!`;
    const dn = await createUser(
      t.staff,
      name,
      {
        objectClass: computer ? ['top', objectClass] : ['top', 'person', 'organizationalPerson', 'user'],
        sAMAccountName: `${name.slice(0, 19)}${computer ? '$' : ''}`,
        userAccountControl: computer ? '4096' : '66048',
        ...attrs,
      },
      password,
    );
    return { dn, password };
  }

  test('accounts it manages (managedBy) are found, disabled and given a password nobody holds: the old one is refused, the new one meets data 533; a second run changes nothing', async () => {
    const p = await leaver();
    const other = await leaver();
    const msa = await service('msDS-ManagedServiceAccount', `msa${p.sam.slice(2)}`, { managedBy: p.dn });
    const host = await service('computer', `pc${p.sam.slice(2)}`, { managedBy: p.dn });
    await service('msDS-ManagedServiceAccount', `msx${p.sam.slice(2)}`, { managedBy: other.dn });
    const c = adStep(cfg());
    expect(await bindAs(msa.dn, msa.password)).toBe('ok');

    const found = await c.discoverOwned(p.subject);
    expect(found.map((f) => f.id).sort()).toEqual([host.dn, msa.dn].sort());
    expect(found.every((f) => f.kind === 'AD service account')).toBe(true);
    expect(await c.connector.auditOwned!(found[0]!)).toMatch(/is enabled$/);

    for (const item of found) {
      const r = await c.revokeOwned(p.subject, item);
      expect(r.changes).toEqual(['account disabled', 'password replaced']);
      expect(r.confirmation).toMatchObject({
        dn: item.id,
        disabled: true,
        userAccountControl: 4098,
        passwordReplaced: true,
        bindRefused: true,
        bindRefusal: 'data 533: account disabled',
      });
      expect(r.detail).toContain('bind refused (data 533: account disabled)');
      expect(await c.connector.auditOwned!(item)).toBeNull();
    }
    for (const s of [msa, host]) {
      expect((await readAd(s.dn, ['userAccountControl'])).userAccountControl).toBe('4098');
      // The old password no longer even matches (52e, not 533): it was replaced twice, so it is not
      // the "previous password" AD keeps accepting for an hour after a reset.
      expect(await bindAs(s.dn, s.password)).toBe('52e');
    }

    const again = await c.revokeOwned(p.subject, found[0]!);
    expect(again.changes).toEqual([]);
    expect(again.confirmation).toMatchObject({ disabled: true, passwordReplaced: true });
  });

  test('a catalog filter finds user-class service accounts; the default never takes direct reports (manager=)', async () => {
    const p = await leaver();
    const svc = await service('user', `svc${p.sam.slice(2)}`, { description: `service of ${p.id}` });
    const report = await createUser(t.staff, `Report ${p.id}`, {
      sAMAccountName: `r${p.sam.slice(2)}`,
      manager: p.dn,
    });
    expect(AD_OWNED_FILTER).toBe('(&(objectClass=user)(managedBy={dn}))');
    expect(await adStep(cfg()).discoverOwned(p.subject)).toEqual([]);

    const c = adStep(
      cfg({ ownedAccountFilter: '(&(objectClass=user)(description=service of {employeeId}))' }),
    );
    const found = await c.discoverOwned(p.subject);
    expect(found.map((f) => f.id)).toEqual([svc.dn]);
    const r = await c.revokeOwned(p.subject, found[0]!);
    expect(r.confirmation).toMatchObject({ userAccountControl: 66050, bindRefused: true });
    expect(await bindAs(svc.dn, svc.password)).toBe('52e');
    expect((await readAd(report, ['userAccountControl'])).userAccountControl).toBe('512');
  });

  test('after the leaver is moved to disabledOu, managedBy follows the move and discovery still finds the account', async () => {
    const p = await leaver();
    const msa = await service('msDS-ManagedServiceAccount', `mv${p.sam.slice(2)}`, { managedBy: p.dn });
    const c = adStep(cfg({ disabledOu: t.disabled }));
    const r = await c.revoke(p.subject);
    expect(String(r.confirmation.dn)).toMatch(new RegExp(`,${t.disabled}$`));
    expect((await readAd(msa.dn, ['managedBy'])).managedBy).toBe(r.confirmation.dn);
    expect((await c.discoverOwned(p.subject)).map((f) => f.id)).toEqual([msa.dn]);
  });

  test('from catalog YAML to a working connector: ldaps with the CA from caFileEnv, owned accounts by the default filter', async () => {
    const p = await leaver();
    const msa = await service('msDS-ManagedServiceAccount', `cat${p.sam.slice(2)}`, { managedBy: p.dn });
    const env = { AD_BIND_PASSWORD: AD_ADMIN_PASSWORD, AD_CA_FILE: caFile };
    const catalog = parseCatalog(
      adCatalog({
        url: AD_LDAPS_URL,
        bindDn: AD_ADMIN,
        userBaseDn: t.staff,
        groupBaseDn: t.groups,
        caFileEnv: 'AD_CA_FILE',
      }),
      'catalog.yaml',
      env,
    );
    const connector = createConnectors(catalog, env).get('ad')!;
    const found = await connector.find(p.subject);
    expect(found.evidence).toMatchObject({ outcome: 'found', by: 'employeeID' });
    expect((await connector.discoverOwned!(p.subject, found.account)).map((f) => f.id)).toEqual([msa.dn]);
    expect((await connector.revoke(p.subject, found.account!)).confirmation).toMatchObject({
      disabled: true,
    });
  });
});
