/**
 * `npm start` ended the hard ways, on one data folder (issue 28):
 *  1. SIGKILLed mid-offboarding together with its watchdog: the Temporal dev server and PGlite are left
 *     running, holding their ports; the next start recognises them by their pid files, stops them and
 *     comes up;
 *  2. its terminal closed (a pseudo-terminal whose other end goes away: SIGHUP, and every later write to
 *     the terminal fails) mid-offboarding: it stops cleanly, as on Ctrl-C;
 *  3. SIGKILLed alone: its watchdog stops the servers it started.
 * Each time the stand-ins' saved state already holds every change a step was confirmed green by, the
 * offboardings finish after the restart, and the targets agree with the confirmed steps (each account
 * disabled exactly once).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEMO_EMPLOYEES, DEMO_SECRETS } from '../embedded/demo';
import { portOpen } from '../embedded/net';
import { isRunning, readRun, stopRecorded, type ProcessRecord } from '../embedded/pidfiles';
import { signDelivery } from '../lib/webhook-sign';
import type { GraphUserState } from '../standins/graph';
import type { ScimUserState } from '../standins/scim';
import { freePort } from './support/services';
import { env, eventually, hrisEvent, uniq } from './support/harness';

const ROOT = path.resolve(__dirname, '..');
const PORTS = ['api', 'temporal', 'ui', 'pg', 'smtp', 'inbox', 'graph', 'scim', 'google', 'slack'] as const;
let ports: Record<(typeof PORTS)[number], number>;
let dataDir: string;
let secrets: { HRIS_WEBHOOK_SECRET: string; adminToken: string };

interface Running {
  /** `npm start` itself, or `script` holding the pseudo-terminal it runs in. */
  proc: ChildProcess;
  out: () => string;
  /** The `npm start` process (from its pid file). */
  owner: ProcessRecord;
  /** Its run's pid-file folder. */
  runDir: string;
}

interface StepView {
  systemId: string;
  status: string;
  stepId?: string;
}

/** The stand-ins' users, as saved in `.data/standins/state.json` and as their admin routes list them. */
interface TargetState {
  graph: GraphUserState[];
  scim: Record<string, ScimUserState[]>;
}

function embeddedEnv(): NodeJS.ProcessEnv {
  const e = { ...process.env };
  for (const k of [
    'DATABASE_URL',
    'TEMPORAL_ADDRESS',
    'HRIS_WEBHOOK_SECRET',
    'CATALOG_FILE',
    'SMTP_URL',
    'OPERATOR_TOKENS',
    'PORT',
  ])
    delete e[k];
  return {
    ...e,
    LOG_LEVEL: 'warn',
    OFFBOARD_DATA_DIR: dataDir,
    PORT: String(ports.api),
    OFFBOARD_TEMPORAL_PORT: String(ports.temporal),
    OFFBOARD_TEMPORAL_UI_PORT: String(ports.ui),
    OFFBOARD_PG_PORT: String(ports.pg),
    OFFBOARD_SMTP_PORT: String(ports.smtp),
    OFFBOARD_INBOX_PORT: String(ports.inbox),
    OFFBOARD_GRAPH_PORT: String(ports.graph),
    OFFBOARD_SCIM_PORT: String(ports.scim),
    OFFBOARD_GOOGLE_PORT: String(ports.google),
    OFFBOARD_SLACK_PORT: String(ports.slack),
  };
}

const runRoot = () => path.join(dataDir, 'run');
const runDirs = () =>
  existsSync(runRoot()) ? readdirSync(runRoot()).map((d) => path.join(runRoot(), d)) : [];

/**
 * Starts `npm start` (as the embedded test does: node with tsx, in a process group of its own) and
 * waits for its banner. `terminal`: inside a pseudo-terminal (util-linux `script`), as in a terminal
 * window.
 */
