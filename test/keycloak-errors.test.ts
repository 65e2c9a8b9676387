/**
 * The Keycloak connector's red paths against a real Keycloak, in a realm of this file's own: no account,
 * two candidates and protected accounts are red with nothing changed; a read-back that does not hold
 * (an admin re-enabling the user and re-adding a password while the step runs) is a
 * ConfirmationMismatchError, and the next attempt confirms once the admin stops; refused and failing
 * admin calls map to the domain errors; the admin token by a password grant on the master realm.
 */
import { randomBytes } from 'node:crypto';
import { createConnectors } from '../activities/connectors';
import type { RevocationConnector, Subject } from '../activities/connector';
import type { KeycloakAccount } from '../activities/keycloak';
import { revokeMatched } from '../activities/matched';
import { parseCatalog, type Catalog, type CatalogSystem } from '../config/catalog';
import { freePort } from './support/services';
import {
  KC_ADMIN_PASSWORD,
  KC_ENV,
  createTestRealm,
  createUser,
  describeKeycloak,
  keycloakCatalog,
  keycloakCatalogYaml,
  userState,
  type TestRealm,
} from './support/keycloak';

let r: TestRealm;
let catalog: Catalog;
let sys: CatalogSystem;
let account: RevocationConnector<KeycloakAccount>;
const opened: RevocationConnector[] = [];

const hex = () => randomBytes(3).toString('hex');
/** Keycloak's bootstrap administrator through admin-cli on the master realm (clientId left to its default). */
const MASTER_ADMIN = {
  grant: 'password',
  tokenRealm: 'master',
  clientId: undefined,
  username: 'admin',
  secretEnv: 'KEYCLOAK_ADMIN_PASSWORD',
};
const subjectOf = (employeeId: string, workEmail: string): Subject => ({
  departureId: `dep_${hex()}`,
  employeeId,
  employeeName: 'Test User',
  workEmail,
  confirmedAt: new Date(Date.now() - 60_000).toISOString(),
  managerEmail: null,
});

/** The identity-tier connector of a catalog made with these options. */
function connectorWith(opts: Parameters<typeof keycloakCatalogYaml>[1], env: Record<string, string> = {}) {
  const all = { ...process.env, ...KC_ENV, ...env };
  const c = parseCatalog(keycloakCatalogYaml(r, opts), 'keycloak-catalog.yaml', all);
  const kc = createConnectors(c, all).get('keycloak')!;
  opened.push(kc);
  return { connector: kc as RevocationConnector<KeycloakAccount>, sys: c.systems[0]! };
}

/** A user that must stay exactly as it is: enabled, with its password and group. */
async function bystander(opts: { username: string; email: string; employeeId?: string }) {
  return createUser(r, { ...opts, groups: ['staff'] });
}
async function untouched(id: string) {
  const s = await userState(r, id);
  expect(s.user.enabled).toBe(true);
  expect(s.credentials.map((c) => c.type)).toEqual(['password']);
  expect(s.groups).toHaveLength(1);
}

