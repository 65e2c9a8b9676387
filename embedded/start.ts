/**
 * `npm start`: the whole product on embedded defaults, with nothing installed by hand.
 *
 *  - Temporal dev server with its Web UI, persisted in `.data/temporal.db` (unless TEMPORAL_ADDRESS is set)
 *  - embedded PostgreSQL (PGlite over the wire protocol) in `.data/pg` (unless DATABASE_URL is set),
 *    migrations applied
 *  - an SMTP catcher on 1025 whose inbox is readable at http://127.0.0.1:1080 and kept in `.data/mail`
 *  - local STAND-INS for Microsoft Graph, SCIM apps, Google Workspace and Slack (the demo catalog points
 *    at them; embedded/standins-google-slack.ts)
 *  - the worker and the API
 *
 * Secrets (webhook secret, an admin operator token, the payload encryption key) are generated once and
 * kept in `.data/secrets.json`. The dev server registers the offboarding search attributes and points
 * its Web UI at the API's codec endpoint.
 * Ctrl-C or a closed terminal (SIGHUP) stops everything; the next start finds the same state. Should
 * this process end without stopping them (SIGKILL, a crash), its watchdog stops the Temporal dev server
 * and PGlite (embedded/watchdog.ts), and the next start stops any that are left (pid files in
 * `.data/run`, embedded/pidfiles.ts); the stand-ins save each change before they answer it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { loadConfig } from '../config/env';
import { SEARCH_ATTRIBUTE_REGISTRATIONS } from '../contract';
import { mintSigningKey } from '../lib/audit-key';
import { generateCodecKey } from '../lib/codec';
import { createLogger } from '../lib/logger';
import { settlesWithin } from '../lib/timeout';
import { hashToken } from '../server/auth';
import { runServer } from '../server/main';
import { startWorkerInProcess } from '../workers/main';
import { GraphStandIn, type GraphUserState } from '../standins/graph';
import { DIRECTORY_ROLES } from '../standins/graph-roles';
import { ScimStandIn, type ScimUserState } from '../standins/scim';
import { JsonStateFile } from '../standins/persist';
import { dynamicConfigFlags, findTemporalBinaries, SINGLE_NODE_DYNAMIC_CONFIG } from './binaries';
import { MailCatcher } from './mailcatcher';
import { portOpen } from './net';
import { RunRecords } from './pidfiles';
import { startWatchdog } from './watchdog';
import { DEMO_BREAK_GLASS, DEMO_EMPLOYEES, DEMO_PORTS, DEMO_SECRETS } from './demo';
import { demoCatalogUrls, startGoogleSlackStandIns } from './standins-google-slack';
import {
  DEMO_REALM,
  DEMO_USER_PASSWORD,
  keycloakDemoCatalog,
  startDemoKeycloak,
  type DemoKeycloak,
} from './keycloak-demo';

const ROOT = path.resolve(__dirname, '..');
const DATA = path.resolve(ROOT, process.env.OFFBOARD_DATA_DIR ?? '.data');
const say = (msg: string) => console.log(`[offboard] ${msg}`);

interface Secrets {
  HRIS_WEBHOOK_SECRET: string;
  adminToken: string;
  /** Demo operators for the dashboard: HR and IT sign reports off, the IT desk records returns. */
  roleTokens?: { hr: string; it: string; itdesk: string };
  /** Encrypts the payloads in `.data/temporal.db`: without it those histories cannot be read. */
  PAYLOAD_CODEC_KEYS: string;
  /** Signs the audit chain head exports in `.data/audit-exports` (lib/audit-export.ts). */
  AUDIT_EXPORT_SIGNING_KEY: string;
}

function newRoleTokens(): NonNullable<Secrets['roleTokens']> {
  const t = () => randomBytes(24).toString('base64url');
  return { hr: t(), it: t(), itdesk: t() };
}