async function start(terminal = false): Promise<Running> {
  let out = '';
  const node = [process.execPath, '--require', 'tsx/cjs', 'embedded/start.ts'];
  const proc = terminal
    ? spawn('script', ['-qfec', `exec ${node.map((a) => `'${a}'`).join(' ')}`, '/dev/null'], {
        cwd: ROOT,
        env: embeddedEnv(),
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
      })
    : spawn(node[0]!, node.slice(1), {
        cwd: ROOT,
        env: embeddedEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const until = Date.now() + 150_000;
  while (!out.includes('Offboard is running')) {
    if (proc.exitCode !== null || Date.now() > until) {
      await killAll();
      throw new Error(`npm start did not come up (exit ${String(proc.exitCode)}):\n${out}`);
    }
    await sleep(200);
  }
  // The claim removed every earlier run's folder: the one left is this run's.
  const dirs = runDirs();
  expect(dirs).toHaveLength(1);
  const { owner } = readRun(dirs[0]!);
  expect(owner).not.toBeNull();
  return { proc, out: () => out, owner: owner!, runDir: dirs[0]! };
}

/** Whatever is still running from any run on the data folder, and the runs themselves. */
async function killAll(): Promise<void> {
  for (const dir of runDirs()) {
    const { owner, started } = readRun(dir);
    await Promise.all([...started, ...(owner ? [owner] : [])].map((r) => stopRecorded(r, 2_000)));
  }
}

/** GET or POST on the Graph stand-in's admin routes (HTTPS with the stand-in's own CA). */
function graphAdmin<T>(method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> {
  const ca = readFileSync(path.join(dataDir, 'standins', 'ca.pem'), 'utf8');
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: 'localhost',
        port: ports.graph,
        path: route,
        method,
        ca,
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let s = '';
        res.on('data', (c: Buffer) => (s += c.toString()));
        res.on('end', () =>
          (res.statusCode ?? 500) < 300
            ? resolve(JSON.parse(s) as T)
            : reject(new Error(`${res.statusCode} ${s}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function liveTargets(): Promise<TargetState> {
  return {
    graph: await graphAdmin<GraphUserState[]>('GET', '/_standin/users'),
    scim: (await (await fetch(`http://127.0.0.1:${ports.scim}/_standin/apps`)).json()) as TargetState['scim'],
  };
}

function savedTargets(): TargetState {
  return JSON.parse(readFileSync(path.join(dataDir, 'standins', 'state.json'), 'utf8')) as TargetState;
}

/** A leaver who is not in the demo data, added through the stand-ins' admin and SCIM routes. */
async function addLeaver(employeeId: string): Promise<void> {
  const email = `${employeeId.toLowerCase()}@example.com`;
  await graphAdmin('POST', '/_standin/users', {
    userPrincipalName: email,
    displayName: `Employee ${employeeId}`,
    employeeId,
  });
  for (const app of ['crm', 'wiki', 'vpn'] as const) {
    const token = DEMO_SECRETS[`SCIM_TOKEN_${app.toUpperCase()}` as 'SCIM_TOKEN_CRM'];
    const r = await fetch(`http://127.0.0.1:${ports.scim}/${app}/scim/v2/Users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
      body: JSON.stringify({
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
        userName: email,
        externalId: employeeId,
        displayName: `Employee ${employeeId}`,
        emails: [{ value: email, primary: true }],
        active: true,
      }),
    });
    expect(r.status).toBe(201);
  }
  // Google Workspace is an identity tier: everyone has an account there (Slack may have none).
  const g = await fetch(`http://127.0.0.1:${ports.google}/_standin/users`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ primaryEmail: email, fullName: `Employee ${employeeId}`, employeeId }),
  });
  expect(g.status).toBe(201);
}

/** Fires a signed termination for `employeeId`; the departure's id. */
async function fire(employeeId: string): Promise<string> {
  const event = hrisEvent(employeeId);
  const demo = DEMO_EMPLOYEES.find((e) => e.id === employeeId);
  if (demo) Object.assign(event.employee, { name: demo.name, workEmail: demo.workEmail });
  // The manager Google Workspace hands the leaver's data to (seeded in the Google stand-in).
  event.employee.managerEmail = 'lee@example.com';
  const d = signDelivery(secrets.HRIS_WEBHOOK_SECRET, event);
  const res = await fetch(`http://127.0.0.1:${ports.api}/webhooks/hris`, {
    method: 'POST',
    headers: d.headers,
    body: d.body,
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { departureId: string }).departureId;
}

async function steps(departureId: string): Promise<StepView[]> {
  const r = await fetch(`http://127.0.0.1:${ports.api}/departures/${departureId}`, {
    headers: { authorization: `Bearer ${secrets.adminToken}` },
  });
  return ((await r.json()) as { steps: StepView[] }).steps;
}

const finished = (s: StepView[]) =>
  s.length > 0 &&
  s.every((x) => (['badges', 'chat'].includes(x.systemId) ? x.status === 'yellow' : x.status === 'green'));

/**
 * Waits until a step of one of the departures is confirmed green while their revocation is still under
 * way, and returns every departure's steps as the API showed them then.
 */
async function midRevocation(departures: Record<string, string>): Promise<Record<string, StepView[]>> {
  return eventually(
    async () => {
      const views: Record<string, StepView[]> = {};
      for (const [employeeId, id] of Object.entries(departures)) views[employeeId] = await steps(id);
      const all = Object.values(views);
      return all.some((s) => s.some((x) => x.status === 'green')) ? views : null;
    },
    90_000,
    'a first step confirmed',
  );
}

async function allFinished(departures: Record<string, string>): Promise<Record<string, StepView[]>> {
  return eventually(
    async () => {
      const views: Record<string, StepView[]> = {};
      for (const [employeeId, id] of Object.entries(departures)) {
        views[employeeId] = await steps(id);
        if (!finished(views[employeeId])) return null;
      }
      return views;
    },
    120_000,
    'every revocation finished',
  );
}

/**
 * What the targets say against what the steps say: for each step confirmed green, the account is
 * disabled (Entra), has no method but its password (Entra MFA), is inactive (SCIM apps), and was
 * disabled exactly once.
 */
function disagreements(targets: TargetState, views: Record<string, StepView[]>): string[] {
  const out: string[] = [];
  for (const [employeeId, view] of Object.entries(views)) {
    const graphUser = targets.graph.find((u) => u.employeeId === employeeId);
    for (const step of view.filter((s) => s.status === 'green')) {
      const at = `${employeeId} ${step.stepId ?? step.systemId}`;
      if (step.systemId === 'entra' && (step.stepId ?? 'entra') === 'entra') {
        if (!graphUser) out.push(`${at}: no Entra user`);
        else if (graphUser.accountEnabled || graphUser.disableCount !== 1)
          out.push(
            `${at}: accountEnabled ${graphUser.accountEnabled}, disabled ${graphUser.disableCount} times`,
          );
      } else if (step.systemId === 'entra-mfa') {
        const left = graphUser?.authenticationMethods.filter(
          (m) => m['@odata.type'] !== '#microsoft.graph.passwordAuthenticationMethod',
        );
        if (!left || left.length > 0) out.push(`${at}: methods left ${JSON.stringify(left)}`);
      } else if (['crm', 'wiki', 'vpn'].includes(step.systemId)) {
        const u = targets.scim[step.systemId]?.find((x) => x.externalId === employeeId);
        if (!u) out.push(`${at}: no ${step.systemId} user`);
        else if (u.active || u.deactivations !== 1)
          out.push(`${at}: active ${u.active}, deactivated ${u.deactivations} times`);
      }
    }
  }
  return out;
}

const greenCount = (views: Record<string, StepView[]>) =>
  Object.values(views).reduce((n, s) => n + s.filter((x) => x.status === 'green').length, 0);

async function gone(rec: ProcessRecord, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (isRunning(rec)) {
    if (Date.now() > until) return false;
    await sleep(200);
  }
  return true;
}

beforeAll(async () => {
  // `script` (util-linux) provides the pseudo-terminal; Debian has it in every installation.
  if (spawnSync('script', ['--version']).status !== 0)
    throw new Error('this test needs util-linux `script` (a pseudo-terminal for npm start)');
  dataDir = path.join(env.root, uniq('crash-data'));
  const free: Partial<typeof ports> = {};
  for (const k of PORTS) free[k] = await freePort();
  ports = free as typeof ports;
});

afterAll(async () => {
  await killAll();
});

test('npm start killed or hung up mid-offboarding: nothing is left running, the targets agree', async () => {
  // ---- 1. SIGKILL of npm start and of its watchdog: the servers are left behind.
  let run = await start();
  secrets = JSON.parse(readFileSync(path.join(dataDir, 'secrets.json'), 'utf8')) as typeof secrets;
  // A leaver added through the stand-ins' admin routes: kept across the crash like the seeded ones.
  await addLeaver('E-7001');
  const first = { 'E-1042': await fire('E-1042'), 'E-1044': await fire('E-1044') };
  let views = await midRevocation(first);
  const { started } = readRun(run.runDir);
  const watchdog = started.find((r) => r.name === 'watchdog')!;
  const servers = started.filter((r) => r.name !== 'watchdog');
  expect(servers.map((r) => r.name).sort()).toEqual(['postgres', 'temporal']);
  process.kill(watchdog.pid, 'SIGKILL');
  run.proc.kill('SIGKILL');
  await gone(run.owner, 10_000);
  // Every change a step was confirmed by is on disk already.
  expect(disagreements(savedTargets(), views)).toEqual([]);
  expect(savedTargets().graph.some((u) => u.employeeId === 'E-7001')).toBe(true);
  await sleep(2_000);
  for (const r of servers) expect(isRunning(r)).toBe(true);
  expect(await portOpen(ports.temporal)).toBe(true);
  console.log(`crash 1: SIGKILL with ${greenCount(views)} steps green; servers left running`);

  // ---- 2. The next start stops them; the offboardings finish; then its terminal is closed.
  run = await start(true);
  expect(run.out()).toMatch(
    /stopped what an earlier run on this data folder left running: .*(Temporal dev server|PGlite).*(Temporal dev server|PGlite)/,
  );
  for (const r of servers) expect(isRunning(r)).toBe(false);
  const targetsAfter1 = await liveTargets();
  expect(targetsAfter1.graph.some((u) => u.employeeId === 'E-7001')).toBe(true);
  views = await allFinished(first);
  expect(disagreements(await liveTargets(), views)).toEqual([]);

  const second = { 'E-1043': await fire('E-1043'), 'E-7001': await fire('E-7001') };
  views = await midRevocation(second);
  const closed = readRun(run.runDir);
  // The terminal window goes away: the pseudo-terminal's other end closes, npm start gets SIGHUP.
  run.proc.kill('SIGKILL');
  expect(await gone(run.owner, 90_000)).toBe(true);
  // A clean stop: it released its pid files (a crash leaves them), and stopped what it started.
  expect(existsSync(run.runDir)).toBe(false);
  for (const r of closed.started) expect(await gone(r, 5_000)).toBe(true);
  expect(disagreements(savedTargets(), views)).toEqual([]);
  console.log(`crash 2: SIGHUP with ${greenCount(views)} steps green; stopped cleanly`);

  // ---- 3. The next start finds nothing left over; everything finishes; then npm start alone is SIGKILLed.
  run = await start();
  expect(run.out()).not.toContain('left running');
  views = await allFinished({ ...first, ...second });
  expect(disagreements(await liveTargets(), views)).toEqual([]);
  expect(Object.keys(views)).toHaveLength(4);
  const last = readRun(run.runDir).started;
  expect(last.map((r) => r.name).sort()).toEqual(['postgres', 'temporal', 'watchdog']);
  run.proc.kill('SIGKILL');
  // Its watchdog stops the servers (and itself ends).
  for (const r of last) expect(await gone(r, 30_000)).toBe(true);
  expect(run.out()).toMatch(/npm start is gone; stopped what it left running: .*Temporal dev server/);
  expect(await portOpen(ports.temporal)).toBe(false);
  expect(await portOpen(ports.pg)).toBe(false);
}, 600_000);
