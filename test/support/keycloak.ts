/**
 * One real Keycloak per test run, shared by every test file and both Jest workers: the first file that
 * asks (`sharedKeycloak`) starts it under a lock in the run's TEST_ROOT and writes its URL there; the
 * others wait for that URL; globalTeardown stops it (`stopSharedKeycloak`). Suites that never ask pay
 * nothing. Each test file creates realms of its own (`createTestRealm`).
 *
 * Keycloak not fetched (`npm run setup:keycloak`) and CI not set: the Keycloak suites are skipped with a
 * message. Under CI they run, and the run fetches Keycloak if it must.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { parseCatalog, type Catalog } from '../../config/catalog';
import {
  KeycloakSetup,
  fetchKeycloak,
  keycloakFetched,
  startKeycloak,
  stopProcessGroup,
} from '../../embedded/keycloak';
import { describeIfAvailable, inCi } from './optional';
import { freePort } from './services';

export const KC_ADMIN_PASSWORD = 'kc-admin-test-password';
/** The secret of each test realm's revocation client (`offboard`, a service account). */
export const KC_CLIENT_SECRET = 'offboard-test-client-secret';

/** Why the Keycloak suites cannot run here, or null when they can. */
export function keycloakSkipReason(): string | null {
  if (keycloakFetched() || inCi()) return null;
  return (
    'Keycloak suites skipped: Keycloak is not fetched. Run `npm run setup:keycloak` (Maven, about 150 MB, ' +
    'one time) to run them against a real Keycloak; CI always runs them'
  );
}

/** `describe`, or `describe.skip` with the reason printed, when Keycloak cannot run here. */
export const describeKeycloak = describeIfAvailable('keycloak', keycloakSkipReason);

function runDir(): string {
  const root = process.env.TEST_ROOT;
  if (!root) throw new Error('TEST_ROOT is not set: run the tests with `npm test` (globalSetup)');
  return path.join(root, 'keycloak');
}

/** The test run's process that owns the server: the Jest parent of a worker, or this process in band. */
const ownerPid = () => (process.send ? process.ppid : process.pid);

let shared: Promise<{ url: string; setup: KeycloakSetup }> | null = null;

/** The run's Keycloak, started by whichever test file asks first. */
export function sharedKeycloak(): Promise<{ url: string; setup: KeycloakSetup }> {
  shared ??= (async () => {
    const dir = runDir();
    mkdirSync(dir, { recursive: true });
    const urlFile = path.join(dir, 'url');
    const errorFile = path.join(dir, 'error');
    let starter = false;
    try {
      mkdirSync(path.join(dir, 'lock'));
      starter = true;
    } catch {
      /* another worker starts it */
    }
    if (starter) {
      try {
        if (!keycloakFetched()) fetchKeycloak((m) => console.log(`[keycloak] ${m}`));
        const t0 = Date.now();
        const kc = await startKeycloak({
          port: await freePort(),
          adminPassword: KC_ADMIN_PASSWORD,
          logFile: path.join(dir, 'keycloak.log'),
          dataDir: dir,
          ownerPid: ownerPid(),
          onSpawn: (pid) => writeFileSync(path.join(dir, 'pid'), String(pid)),
        });
        writeFileSync(`${urlFile}.tmp`, kc.url);
        renameSync(`${urlFile}.tmp`, urlFile);
        console.log(`[keycloak] Keycloak ready at ${kc.url} in ${Date.now() - t0} ms`);
      } catch (e) {
        writeFileSync(errorFile, (e as Error).message);
        throw e;
      }
    } else {
      const until = Date.now() + 300_000;
      while (!existsSync(urlFile)) {
        if (existsSync(errorFile))
          throw new Error(`Keycloak did not start: ${readFileSync(errorFile, 'utf8')}`);
        if (Date.now() > until) throw new Error('waited 300 s for another worker to start Keycloak');
        await sleep(250);
      }
    }
    const url = readFileSync(urlFile, 'utf8');
    return { url, setup: new KeycloakSetup(url, 'admin', KC_ADMIN_PASSWORD) };
  })();
  return shared;
}

/** Stops the run's Keycloak if a test file started one (globalTeardown). */
export async function stopSharedKeycloak(): Promise<void> {
  const root = process.env.TEST_ROOT;
  const pidFile = root ? path.join(root, 'keycloak', 'pid') : null;
  if (!pidFile || !existsSync(pidFile)) return;
  await stopProcessGroup(Number(readFileSync(pidFile, 'utf8')));
}

// ---------------------------------------------------------------- realms, users, tokens

