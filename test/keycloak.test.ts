/**
 * The Keycloak connector against a real Keycloak 26 (one per test run, test/support/keycloak.ts), in a
 * realm of this file's own: find by employee id, username and email; revoke (disable, credentials,
 * sessions, offline sessions and consents, groups, identity-provider links) confirmed by reading every
 * part back; a refused password grant, dead refresh tokens — also after an admin re-enables the user;
 * idempotency; the live audit before and after; the MFA scope. Errors: test/keycloak-errors.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { createConnectors } from '../activities/connectors';
import type { RevocationConnector, Subject } from '../activities/connector';
import type { KeycloakAccount } from '../activities/keycloak';
import type { Catalog } from '../config/catalog';
import {
  KC_ENV,
  createTestRealm,
  createUser,
  describeKeycloak,
  keycloakCatalog,
  passwordGrant,
  refresh,
  userState,
  type TestRealm,
  type TestUser,
} from './support/keycloak';

let r: TestRealm;
let catalog: Catalog;
let account: RevocationConnector<KeycloakAccount>;
let mfa: RevocationConnector<KeycloakAccount>;

const hex = () => randomBytes(3).toString('hex');

/** The departure's subject: HR knows the employee id and the work email. */
const subjectOf = (employeeId: string, workEmail: string): Subject => ({
  departureId: `dep_${hex()}`,
  employeeId,
  employeeName: 'Test User',
  workEmail,
  confirmedAt: new Date(Date.now() - 60_000).toISOString(),
  managerEmail: null,
});

/** A leaver with everything: password, OTP, WebAuthn, two groups, an IdP link. */
async function leaver(prefix: string) {
  const name = `${prefix}-${hex()}`;
  const employeeId = `E-${hex()}`;
  const u = await createUser(r, {
    username: name,
    email: `${name}@example.com`,
    employeeId,
    otp: true,
    webauthn: true,
    groups: ['staff', 'engineering'],
    idpLink: true,
    firstName: 'Dana',
    lastName: 'Reyes',
  });
  return { u, subject: subjectOf(employeeId, u.email) };
}

/** An offline token and an online session, as the leaver's apps hold them. */
async function signIn(u: TestUser) {
  const offline = await passwordGrant(r, u, 'openid offline_access');
  const online = await passwordGrant(r, u, 'openid');
  expect(offline).toMatchObject({ status: 200 });
  expect(online).toMatchObject({ status: 200 });
  return { offline: offline.json.refresh_token!, online: online.json.refresh_token! };
}

