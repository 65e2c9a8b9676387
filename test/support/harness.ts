/**
 * Building blocks for tests: the real servers from globalSetup, stand-ins, an SMTP catcher, a catalog
 * pointing at them, a worker and the API — each test gets its own ids and task queue.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { NativeConnection } from '@temporalio/worker';
import { stringify } from 'yaml';
import type { ActivityDeps } from '../../activities';
import { createConnectors, type ConnectorRegistry } from '../../activities/connectors';
import { parseCatalog, type Catalog } from '../../config/catalog';
import { temporal } from '@temporalio/proto';
import {
  SEARCH_ATTRIBUTES,
  acknowledgeUpdate,
  offboardingInput,
  offboardingWorkflowId,
  resolveUpdate,
  statusQuery,
  type OffboardingInput,
  type OffboardingStatus,
} from '../../contract';
import { loadConfig } from '../../config/env';
import { createDataConverter, parseCodecKeys, type CodecKey } from '../../lib/codec';
import { MailCatcher } from '../../embedded/mailcatcher';
import { createDb, type Db } from '../../lib/db';
import { createLogger } from '../../lib/logger';
import { createMailer, type Mailer } from '../../lib/mailer';
import { hashToken } from '../../server/auth';
import { runServer, type RunningServer } from '../../server/main';
import { GraphStandIn } from '../../standins/graph';
import { DIRECTORY_ROLES } from '../../standins/graph-roles';
import { ScimStandIn } from '../../standins/scim';
import { installRuntime } from '../../workers/temporal';
import { createOffboardingWorker, type OffboardingWorkers } from '../../workers/worker';
import { LDAP_ADMIN, LDAP_ADMIN_PASSWORD, LDAP_BASE, ldapAdd } from './services';

export const env = {
  get root() {
    return need('TEST_ROOT');
  },
  get databaseUrl() {
    return need('TEST_DATABASE_URL');
  },
  get ldapUrl() {
    return need('TEST_LDAP_URL');
  },
  get temporalAddress() {
    return need('TEST_TEMPORAL_ADDRESS');
  },
  get testServer() {
    return need('TEST_TEMPORAL_TEST_SERVER');
  },
};

function need(name: string): string {
  const v = process.env[name];
  if (!v)
    throw new Error(`${name} is not set: run the tests with \`npm test\` (globalSetup starts the servers)`);
  return v;
}

export const quietLogger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** A short unique suffix for ids, so tests never see each other's state. */
export function uniq(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export const WEBHOOK_SECRET = `whsec_${Buffer.from('offboard-test-secret-0123456789abcdef').toString('base64')}`;

export const TOKENS = {
  hr: 'hr-token-for-tests',
  it: 'it-token-for-tests',
  itdesk: 'itdesk-token-for-tests',
  admin: 'admin-token-for-tests',
};
export const OPERATOR_TOKENS = Object.entries(TOKENS)
  .map(([role, t]) => `${role}-user:${role}:${hashToken(t)}`)
  .join(',');

/**
 * Payload encryption keys of the tests (PAYLOAD_CODEC_KEYS): every test client, worker and API
 * encrypts, so the encrypted path is the one tested. The first key encrypts. Test-only and fixed on
 * purpose: the recorded histories in test/replay/histories are encrypted with them (changing them means
 * re-recording those).
 */
export const CODEC_KEYS_SPEC = [
  `test-2:${Buffer.from('offboard-test-codec-key-2-32byte').toString('base64')}`,
  `test-1:${Buffer.from('offboard-test-codec-key-1-32byte').toString('base64')}`,
].join(',');
export const CODEC_KEYS: CodecKey[] = (() => {
  const r = parseCodecKeys(CODEC_KEYS_SPEC);
  if ('errors' in r) throw new Error(r.errors.join('; '));
  return r.keys;
})();
/** The data converter of the tests' clients and workers (the production one, with the test keys). */
export const dataConverter = createDataConverter(CODEC_KEYS);

export const SECRETS = {
  ENTRA_CLIENT_SECRET: 'entra-test-secret',
  LDAP_BIND_PASSWORD: LDAP_ADMIN_PASSWORD,
  SCIM_TOKEN_CRM: 'scim-crm-token',
  SCIM_TOKEN_WIKI: 'scim-wiki-token',
  SCIM_TOKEN_VPN: 'scim-vpn-token',
};

export interface StandIns {
  graph: GraphStandIn;
  scim: ScimStandIn;
  caFile: string;
  stop(): Promise<void>;
}

/** The Entra group the test catalog marks privileged (`privilegedGroups`). */
export const PRIVILEGED_GROUP = 'Production access';
const PRIVILEGED_GROUP_ID = '7d1c1a55-0000-4000-8000-00000000a11e';

export async function startStandIns(): Promise<StandIns> {
  const graph = new GraphStandIn({
    tenantId: 'tenant-test',
    clientId: 'client-test',
    clientSecret: SECRETS.ENTRA_CLIENT_SECRET,
  });
  await graph.start();
  // The test catalog's privileged Entra group (a notice period removes it at once).
  graph.seedGroup({ displayName: PRIVILEGED_GROUP, id: PRIVILEGED_GROUP_ID });
  const caFile = path.join(env.root, `ca-${randomUUID()}.pem`);
  writeFileSync(caFile, graph.tls.cert);
  const scim = new ScimStandIn({
    crm: { token: SECRETS.SCIM_TOKEN_CRM },
    wiki: { token: SECRETS.SCIM_TOKEN_WIKI },
    vpn: { token: SECRETS.SCIM_TOKEN_VPN },
  });
  await scim.start();
  return {
    graph,
    scim,
    caFile,
    async stop() {
      await graph.stop();
      await scim.stop();
    },
  };
}

const owner = (who: string) => ({ name: `${who} Owner`, email: `${who}-owner@example.com` });
const escalation = (who: string) => ({ name: `${who} Escalation`, email: `${who}-escalation@example.com` });

/**
 * The test catalog: Entra (identity), LDAP (directory), a VPN over SCIM, then a CRM and a wiki over
 * SCIM and a badge system by ticket. Fast retries so failures surface in seconds.
 */
export function catalogYaml(s: StandIns, opts: { ldapUrl?: string; maximumAttempts?: number } = {}): string {
  const retry = {
    maximumAttempts: opts.maximumAttempts ?? 3,
    initialInterval: '100ms',
    backoffCoefficient: 2,
    maximumInterval: '500ms',
  };
  const scim = (id: string, name: string, tier: string, envName: string) => ({
    id,
    name,
    category: tier === 'vpn' ? 'infrastructure' : 'business',
    tier,
    integration: 'api',
    sso: false,
    privileged: tier === 'vpn',
    owner: owner(id),
    escalationOwner: escalation(id),
    timeout: '5s',
    retry,
    connector: { kind: 'scim', baseUrl: s.scim.baseUrl(id), tokenEnv: envName },
  });
  const entra = (scope: string) => ({
    kind: 'entra',
    graphBaseUrl: s.graph.url,
    authorityUrl: s.graph.url,
    tenantId: 'tenant-test',
    clientId: 'client-test',
    clientSecretEnv: 'ENTRA_CLIENT_SECRET',
    caFile: s.caFile,
    scope,
  });
  return stringify({
    version: 1,
    organization: {
      timeZone: 'Europe/Berlin',
      hr: { name: 'HR Team', email: 'hr-team@example.com' },
      it: { name: 'IT Team', email: 'it-team@example.com' },
    },
    // End-to-end tests run in real time: the report is compiled at once (the 24 h default is tested on
    // the time-skipping server, where the catalog sets it back).
    verification: { reportAfterHours: 0, redEscalationAfterHours: 48 },
    systems: [
      scim('wiki', 'Team Wiki', 'application', 'SCIM_TOKEN_WIKI'),
      {
        id: 'entra',
        name: 'Microsoft Entra ID',
        category: 'identity',
        tier: 'identity',
        integration: 'api',
        sso: false,
        privileged: true,
        owner: owner('entra'),
        escalationOwner: escalation('entra'),
        timeout: '5s',
        retry,
        ownedCredentials: { integration: 'api' },
        // Its own task queue (rate-limited), so the e2e tests run steps on a per-system queue too.
        rateLimit: { revocationsPerSecond: 50, maxConcurrent: 10 },
        connector: { ...entra('account'), privilegedGroups: [PRIVILEGED_GROUP] },
      },
      {
        id: 'entra-mfa',
        name: 'Entra MFA methods',
        category: 'identity',
        tier: 'mfa',
        integration: 'api',
        sso: false,
        privileged: true,
        owner: owner('entra'),
        escalationOwner: escalation('entra'),
        timeout: '5s',
        retry,
        connector: entra('authentication-methods'),
      },
      {
        id: 'badge',
        name: 'Door badges',
        category: 'hardware',
        tier: 'application',
        integration: 'ticket',
        sso: false,
        owner: owner('badge'),
        escalationOwner: escalation('badge'),
        ticketSlaHours: 24,
        connector: { kind: 'ticket' },
      },
      {
        id: 'ldap',
        name: 'Corporate directory',
        category: 'identity',
        tier: 'directory',
        integration: 'api',
        sso: false,
        privileged: true,
        owner: owner('ldap'),
        escalationOwner: escalation('ldap'),
        timeout: '5s',
        retry,
        // Service accounts the leaver owns go to the directory's owner as tickets.
        ownedCredentials: { integration: 'ticket', ticketSlaHours: 24 },
        connector: {
          ...ldapConnector(opts.ldapUrl),
          ownedAccountFilter: '(&(objectClass=account)(owner={dn}))',
          // Notice periods: the leaver's admin groups go at once.
          privilegedGroupFilter: '(&(objectClass=groupOfNames)(member={dn})(cn=*-admins))',
        },
      },
      scim('vpn', 'Remote access VPN', 'vpn', 'SCIM_TOKEN_VPN'),
      scim('crm', 'CRM', 'application', 'SCIM_TOKEN_CRM'),
      {
        id: 'slack',
        name: 'Chat (SSO only)',
        category: 'productivity',
        tier: 'application',
        integration: 'manual',
        sso: true,
        owner: owner('slack'),
        escalationOwner: escalation('slack'),
        ticketSlaHours: 8,
        connector: { kind: 'ticket' },
      },
    ],
  });
}

/** The LDAP connector settings for the test slapd (the catalog's and the connector tests'). */
export function ldapConnector(url = env.ldapUrl) {
  return {
    kind: 'ldap' as const,
    url,
    bindDn: LDAP_ADMIN,
    bindPasswordEnv: 'LDAP_BIND_PASSWORD',
    userBaseDn: `ou=people,${LDAP_BASE}`,
    userFilter: '(employeeNumber={employeeId})',
    groupBaseDn: `ou=groups,${LDAP_BASE}`,
    disableMethod: 'openldap-ppolicy' as const,
    emptyGroupMember: `cn=placeholder,${LDAP_BASE}`,
  };
}

export function testCatalog(s: StandIns, opts: { ldapUrl?: string; maximumAttempts?: number } = {}): Catalog {
  return parseCatalog(catalogYaml(s, opts), 'test-catalog.yaml', { ...process.env, ...SECRETS });
}

/**
 * Adds an employee everywhere: Entra (with an Authenticator app and a default mobile phone for MFA, an
 * assigned group and a licence), LDAP (with groups, one of which has only them), the SCIM apps.
 * `ownedApp` adds an Entra app registration they own; `serviceAccount` an LDAP service account.
 */
export function seedEmployee(
  s: StandIns,
  employeeId: string,
  opts: { ldap?: boolean; ownedApp?: boolean; serviceAccount?: boolean; privileged?: boolean } = {},
) {
  const workEmail = `${employeeId.toLowerCase()}@example.com`;
  const { authMethods, application, PHONE_METHOD_IDS, SKUS } = GraphStandIn;
  const graphUser = s.graph.seedUser({
    userPrincipalName: workEmail,
    displayName: `Employee ${employeeId}`,
    authenticationMethods: [authMethods.microsoftAuthenticator(), authMethods.phone('mobile', '+1 5550100')],
    defaultMethodId: PHONE_METHOD_IDS.mobile,
    groups: [
      s.graph.seedGroup({ displayName: `${employeeId} team` }),
      ...(opts.privileged ? [s.graph.groups.get(PRIVILEGED_GROUP_ID)!] : []),
    ],
    // `privileged`: a directory role and a PIM eligibility, which a notice period removes at once.
    ...(opts.privileged
      ? { roles: [DIRECTORY_ROLES.userAdministrator], eligibleRoles: [DIRECTORY_ROLES.globalAdministrator] }
      : {}),
    licenses: [Object.keys(SKUS)[0]!],
    ownedApplications: opts.ownedApp
      ? [
          application({
            displayName: `${employeeId} billing sync`,
            secrets: ['prod'],
            certificates: ['cert'],
          }),
        ]
      : [],
  });
  const scimUsers = {
    crm: s.scim.seedUser('crm', workEmail),
    wiki: s.scim.seedUser('wiki', workEmail),
    vpn: s.scim.seedUser('vpn', workEmail),
  };
  const uid = employeeId.toLowerCase();
  const dn = `uid=${uid},ou=people,${LDAP_BASE}`;
  if (opts.ldap !== false) {
    ldapAdd(
      env.ldapUrl,
      [
        `dn: ${dn}`,
        'objectClass: inetOrgPerson',
        `uid: ${uid}`,
        `cn: Employee ${employeeId}`,
        `sn: ${employeeId}`,
        `mail: ${workEmail}`,
        `employeeNumber: ${employeeId}`,
        'userPassword: correct-horse',
        '',
        `dn: cn=${uid}-team,ou=groups,${LDAP_BASE}`,
        'objectClass: groupOfNames',
        `cn: ${uid}-team`,
        `member: ${dn}`,
        `member: cn=someone-else,${LDAP_BASE}`,
        '',
        `dn: cn=${uid}-solo,ou=groups,${LDAP_BASE}`,
        'objectClass: groupOfNames',
        `cn: ${uid}-solo`,
        `member: ${dn}`,
        '',
        ...(opts.privileged
          ? [
              `dn: cn=${uid}-admins,ou=groups,${LDAP_BASE}`,
              'objectClass: groupOfNames',
              `cn: ${uid}-admins`,
              `member: ${dn}`,
              `member: cn=someone-else,${LDAP_BASE}`,
              '',
            ]
          : []),
        ...(opts.serviceAccount
          ? [
              `dn: uid=${uid}-svc,ou=people,${LDAP_BASE}`,
              'objectClass: account',
              'objectClass: simpleSecurityObject',
              'objectClass: extensibleObject',
              `uid: ${uid}-svc`,
              `userPassword: ${uid}-svc-pw`,
              `owner: ${dn}`,
              '',
            ]
          : []),
      ].join('\n'),
    );
  }
  return { employeeId, workEmail, graphUser, scimUsers, dn };
}

export function hrisEvent(
  employeeId: string,
  overrides: { status?: string; type?: string; confirmedAt?: string; lastDay?: string } = {},
) {
  return {
    type: 'employee.status_changed',
    occurredAt: new Date().toISOString(),
    employee: {
      id: employeeId,
      name: `Employee ${employeeId}`,
      workEmail: `${employeeId.toLowerCase()}@example.com`,
      personalEmail: `${employeeId.toLowerCase()}@personal.example.net`,
      department: 'Finance',
      managerEmail: 'manager@example.com',
      departmentHeadEmail: 'head@example.com',
      workLocation: 'remote',
    },
    status: overrides.status ?? 'terminated',
    termination: {
      type: overrides.type ?? 'involuntary',
      confirmedAt: overrides.confirmedAt ?? new Date(Date.now() - 60_000).toISOString(),
      lastDay: overrides.lastDay ?? new Date().toISOString().slice(0, 10),
    },
  };
}

export interface Stack {
  databaseUrl: string;
  db: Db;
  mail: MailCatcher;
  mailer: Mailer;
  standIns: StandIns;
  catalog: Catalog;
  connectors: ConnectorRegistry;
  taskQueue: string;
  client: Client;
  connection: Connection;
  nativeConnection: NativeConnection;
  stop(): Promise<void>;
}

/** Database, SMTP catcher, stand-ins, catalog, Temporal client: everything but worker and API. */
/**
 * A database of its own for one test file, cloned from the migrated template, so one file's
 * dispatcher never starts another file's departures.
 */
async function ownDatabase(): Promise<string> {
  const name = uniq('offboard').replace(/-/g, '_');
  const adminUrl = new URL(env.databaseUrl);
  adminUrl.pathname = '/postgres';
  const admin = createDb(adminUrl.toString(), { max: 1 });
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        await admin.$executeRawUnsafe(`CREATE DATABASE "${name}" TEMPLATE offboard_template`);
        break;
      } catch (e) {
        // Two files cloning at the same instant: PostgreSQL refuses one; try again shortly.
        if (attempt >= 10 || !/being accessed by other users/.test(String(e))) throw e;
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
  } finally {
    await admin.$disconnect();
  }
  const u = new URL(env.databaseUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function startStack(opts: { maximumAttempts?: number } = {}): Promise<Stack> {
  installRuntime(quietLogger);
  const databaseUrl = await ownDatabase();
  const db = createDb(databaseUrl);
  const mail = new MailCatcher();
  await mail.start();
  const mailer = createMailer({ db, smtpUrl: mail.url, from: 'Offboard <offboard@example.com>' });
  const standIns = await startStandIns();
  const catalog = testCatalog(standIns, opts);
  const connectors = createConnectors(catalog, { ...process.env, ...SECRETS });
  const connection = await Connection.connect({ address: env.temporalAddress });
  const nativeConnection = await NativeConnection.connect({ address: env.temporalAddress });
  const client = new Client({ connection, dataConverter });
  return {
    databaseUrl,
    db,
    mail,
    mailer,
    standIns,
    catalog,
    connectors,
    taskQueue: uniq('tq'),
    client,
    connection,
    nativeConnection,
    async stop() {
      mailer.close();
      await connection.close();
      await nativeConnection.close();
      await standIns.stop();
      await mail.stop();
      await db.$disconnect();
    },
  };
}

export function workflowBundlePath(): string {
  return path.join(env.root, 'workflow-bundle.js');
}

/**
 * Registers the offboarding search attributes on a server started without them (the time-skipping
 * test server refuses a workflow's upsert of an unknown attribute; the dev server gets them at start).
 */
export async function registerSearchAttributes(connection: Connection, namespace = 'default'): Promise<void> {
  const { IndexedValueType } = temporal.api.enums.v1;
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(
      Object.values(SEARCH_ATTRIBUTES).map((k) => [k.name, IndexedValueType[`INDEXED_VALUE_TYPE_${k.type}`]]),
    ),
  });
}

