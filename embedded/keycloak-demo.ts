/**
 * `npm start -- --idp keycloak`: the demo with a real Keycloak as its identity provider instead of the
 * Graph stand-in. Keycloak is fetched once into `.tools/` (embedded/keycloak.ts), keeps its database in
 * `.data/keycloak`, and gets a demo realm on its first start: the demo's people (employee id as a user
 * attribute; Ana Lima still under her former name), passwords, an OTP and a WebAuthn credential, groups,
 * an identity-provider link, an offline session of Dana's, the protected break-glass account, and a
 * revocation client (`offboard`, client credentials with manage-users, view-users and view-clients). The
 * catalog is the demo catalog with its Entra entries replaced by Keycloak's account and credentials.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { DEMO_BREAK_GLASS, DEMO_EMPLOYEES } from './demo';
import { KeycloakSetup, fetchKeycloak, startKeycloak, type KeycloakProcess } from './keycloak';

export const DEMO_REALM = 'offboard-demo';
/** The demo users' password (a throwaway local realm), so a newcomer can try a sign-in before and after. */
export const DEMO_USER_PASSWORD = 'demo-password-1';
const DEMO_OTP_SECRET = 'offboard-demo-otp-secret';

interface DemoKeycloakSecrets {
  adminPassword: string;
  clientSecret: string;
}

export interface DemoKeycloak extends KeycloakProcess {
  adminPassword: string;
  /** The revocation client's secret, for the catalog's `secretEnv`. */
  clientSecret: string;
}