/** A test realm: a public client `app` (direct grants, offline access), the revocation client, groups, an IdP. */
export interface TestRealm {
  url: string;
  realm: string;
  setup: KeycloakSetup;
  /** The public client's uuid (offline sessions are listed per client uuid). */
  appUuid: string;
  /** Group name → id. */
  groups: Record<string, string>;
  /** The alias of the realm's identity provider (links point there). */
  idp: string;
}

/**
 * Creates a realm of its own: OTP codes reusable within their period (two grants in one test), the
 * `employeeId` user attribute declared in the user profile (Keycloak drops undeclared attributes), a
 * public client `app` with direct grants, the revocation client `offboard` (client credentials with
 * manage-users, view-users and view-clients), groups `staff` and `engineering`, and an OIDC identity
 * provider `corp` for links.
 */
export async function createTestRealm(prefix: string): Promise<TestRealm> {
  const { url, setup } = await sharedKeycloak();
  const realm = `${prefix}-${randomBytes(4).toString('hex')}`;
  // (Keycloak reads otpPolicyCodeReusable only together with otpPolicyType.)
  await setup.call('POST', '', { realm, enabled: true, otpPolicyType: 'totp', otpPolicyCodeReusable: true });
  await setup.declareAttribute(realm, 'employeeId');
  const appUuid = await setup.create(`/${realm}/clients`, {
    clientId: 'app',
    publicClient: true,
    directAccessGrantsEnabled: true,
    standardFlowEnabled: false,
  });
  await setup.createRevocationClient(realm, 'offboard', KC_CLIENT_SECRET);
  const groups: Record<string, string> = {};
  for (const name of ['staff', 'engineering'])
    groups[name] = await setup.create(`/${realm}/groups`, { name });
  await setup.call('POST', `/${realm}/identity-provider/instances`, {
    alias: 'corp',
    providerId: 'oidc',
    enabled: true,
    config: {
      clientId: 'offboard-test',
      clientSecret: 'unused',
      authorizationUrl: 'http://127.0.0.1:9/auth',
      tokenUrl: 'http://127.0.0.1:9/token',
    },
  });
  return { url, realm, setup, appUuid, groups, idp: 'corp' };
}

/** The OTP credential of PLATFORM.md: the HMAC key is the secret's UTF-8 bytes. */
export function otpCredential(secret: string) {
  return {
    type: 'otp',
    userLabel: 'phone',
    secretData: JSON.stringify({ value: secret }),
    credentialData: JSON.stringify({
      subType: 'totp',
      digits: 6,
      period: 30,
      algorithm: 'HmacSHA1',
      counter: 0,
    }),
  };
}

/** A WebAuthn (security key) credential as an import writes it: Keycloak stores it as given. */
export function webauthnCredential(label: string) {
  return {
    type: 'webauthn',
    userLabel: label,
    secretData: '{}',
    credentialData: JSON.stringify({
      aaguid: '00000000-0000-0000-0000-000000000000',
      credentialId: randomBytes(16).toString('base64url'),
      credentialPublicKey: randomBytes(77).toString('base64url'),
      counter: 0,
      attestationStatementFormat: 'none',
    }),
  };
}

/** The current TOTP code of `secret` (RFC 6238, SHA-1, 6 digits, 30 s). */
export function totp(secret: string, at = Date.now()): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 30_000)));
  const h = createHmac('sha1', Buffer.from(secret, 'utf8')).update(counter).digest();
  const o = h[h.length - 1]! & 0xf;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

export interface TestUser {
  id: string;
  username: string;
  email: string;
  password: string;
  otpSecret: string | null;
}

/** A user with a password, optionally OTP and WebAuthn credentials, groups and an IdP link. */
export async function createUser(
  r: TestRealm,
  opts: {
    username: string;
    email: string;
    employeeId?: string;
    otp?: boolean;
    webauthn?: boolean;
    groups?: string[];
    idpLink?: boolean;
    firstName?: string;
    lastName?: string;
  },
): Promise<TestUser> {
  const password = `pw-${randomBytes(6).toString('hex')}`;
  const otpSecret = opts.otp ? randomBytes(10).toString('hex') : null;
  const id = await r.setup.create(`/${r.realm}/users`, {
    username: opts.username,
    email: opts.email,
    firstName: opts.firstName ?? 'Test',
    lastName: opts.lastName ?? 'User',
    emailVerified: true,
    enabled: true,
    attributes: opts.employeeId ? { employeeId: [opts.employeeId] } : {},
    groups: opts.groups ?? [],
    credentials: [
      { type: 'password', value: password, temporary: false },
      ...(otpSecret ? [otpCredential(otpSecret)] : []),
      ...(opts.webauthn ? [webauthnCredential('security key')] : []),
    ],
    federatedIdentities: opts.idpLink
      ? [{ identityProvider: r.idp, userId: `corp-${opts.username}`, userName: opts.username }]
      : [],
  });
  return { id, username: opts.username, email: opts.email, password, otpSecret };
}