describeKeycloak('Keycloak connector (real Keycloak)', () => {
  beforeAll(async () => {
    r = await createTestRealm('kc-connector');
    catalog = keycloakCatalog(r);
    const connectors = createConnectors(catalog, { ...process.env, ...KC_ENV });
    account = connectors.get('keycloak') as RevocationConnector<KeycloakAccount>;
    mfa = connectors.get('keycloak-mfa') as RevocationConnector<KeycloakAccount>;
  }, 300_000);
  afterAll(async () => {
    await account?.close?.();
    await mfa?.close?.();
  });

  test('the catalog defaults: keys employeeId, username, email; identity expects an account', () => {
    const kc = catalog.systems.find((s) => s.id === 'keycloak')!;
    expect(kc.match).toEqual({
      keys: [
        { attribute: 'employeeId', from: 'employeeId' },
        { attribute: 'username', from: 'workEmail' },
        { attribute: 'email', from: 'workEmail' },
      ],
      expectAccount: true,
    });
    expect(account.action).toBe('disable_end_sessions_remove_credentials_groups_links');
    expect(mfa.action).toBe('remove_credentials');
    expect(account.executingSystem).toBe(`Keycloak @ ${new URL(r.url).host} (realm ${r.realm})`);
  });

  test('revocation: everything is removed and read back; the password grant is refused; old tokens stay dead, also after a re-enable', async () => {
    const { u, subject } = await leaver('dana');
    const tokens = await signIn(u);
    const before = await userState(r, u.id);
    expect(before.user.enabled).toBe(true);
    expect(before.sessions.length).toBeGreaterThanOrEqual(1);
    expect(before.offline).toHaveLength(1);
    expect(before.consents).toHaveLength(1); // the offline token's grant
    expect(before.credentials.map((c) => c.type).sort()).toEqual(['otp', 'password', 'webauthn']);
    expect(before.groups).toHaveLength(2);
    expect(before.links).toHaveLength(1);

    // The live audit before: the account gives access, and says how.
    const live = await account.audit(subject);
    expect(live.found).toBe(1);
    expect(live.keys).toEqual(['employeeId', 'username', 'email']);
    expect(live.active).toHaveLength(1);
    expect(live.active[0]!.by).toEqual(['employeeId', 'email']);
    expect(live.active[0]!.why).toMatch(/^enabled=true; \d online sessions?; 1 offline session \(app\); /);
    expect(live.active[0]!.why).toContain('identity-provider links corp');
    expect(live.active[0]!.why).toContain('credentials password, otp "phone", webauthn "security key"');

    const m = await account.find(subject);
    expect(m.evidence).toMatchObject({ outcome: 'found', by: 'employeeId', account: { id: u.id } });
    expect(m.evidence.account!.name).toBe(`Dana Reyes <${u.username}>`);
    const res = await account.revoke(subject, m.account!);
    expect(res.changes).toEqual(
      expect.arrayContaining([
        'enabled=false',
        'removed password credential',
        'removed otp "phone" credential',
        'removed webauthn "security key" credential',
        'removed from group /staff',
        'removed from group /engineering',
        'removed identity-provider link corp',
      ]),
    );
    expect(res.changes.some((c) => /^logged out \([1-9]\d* online sessions? open\)$/.test(c))).toBe(true);
    expect(res.changes.some((c) => /^revoked offline session \S+ \(app\)$/.test(c))).toBe(true);
    expect(res.confirmation).toMatchObject({
      id: u.id,
      username: u.username,
      enabled: false,
      sessions: 0,
      offlineSessions: 0,
      // The offline token's grant, listed before it was revoked (shadow IT evidence).
      consents: [{ appId: 'app', name: 'app', scopes: [], kind: 'offline-token' }],
      credentials: 0,
      groups: 0,
      identityProviderLinks: 0,
    });
    // Every client of the realm was asked for offline sessions (app, offboard and Keycloak's own).
    expect(res.confirmation.clientsChecked).toBeGreaterThanOrEqual(8);
    expect(res.detail).toMatch(
      /^user disabled; no online session \(logged out\); no offline session for any of \d+ clients \(1 revoked\); /,
    );

    // Our own read-back, with the set-up admin: all of it empty; the HR id is kept (the live audit finds it).
    const after = await userState(r, u.id);
    expect(after).toMatchObject({
      user: { enabled: false, attributes: { employeeId: [subject.employeeId] } },
      sessions: [],
      offline: [],
      consents: [],
      credentials: [],
      groups: [],
      links: [],
    });
    // The leaver cannot sign in, and neither refresh token works.
    const login = await passwordGrant(r, u);
    expect(login).toMatchObject({ status: 400, json: { error: 'invalid_grant' } });
    expect(await refresh(r, tokens.offline)).toMatchObject({ status: 400, json: { error: 'invalid_grant' } });
    expect(await refresh(r, tokens.online)).toMatchObject({ status: 400, json: { error: 'invalid_grant' } });

    // The live audit after: found, not active.
    expect(await account.audit(subject)).toMatchObject({ found: 1, active: [] });
    expect(await mfa.audit(subject)).toMatchObject({ found: 1, active: [] });

    // Idempotent: a second run (a retry after a crash) confirms without changing anything.
    const again = await account.revoke(subject, (await account.find(subject)).account!);
    expect(again.changes).toEqual([]);
    expect(again.detail).toMatch(/^user disabled \(already\); no online session; /);

    // The pitfall: an admin re-enables the user. The old offline token must still not refresh (an admin
    // logout alone leaves offline sessions alive: they would). The live audit sees the re-enable.
    await r.setup.call('PUT', `/${r.realm}/users/${u.id}`, { enabled: true });
    expect(await refresh(r, tokens.offline)).toMatchObject({ status: 400, json: { error: 'invalid_grant' } });
    expect(await refresh(r, tokens.online)).toMatchObject({ status: 400, json: { error: 'invalid_grant' } });
    // No credential is left either: the password no longer signs in.
    expect((await passwordGrant(r, u)).json.error).toBe('invalid_grant');
    const reenabled = await account.audit(subject);
    expect(reenabled.active).toEqual([
      expect.objectContaining({ id: u.id, why: 'enabled=true', by: ['employeeId', 'email'] }),
    ]);
  });

  test('the pitfall, shown: a disable and an admin logout leave the offline session alive; after a re-enable, a disable alone lets the old token refresh', async () => {
    // What the connector guards against, on the real server. (An admin logout also sets notBefore, which
    // refuses tokens issued in an earlier second as "Stale token"; one issued in the logout's own second
    // still refreshes after a re-enable. The offline session itself survives either way.)
    const { u } = await leaver('pitfall');
    const tokens = await signIn(u);
    await r.setup.call('PUT', `/${r.realm}/users/${u.id}`, { enabled: false });
    expect(await refresh(r, tokens.offline)).toMatchObject({ status: 400, json: { error: 'invalid_grant' } });
    await r.setup.call('PUT', `/${r.realm}/users/${u.id}`, { enabled: true });
    expect((await refresh(r, tokens.offline)).status).toBe(200);

    await r.setup.call('PUT', `/${r.realm}/users/${u.id}`, { enabled: false });
    await r.setup.call('POST', `/${r.realm}/users/${u.id}/logout`);
    const after = await userState(r, u.id);
    expect(after.sessions).toEqual([]);
    expect(after.offline).toHaveLength(1);
    expect(after.consents).toHaveLength(1);
  });

  test('found by username or email alone (no employee id in Keycloak); a known account id wins', async () => {
    const name = `sam-${hex()}@example.com`;
    const u = await createUser(r, { username: name, email: `other-${hex()}@example.com` });
    const byUsername = await account.find(subjectOf(`E-${hex()}`, name));
    expect(byUsername.evidence).toMatchObject({ outcome: 'found', by: 'username', account: { id: u.id } });
    // Keycloak keeps usernames in lower case; HR may not.
    const upper = await account.find(subjectOf(`E-${hex()}`, name.toUpperCase()));
    expect(upper.evidence).toMatchObject({ outcome: 'found', by: 'username' });
    const v = await createUser(r, { username: `v-${hex()}`, email: `vic-${hex()}@example.com` });
    expect((await account.find(subjectOf(`E-${hex()}`, v.email))).evidence).toMatchObject({
      outcome: 'found',
      by: 'email',
      account: { id: v.id },
    });
    const known = await account.find({
      ...subjectOf(`E-${hex()}`, 'nobody@example.com'),
      accounts: { keycloak: v.id },
    });
    expect(known.evidence).toMatchObject({ outcome: 'found', by: 'known account id', account: { id: v.id } });
  });

  test('an employee id with blanks and quotes is searched exactly, and a prefix is no match', async () => {
    const employeeId = `E 7 "x":${hex()}`;
    const u = await createUser(r, { username: `q-${hex()}`, email: `q-${hex()}@example.com`, employeeId });
    const m = await account.find(subjectOf(employeeId, 'nobody@example.com'));
    expect(m.evidence).toMatchObject({ outcome: 'found', by: 'employeeId', account: { id: u.id } });
    expect(
      (await account.find(subjectOf(employeeId.slice(0, -1), 'nobody@example.com'))).evidence.outcome,
    ).toBe('not_found');
  });

  test('the MFA scope removes every credential and nothing else; a repeat changes nothing', async () => {
    const { u, subject } = await leaver('mfa');
    expect((await mfa.audit(subject)).active[0]!.why).toBe(
      'credentials password, otp "phone", webauthn "security key"',
    );
    const m = await mfa.find(subject);
    const res = await mfa.revoke(subject, m.account!);
    expect(res.changes.sort()).toEqual([
      'removed otp "phone" credential',
      'removed password credential',
      'removed webauthn "security key" credential',
    ]);
    expect(res.confirmation).toEqual({ id: u.id, username: u.username, credentials: 0 });
    expect(res.detail).toMatch(/^3 credentials removed \(.*\); none left$/);
    const after = await userState(r, u.id);
    expect(after.credentials).toEqual([]);
    // Not the MFA step's business: the account, groups and link stay for the identity step.
    expect(after.user.enabled).toBe(true);
    expect(after.groups).toHaveLength(2);
    expect((await mfa.revoke(subject, m.account!)).changes).toEqual([]);
    expect(await mfa.audit(subject)).toMatchObject({ found: 1, active: [] });
    // The identity scope still sees an enabled account with a link.
    expect((await account.audit(subject)).active[0]!.why).toBe('enabled=true; identity-provider links corp');
  });
});