/** Fetches (once), starts and (on the first start) seeds the demo's Keycloak. */
export async function startDemoKeycloak(
  dataDir: string,
  port: number,
  say: (msg: string) => void,
  onSpawn?: (pid: number) => void,
): Promise<DemoKeycloak> {
  fetchKeycloak(say);
  const dir = path.join(dataDir, 'keycloak');
  mkdirSync(dir, { recursive: true });
  const secretsFile = path.join(dir, 'secrets.json');
  const fresh = !existsSync(secretsFile);
  const secrets: DemoKeycloakSecrets = fresh
    ? {
        adminPassword: randomBytes(12).toString('base64url'),
        clientSecret: randomBytes(24).toString('base64url'),
      }
    : (JSON.parse(readFileSync(secretsFile, 'utf8')) as DemoKeycloakSecrets);
  // The bootstrap admin is created with the first database only: keep its password from the start.
  if (fresh) writeFileSync(secretsFile, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  say(
    `starting Keycloak on port ${port} (about 20 s; the first start builds and takes longer), data in ${dir}`,
  );
  const kc = await startKeycloak({
    port,
    adminPassword: secrets.adminPassword,
    logFile: path.join(dir, 'keycloak.log'),
    dataDir: dir,
    onSpawn,
  });
  const setup = new KeycloakSetup(kc.url, 'admin', secrets.adminPassword);
  if ((await setup.call('GET', `/${DEMO_REALM}`, undefined, [404])).status === 404) {
    say(`creating the demo realm "${DEMO_REALM}" in Keycloak`);
    await seedDemoRealm(setup, secrets.clientSecret);
  }
  return { ...kc, ...secrets };
}

async function seedDemoRealm(setup: KeycloakSetup, clientSecret: string): Promise<void> {
  const r = DEMO_REALM;
  await setup.call('POST', '', { realm: r, enabled: true, displayName: 'Offboard demo' });
  await setup.declareAttribute(r, 'employeeId');
  await setup.create(`/${r}/clients`, {
    clientId: 'demo-app',
    name: 'A demo app the employees sign in to',
    publicClient: true,
    directAccessGrantsEnabled: true,
    standardFlowEnabled: false,
  });
  await setup.createRevocationClient(r, 'offboard', clientSecret);
  for (const name of ['Project teams', 'VPN users', 'Global Administrators'])
    await setup.create(`/${r}/groups`, { name });
  await setup.call('POST', `/${r}/identity-provider/instances`, {
    alias: 'partner-sso',
    displayName: 'Partner SSO (demo, not reachable)',
    providerId: 'oidc',
    enabled: true,
    config: {
      clientId: 'offboard-demo',
      clientSecret: 'unused',
      authorizationUrl: 'http://127.0.0.1:9/auth',
      tokenUrl: 'http://127.0.0.1:9/token',
    },
  });
  const password = { type: 'password', value: DEMO_USER_PASSWORD, temporary: false };
  for (const [i, e] of DEMO_EMPLOYEES.entries()) {
    const account = (e as { accountName?: string }).accountName ?? e.workEmail;
    const [firstName, ...last] = e.name.split(' ');
    await setup.create(`/${r}/users`, {
      username: account,
      email: account,
      emailVerified: true,
      firstName,
      lastName: last.join(' '),
      enabled: true,
      attributes: { employeeId: [e.id] },
      groups: ['Project teams', 'VPN users'],
      credentials: [
        password,
        // Sam signs in with a one-time code too; Dana has a security key and a partner-SSO link.
        ...(i === 1
          ? [
              {
                type: 'otp',
                userLabel: 'phone',
                secretData: JSON.stringify({ value: DEMO_OTP_SECRET }),
                credentialData: JSON.stringify({
                  subType: 'totp',
                  digits: 6,
                  period: 30,
                  algorithm: 'HmacSHA1',
                  counter: 0,
                }),
              },
            ]
          : []),
        ...(i === 0
          ? [
              {
                type: 'webauthn',
                userLabel: 'security key',
                secretData: '{}',
                credentialData: JSON.stringify({
                  aaguid: '00000000-0000-0000-0000-000000000000',
                  credentialId: randomBytes(16).toString('base64url'),
                  credentialPublicKey: randomBytes(77).toString('base64url'),
                  counter: 0,
                  attestationStatementFormat: 'none',
                }),
              },
            ]
          : []),
      ],
      federatedIdentities:
        i === 0 ? [{ identityProvider: 'partner-sso', userId: `partner-${e.id}`, userName: account }] : [],
    });
  }
  await setup.create(`/${r}/users`, {
    username: DEMO_BREAK_GLASS,
    email: DEMO_BREAK_GLASS,
    firstName: 'Emergency',
    lastName: 'Access',
    enabled: true,
    groups: ['Global Administrators'],
    credentials: [{ type: 'password', value: randomBytes(18).toString('base64url'), temporary: false }],
  });
  // Dana's phone app holds an offline token: revocation must end it (an admin logout alone would not).
  const dana = DEMO_EMPLOYEES[0]!;
  const res = await fetch(`${setup.url}/realms/${r}/protocol/openid-connect/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'password',
      client_id: 'demo-app',
      username: dana.workEmail,
      password: DEMO_USER_PASSWORD,
      scope: 'openid offline_access',
    }),
  });
  await res.body?.cancel();
}

/**
 * The demo catalog with its Entra entries (identity and MFA tiers) replaced by the demo Keycloak's
 * account and credentials; everything else (VPN, applications, tickets) as it is.
 */
export function keycloakDemoCatalog(demoYaml: string, keycloakUrl: string): string {
  const doc = parse(demoYaml, { merge: true }) as { systems: Record<string, unknown>[] };
  const connector = (scope: string) => ({
    kind: 'keycloak',
    baseUrl: keycloakUrl,
    realm: DEMO_REALM,
    grant: 'client_credentials',
    tokenRealm: DEMO_REALM,
    clientId: 'offboard',
    secretEnv: 'KEYCLOAK_CLIENT_SECRET',
    scope,
  });
  doc.systems = doc.systems.map((s) => {
    const c = s.connector as { kind: string; scope?: string };
    if (c.kind !== 'entra') return s;
    const identity = c.scope !== 'authentication-methods';
    // Keycloak's own default keys (employeeId attribute, username, email); no owned credentials.
    const { match: _match, ownedCredentials: _owned, ...rest } = s;
    return {
      ...rest,
      id: identity ? 'keycloak' : 'keycloak-mfa',
      name: identity ? 'Keycloak (real, local)' : 'Keycloak credentials (real, local)',
      protected: { accounts: [DEMO_BREAK_GLASS], groups: ['Global Administrators'] },
      connector: connector(identity ? 'account' : 'credentials'),
    };
  });
  return `# Generated by \`npm start -- --idp keycloak\` from config/catalog.demo.yaml.\n${stringify(doc)}`;
}