/** A worker for the stack's task queue (bundle built once in globalSetup). */
export function createTestWorker(
  s: Stack,
  connectors = s.connectors,
  mailer = s.mailer,
  deps: Partial<ActivityDeps> = {},
): Promise<OffboardingWorkers> {
  return createOffboardingWorker({
    connection: s.nativeConnection,
    namespace: 'default',
    taskQueue: s.taskQueue,
    deps: { db: s.db, catalog: s.catalog, connectors, mailer, publicUrl: 'http://127.0.0.1:3000', ...deps },
    dataConverter,
    workflowBundle: { codePath: workflowBundlePath() },
    extra: { stickyQueueScheduleToStartTimeout: '1s' },
  });
}

/** The real API server on a free port, pointed at the stack. */
export function startApi(s: Stack, overrides: Record<string, string> = {}): Promise<RunningServer> {
  const e = {
    DATABASE_URL: s.databaseUrl,
    TEMPORAL_ADDRESS: env.temporalAddress,
    TEMPORAL_TASK_QUEUE: s.taskQueue,
    HRIS_WEBHOOK_SECRET: WEBHOOK_SECRET,
    OPERATOR_TOKENS,
    PAYLOAD_CODEC_KEYS: CODEC_KEYS_SPEC,
    PORT: '0',
    DISPATCH_INTERVAL: '300ms',
    LOG_LEVEL: 'silent',
    // Every test sends from 127.0.0.1, hundreds of requests a minute: the rate limits are off unless a
    // test sets them (test/abuse.test.ts).
    WEBHOOK_RATE_LIMIT: 'off',
    SIGN_IN_RATE_LIMIT: 'off',
    PUBLIC_PAGE_RATE_LIMIT: 'off',
    PUBLIC_LINK_RATE_LIMIT: 'off',
    ...overrides,
  };
  return runServer(e, { config: loadConfig(e), logger: quietLogger, catalog: s.catalog });
}

