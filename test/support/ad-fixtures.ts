/**
 * What the Active Directory suites build in the run's Samba AD DC (test/support/samba.ts): an OU of
 * each test file's own, users, groups, admin reads, bind attempts, and the directory connector as a
 * revocation step runs it.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Attribute, Client, InvalidCredentialsError } from 'ldapts';
import type { OwnedCredential, Subject } from '../../activities/connector';
import { createLdapConnector } from '../../activities/ldap';
import { adBindCode } from '../../activities/ldap-connection';
import { discoverMatched, revokeMatched } from '../../activities/matched';
import type { MatchContext } from '../../activities/matching';
import type { CatalogSystem, LdapConnectorConfig } from '../../config/catalog';
import { defaultKeys, type ProtectedSettings } from '../../config/matching';
import { AD_ADMIN, AD_ADMIN_PASSWORD, AD_BASE, AD_LDAPS_URL, sharedSamba } from './samba';

// ---------------------------------------------------------------- OUs, users, groups, binds

/** Runs `fn` bound as the domain admin over LDAPS. */
export async function asAdmin<T>(fn: (c: Client) => Promise<T>): Promise<T> {
  const { caFile } = await sharedSamba();
  const c = new Client({ url: AD_LDAPS_URL, tlsOptions: { ca: readFileSync(caFile) } });
  await c.bind(AD_ADMIN, AD_ADMIN_PASSWORD);
  try {
    return await fn(c);
  } finally {
    await c.unbind().catch(() => undefined);
  }
}

/** A test file's own OU: people in `staff`, groups in `groups`, `disabled` for moved leavers. */
export interface TestOu {
  ou: string;
  staff: string;
  groups: string;
  disabled: string;
}

/** Creates a fresh OU of the test file's own (`OU=<prefix>-<random>`) with its three OUs inside. */
export async function createTestOu(prefix: string): Promise<TestOu> {
  const ou = `OU=${prefix}-${randomBytes(4).toString('hex')},${AD_BASE}`;
  const t: TestOu = { ou, staff: `OU=Staff,${ou}`, groups: `OU=Groups,${ou}`, disabled: `OU=Disabled,${ou}` };
  await asAdmin(async (c) => {
    for (const dn of [ou, t.staff, t.groups, t.disabled])
      await c.add(dn, { objectClass: ['top', 'organizationalUnit'] });
  });
  return t;
}

/** AD's password value: the password in double quotes, UTF-16LE. */
export const unicodePwd = (password: string) => Buffer.from(`"${password}"`, 'utf16le');

/** The password every test user gets (AD's complexity rules accept it). */
export const USER_PASSWORD = 'Us3r-Passw0rd!';

/**
 * Creates an enabled user account (`userAccountControl` 512) named `CN=<cn>` under `ou` with the
 * given attributes (e.g. sAMAccountName, employeeID, mail, userPrincipalName); returns its DN.
 */
export async function createUser(
  ou: string,
  cn: string,
  attrs: Record<string, string | string[]>,
  password = USER_PASSWORD,
): Promise<string> {
  const dn = `CN=${cn},${ou}`;
  const all: Record<string, string | string[] | Buffer> = {
    objectClass: ['top', 'person', 'organizationalPerson', 'user'],
    userAccountControl: '512',
    unicodePwd: unicodePwd(password),
    ...attrs,
  };
  await asAdmin((c) =>
    c.add(
      dn,
      Object.entries(all).map(
        ([type, v]) => new Attribute({ type, values: Buffer.isBuffer(v) ? [v] : [v].flat() }),
      ),
    ),
  );
  return dn;
}

/** Creates a security group under `ou` with these members; returns its DN. */
export async function createGroup(ou: string, name: string, members: string[]): Promise<string> {
  const dn = `CN=${name},${ou}`;
  await asAdmin((c) =>
    c.add(dn, {
      objectClass: ['top', 'group'],
      sAMAccountName: name.slice(0, 20),
      ...(members.length ? { member: members } : {}),
    }),
  );
  return dn;
}

/** One entry's attributes as the admin reads them (binary ones as Buffers). */
export async function readAd(dn: string, attributes: string[]) {
  return asAdmin(async (c) => {
    const { searchEntries } = await c.search(dn, {
      scope: 'base',
      attributes,
      explicitBufferAttributes: ['objectGUID', 'objectSid'],
    });
    return searchEntries[0]!;
  });
}

/** A bind as `dn`: `ok`, or AD's `data` code of the refusal (`533` disabled, `52e` wrong password). */
export async function bindAs(dn: string, password: string): Promise<string> {
  const { caFile } = await sharedSamba();
  const c = new Client({ url: AD_LDAPS_URL, tlsOptions: { ca: readFileSync(caFile) } });
  try {
    await c.bind(dn, password);
    return 'ok';
  } catch (e) {
    if (e instanceof InvalidCredentialsError) return adBindCode(e) ?? e.message;
    throw e;
  } finally {
    await c.unbind().catch(() => undefined);
  }
}

// ---------------------------------------------------------------- the connector as a step runs it

/** The directory connector's catalog settings for the test OU (LDAPS, the CA trusted by `caFile`). */
export function adConfig(
  base: { staff: string; groups: string },
  caFile: string,
  over: Partial<LdapConnectorConfig> = {},
): LdapConnectorConfig {
  return {
    kind: 'ldap',
    url: AD_LDAPS_URL,
    bindDn: AD_ADMIN,
    bindPasswordEnv: 'AD_BIND_PASSWORD',
    userBaseDn: base.staff,
    groupBaseDn: base.groups,
    disableMethod: 'ad-useraccountcontrol',
    caFile,
    timeout: '10s',
    ...over,
  };
}

/**
 * The connector run as a revocation step runs it (matching by the Active Directory default keys first,
 * an account expected), with the live audit.
 */
export function adStep(
  cfg: LdapConnectorConfig,
  opts: { protected?: ProtectedSettings; bindPassword?: string } = {},
) {
  const ctx: MatchContext = {
    systemId: 'ad',
    match: { keys: defaultKeys('ldap', { activeDirectory: true }), expectAccount: true },
    protected: opts.protected ?? { accounts: [], groups: [] },
  };
  const connector = createLdapConnector(cfg, opts.bindPassword ?? AD_ADMIN_PASSWORD, ctx);
  const sys = { id: 'ad', name: 'Active Directory', ...ctx } as unknown as CatalogSystem;
  return {
    connector,
    revoke: (subject: Subject) => revokeMatched(sys, connector, subject),
    audit: (subject: Subject) => connector.audit(subject),
    discoverOwned: async (subject: Subject) => (await discoverMatched(sys, connector, subject)).found,
    revokeOwned: (subject: Subject, item: OwnedCredential) => connector.revokeOwned!(subject, item),
  };
}

/** A departure's subject for the connector. */
export function subjectOf(employeeId: string, workEmail: string, confirmedAt = new Date()): Subject {
  return {
    departureId: 'd',
    employeeId,
    employeeName: employeeId,
    workEmail,
    confirmedAt: confirmedAt.toISOString(),
    managerEmail: null,
  };
}
