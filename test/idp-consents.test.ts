/**
 * Shadow IT from the leaver's consents, Okta and Google Workspace against their stand-ins: the account
 * revocation's evidence names every app the leaver authorised (Okta: each client with scope grants or
 * tokens, read before the session clearing ends the tokens; Google: each OAuth token with its
 * displayText, clientId and scopes), all revoked and read back gone; a repeat lists none. Compared with
 * the catalog, the ones no system covers are uncovered.
 */
import { randomBytes } from 'node:crypto';
import type { RevocationConnector, TargetAccount } from '../activities/connector';
import { createConnectors } from '../activities/connectors';
import { withShadowIt } from '../activities/consents';
import type { GoogleAccount } from '../activities/google';
import { revokeMatched } from '../activities/matched';
import type { OktaAccount } from '../activities/okta';
import { parseCatalog, type Catalog, type CatalogSystem } from '../config/catalog';
import { consentsOf } from '../contract/consents';
import { GoogleStandIn } from '../standins/google';
import { OktaStandIn } from '../standins/okta';
import { SA, catalogYaml as googleCatalogYaml, hex, pair, subjectOf } from './support/google';

const OKTA_TOKEN = `00${randomBytes(12).toString('hex')}`;
const KEYS = pair();
const ENV = {
  OKTA_API_TOKEN: OKTA_TOKEN,
  GOOGLE_SA_KEY: KEYS.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
};
let okta: OktaStandIn;
let google: GoogleStandIn;
const opened: RevocationConnector[] = [];

/** The systems the apps are compared with: Slack and the CRM are in the catalog, Miro is not. */
const CATALOG = {
  systems: [
    { id: 'slack', name: 'Slack' },
    { id: 'crm', name: 'Sales CRM' },
  ],
  shadowIt: { knownApps: ['Google Chrome'] },
} as unknown as Catalog;

function connectorOf<A extends TargetAccount>(
  yaml: string,
  id: string,
): { sys: CatalogSystem; c: RevocationConnector<A> } {
  const catalog = parseCatalog(yaml, `${id}.yaml`, ENV);
  const reg = createConnectors(catalog, ENV);
  opened.push(...reg.values());
  return { sys: catalog.systems.find((s) => s.id === id)!, c: reg.get(id) as RevocationConnector<A> };
}

const oktaYaml = (orgUrl: string) => `
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
    connector: { kind: okta, orgUrl: "${orgUrl}", tokenEnv: OKTA_API_TOKEN }
`;

beforeAll(async () => {
  okta = new OktaStandIn(OKTA_TOKEN);
  google = new GoogleStandIn(SA, KEYS.publicKey);
  await Promise.all([okta.start(), google.start()]);
  google.seedUser('admin@example.com', { isAdmin: true, fullName: 'Workspace Admin' });
});
afterAll(async () => {
  for (const c of opened) await c.close?.();
  await Promise.all([okta.stop(), google.stop()]);
});

const byName = <T extends { name: string }>(xs: T[]) => [...xs].sort((a, b) => a.name.localeCompare(b.name));