/** POSTs a body with headers to the API. */
export async function post(url: string, body: string, headers: Record<string, string>) {
  const res = await fetch(url, { method: 'POST', body, headers });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, json: json as Record<string, unknown>, text };
}

export async function getJson(url: string, token?: string) {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

export async function eventually<T>(
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > until)
      throw new Error(`${what} not reached in ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A departure row as intake would store it, and the workflow input for it. */
export async function createDeparture(
  db: Db,
  employeeId: string,
  opts: {
    terminationType?: 'voluntary' | 'involuntary';
    lastDay?: string | null;
    managerEmail?: string | null;
    workLocation?: 'remote' | 'in_office' | 'hybrid';
  } = {},
): Promise<OffboardingInput> {
  const id = `dep_${randomUUID()}`;
  const confirmedAt = new Date(Date.now() - 60_000);
  const terminationType = opts.terminationType ?? 'involuntary';
  const row = await db.departure.create({
    data: {
      id,
      employeeId,
      terminationKey: confirmedAt.toISOString(),
      workflowId: offboardingWorkflowId(employeeId),
      employeeName: `Employee ${employeeId}`,
      workEmail: `${employeeId.toLowerCase()}@example.com`,
      personalEmail: `${employeeId.toLowerCase()}@personal.example.net`,
      department: 'Finance',
      managerEmail: opts.managerEmail === undefined ? 'manager@example.com' : opts.managerEmail,
      workLocation: opts.workLocation ?? 'in_office',
      departmentHeadEmail: 'head@example.com',
      terminationType,
      confirmedAt,
      lastDay: opts.lastDay ?? null,
      occurredAt: confirmedAt,
    },
  });
  return offboardingInput(row);
}

/** The stack's catalog narrowed to some systems. */
export function catalogOf(s: Stack, systemIds: string[]): Catalog {
  return { ...s.catalog, systems: s.catalog.systems.filter((x) => systemIds.includes(x.id)) };
}

/**
 * Runs `fn` with a worker (workflows + activities over the stack) on `taskQueue` of any test server.
 * The worker encrypts: the client that talks to it needs `dataConverter` too.
 */
export async function withWorkerOn<T>(
  connection: NativeConnection,
  s: Stack,
  taskQueue: string,
  catalog: Catalog,
  fn: () => Promise<T>,
  /** A plan shape older workers recorded (e.g. `{ localSweep: false }`), for the paths theirs take. */
  legacyPlan?: ActivityDeps['legacyPlan'],
): Promise<T> {
  const workers = await createOffboardingWorker({
    connection,
    namespace: 'default',
    taskQueue,
    deps: {
      db: s.db,
      catalog,
      connectors: s.connectors,
      mailer: s.mailer,
      publicUrl: 'http://x',
      legacyPlan,
    },
    dataConverter,
    workflowBundle: { codePath: workflowBundlePath() },
    extra: { stickyQueueScheduleToStartTimeout: '1s' },
  });
  return workers.runUntil(fn());
}

/**
 * Signs the NDA of `employeeId` the way the employee would: finds the signing link in the email sent to
 * their personal address and submits the signing page's form (links carry the worker's public URL, so
 * the path is sent to `apiUrl`).
 */
export async function signNdaFromMail(
  s: Pick<Stack, 'mail'>,
  apiUrl: string,
  employeeId: string,
): Promise<Response> {
  const personal = `${employeeId.toLowerCase()}@personal.example.net`;
  const isNda = (m: { to: string[]; text: string }) =>
    m.to.includes(personal) && /\/sign\/[A-Za-z0-9_-]+/.test(m.text);
  await s.mail.waitFor(isNda, 30_000);
  // Use the newest signing email: a reminder (or a retried request) carries a fresh link and ends older ones.
  const newest = s.mail.messages.filter(isNda).at(-1)!;
  const path = /\/sign\/[A-Za-z0-9_-]+/.exec(newest.text)![0];
  const res = await fetch(`${apiUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ fullName: `Employee ${employeeId}`, acknowledge: 'yes' }).toString(),
  });
  if (res.status !== 200) {
    const page = await res.text();
    const count = s.mail.messages.filter(isNda).length;
    throw new Error(
      `signing ${path} answered ${res.status} (${count} signing emails): ${page
        .replace(/<[^>]+>/g, ' ')
        .replace(/\s+/g, ' ')
        .slice(0, 300)}`,
    );
  }
  return res;
}

