/** The system catalog: a wrong entry stops start-up with the file, the entry and the field named. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { buildPlan } from '../activities/plan';
import { runsAtOnce } from '../contract';
import { loadCatalog, parseCatalog } from '../config/catalog';
import { loadConfig } from '../config/env';
import { AppError } from '../lib/errors';

const demoFile = path.resolve(__dirname, '..', 'config', 'catalog.demo.yaml');
const demoEnv = {
  ENTRA_CLIENT_SECRET: 'x',
  SCIM_TOKEN_CRM: 'x',
  SCIM_TOKEN_WIKI: 'x',
  SCIM_TOKEN_VPN: 'x',
  GOOGLE_SA_KEY: 'x',
  SLACK_ADMIN_TOKEN: 'x',
};

function mutated(fn: (doc: { systems: Record<string, unknown>[] }) => void): string {
  const doc = parse(readFileSync(demoFile, 'utf8'), { merge: true }) as {
    systems: Record<string, unknown>[];
  };
  fn(doc);
  return stringify(doc);
}

function errorOf(text: string, env: NodeJS.ProcessEnv = demoEnv): string {
  try {
    parseCatalog(text, 'catalog.yaml', env);
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    expect((e as AppError).code).toBe('catalog_invalid');
    return (e as Error).message;
  }
  throw new Error('expected the catalog to be refused');
}

test('the demo catalog is valid and plans identity, VPN, MFA, owned credentials, then applications', () => {
  const c = loadCatalog(demoFile, demoEnv);
  expect(c.systems.map((s) => s.id)).toEqual([
    'entra',
    'entra-mfa',
    'vpn',
    'crm',
    'wiki',
    'badges',
    'chat',
    'google',
    'google-mfa',
    'slack',
  ]);
  expect(c.organization.timeZone).toBe('Europe/Berlin');
  // The MFA entry reuses the Entra connection through a YAML merge key.
  expect(c.systems[1]!.connector).toMatchObject({
    kind: 'entra',
    scope: 'authentication-methods',
    tenantId: 'demo-tenant',
  });
  const plan = buildPlan(c, new Map(), 'offboarding');
  // Google Workspace, appended to the catalog, runs in its tiers (identity, MFA) after Entra's.
  expect(plan.map((p) => `${p.tier}:${p.stepId}`)).toEqual([
    'identity:entra',
    'identity:google',
    'vpn:vpn',
    'mfa:entra-mfa',
    'mfa:google-mfa',
    'identity:entra/discover_owned_credentials',
    'application:crm',
    'application:wiki',
    'application:badges',
    'application:chat',
    'application:slack',
  ]);
  expect(c.systems.find((s) => s.id === 'google')!.connector).toMatchObject({
    kind: 'google',
    scope: 'account',
    transfer: ['drive', 'calendar'],
    mailHandover: 'delegate',
    privateKeyEnv: 'GOOGLE_SA_KEY',
  });
  expect(c.systems.find((s) => s.id === 'google-mfa')!.connector).toMatchObject({
    kind: 'google',
    scope: 'mfa',
  });
  // Rate-limited systems run on their own task queue; the others on the workflow's.
  expect(plan.find((p) => p.stepId === 'entra')!.taskQueue).toBe('offboarding.system.entra');
  expect(plan.find((p) => p.stepId === 'crm')!.taskQueue).toBeNull();
  expect(plan.filter((p) => p.privileged).map((p) => p.stepId)).toEqual([
    'entra',
    'vpn',
    'entra/discover_owned_credentials',
  ]);
  // Without a notice period there is nothing to scope; with one, Entra is scoped at once (the identity
  // tier's default), Google kept (it cannot scope; not privileged), VPN kept (`notice: keep`), MFA kept
  // (its tier's default), the applications kept, the owned credentials revoked at once, and everything
  // else revoked when the last day ends.
  expect(plan.filter((p) => p.kind === 'scope')).toEqual([]);
  const notice = buildPlan(c, new Map(), 'offboarding', { localSteps: false }, true);
  expect(notice.map((p) => `${p.stepId}${runsAtOnce(p) ? ' (at once)' : ''}`)).toEqual([
    'entra/scope_access (at once)',
    'entra',
    'google',
    'vpn',
    'entra-mfa',
    'google-mfa',
    'entra/discover_owned_credentials (at once)',
    'crm',
    'wiki',
    'badges',
    'chat',
    'slack',
  ]);
  expect(notice[0]).toMatchObject({
    kind: 'scope',
    action: 'scope_access',
    systemId: 'entra',
    tier: 'identity',
  });
  expect(plan.find((p) => p.systemId === 'badges')).toMatchObject({ action: 'service_ticket', slaHours: 24 });
  // By default (as a test planned it above) every step is an ordinary activity.
  expect(plan.filter((p) => p.local !== undefined)).toEqual([]);
  // With local steps, every step runs as a local activity except a rate-limited system's: its rate is
  // enforced on its own task queue, which a local activity never goes through.
  const local = buildPlan(c, new Map(), 'offboarding', { localSteps: true });
  expect(local.filter((p) => p.local).map((p) => p.stepId)).toEqual(
    local.filter((p) => p.taskQueue === null).map((p) => p.stepId),
  );
  expect(local.filter((p) => !p.local).map((p) => p.stepId)).toEqual([
    'entra',
    'entra-mfa',
    'entra/discover_owned_credentials',
  ]);
  expect(local.filter((p) => p.local).map((p) => p.stepId)).toEqual([
    'google',
    'vpn',
    'google-mfa',
    'crm',
    'wiki',
    'badges',
    'chat',
    'slack',
  ]);
});

test.each([
  [
    'a bad owner email',
    (d: { systems: Record<string, unknown>[] }) =>
      ((d.systems[3]!.owner as Record<string, string>).email = 'nope'),
    /systems\[3\] \(id "crm"\), field "owner.email"/,
  ],
  [
    'an unknown tier',
    (d: { systems: Record<string, unknown>[] }) => (d.systems[2]!.tier = 'vpnn'),
    /systems\[2\] \(id "vpn"\), field "tier"/,
  ],
  [
    'a missing escalation owner',
    (d: { systems: Record<string, unknown>[] }) => delete d.systems[0]!.escalationOwner,
    /systems\[0\] \(id "entra"\), field "escalationOwner"/,
  ],
  [
    'a ticket system without SLA',
    (d: { systems: Record<string, unknown>[] }) => delete d.systems[5]!.ticketSlaHours,
    /systems\[5\] \(id "badges"\), field "ticketSlaHours": is required/,
  ],
  [
    'an API system with a ticket connector',
    (d: { systems: Record<string, unknown>[] }) => (d.systems[4]!.connector = { kind: 'ticket' }),
    /systems\[4\] \(id "wiki"\), field "integration"/,
  ],
  [
    'a duplicate id',
    (d: { systems: Record<string, unknown>[] }) => (d.systems[4]!.id = 'crm'),
    /systems\[4\] \(id "crm"\), field "id": duplicates systems\[3\]/,
  ],
  [
    'a typo in a field name',
    (d: { systems: Record<string, unknown>[] }) => (d.systems[3]!.ownr = {}),
    /systems\[3\] \(id "crm"\), field "\(entry\)".*ownr/,
  ],
  [
    'a bad duration',
    (d: { systems: Record<string, unknown>[] }) => (d.systems[0]!.timeout = 'soon'),
    /field "timeout": must be a duration/,
  ],
  [
    'a non-URL SCIM base',
    (d: { systems: Record<string, unknown>[] }) =>
      ((d.systems[3]!.connector as Record<string, string>).baseUrl = 'crm.example.com'),
    /field "connector.baseUrl"/,
  ],
  [
    'owned credentials on a connector that cannot find them',
    (d: { systems: Record<string, unknown>[] }) => (d.systems[3]!.ownedCredentials = { integration: 'api' }),
    /systems\[3\] \(id "crm"\), field "ownedCredentials": connector kind "scim" cannot find owned credentials/,
  ],
  [
    'a notice-period scope on a connector that cannot scope',
    (d: { systems: Record<string, unknown>[] }) => (d.systems[3]!.notice = 'scope'),
    /systems\[3\] \(id "crm"\), field "notice": connector kind "scim" cannot scope an account during a notice period/,
  ],
  [
    'a notice-period scope on the MFA entry',
    (d: { systems: Record<string, unknown>[] }) => (d.systems[1]!.notice = 'scope'),
    /field "notice": connector kind "entra" with scope "authentication-methods" cannot scope/,
  ],
  [
    'an unknown notice-period action',
    (d: { systems: Record<string, unknown>[] }) => (d.systems[0]!.notice = 'suspend'),
    /systems\[0\] \(id "entra"\), field "notice"/,
  ],
  [
    'a privileged group that is not a name',
    (d: { systems: Record<string, unknown>[] }) =>
      ((d.systems[0]!.connector as Record<string, unknown>).privilegedGroups = ['']),
    /systems\[0\] \(id "entra"\), field "connector.privilegedGroups.0"/,
  ],
  [
    'owned credentials on the MFA scope',
    (d: { systems: Record<string, unknown>[] }) =>
      (d.systems[1]!.ownedCredentials = { integration: 'ticket' }),
    /systems\[1\] \(id "entra-mfa"\), field "ownedCredentials": is supported only with connector.scope "account"/,
  ],
  [
    'a rate limit of zero',
    (d: { systems: Record<string, unknown>[] }) => (d.systems[0]!.rateLimit = { revocationsPerSecond: 0 }),
    /systems\[0\] \(id "entra"\), field "rateLimit.revocationsPerSecond"/,
  ],
  [
    'an unknown Entra scope',
    (d: { systems: Record<string, unknown>[] }) =>
      ((d.systems[1]!.connector as Record<string, string>).scope = 'everything'),
    /systems\[1\] \(id "entra-mfa"\), field "connector.scope"/,
  ],
  [
    'a VPN group connector without groups',
    (d: { systems: Record<string, unknown>[] }) =>
      (d.systems[2]!.connector = {
        kind: 'ldap-group',
        url: 'ldap://127.0.0.1',
        bindDn: 'cn=admin',
        bindPasswordEnv: 'SCIM_TOKEN_VPN',
        userBaseDn: 'ou=people',
        userFilter: '(uid={employeeId})',
        groups: [],
      }),
    /systems\[2\] \(id "vpn"\), field "connector.groups"/,
  ],
  [
    'an unknown company time zone',
    (d: { systems: Record<string, unknown>[]; organization?: Record<string, unknown> }) =>
      (d.organization!.timeZone = 'Mars/Olympus_Mons'),
    /field "organization.timeZone": must be an IANA time zone/,
  ],
  [
    'no HR contact',
    (d: { systems: Record<string, unknown>[]; organization?: Record<string, unknown> }) =>
      delete d.organization!.hr,
    /field "organization.hr"/,
  ],
])('%s is named with file, entry and field', (_name, fn, expected) => {
  const msg = errorOf(mutated(fn));
  expect(msg).toMatch(/^catalog\.yaml: invalid catalog:/);
  expect(msg).toMatch(expected);
});

test('a secret the catalog refers to must be set', () => {
  const msg = errorOf(readFileSync(demoFile, 'utf8'), { ...demoEnv, SCIM_TOKEN_WIKI: '' });
  expect(msg).toMatch(
    /systems\[4\] \(id "wiki"\), field "connector.tokenEnv": environment variable SCIM_TOKEN_WIKI is not set/,
  );
});

test('broken YAML and unreadable files are refused with the file named', () => {
  expect(errorOf('version: 1\nsystems: [\n')).toMatch(/^catalog\.yaml: not valid YAML/);
  expect(() => loadCatalog('/nonexistent/catalog.yaml')).toThrow(
    /\/nonexistent\/catalog\.yaml: cannot read catalog/,
  );
  expect(errorOf('version: 2\nsystems: []\n')).toMatch(/field "version"/);
});

test('process config fails fast with the variable named', () => {
  expect(() => loadConfig({ DATABASE_URL: 'mysql://x' })).toThrow(
    /DATABASE_URL: must be a postgresql:\/\/ URL/,
  );
  expect(() => loadConfig({ DATABASE_URL: 'postgresql://x', HRIS_WEBHOOK_SECRET: 'plain' })).toThrow(
    /HRIS_WEBHOOK_SECRET: must be "whsec_"/,
  );
  expect(() => loadConfig({ DATABASE_URL: 'postgresql://x', OPERATOR_TOKENS: 'bob:root:abc' })).toThrow(
    /OPERATOR_TOKENS: entry 1 must be name:role:sha256hex/,
  );
  expect(() =>
    loadConfig({ DATABASE_URL: 'postgresql://x', TRIGGER_STATUSES: 'terminated,pending_resignation' }),
  ).toThrow(/TRIGGER_STATUSES/);
  expect(loadConfig({ DATABASE_URL: 'postgresql://x' }).TRIGGER_STATUSES).toEqual([
    'terminated',
    'resigned_confirmed',
  ]);
});

test('matching keys default per connector kind and tier; an older LDAP userFilter is searched first', () => {
  const c = loadCatalog(demoFile, demoEnv);
  const of = (id: string) => c.systems.find((s) => s.id === id)!;
  expect(of('entra').match.keys.map((k) => ('attribute' in k ? k.attribute : k.filter))).toEqual([
    'employeeId',
    'userPrincipalName',
    'mail',
    'proxyAddresses',
    'otherMails',
  ]);
  // Everyone has an identity account; not every employee has every application.
  expect([of('entra').match.expectAccount, of('crm').match.expectAccount]).toEqual([true, false]);
  expect(of('crm').match.keys).toEqual([
    { attribute: 'externalId', from: 'employeeId' },
    { attribute: 'userName', from: 'workEmail' },
    { attribute: 'emails', from: 'workEmail' },
  ]);
  expect(of('entra').protected).toEqual({
    accounts: ['breakglass@example.com'],
    groups: ['Global Administrators'],
  });
  expect(of('badges').protected).toEqual({ accounts: [], groups: [] });
  const ldap = parseCatalog(
    mutated((doc) => {
      doc.systems.push({
        id: 'dir',
        name: 'Directory',
        category: 'identity',
        tier: 'directory',
        integration: 'api',
        sso: false,
        owner: { name: 'o', email: 'o@example.com' },
        escalationOwner: { name: 'e', email: 'e@example.com' },
        connector: {
          kind: 'ldap',
          url: 'ldaps://dc.example.com',
          bindDn: 'cn=x',
          bindPasswordEnv: 'LDAP_PW',
          userBaseDn: 'ou=people',
          userFilter: '(employeeNumber={employeeId})',
          groupBaseDn: 'ou=groups',
          disableMethod: 'ad-useraccountcontrol',
        },
      });
    }),
    'catalog.yaml',
    { ...demoEnv, LDAP_PW: 'x' },
  ).systems.find((s) => s.id === 'dir')!;
  // Active Directory (disableMethod ad-useraccountcontrol): AD's own attributes, sAMAccountName last.
  expect(ldap.match).toEqual({
    keys: [
      { filter: '(employeeNumber={employeeId})' },
      { attribute: 'employeeID', from: 'employeeId' },
      { attribute: 'employeeNumber', from: 'employeeId' },
      { attribute: 'userPrincipalName', from: 'workEmail' },
      { attribute: 'mail', from: 'workEmail' },
      { attribute: 'sAMAccountName', from: 'workEmailLocalPart' },
    ],
    expectAccount: true,
  });
});

test.each([
  [
    'a key its connector cannot search',
    (s: Record<string, unknown>) => (s.match = { keys: [{ attribute: 'department', from: 'employeeId' }] }),
    'systems[0] (id "entra"), field "match.keys.0.attribute": connector kind "entra" cannot search "department"',
  ],
  [
    'an HR field there is no such',
    (s: Record<string, unknown>) => (s.match = { keys: [{ attribute: 'mail', from: 'phone' }] }),
    'systems[0] (id "entra"), field "match.keys.0.from"',
  ],
  [
    'no keys at all',
    (s: Record<string, unknown>) => (s.match = { keys: [] }),
    'systems[0] (id "entra"), field "match.keys"',
  ],
  [
    'an unknown protected field',
    (s: Record<string, unknown>) => (s.protected = { users: ['x'] }),
    'systems[0] (id "entra"), field "protected"',
  ],
])('matching settings are checked: %s', (_what, change, message) => {
  expect(errorOf(mutated((doc) => change(doc.systems[0]!)))).toContain(message);
});

test('a ticket system has no matching keys: its owner finds the account', () => {
  expect(
    errorOf(
      mutated((doc) => {
        doc.systems.find((s) => s.id === 'badges')!.match = { expectAccount: true };
      }),
    ),
  ).toContain('systems[5] (id "badges"), field "match": a ticket or manual system is matched by its owner');
});

test('a Keycloak entry: its defaults, and each mistake named with its field', () => {
  const env = { ...demoEnv, KC_SECRET: 'x' };
  const withKeycloak = (connector: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
    mutated((doc) => {
      doc.systems.push({
        id: 'sso',
        name: 'Keycloak',
        category: 'identity',
        tier: 'identity',
        integration: 'api',
        sso: false,
        privileged: true,
        owner: { name: 'Identity', email: 'identity@example.com' },
        escalationOwner: { name: 'CISO', email: 'ciso@example.com' },
        ...extra,
        connector: {
          kind: 'keycloak',
          baseUrl: 'https://sso.example.com',
          realm: 'staff',
          clientId: 'offboard',
          secretEnv: 'KC_SECRET',
          ...connector,
        },
      });
    });
  const sso = parseCatalog(withKeycloak({}), 'catalog.yaml', env).systems.find((s) => s.id === 'sso')!;
  expect(sso.connector).toMatchObject({
    grant: 'client_credentials',
    tokenRealm: 'master',
    scope: 'account',
  });
  expect(sso.match).toEqual({
    keys: [
      { attribute: 'employeeId', from: 'employeeId' },
      { attribute: 'username', from: 'workEmail' },
      { attribute: 'email', from: 'workEmail' },
    ],
    expectAccount: true,
  });
  // Any user attribute is a key (searched as q=<name>:"<value>").
  const custom = withKeycloak({}, { match: { keys: [{ attribute: 'hrId', from: 'employeeId' }] } });
  // The entry appended after the demo catalog's own.
  const i = loadCatalog(demoFile, demoEnv).systems.length;
  expect(parseCatalog(custom, 'catalog.yaml', env).systems[i]!.match.keys).toEqual([
    { attribute: 'hrId', from: 'employeeId' },
  ]);
  const at = (field: string) => `systems[${i}] (id "sso"), field "connector.${field}"`;
  for (const [connector, message] of [
    [{ grant: 'password', clientId: undefined }, `${at('username')}: is required when grant is "password"`],
    [{ clientId: undefined }, `${at('clientId')}: is required when grant is "client_credentials"`],
    [{ username: 'admin' }, `${at('username')}: is only for grant "password"`],
    [{ secretEnv: 'KC_UNSET' }, `${at('secretEnv')}: environment variable KC_UNSET is not set`],
    [{ secretEnv: 'kc-secret' }, `${at('secretEnv')}: must be the name of an environment variable`],
    [{ scope: 'everything' }, `${at('scope')}: `],
    [{ grant: 'implicit' }, `${at('grant')}: `],
    [{ baseUrl: 'sso.example.com' }, `${at('baseUrl')}: `],
    [{ realm: 'staff/admin' }, `${at('realm')}: must be a realm name`],
    [{ secret: 'inline' }, `systems[${i}] (id "sso"), field "connector": Unrecognized key: "secret"`],
  ] as const)
    expect(errorOf(withKeycloak(connector), env)).toContain(message);
  expect(errorOf(withKeycloak({}, { ownedCredentials: { integration: 'api' } }), env)).toContain(
    `systems[${i}] (id "sso"), field "ownedCredentials": connector kind "keycloak" cannot find owned credentials`,
  );
});
