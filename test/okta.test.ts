/**
 * The Okta connector against the Okta stand-in (standins/okta.ts), built from a catalog as the worker
 * builds it: found by employeeNumber and login (exact `search=` expressions); revoked (sessions cleared
 * with oauthTokens and forgetDevices explicit, grants and client tokens, factors, direct app
 * assignments, groups but Everyone, then deactivated, never suspended) and confirmed by reading back;
 * a repeat changes nothing; not found and ambiguous are red with nothing changed; a 429 waits until
 * `X-Rate-Limit-Reset`; 5xx and a dead org are unavailable; a missing permission is red and named; the
 * live audit before and after; the MFA tier's factors scope.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { RevocationConnector, Subject } from '../activities/connector';
import { createConnectors } from '../activities/connectors';
import { auditSystem } from '../activities/live-audit';
import { revokeMatched } from '../activities/matched';
import type { OktaAccount } from '../activities/okta';
import { oktaRetryMs } from '../activities/okta-api';
import { parseCatalog, type Catalog, type CatalogSystem } from '../config/catalog';
import { OktaStandIn } from '../standins/okta';

const TOKEN = `00${randomBytes(12).toString('hex')}`;
const ENV = { OKTA_API_TOKEN: TOKEN };
let okta: OktaStandIn;
let catalog: Catalog;
let idp: CatalogSystem;
let mfaSys: CatalogSystem;
let account: RevocationConnector<OktaAccount>;
let mfa: RevocationConnector<OktaAccount>;
const opened: RevocationConnector[] = [];

const hex = () => randomBytes(3).toString('hex');
const subjectOf = (employeeId: string, workEmail: string): Subject => ({
  departureId: `dep_${hex()}`,
  employeeId,
  employeeName: 'Dana Reyes',
  workEmail,
  confirmedAt: new Date(Date.now() - 60_000).toISOString(),
  managerEmail: null,
});

const catalogYaml = (orgUrl: string) => `
version: 1
organization:
  hr: { name: HR, email: hr@example.com }
  it: { name: IT, email: it@example.com }
systems:
  - id: okta
    name: Okta
    category: identity
    tier: identity
    integration: api
    sso: false
    owner: { name: Identity Team, email: identity@example.com }
    escalationOwner: { name: CISO, email: ciso@example.com }
    protected: { accounts: [break-glass@example.com] }
    connector: &okta { kind: okta, orgUrl: "${orgUrl}", tokenEnv: OKTA_API_TOKEN }
  - id: okta-mfa
    name: Okta MFA
    category: identity
    tier: mfa
    integration: api
    sso: false
    owner: { name: Identity Team, email: identity@example.com }
    escalationOwner: { name: CISO, email: ciso@example.com }
    connector: { <<: *okta, scope: factors }
`;

function build(orgUrl: string, env: Record<string, string> = ENV) {
  const c = parseCatalog(catalogYaml(orgUrl), 'okta-catalog.yaml', env);
  const reg = createConnectors(c, env);
  opened.push(...reg.values());
  return {
    catalog: c,
    account: reg.get('okta') as RevocationConnector<OktaAccount>,
    mfa: reg.get('okta-mfa') as RevocationConnector<OktaAccount>,
  };
}

/** A leaver with everything Okta can hold. */
function leaver() {
  const login = `dana.${hex()}@example.com`;
  const employeeId = `E-${hex()}`;
  const crm = okta.addApp(`CRM ${hex()}`);
  const wiki = okta.addApp(`Wiki ${hex()}`);
  const eng = okta.addGroup(`Engineering ${hex()}`, [wiki]);
  const staff = okta.addGroup(`Staff ${hex()}`);
  const cli = okta.addClient(`Build CLI ${hex()}`);
  const u = okta.seedUser(login, {
    employeeNumber: employeeId,
    firstName: 'Dana',
    lastName: 'Reyes',
    factors: ['token:software:totp', 'webauthn'],
    groups: [eng, staff],
    apps: [crm],
    grants: [cli],
    tokens: [cli],
    sessions: 2,
  });
  return { u, subject: subjectOf(employeeId, login), crm, cli };
}

