/**
 * Shadow IT from the leaver's consents, Keycloak on a real Keycloak 26 (test/support/keycloak.ts): the
 * account revocation's evidence names every client the leaver authorised, as the Admin API's consent
 * listing shows it: a consent the user granted through the Account API to a client that requires consent
 * (its display name, the granted client scopes), and a client holding only an offline token (listed by
 * Keycloak until the token is revoked, so read before the offline sessions go). All revoked and read back
 * gone; a repeat lists none; compared with the catalog, the uncovered client is named.
 */
import { randomBytes } from 'node:crypto';
import { createConnectors } from '../activities/connectors';
import type { RevocationConnector, Subject } from '../activities/connector';
import { withShadowIt } from '../activities/consents';
import type { KeycloakAccount } from '../activities/keycloak';
import type { Catalog } from '../config/catalog';
import { consentsOf } from '../contract/consents';
import {
  KC_ENV,
  createTestRealm,
  createUser,
  describeKeycloak,
  keycloakCatalog,
  passwordGrant,
  userState,
  type TestRealm,
} from './support/keycloak';

let r: TestRealm;
let catalog: Catalog;
let account: RevocationConnector<KeycloakAccount>;
const hex = () => randomBytes(3).toString('hex');

const subjectOf = (employeeId: string, workEmail: string): Subject => ({
  departureId: `dep_${hex()}`,
  employeeId,
  employeeName: 'Dana Reyes',
  workEmail,
  confirmedAt: new Date(Date.now() - 60_000).toISOString(),
  managerEmail: null,
});

describeKeycloak('Keycloak consents (real Keycloak)', () => {
  beforeAll(async () => {
    r = await createTestRealm('kc-consents');
    catalog = keycloakCatalog(r);
    account = createConnectors(catalog, { ...process.env, ...KC_ENV }).get(
      'keycloak',
    ) as RevocationConnector<KeycloakAccount>;
    // A third-party app that asks the user's consent (not in the catalog), with a display name.
    await r.setup.create(`/${r.realm}/clients`, {
      clientId: 'miro',
      name: 'Miro Whiteboard',
      consentRequired: true,
      publicClient: true,
      standardFlowEnabled: true,
      redirectUris: ['https://miro.example.com/*'],
    });
  }, 300_000);
  afterAll(async () => {
    await account?.close?.();
  });

  /** The user grants `clientId` its `profile` and `email` scopes through the Account API, as on the consent screen. */
  async function grantConsent(u: { id: string; username: string }, token: string, clientId: string) {
    const scopes = (
      await r.setup.call<{ id: string; name: string }[]>('GET', `/${r.realm}/client-scopes`)
    ).json
      .filter((s) => s.name === 'profile' || s.name === 'email')
      .map((s) => ({ id: s.id, name: s.name }));
    const res = await fetch(`${r.url}/realms/${r.realm}/account/applications/${clientId}/consent`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ grantedScopes: scopes }),
    });
    if (!res.ok) throw new Error(`account consent refused: ${res.status} ${await res.text()}`);
  }

  test('every authorised client is in the evidence, named, with its scopes; all revoked and read back; a repeat lists none', async () => {
    const name = `dana-${hex()}`;
    const employeeId = `E-${hex()}`;
    const u = await createUser(r, { username: name, email: `${name}@example.com`, employeeId });
    // The Account API needs the account client's manage-consent role (not a default role).
    const accountClient = (
      await r.setup.call<{ id: string }[]>('GET', `/${r.realm}/clients?clientId=account`)
    ).json[0]!;
    const role = (
      await r.setup.call<{ id: string; name: string }>(
        'GET',
        `/${r.realm}/clients/${accountClient.id}/roles/manage-consent`,
      )
    ).json;
    await r.setup.call('POST', `/${r.realm}/users/${u.id}/role-mappings/clients/${accountClient.id}`, [role]);
    // An offline token at the public client `app`, and the user's own access token for the Account API.
    const offline = await passwordGrant(r, u, 'openid offline_access');
    expect(offline.status).toBe(200);
    const online = await passwordGrant(r, u, 'openid');
    await grantConsent(u, online.json.access_token!, 'miro');

    const before = await userState(r, u.id);
    expect(before.consents).toHaveLength(2);

    const m = await account.find(subjectOf(employeeId, u.email));
    const res = await account.revoke(subjectOf(employeeId, u.email), m.account!);
    const consents = [...consentsOf(res)].sort((a, b) => a.appId.localeCompare(b.appId));
    expect(consents).toEqual([
      { appId: 'app', name: 'app', scopes: [], kind: 'offline-token' },
      {
        appId: 'miro',
        name: 'Miro Whiteboard',
        scopes: expect.arrayContaining(['profile', 'email']),
        kind: 'user-consent',
      },
    ]);
    expect(res.changes).toContain('revoked consent of client miro');
    expect((await userState(r, u.id)).consents).toEqual([]);
    expect(res.detail).toContain('no consent (1 revoked)');

    // Compared with the catalog: neither client is a catalog system.
    const shadow = withShadowIt(res, { ...catalog, shadowIt: { knownApps: ['app'] } });
    expect(consentsOf(shadow).map((c) => [c.appId, c.coveredBy])).toEqual(
      expect.arrayContaining([
        ['app', 'knownApps'],
        ['miro', null],
      ]),
    );
    expect(shadow.detail).toContain(
      'in no catalog system (uncovered; consent revoked): Miro Whiteboard (miro)',
    );

    const again = await account.revoke(
      subjectOf(employeeId, u.email),
      (await account.find(subjectOf(employeeId, u.email))).account!,
    );
    expect(again.changes).toEqual([]);
    expect(consentsOf(again)).toEqual([]);
  });
});