function loadSecrets(): Secrets {
  const file = path.join(DATA, 'secrets.json');
  if (existsSync(file)) {
    const read = JSON.parse(readFileSync(file, 'utf8')) as Partial<Secrets> &
      Omit<Secrets, 'PAYLOAD_CODEC_KEYS' | 'AUDIT_EXPORT_SIGNING_KEY'>;
    // A data folder from before the audit exports: add their signing key.
    const s = {
      ...read,
      AUDIT_EXPORT_SIGNING_KEY: read.AUDIT_EXPORT_SIGNING_KEY ?? mintSigningKey('local-1').signingKey,
    };
    if (!read.AUDIT_EXPORT_SIGNING_KEY) writeFileSync(file, JSON.stringify(s, null, 2), { mode: 0o600 });
    if (s.PAYLOAD_CODEC_KEYS && s.roleTokens) return s as Secrets;
    if (s.PAYLOAD_CODEC_KEYS) {
      // A data folder from before the dashboard: add the demo HR, IT and IT desk tokens.
      const withRoles: Secrets = { ...(s as Secrets), roleTokens: newRoleTokens() };
      writeFileSync(file, JSON.stringify(withRoles, null, 2), { mode: 0o600 });
      return withRoles;
    }
    // A data folder from before payload encryption: add a key (its older histories stay readable).
    const upgraded: Secrets = {
      ...s,
      PAYLOAD_CODEC_KEYS: generateCodecKey('local-1'),
      roleTokens: newRoleTokens(),
    };
    writeFileSync(file, JSON.stringify(upgraded, null, 2), { mode: 0o600 });
    say(`generated a payload encryption key in ${path.relative(ROOT, file)}`);
    return upgraded;
  }
  const s: Secrets = {
    HRIS_WEBHOOK_SECRET: `whsec_${randomBytes(32).toString('base64')}`,
    adminToken: randomBytes(24).toString('base64url'),
    roleTokens: newRoleTokens(),
    PAYLOAD_CODEC_KEYS: generateCodecKey('local-1'),
    AUDIT_EXPORT_SIGNING_KEY: mintSigningKey('local-1').signingKey,
  };
  writeFileSync(file, JSON.stringify(s, null, 2), { mode: 0o600 });
  say(
    `generated a webhook secret, admin and demo HR/IT/IT desk tokens, a payload encryption key and an audit export signing key in ${path.relative(ROOT, file)}`,
  );
  return s;
}

async function waitPort(
  what: string,
  port: number,
  child: ChildProcess | null,
  timeoutMs = 60_000,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await portOpen(port)) return;
    if (child && child.exitCode !== null) throw new Error(`${what} exited with code ${child.exitCode}`);
    await sleep(200);
  }
  throw new Error(`${what} did not listen on port ${port} within ${timeoutMs / 1000} s`);
}

/** `--idp keycloak`: a real Keycloak as the identity provider instead of the Graph stand-in. */
function identityProvider(args: string[]): 'graph' | 'keycloak' {
  const i = args.findIndex((a) => a === '--idp' || a.startsWith('--idp='));
  if (i < 0) return 'graph';
  const value = args[i]!.includes('=') ? args[i]!.slice('--idp='.length) : args[i + 1];
  if (value === 'keycloak' || value === 'graph') return value;
  throw new Error(
    `--idp ${value ?? ''}: use --idp keycloak (a real Keycloak), or leave it out (the Graph stand-in)`,
  );
}

/**
 * `npm start` is the embedded demo (stand-ins, generated secrets, plain http): it refuses to run with
 * NODE_ENV=production, before it creates or starts anything. Production runs the worker and the API
 * (`npm run start:worker`, `npm run start:server`; docs/operations.md).
 */
export const PRODUCTION_REFUSAL =
  'NODE_ENV=production: `npm start` runs the embedded demo (local stand-ins, generated secrets, plain ' +
  'http) and is not for production. Run the worker and the API instead (npm run start:worker, npm run ' +
  'start:server, or temporal-docker/; see docs/operations.md), or unset NODE_ENV for the demo.';