describeKeycloak('Keycloak connector: red paths (real Keycloak)', () => {
  beforeAll(async () => {
    r = await createTestRealm('kc-errors');
    ({ connector: account, sys } = connectorWith({}));
    catalog = keycloakCatalog(r);
  }, 300_000);
  afterAll(async () => {
    for (const c of opened) await c.close?.();
  });

  test('no account by any key: AccountNotFoundError on the identity tier, nothing changed', async () => {
    const other = await bystander({ username: `x-${hex()}`, email: `x-${hex()}@example.com` });
    const subject = subjectOf(`E-${hex()}`, `nobody-${hex()}@example.com`);
    await expect(revokeMatched(sys, account, subject)).rejects.toMatchObject({
      name: 'AccountNotFoundError',
      evidence: {
        outcome: 'not_found',
        keys: [{ key: 'employeeId' }, { key: 'username' }, { key: 'email' }],
      },
    });
    await untouched(other.id);
    expect(catalog.systems[1]!.match.expectAccount).toBe(false); // the MFA tier expects none
  });

  test('two keys finding two accounts, or one key finding two: AmbiguousAccountError, both untouched', async () => {
    const employeeId = `E-${hex()}`;
    const email = `amb-${hex()}@example.com`;
    const a = await bystander({ username: `a-${hex()}`, email: `a-${hex()}@example.com`, employeeId });
    const b = await bystander({ username: `b-${hex()}`, email });
    await expect(revokeMatched(sys, account, subjectOf(employeeId, email))).rejects.toMatchObject({
      name: 'AmbiguousAccountError',
      message: expect.stringContaining('Nothing was changed in Keycloak'),
      evidence: {
        outcome: 'ambiguous',
        candidates: expect.arrayContaining([{ id: a.id, name: expect.any(String) }]),
      },
    });
    // One key, two users with the same employee id.
    const twin = await bystander({ username: `t-${hex()}`, email: `t-${hex()}@example.com`, employeeId });
    const m = await account.find(subjectOf(employeeId, `nobody-${hex()}@example.com`));
    expect(m.evidence.outcome).toBe('ambiguous');
    expect(m.evidence.keys[0]!.found.map((f) => f.id).sort()).toEqual([a.id, twin.id].sort());
    for (const u of [a, b, twin]) await untouched(u.id);
  });

  test('a protected account (by username or by group) is red and untouched', async () => {
    const byName = await bystander({ username: `admin-${hex()}`, email: `admin-${hex()}@example.com` });
    // Any case; a group by its path (or name or id).
    const { connector, sys: p } = connectorWith({
      protected: { accounts: [byName.username.toUpperCase()], groups: ['/engineering'] },
    });
    await expect(revokeMatched(p, connector, subjectOf(`E-${hex()}`, byName.email))).rejects.toMatchObject({
      name: 'ProtectedAccountError',
      evidence: {
        outcome: 'protected',
        protectedBy: `protected account list (${byName.username.toUpperCase()})`,
      },
    });
    const inGroup = await createUser(r, {
      username: `eng-${hex()}`,
      email: `eng-${hex()}@example.com`,
      groups: ['engineering'],
    });
    await expect(revokeMatched(p, connector, subjectOf(`E-${hex()}`, inGroup.email))).rejects.toMatchObject({
      name: 'ProtectedAccountError',
      evidence: { protectedBy: 'member of protected group /engineering' },
    });
    await untouched(byName.id);
    expect((await userState(r, inGroup.id)).user.enabled).toBe(true);
  });

  test('a read-back that does not hold is red: an admin re-enabling the user and re-adding a password while the step runs', async () => {
    const u = await createUser(r, {
      username: `race-${hex()}`,
      email: `race-${hex()}@example.com`,
      otp: true,
      groups: ['staff'],
    });
    const subject = subjectOf(`E-${hex()}`, u.email);
    // Another administrator, working against us until told to stop.
    let stop = false;
    let rounds = 0;
    const admin = (async () => {
      while (!stop) {
        await r.setup.call('PUT', `/${r.realm}/users/${u.id}`, { enabled: true });
        await r.setup.call('PUT', `/${r.realm}/users/${u.id}/reset-password`, {
          type: 'password',
          value: `pw-${hex()}`,
          temporary: false,
        });
        rounds++;
      }
    })();
    try {
      // The other admin acts between our change and our read-back only when the timing lets it: an
      // attempt may find the state clean for that moment. Up to 5 attempts; the first red one is checked.
      let red: unknown = null;
      for (let i = 0; i < 5 && !red; i++)
        red = await revokeMatched(sys, account, subject).then(
          () => null,
          (e: unknown) => e,
        );
      expect(red).toMatchObject({
        name: 'ConfirmationMismatchError',
        message: expect.stringMatching(
          /^Keycloak still shows, after revocation: .*(enabled=true|credentials password)/,
        ),
      });
    } finally {
      stop = true;
      await admin;
    }
    expect(rounds).toBeGreaterThan(0);
    // The next attempt, with nobody working against it, confirms.
    const ok = await revokeMatched(sys, account, subject);
    expect(ok.confirmation).toMatchObject({ enabled: false, credentials: 0, groups: 0 });
    expect((await userState(r, u.id)).credentials).toEqual([]);
  });

  test('the admin token by a password grant of admin-cli on the master realm', async () => {
    const { connector } = connectorWith({ connector: MASTER_ADMIN });
    const u = await createUser(r, { username: `pg-${hex()}`, email: `pg-${hex()}@example.com` });
    const m = await connector.find(subjectOf(`E-${hex()}`, u.email));
    expect(m.evidence).toMatchObject({ outcome: 'found', account: { id: u.id } });
    const res = await connector.revoke(subjectOf(`E-${hex()}`, u.email), m.account!);
    expect(res.confirmation).toMatchObject({ enabled: false, credentials: 0 });
  });

  test('refusals and outages map to the domain errors and never show the secret', async () => {
    const subject = subjectOf(`E-${hex()}`, `nobody-${hex()}@example.com`);
    const wrongSecret = 'wrong-secret-do-not-print';
    // A wrong client secret: the token endpoint refuses (401 invalid_client).
    const bad = connectorWith({}, { KEYCLOAK_CLIENT_SECRET: wrongSecret }).connector;
    const refused = await bad.find(subject).catch((e: Error) => e);
    expect(refused).toMatchObject({
      name: 'TargetAuthError',
      message: expect.stringMatching(
        /^Keycloak refused the token request \(client_credentials\) to realm \S+ \(401 /,
      ),
    });
    expect((refused as Error).message).toContain('KEYCLOAK_CLIENT_SECRET');
    expect((refused as Error).message).not.toContain(wrongSecret);
    // A wrong admin password.
    const badPassword = connectorWith(
      { connector: MASTER_ADMIN },
      { KEYCLOAK_ADMIN_PASSWORD: wrongSecret },
    ).connector;
    await expect(badPassword.find(subject)).rejects.toMatchObject({ name: 'TargetAuthError' });
    // A service account without the realm-management roles: Keycloak answers 403.
    await r.setup.create(`/${r.realm}/clients`, {
      clientId: 'powerless',
      publicClient: false,
      secret: 'powerless-secret',
      serviceAccountsEnabled: true,
      standardFlowEnabled: false,
    });
    const powerless = connectorWith(
      { connector: { clientId: 'powerless', secretEnv: 'POWERLESS_SECRET' } },
      { POWERLESS_SECRET: 'powerless-secret' },
    ).connector;
    await expect(powerless.find(subject)).rejects.toMatchObject({
      name: 'TargetAuthError',
      message: expect.stringMatching(/: 403 .*manage-users, view-users and view-clients/),
    });
    // A realm that does not exist.
    const noRealm = connectorWith({ connector: { ...MASTER_ADMIN, realm: `no-such-${hex()}` } }).connector;
    await expect(noRealm.find(subject)).rejects.toMatchObject({
      name: 'TargetRejectedError',
      message: expect.stringContaining('not found: check connector.realm'),
    });
    // Nothing listening: the target is unavailable (retried by policy).
    const port = await freePort();
    const down = connectorWith({ connector: { baseUrl: `http://127.0.0.1:${port}` } }).connector;
    await expect(down.find(subject)).rejects.toMatchObject({ name: 'TargetUnavailableError' });
    expect(KC_ADMIN_PASSWORD).not.toBe(wrongSecret);
  });
});