test('Okta: every client with grants or tokens is in the evidence, with its scopes; all revoked and read back; a repeat lists none', async () => {
  const { sys, c } = connectorOf<OktaAccount>(oktaYaml(okta.url), 'okta');
  const miro = okta.addClient('Miro');
  const slack = okta.addClient('Slack');
  const cli = okta.addClient(`Build CLI ${hex()}`);
  const login = `dana.${hex()}@example.com`;
  const employeeId = `E-${hex()}`;
  const u = okta.seedUser(login, {
    employeeNumber: employeeId,
    grants: [
      { clientId: miro, scopeId: 'okta.users.read.self' },
      { clientId: miro, scopeId: 'offline_access' },
      { clientId: slack, scopeId: 'openid' },
    ],
    // The CLI holds only a refresh token: clearing sessions with oauthTokens=true would end it first.
    tokens: [miro, cli],
  });
  const subject = subjectOf(employeeId, login, 'lee@example.com');

  const r = await revokeMatched(sys, c, subject);
  expect(byName(consentsOf(r))).toEqual([
    { appId: cli, name: expect.stringMatching(/^Build CLI /), scopes: [], kind: 'oauth-token' },
    { appId: miro, name: 'Miro', scopes: ['okta.users.read.self', 'offline_access'], kind: 'scope-grant' },
    { appId: slack, name: 'Slack', scopes: ['openid'], kind: 'scope-grant' },
  ]);
  // Revoked and read back: no grant, no client with tokens.
  expect(u).toMatchObject({ grants: [], status: 'DEPROVISIONED' });
  expect(u.tokens.size).toBe(0);
  expect(r.confirmation).toMatchObject({ grants: 0, clientsWithTokens: 0 });
  // The grants and clients were read before the sessions were cleared.
  const at = (p: string, m: string) =>
    okta.control.calls.findIndex((x) => x.path.includes(p) && x.method === m);
  expect(at(`/users/${u.id}/clients`, 'GET')).toBeLessThan(at(`/users/${u.id}/sessions`, 'DELETE'));

  const shadow = withShadowIt(r, CATALOG);
  expect(byName(consentsOf(shadow)).map((x) => [x.name.replace(/ \w+$/, ''), x.coveredBy])).toEqual([
    ['Build CLI', null],
    ['Miro', null],
    ['Slack', 'slack'],
  ]);
  expect(shadow.detail).toMatch(/shadow IT: 2 of 3 third-party app\(s\) .*: (Build CLI|Miro)/);

  const again = await revokeMatched(sys, c, subject);
  expect(again.changes).toEqual([]);
  expect(consentsOf(again)).toEqual([]);
});

test('Google: every OAuth token is in the evidence (displayText, clientId, scopes); all deleted and read back; a repeat lists none', async () => {
  const { sys, c } = connectorOf<GoogleAccount>(
    googleCatalogYaml(google.url, '\n      mailHandover: none\n      transfer: []'),
    'google',
  );
  const email = `dana.${hex()}@example.com`;
  const employeeId = `E-${hex()}`;
  const u = google.seedUser(email, {
    employeeId,
    fullName: 'Dana Reyes',
    tokens: [
      { displayText: 'Miro', scopes: ['https://www.googleapis.com/auth/drive.readonly', 'email'] },
      'Slack',
      { displayText: 'Google Chrome', scopes: ['https://www.google.com/accounts/OAuthLogin'] },
    ],
  });
  const [miro, slack, chrome] = u.tokens.map((t) => t.clientId);
  const r = await revokeMatched(sys, c, subjectOf(employeeId, email, null));
  expect(consentsOf(r)).toEqual([
    {
      appId: miro,
      name: 'Miro',
      scopes: ['https://www.googleapis.com/auth/drive.readonly', 'email'],
      kind: 'oauth-token',
    },
    { appId: slack, name: 'Slack', scopes: ['openid', 'email'], kind: 'oauth-token' },
    {
      appId: chrome,
      name: 'Google Chrome',
      scopes: ['https://www.google.com/accounts/OAuthLogin'],
      kind: 'oauth-token',
    },
  ]);
  expect(u.tokens).toEqual([]);
  expect(r.confirmation).toMatchObject({ oauthTokens: 0, suspended: true });

  // Slack is a catalog system, Google Chrome is on the allow list, Miro is shadow IT.
  const shadow = withShadowIt(r, CATALOG);
  expect(consentsOf(shadow).map((x) => [x.name, x.coveredBy])).toEqual([
    ['Miro', null],
    ['Slack', 'slack'],
    ['Google Chrome', 'knownApps'],
  ]);
  expect(shadow.detail).toContain(`shadow IT: 1 of 3 third-party app(s)`);
  expect(shadow.detail).toContain(`: Miro (${miro})`);

  const again = await revokeMatched(sys, c, subjectOf(employeeId, email, null));
  expect(again.changes).toEqual([]);
  expect(consentsOf(again)).toEqual([]);
});