async function main(): Promise<void> {
  if (process.env.NODE_ENV === 'production') throw new Error(PRODUCTION_REFUSAL);
  const idp = identityProvider(process.argv.slice(2));
  mkdirSync(path.join(DATA, 'standins'), { recursive: true });
  // Refuses a second `npm start` on this data folder, stops what a crashed one left running; the
  // watchdog stops what this one starts should it end without stopping them.
  const run = await RunRecords.claim(DATA, say);
  startWatchdog(run);
  const secrets = loadSecrets();
  const children: ChildProcess[] = [];
  // Children run in their own process group (Ctrl-C reaches only us, and we stop them in order);
  // if this process dies anyway, take them with it.
  process.once('exit', () => children.forEach((c) => c.exitCode === null && c.kill('SIGKILL')));
  const cleanups: (() => Promise<void> | void)[] = [];
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Where the browser reaches the API (the Web UI calls its codec endpoint from there).
  const apiPort = process.env.PORT ?? '3000';
  const apiUrl =
    process.env.PUBLIC_URL?.replace(/\/$/, '') ??
    (apiPort === '0'
      ? null
      : `http://${!process.env.HOST || process.env.HOST === '0.0.0.0' ? '127.0.0.1' : process.env.HOST}:${apiPort}`);

  // ---- Temporal dev server (SQLite file + Web UI)
  let temporalUi: string | null = null;
  if (!process.env.TEMPORAL_ADDRESS) {
    if (await portOpen(DEMO_PORTS.temporal))
      throw new Error(
        `port ${DEMO_PORTS.temporal} is already in use: stop the other Temporal server, or set TEMPORAL_ADDRESS to use it`,
      );
    const { temporal } = findTemporalBinaries();
    say(
      `starting Temporal dev server (${path.relative(ROOT, temporal) || temporal}), state in ${path.relative(ROOT, DATA)}/temporal.db`,
    );
    const t = spawn(
      temporal,
      [
        'server',
        'start-dev',
        '--ip',
        '127.0.0.1',
        '--port',
        String(DEMO_PORTS.temporal),
        '--ui-port',
        String(DEMO_PORTS.temporalUi),
        '--db-filename',
        path.join(DATA, 'temporal.db'),
        '--namespace',
        'default',
        '--sqlite-pragma',
        'journal_mode=WAL',
        '--sqlite-pragma',
        'synchronous=NORMAL',
        ...dynamicConfigFlags(SINGLE_NODE_DYNAMIC_CONFIG),
        '--log-level',
        'error',
        // Registering an attribute that exists already is a no-op, so every start passes them all.
        ...SEARCH_ATTRIBUTE_REGISTRATIONS.flatMap((a) => ['--search-attribute', a]),
        ...(apiUrl ? ['--ui-codec-endpoint', `${apiUrl}/codec`] : []),
      ],
      { stdio: ['ignore', 'ignore', 'inherit'], detached: true },
    );
    children.push(t);
    run.record('temporal', 'Temporal dev server', t.pid);
    await waitPort('Temporal dev server', DEMO_PORTS.temporal, t);
    env.TEMPORAL_ADDRESS = `127.0.0.1:${DEMO_PORTS.temporal}`;
    temporalUi = `http://127.0.0.1:${DEMO_PORTS.temporalUi}`;
    env.CODEC_CORS_ORIGINS ||= `${temporalUi},http://localhost:${DEMO_PORTS.temporalUi}`;
  }

  // ---- PostgreSQL: embedded PGlite unless DATABASE_URL points at a real server
  if (!process.env.DATABASE_URL) {
    say(`starting embedded PostgreSQL (PGlite), data in ${path.relative(ROOT, DATA)}/pg`);
    // The package's bin script (not in its "exports", so resolve it from the package folder).
    // patches/@electric-sql+pglite-socket+*.patch keeps each connection's extended-protocol batch
    // (Parse..Sync) together and un-wedges the queue after a failed query: upstream
    // electric-sql/pglite#1046 (concurrent batches from two connections interleave).
    const bin = path.join(
      ROOT,
      'node_modules',
      '@electric-sql',
      'pglite-socket',
      'dist',
      'scripts',
      'server.js',
    );
    const pg = spawn(
      process.execPath,
      [
        bin,
        `--db=${path.join(DATA, 'pg')}`,
        `--port=${DEMO_PORTS.postgres}`,
        '--host=127.0.0.1',
        '--max-connections=20',
      ],
      { stdio: ['ignore', 'ignore', 'inherit'], detached: true },
    );
    children.push(pg);
    run.record('postgres', 'PGlite', pg.pid);
    await waitPort('PGlite', DEMO_PORTS.postgres, pg);
    env.DATABASE_URL = `postgresql://postgres:postgres@127.0.0.1:${DEMO_PORTS.postgres}/postgres?sslmode=disable`;
    // PGlite's connections share one session: prepared statements of one would collide with another's.
    env.DATABASE_PREPARED_STATEMENTS = 'false';
  }
  say('applying database migrations');
  const mig = spawnSync(
    process.execPath,
    [path.join(ROOT, 'embedded', 'prisma-cli.mjs'), 'migrate', 'deploy'],
    {
      env: { ...env },
      encoding: 'utf8',
    },
  );
  if (mig.status !== 0) throw new Error(`migrations failed:\n${mig.stdout}\n${mig.stderr}`);

  // ---- SMTP catcher with a readable inbox
  const mail = new MailCatcher(path.join(DATA, 'mail'));
  await mail.start(DEMO_PORTS.smtp);
  cleanups.push(() => mail.stop());
  const inbox = createHttpServer((_req, res) => {
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.end(JSON.stringify([...mail.messages].reverse(), null, 2));
  });
  await new Promise<void>((r) => inbox.listen(DEMO_PORTS.inbox, '127.0.0.1', () => r()));
  cleanups.push(() => new Promise<void>((r) => inbox.close(() => r())));
  env.SMTP_URL ||= mail.url;

  // ---- Stand-ins for the systems that cannot run here (state kept in .data/standins)
  const stateFile = path.join(DATA, 'standins', 'state.json');
  const graph = new GraphStandIn({
    tenantId: DEMO_SECRETS.tenantId,
    clientId: DEMO_SECRETS.clientId,
    clientSecret: DEMO_SECRETS.ENTRA_CLIENT_SECRET,
    port: DEMO_PORTS.graph,
    tls: existsSync(path.join(DATA, 'standins', 'tls.json'))
      ? (JSON.parse(readFileSync(path.join(DATA, 'standins', 'tls.json'), 'utf8')) as {
          key: string;
          cert: string;
        })
      : undefined,
  });
  writeFileSync(path.join(DATA, 'standins', 'tls.json'), JSON.stringify(graph.tls), { mode: 0o600 });
  writeFileSync(path.join(DATA, 'standins', 'ca.pem'), graph.tls.cert);
  const scim = new ScimStandIn({
    crm: { token: DEMO_SECRETS.SCIM_TOKEN_CRM },
    wiki: { token: DEMO_SECRETS.SCIM_TOKEN_WIKI },
    vpn: { token: DEMO_SECRETS.SCIM_TOKEN_VPN },
  });
  if (existsSync(stateFile)) {
    const st = JSON.parse(readFileSync(stateFile, 'utf8')) as {
      graph: GraphUserState[];
      scim: Record<string, ScimUserState[]>;
    };
    for (const u of st.graph) graph.users.set(u.id, u);
    for (const [app, users] of Object.entries(st.scim)) for (const u of users) scim.restoreUser(app, u);
  } else {
    // Entra demo data: a manager (learned when a departure arrives without one), assigned groups, a
    // dynamic group (reported, never touched), direct and group-based licences, MFA methods with a
    // default phone, and an app registration with a secret and a certificate owned by the first leaver.
    const G = GraphStandIn;
    const [E3, E5, POWER_BI] = ['SPE_E3', 'SPE_E5', 'POWER_BI_PRO'].map(
      (part) => Object.entries(G.SKUS).find(([, p]) => p === part)![0],
    );
    const manager = graph.seedUser({ userPrincipalName: 'lee@example.com', displayName: 'Lee Manager' });
    const teams = graph.seedGroup({ displayName: 'Project teams' });
    const vpnUsers = graph.seedGroup({ displayName: 'VPN users' });
    // Privileged (the demo catalog's `privilegedGroups`): a notice period removes it at once.
    const production = graph.seedGroup({ displayName: 'Production access' });
    const e5Users = graph.seedGroup({ displayName: 'Microsoft 365 E5 users', assignsLicenses: [E5!] });
    const everyone = graph.seedGroup({
      displayName: 'All employees',
      dynamic: true,
      membershipRule: '(user.userType -eq "Member")',
    });
    graph.seedUser({ userPrincipalName: DEMO_BREAK_GLASS, displayName: 'Emergency access (break-glass)' });
    DEMO_EMPLOYEES.forEach((e, i) => {
      // Matching finds each by employee id first; E-1044's accounts still have her former name.
      const account = (e as { accountName?: string }).accountName ?? e.workEmail;
      graph.seedUser({
        userPrincipalName: account,
        employeeId: e.id,
        displayName: e.name,
        managerId: manager.id,
        groups: [teams, vpnUsers, everyone, ...(i === 0 ? [e5Users] : []), ...(i === 1 ? [production] : [])],
        // Sam (E-1043), an engineer, administers users and may activate Global Administrator (PIM).
        ...(i === 1
          ? {
              roles: [DIRECTORY_ROLES.userAdministrator],
              eligibleRoles: [DIRECTORY_ROLES.globalAdministrator],
            }
          : {}),
        licenses: i === 0 ? [E3!, POWER_BI!] : [E3!],
        authenticationMethods: [
          G.authMethods.phone('mobile', `+1 555 0100 10${i}`),
          G.authMethods.microsoftAuthenticator(`${e.name.split(' ')[0]}'s phone`),
          ...(i === 0 ? [G.authMethods.fido2(), G.authMethods.email(e.personalEmail)] : []),
        ],
        defaultMethodId: G.PHONE_METHOD_IDS.mobile,
        ownedApplications:
          i === 0
            ? [
                G.application({
                  displayName: 'Finance export job',
                  secrets: ['prod'],
                  certificates: ['signing'],
                }),
              ]
            : [],
      });
      for (const app of ['crm', 'wiki', 'vpn'])
        scim.seedUser(app, account, { displayName: e.name, externalId: e.id, emails: [account] });
    });
  }
  // Write-through: each change is on disk before the stand-in answers the request that made it
  // (standins/persist.ts), so a crash loses nothing a workflow was told; seeded users are saved first.
  const saved = new JsonStateFile(stateFile, () => ({
    graph: [...graph.users.values()],
    scim: Object.fromEntries(['crm', 'wiki', 'vpn'].map((a) => [a, [...scim.store(a).users.values()]])),
  }));
  graph.onChange = () => saved.save();
  scim.onChange = () => saved.save();
  await saved.save();
  await graph.start();
  await scim.start(DEMO_PORTS.scim);
  cleanups.push(async () => {
    await graph.stop();
    await scim.stop();
    await saved.save();
  });
  Object.assign(env, {
    ENTRA_CLIENT_SECRET: DEMO_SECRETS.ENTRA_CLIENT_SECRET,
    SCIM_TOKEN_CRM: DEMO_SECRETS.SCIM_TOKEN_CRM,
    SCIM_TOKEN_WIKI: DEMO_SECRETS.SCIM_TOKEN_WIKI,
    SCIM_TOKEN_VPN: DEMO_SECRETS.SCIM_TOKEN_VPN,
  });
  // Google Workspace (its service account key generated once) and Slack, with their own state file.
  const googleSlack = await startGoogleSlackStandIns(DATA, say);
  cleanups.push(() => googleSlack.stop());
  Object.assign(env, googleSlack.env);

  // ---- A real Keycloak as the identity provider (`--idp keycloak`): fetched once, seeded once
  let keycloak: DemoKeycloak | null = null;
  if (idp === 'keycloak') {
    const kc = await startDemoKeycloak(DATA, DEMO_PORTS.keycloak, say, (pid) =>
      run.record('keycloak', 'Keycloak', pid),
    );
    keycloak = kc;
    cleanups.push(() => kc.stop());
    env.KEYCLOAK_CLIENT_SECRET = kc.clientSecret;
  }

  // ---- Worker and API
  // Keep the terminal readable for a newcomer: warnings and errors only unless LOG_LEVEL says otherwise.
  env.LOG_LEVEL ||= 'warn';
  env.HRIS_WEBHOOK_SECRET ||= secrets.HRIS_WEBHOOK_SECRET;
  const roles = secrets.roleTokens!;
  env.OPERATOR_TOKENS ||= [
    `admin:admin:${hashToken(secrets.adminToken)}`,
    `hr-demo:hr:${hashToken(roles.hr)}`,
    `it-demo:it:${hashToken(roles.it)}`,
    `itdesk-demo:itdesk:${hashToken(roles.itdesk)}`,
  ].join(',');
  env.PAYLOAD_CODEC_KEYS ||= secrets.PAYLOAD_CODEC_KEYS;
  // The audit chain head, exported hourly and signed into the data folder (docs/operations.md).
  env.AUDIT_EXPORT_SIGNING_KEY ||= secrets.AUDIT_EXPORT_SIGNING_KEY;
  env.AUDIT_EXPORT_DIR ||= path.join(DATA, 'audit-exports');
  mkdirSync(env.AUDIT_EXPORT_DIR, { recursive: true });
  if (!env.CATALOG_FILE) {
    // The demo catalog names the stand-ins' CA as .data/standins/ca.pem and their default ports; point
    // it at this data folder and the ports in use.
    const demo = demoCatalogUrls(
      readFileSync(path.join(ROOT, 'config', 'catalog.demo.yaml'), 'utf8'),
    ).replace(
      'caFile: .data/standins/ca.pem',
      `caFile: ${JSON.stringify(path.join(DATA, 'standins', 'ca.pem'))}`,
    );
    env.CATALOG_FILE = path.join(DATA, keycloak ? 'catalog.demo-keycloak.yaml' : 'catalog.demo.yaml');
    writeFileSync(env.CATALOG_FILE, keycloak ? keycloakDemoCatalog(demo, keycloak.url) : demo);
  }
  const cfg = loadConfig(env);
  const logger = createLogger({ level: cfg.LOG_LEVEL, name: 'offboard' });
  const worker = await startWorkerInProcess(env, logger);
  const api = await runServer(env, { config: cfg, logger });

  console.log(
    [
      '',
      '  Offboard is running (embedded setup).',
      '',
      `  API and webhook     ${api.url}   (POST /webhooks/hris, GET /departures, GET /health)`,
      temporalUi ? `  Temporal Web UI     ${temporalUi}` : `  Temporal            ${env.TEMPORAL_ADDRESS}`,
      `  Codec endpoint      ${api.url}/codec   (sign in at ${api.url}/codec/login, then enable the UI's "Include cross-origin credentials")`,
      `  Mail inbox          http://127.0.0.1:${DEMO_PORTS.inbox}   (SMTP catcher on ${mail.url})`,
      `  Stand-ins           Graph ${graph.url}, SCIM ${scim.url}   (local stand-ins, not real services)`,
      googleSlack.banner,
      ...(keycloak
        ? [
            `  Keycloak (real)     ${keycloak.url}/admin   admin / ${keycloak.adminPassword}, realm ${DEMO_REALM}`,
            `                      the identity and MFA tiers; the demo people sign in with ${DEMO_USER_PASSWORD}`,
          ]
        : []),
      '',
      `  Webhook secret      ${env.HRIS_WEBHOOK_SECRET === secrets.HRIS_WEBHOOK_SECRET ? secrets.HRIS_WEBHOOK_SECRET : '(from HRIS_WEBHOOK_SECRET)'}`,
      `  Admin token         ${secrets.adminToken}`,
      `  Audit exports       ${path.relative(ROOT, env.AUDIT_EXPORT_DIR) || env.AUDIT_EXPORT_DIR}   (every ${cfg.AUDIT_EXPORT_INTERVAL}; verify-audit --exports <dir> --public-key ${cfg.AUDIT_EXPORT_SIGNING_KEY?.publicKey ?? '(unsigned)'})`,
      `  Dashboard           ${api.url}/dashboard   sign in as HR ${roles.hr}`,
      `                      IT ${roles.it}   IT desk ${roles.itdesk}`,
      '',
      '  Fire a sample departure:   npm run demo:fire            (Dana Reyes, E-1042)',
      `  Then look at it:           curl -H 'authorization: Bearer ${secrets.adminToken}' ${api.url}/departures`,
      '',
      `  Ctrl-C stops everything; state is kept in ${path.relative(ROOT, DATA) || '.'}/.`,
      '',
    ].join('\n'),
  );

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    say('stopping…');
    // Each part gets a bounded time: Ctrl-C always ends the process.
    const bounded = async (what: string, p: Promise<unknown>, ms: number) => {
      if (!(await settlesWithin(p, ms))) say(`${what} did not stop within ${ms / 1000} s; going on`);
    };
    await bounded('the API', api.close(), 10_000);
    await bounded('the worker', worker.stop(), 40_000);
    for (const c of cleanups.reverse()) await bounded('a service', Promise.resolve().then(c), 10_000);
    for (const c of children.reverse()) {
      if (c.exitCode !== null) continue;
      c.kill('SIGTERM');
      await Promise.race([new Promise((r) => c.once('exit', r)), sleep(10_000)]);
      if (c.exitCode === null) c.kill('SIGKILL');
    }
    run.release();
    say('stopped');
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  // The terminal was closed: stop as on Ctrl-C. Every write to it fails from now on (EIO). Console
  // output ignores that once stdout has an error listener; pino's stream would throw on its first
  // failed write and, at exit, retry its final flush forever (sonic-boom 4.2 sleeps and retries any
  // error there, not only EAGAIN: the process never ended), so its output is dropped instead.
  process.once('SIGHUP', () => {
    const ignore = () => undefined;
    process.stdout.on('error', ignore);
    process.stderr.on('error', ignore);
    const stream = (logger as unknown as Record<symbol, object | undefined>)[pino.symbols.streamSym];
    if (stream && process.stdout.isTTY)
      Object.assign(stream, { write: () => true, flushSync: ignore, end: ignore });
    void stop();
  });
  for (const c of children)
    c.once('exit', (code) => {
      if (!stopping) {
        console.error(`[offboard] a child process exited unexpectedly (code ${code}); stopping`);
        void stop();
      }
    });
}

main().catch((e: unknown) => {
  console.error(`[offboard] could not start: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