beforeAll(async () => {
  okta = new OktaStandIn(TOKEN);
  await okta.start();
  ({ catalog, account, mfa } = build(okta.url));
  idp = catalog.systems[0]!;
  mfaSys = catalog.systems[1]!;
});
afterEach(() => okta.reset());
afterAll(async () => {
  for (const c of opened) await c.close?.();
  await okta.stop();
});

test('the catalog entry: defaults, scopes and the keys; a missing token variable names the field', () => {
  expect(idp.connector).toMatchObject({ kind: 'okta', scope: 'account', tokenEnv: 'OKTA_API_TOKEN' });
  expect(mfaSys.connector).toMatchObject({ kind: 'okta', scope: 'factors' });
  expect(idp.match).toEqual({
    keys: [
      { attribute: 'employeeNumber', from: 'employeeId' },
      { attribute: 'login', from: 'workEmail' },
    ],
    expectAccount: true,
  });
  expect(() => parseCatalog(catalogYaml(okta.url), 'c.yaml', {})).toThrow(
    /systems\[0\] \(id "okta"\), field "connector.tokenEnv": environment variable OKTA_API_TOKEN is not set/,
  );
  expect(() =>
    parseCatalog(
      catalogYaml(okta.url).replace('tokenEnv: OKTA_API_TOKEN }', 'tokenEnv: x, scope: all }'),
      'c.yaml',
      ENV,
    ),
  ).toThrow(/field "connector.tokenEnv": must be the name of an environment variable/);
});

test('the example of the catalog reference (docs/configuration.md, "Okta") is a valid pair of entries', () => {
  const doc = readFileSync(path.resolve(__dirname, '..', 'docs', 'configuration.md'), 'utf8');
  const yaml = /```yaml\n([\s\S]*?)```/.exec(doc.slice(doc.indexOf('### Okta')))![1]!;
  const head = catalogYaml(okta.url).slice(0, catalogYaml(okta.url).indexOf('systems:'));
  const c = parseCatalog(`${head}systems:\n${yaml}`, 'configuration.md', ENV);
  expect(c.systems.map((x) => [x.tier, x.connector])).toEqual([
    ['identity', expect.objectContaining({ kind: 'okta', scope: 'account', tokenEnv: 'OKTA_API_TOKEN' })],
    ['mfa', expect.objectContaining({ kind: 'okta', scope: 'factors', orgUrl: 'https://example.okta.com' })],
  ]);
});