export interface TokenAnswer {
  status: number;
  json: { access_token?: string; refresh_token?: string; error?: string; error_description?: string };
}

async function tokenEndpoint(r: TestRealm, form: Record<string, string>): Promise<TokenAnswer> {
  const res = await fetch(`${r.url}/realms/${r.realm}/protocol/openid-connect/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: 'app', ...form }),
  });
  return { status: res.status, json: (await res.json()) as TokenAnswer['json'] };
}

/** The user's own sign-in at the public client (password, and the TOTP code when they have OTP). */
export function passwordGrant(r: TestRealm, u: TestUser, scope = 'openid'): Promise<TokenAnswer> {
  return tokenEndpoint(r, {
    grant_type: 'password',
    username: u.username,
    password: u.password,
    scope,
    ...(u.otpSecret ? { totp: totp(u.otpSecret) } : {}),
  });
}

export function refresh(r: TestRealm, refreshToken: string): Promise<TokenAnswer> {
  return tokenEndpoint(r, { grant_type: 'refresh_token', refresh_token: refreshToken });
}

/** What Keycloak holds for a user, read with the set-up admin (the tests' own eyes, not the connector's). */
export async function userState(r: TestRealm, id: string) {
  const get = async <T>(p: string) => (await r.setup.call<T>('GET', `/${r.realm}/users/${id}${p}`)).json;
  const [user, sessions, offline, consents, credentials, groups, links] = await Promise.all([
    get<{ enabled: boolean; attributes?: Record<string, string[]> }>(''),
    get<unknown[]>('/sessions'),
    get<unknown[]>(`/offline-sessions/${r.appUuid}`),
    get<unknown[]>('/consents'),
    get<{ type: string }[]>('/credentials'),
    get<unknown[]>('/groups'),
    get<unknown[]>('/federated-identity'),
  ]);
  return { user, sessions, offline, consents, credentials, groups, links };
}

// ---------------------------------------------------------------- catalog

/** The environment the Keycloak catalogs name their secrets in. */
export const KC_ENV = {
  KEYCLOAK_CLIENT_SECRET: KC_CLIENT_SECRET,
  KEYCLOAK_ADMIN_PASSWORD: KC_ADMIN_PASSWORD,
};

/** The connector settings of a test realm: the realm's own revocation client by default. */
export function keycloakConnector(
  r: Pick<TestRealm, 'url' | 'realm'>,
  over: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    kind: 'keycloak',
    baseUrl: r.url,
    realm: r.realm,
    grant: 'client_credentials',
    tokenRealm: r.realm,
    clientId: 'offboard',
    secretEnv: 'KEYCLOAK_CLIENT_SECRET',
    ...over,
  };
}

/**
 * A catalog whose identity tier is the realm's Keycloak (`account` scope) and whose MFA tier is the
 * same Keycloak's credentials (`credentials` scope); `systems` are added after them.
 */
export function keycloakCatalogYaml(
  r: Pick<TestRealm, 'url' | 'realm'>,
  opts: {
    retry?: Record<string, unknown>;
    protected?: { accounts?: string[]; groups?: string[] };
    connector?: Record<string, unknown>;
    systems?: Record<string, unknown>[];
  } = {},
): string {
  const person = (who: string) => ({ name: `${who} Owner`, email: `${who}-owner@example.com` });
  const system = (id: string, tier: string, scope: string) => ({
    id,
    name: id === 'keycloak' ? 'Keycloak' : 'Keycloak credentials',
    category: 'identity',
    tier,
    integration: 'api',
    sso: false,
    privileged: true,
    owner: person(id),
    escalationOwner: person(`${id}-escalation`),
    timeout: '10s',
    retry: opts.retry ?? { maximumAttempts: 2, initialInterval: '100ms', maximumInterval: '200ms' },
    ...(opts.protected ? { protected: opts.protected } : {}),
    connector: keycloakConnector(r, { scope, ...opts.connector }),
  });
  return stringify({
    version: 1,
    organization: {
      timeZone: 'Europe/Berlin',
      hr: { name: 'HR Team', email: 'hr-team@example.com' },
      it: { name: 'IT Team', email: 'it-team@example.com' },
    },
    verification: { reportAfterHours: 0, redEscalationAfterHours: 48 },
    systems: [
      system('keycloak', 'identity', 'account'),
      system('keycloak-mfa', 'mfa', 'credentials'),
      ...(opts.systems ?? []),
    ],
  });
}

export function keycloakCatalog(...args: Parameters<typeof keycloakCatalogYaml>): Catalog {
  return parseCatalog(keycloakCatalogYaml(...args), 'keycloak-catalog.yaml', { ...process.env, ...KC_ENV });
}