/**
 * A catalog data source with the built-in manual archive connector, as the demo catalog has: its
 * archive waits for the owner's word (`POST /departures/:id/archives/mailbox/confirmed`).
 */
export const MANUAL_MAILBOX: Catalog['dataSources'][number] = {
  id: 'mailbox',
  name: 'Exchange mailbox',
  retentionPolicy: 'email-7y',
  archiveLocation: 'archive://mail/',
  deleteAfterArchive: false,
  owner: { name: 'Messaging Team', email: 'messaging@example.com' },
  connector: { kind: 'manual' },
};

/** A `startRunningStack` catalog change: the manual mailbox as the only data source. */
export const withManualMailbox = (c: Catalog): void => {
  c.dataSources = [MANUAL_MAILBOX];
};

/** A stack with a running worker and the API: what the end-to-end tests start in `beforeAll`. */
export async function startRunningStack(
  opts: {
    /** Changes the test catalog before the worker starts (e.g. adds data sources). */
    catalog?: (c: Catalog) => void;
  } = {},
): Promise<{
  stack: Stack;
  api: RunningServer;
  stop(): Promise<void>;
}> {
  const stack = await startStack();
  opts.catalog?.(stack.catalog);
  const worker = await createTestWorker(stack);
  const running = worker.run();
  const api = await startApi(stack);
  return {
    stack,
    api,
    async stop() {
      await api.close();
      worker.shutdown();
      await running;
      await stack.stop();
    },
  };
}