test('revoke: everything removed, deactivated (never suspended), confirmed by read-back; the live audit before and after', async () => {
  const { u, subject, crm } = leaver();
  const before = await auditSystem(idp, account, subject, [], 10_000);
  expect(before).toMatchObject({ active: 'yes', accounts: [{ id: u.id, by: ['employeeNumber', 'login'] }] });
  expect(before.detail).toMatch(/: status=ACTIVE; groups Engineering \w+, Staff \w+; app links /);
  expect(before.detail).toMatch(/; 1 grant; factors token:software:totp \(GOOGLE\), webauthn \(OKTA\)$/);

  const r = await revokeMatched(idp, account, subject);
  expect(r.match).toMatchObject({ outcome: 'found', by: 'employeeNumber', account: { id: u.id } });
  // Exact search expressions, one per key (the audit before searched the same way).
  const searches = okta.control.calls.filter((c) => c.path.startsWith('/api/v1/users?search=')).slice(-2);
  expect(searches.map((c) => new URL(c.path, okta.url).searchParams.get('search'))).toEqual([
    `profile.employeeNumber eq "${subject.employeeId}"`,
    `profile.login eq "${subject.workEmail}"`,
  ]);
  expect(u).toMatchObject({ status: 'DEPROVISIONED', sessions: 0, factors: [], grants: [] });
  expect(u.groups.size).toBe(0);
  expect(u.apps.size).toBe(0);
  expect(u.tokens.size).toBe(0);
  expect(u.sessionClears).toEqual([{ oauthTokens: 'true', forgetDevices: 'true' }]);
  expect(okta.control.count('/lifecycle/suspend')).toBe(0);
  expect(okta.control.count('/lifecycle/deactivate?sendEmail=false', 'POST')).toBe(1);
  expect(okta.control.count(`/apps/${crm}/users/${u.id}`, 'DELETE')).toBe(1);
  expect(okta.control.count('/groups/00g0everyone', 'DELETE')).toBe(0);
  expect(r.changes).toEqual(
    expect.arrayContaining([
      'cleared Okta sessions (oauthTokens=true, forgetDevices=true)',
      expect.stringMatching(/^revoked 1 grant \(clients /),
      'deleted factor webauthn (OKTA)',
      expect.stringMatching(/^removed direct assignment to app CRM /),
      expect.stringMatching(/^removed from group Engineering /),
      'deactivated (not suspended: a suspended user keeps its assignments)',
    ]),
  );
  expect(r.confirmation).toMatchObject({
    status: 'DEPROVISIONED',
    factors: 0,
    groups: 0,
    builtInGroupsKept: ['Everyone'],
    appLinks: 0,
    grants: 0,
    clientsWithTokens: 0,
    sessions: expect.stringContaining('not readable'),
    notReadable: [expect.stringContaining('no API that lists a user’s sessions'), expect.any(String)],
  });
  expect(r.detail).toContain('still in Everyone (built-in: every user is a member, it cannot be removed)');
  expect(r.detail).toContain('sessions cannot be listed in Okta, so not read back');

  const after = await auditSystem(idp, account, subject, [], 10_000);
  expect(after).toMatchObject({
    active: 'no',
    detail: '1 account(s) found by employeeNumber, login, none active',
  });
});

test('already revoked: confirmed with no change and no write; a client token left over is revoked', async () => {
  const { u, subject, cli } = leaver();
  await revokeMatched(idp, account, subject);
  okta.control.reset();
  const again = await revokeMatched(idp, account, subject);
  expect(again.changes).toEqual([]);
  expect(again.detail).toContain('user deactivated (status DEPROVISIONED, already)');
  expect(again.confirmation['sessions']).toMatch(
    /^not cleared in this run: the user was already DEPROVISIONED/,
  );
  expect(okta.control.calls.filter((c) => c.method !== 'GET')).toEqual([]);
  expect(u.sessionClears).toHaveLength(1);
  u.tokens.set(cli, 1);
  const leftover = await revokeMatched(idp, account, subject);
  expect(leftover.changes).toEqual([
    expect.stringMatching(/^revoked tokens and grants of client Build CLI /),
  ]);
  expect(okta.control.count(`/clients/${cli}/tokens`, 'DELETE')).toBe(1);
  expect(u.tokens.size).toBe(0);
});

test('not found by any key, and two accounts: red with the evidence, nothing changed', async () => {
  const other = okta.seedUser(`other.${hex()}@example.com`, { factors: ['sms'] });
  await expect(
    revokeMatched(idp, account, subjectOf(`E-${hex()}`, `nobody.${hex()}@example.com`)),
  ).rejects.toMatchObject({
    name: 'AccountNotFoundError',
    evidence: { outcome: 'not_found', keys: [{ key: 'employeeNumber' }, { key: 'login' }] },
  });
  // The MFA tier expects no account: not finding one there is confirmed, not red.
  const none = await revokeMatched(mfaSys, mfa, subjectOf(`E-${hex()}`, `nobody.${hex()}@example.com`));
  expect(none.confirmation).toEqual({ exists: false });

  const employeeId = `E-${hex()}`;
  const a = okta.seedUser(`a.${hex()}@example.com`, { employeeNumber: employeeId });
  const b = okta.seedUser(`b.${hex()}@example.com`);
  await expect(
    revokeMatched(idp, account, subjectOf(employeeId, b.profile.login.toUpperCase())),
  ).rejects.toMatchObject({
    name: 'AmbiguousAccountError',
    message: expect.stringContaining('Nothing was changed in Okta'),
    evidence: {
      outcome: 'ambiguous',
      candidates: expect.arrayContaining([expect.objectContaining({ id: a.id })]),
    },
  });
  // A protected account is never touched.
  const bg = okta.seedUser('break-glass@example.com');
  await expect(revokeMatched(idp, account, subjectOf(`E-${hex()}`, bg.profile.login))).rejects.toMatchObject({
    name: 'ProtectedAccountError',
  });
  expect(okta.control.calls.filter((c) => c.method !== 'GET')).toEqual([]);
  for (const x of [other, a, b, bg]) expect(x.status).toBe('ACTIVE');
});

test('rate limited: a 429 E0000047 waits until X-Rate-Limit-Reset, then the retry confirms', async () => {
  const { u, subject } = leaver();
  okta.throttle(1, 30);
  const err = await revokeMatched(idp, account, subject).catch((e: unknown) => e);
  expect(err).toMatchObject({
    name: 'TargetThrottledError',
    message: expect.stringContaining('429 E0000047'),
  });
  const wait = (err as { retryAfterMs: number }).retryAfterMs;
  expect(wait).toBeGreaterThanOrEqual(29_000);
  expect(wait).toBeLessThanOrEqual(32_000);
  expect(okta.control.calls[0]).toMatchObject({ status: 429 });
  // The reset is read against the answer's own Date (a skewed local clock does not count), else Retry-After.
  expect(
    oktaRetryMs({ 'x-rate-limit-reset': '1700000060', date: new Date(1_700_000_000_000).toUTCString() }),
  ).toBe(60_000);
  expect(oktaRetryMs({ 'retry-after': '7' })).toBe(7_000);
  expect((await revokeMatched(idp, account, subject)).confirmation).toMatchObject({
    status: 'DEPROVISIONED',
  });
  expect(u.status).toBe('DEPROVISIONED');
});

test('target down: 5xx and a dead org are TargetUnavailableError', async () => {
  const { u, subject } = leaver();
  okta.control.inject({ status: 500, times: 1, pathIncludes: '/factors' });
  await expect(revokeMatched(idp, account, subject)).rejects.toMatchObject({
    name: 'TargetUnavailableError',
    message: expect.stringContaining('500 E0000009 Internal Server Error'),
  });
  const dead = new OktaStandIn(TOKEN);
  const url = await dead.start();
  await dead.stop();
  const { account: gone } = build(url);
  await expect(gone.find(subject)).rejects.toMatchObject({ name: 'TargetUnavailableError' });
  expect(u.status).toBe('ACTIVE');
});

test('permission missing: red, naming the scope and role; a refused token names its variable, never its value', async () => {
  const { u, subject } = leaver();
  okta.deny('/lifecycle/deactivate', 'POST');
  const err = (await revokeMatched(idp, account, subject).catch((e: unknown) => e)) as Error;
  expect(err).toMatchObject({ name: 'TargetAuthError' });
  expect(err.message).toMatch(
    /^Okta POST \/users\/.+\/lifecycle\/deactivate: 403 E0000006 You do not have permission to perform the requested action: the token lacks the permission: needs scope okta\.users\.manage; an admin role that may manage the user/,
  );
  expect(u.status).toBe('ACTIVE');
  okta.deny('/groups/', 'DELETE');
  const groups = (await revokeMatched(idp, account, leaver().subject).catch((e: unknown) => e)) as Error;
  expect(groups.message).toContain('needs scope okta.groups.manage');

  const { account: wrong } = build(okta.url, { OKTA_API_TOKEN: 'not-the-token' });
  const denied = (await wrong.find(subject).catch((e: unknown) => e)) as Error;
  expect(denied).toMatchObject({ name: 'TargetAuthError' });
  expect(denied.message).toContain(
    '401 E0000011 Invalid token provided: check the API token in OKTA_API_TOKEN',
  );
  expect(denied.message).not.toContain('not-the-token');
  expect(err.message).not.toContain(TOKEN);
});

test('MFA tier (scope factors): every factor deleted, none left; a repeat changes nothing', async () => {
  const { u, subject } = leaver();
  const r = await revokeMatched(mfaSys, mfa, subject);
  expect(r.changes).toEqual([
    'deleted factor token:software:totp (GOOGLE)',
    'deleted factor webauthn (OKTA)',
  ]);
  expect(r.confirmation).toMatchObject({ id: u.id, factors: 0 });
  expect(u.status).toBe('ACTIVE'); // the identity tier deactivates; this scope only deletes factors
  expect(mfa.action).toBe('delete_factors');
  expect((await revokeMatched(mfaSys, mfa, subject)).changes).toEqual([]);
  const live = await auditSystem(mfaSys, mfa, subject, [], 10_000);
  expect(live.active).toBe('no');
});