/**
 * A time-skipping test server of its own (one per test: skipped days stay skipped, and activities
 * compare dates with the real clock), with the test codec and the search attributes registered.
 */
export async function startTimeSkipping(): Promise<TestWorkflowEnvironment> {
  const testEnv = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: env.testServer } },
    client: { dataConverter },
  });
  await registerSearchAttributes(testEnv.connection);
  return testEnv;
}

/**
 * Signs an offboarding off the way HR and IT would: waits until it awaits sign-off with its report
 * compiled, resolves every item still needing it (accepted risk, or fixed by hand for an account the
 * audit found active) and acknowledges as HR and as IT. Returns the status after.
 */
export async function signOff(
  client: Client,
  workflowId: string,
  opts: { timeoutMs?: number; how?: 'accepted_risk' | 'fixed_by_hand' } = {},
): Promise<OffboardingStatus> {
  const h = client.workflow.getHandle(workflowId);
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let st: OffboardingStatus | null = null;
  for (;;) {
    st = await h.query(statusQuery);
    if (st.phase === 'awaiting_signoff' && st.verification?.report) break;
    if (Date.now() > deadline)
      throw new Error(`never awaited sign-off: phase ${st.phase}, report ${!!st.verification?.report}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const items = st.verification!.report!.items;
  for (const itemId of st.verification!.unresolved) {
    const item = items.find((i) => i.itemId === itemId)!;
    const how =
      item.kind === 'access' && item.colour === 'red'
        ? 'fixed_by_hand'
        : item.detail?.startsWith('AccountNotFoundError:')
          ? 'no_account'
          : item.detail?.startsWith('AmbiguousAccountError:')
            ? 'fixed_by_hand'
            : (opts.how ?? 'accepted_risk');
    await h.executeUpdate(resolveUpdate, {
      args: [
        {
          departureId: st.departureId,
          itemId,
          how,
          note: 'signed off by the test',
          by: 'test-it',
          role: 'it',
        },
      ],
    });
  }
  for (const role of ['hr', 'it'] as const)
    await h.executeUpdate(acknowledgeUpdate, {
      args: [{ departureId: st.departureId, role, by: `test-${role}` }],
    });
  return h.query(statusQuery);
}

/**
 * The offboarding's result once HR and IT have signed it off (`signOff`), for tests whose subject is
 * something else. On the time-skipping server, awaiting the result is what lets time skip.
 */
export async function resultAfterSignOff(
  client: Client,
  handle: { workflowId: string; result(): Promise<unknown> },
  opts: { timeoutMs?: number } = {},
): Promise<OffboardingStatus> {
  const [result] = await Promise.all([handle.result(), signOff(client, handle.workflowId, opts)]);
  return result as OffboardingStatus;
}

/**
 * The follow-up parts that are activities of their own when the first round (`firstFollowupRound`)
 * does not do them (before it existed, in plans of older workers).
 */
export const FOLLOWUP_PART_ACTIVITIES: readonly string[] = [
  'planAssetRecovery',
  'requestAssetReturn',
  'sendBenefitsAndPayrollNotifications',
  'sendExitSurvey',
  'archiveDataSource',
  'recordDataArchivingConfirmation',
  'sendNdaForSignature',
];

/** Waits until the first part of a departure's first follow-up round (the asset plan) is done. */
export function firstRoundPlanned(s: Pick<Stack, 'db'>, departureId: string) {
  return eventually(
    () =>
      s.db.auditEvent.findFirst({
        where: { departureId, action: { in: ['asset_recovery_planned', 'no_assets_assigned'] } },
      }),
    60_000,
    'the first round planned the asset recovery',
  );
}
