/**
 * The README's first command: `npm start` on embedded defaults (Temporal dev server with SQLite and UI,
 * PGlite, SMTP catcher, stand-ins, worker, API). A sample departure runs, with Google Workspace handing
 * Drive, Calendar and mail to the manager before suspension, and Slack; the data-archiving confirmation
 * shows the handover; Ctrl-C stops everything; the next start finds the same state.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { signDelivery } from '../lib/webhook-sign';
import type { GoogleStandInState } from '../standins/google-state';
import type { SlackStandInState } from '../standins/slack';
import { freePort } from './support/services';
import { env, eventually, hrisEvent, uniq } from './support/harness';
import { pdfText } from './support/pdf-text';

interface Running {
  proc: ChildProcess;
  out: () => string;
}

let ports: Record<string, number>;

/** This process's environment without anything that would replace an embedded default. */
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
  return e;
}
let dataDir: string;

async function start(): Promise<Running> {
  let out = '';
  const proc = spawn(process.execPath, ['--require', 'tsx/cjs', 'embedded/start.ts'], {
    cwd: path.resolve(__dirname, '..'),
    env: {
      ...embeddedEnv(),
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
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so that a kill reaches the servers it started too.
    detached: true,
  });
  proc.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const until = Date.now() + 120_000;
  while (!out.includes('Offboard is running')) {
    if (proc.exitCode !== null || Date.now() > until) {
      killGroup(proc);
      throw new Error(`npm start did not come up (exit ${String(proc.exitCode)}):\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { proc, out: () => out };
}

/** Kills `npm start` and every process it started (Temporal, PGlite), which would otherwise outlive it. */
function killGroup(proc: ChildProcess): void {
  try {
    process.kill(-proc.pid!, 'SIGKILL');
  } catch {
    proc.kill('SIGKILL');
  }
}

/**
 * Ctrl-C as a terminal sends it, to the whole foreground process group (npm and the node process it
 * runs); the exit code. One that does not stop within 90 s is killed and its output shown.
 */
async function stop(r: Running): Promise<number | null> {
  const exited = new Promise<number | null>((resolve) => r.proc.once('exit', (code) => resolve(code)));
  process.kill(-r.proc.pid!, 'SIGINT');
  const kill = setTimeout(() => killGroup(r.proc), 90_000);
  const code = await exited;
  clearTimeout(kill);
  if (code === null)
    throw new Error(`npm start did not stop within 90 s of Ctrl-C:\n${r.out().slice(-4000)}`);
  return code;
}

beforeAll(async () => {
  dataDir = path.join(env.root, uniq('data'));
  ports = {
    api: await freePort(),
    temporal: await freePort(),
    ui: await freePort(),
    pg: await freePort(),
    smtp: await freePort(),
    inbox: await freePort(),
    graph: await freePort(),
    scim: await freePort(),
    google: await freePort(),
    slack: await freePort(),
  };
});

test('npm start runs a sample departure, stops on Ctrl-C and keeps its state', async () => {
  let run = await start();
  const api = `http://127.0.0.1:${ports.api}`;
  expect(run.out()).toContain(`Temporal Web UI     http://127.0.0.1:${ports.ui}`);
  expect(run.out()).toContain(
    `Google Workspace http://127.0.0.1:${ports.google}, Slack http://127.0.0.1:${ports.slack}`,
  );
  const secrets = JSON.parse(readFileSync(path.join(dataDir, 'secrets.json'), 'utf8')) as {
    HRIS_WEBHOOK_SECRET: string;
    adminToken: string;
    roleTokens: { it: string };
    GOOGLE_SA_KEY: string;
  };
  expect(run.out()).toContain(secrets.adminToken);
  // The Google stand-in's service account key, generated once, is never printed.
  expect(secrets.GOOGLE_SA_KEY).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  expect(run.out()).not.toContain('PRIVATE KEY');
  const health = await fetch(`${api}/health`);
  expect(health.status).toBe(200);

  // Dana Reyes is seeded in the stand-ins, with her manager; fire a signed event for her, as demo:fire does.
  const event = hrisEvent('E-1042');
  event.employee.workEmail = 'dana.reyes@example.com';
  event.employee.managerEmail = 'lee@example.com';
  const d = signDelivery(secrets.HRIS_WEBHOOK_SECRET, event);
  const res = await fetch(`${api}/webhooks/hris`, { method: 'POST', headers: d.headers, body: d.body });
  expect(res.status).toBe(202);
  const { departureId } = (await res.json()) as { departureId: string };
  const auth = { authorization: `Bearer ${secrets.adminToken}` };
  const view = await eventually(
    async () => {
      const r = await fetch(`${api}/departures/${departureId}`, { headers: auth });
      const j = (await r.json()) as { steps: { systemId: string; status: string; detail: string | null }[] };
      return j.steps.length > 0 &&
        j.steps.every((s) =>
          ['badges', 'chat'].includes(s.systemId) ? s.status === 'yellow' : s.status === 'green',
        )
        ? j
        : null;
    },
    60_000,
    'sample departure revoked',
  );
  const ids = view.steps.map((s) => (s as { stepId?: string }).stepId ?? s.systemId);
  expect(ids.slice(0, 11)).toEqual([
    'entra',
    'google',
    'vpn',
    'entra-mfa',
    'google-mfa',
    'entra/discover_owned_credentials',
    'crm',
    'wiki',
    'badges',
    'chat',
    'slack',
  ]);
  // Dana owns an app registration in the demo tenant: its secrets were removed on Graph's own queue.
  expect(ids.slice(11)).toEqual([expect.stringMatching(/^entra\/revoke_owned:/)]);
  // Google Workspace handed her Drive, Calendar and mailbox to her manager before suspending her; Slack
  // deactivated her. The stand-ins saved it (each change is on disk before it is answered).
  const step = (id: string) => view.steps.find((s) => s.systemId === id)!;
  expect(step('google')).toMatchObject({ status: 'green' });
  expect(step('google').detail).toMatch(
    /handed over before suspension: data transfer \S+ to lee@example.com completed, lee@example.com is a Gmail delegate/,
  );
  expect(step('slack')).toMatchObject({ status: 'green' });
  const saved = JSON.parse(readFileSync(path.join(dataDir, 'standins', 'google-slack.json'), 'utf8')) as {
    google: GoogleStandInState;
    slack: SlackStandInState;
  };
  const gUser = (email: string) => saved.google.users.find((u) => u.primaryEmail === email)!;
  expect(gUser('dana.reyes@example.com')).toMatchObject({
    suspended: true,
    drive: { private: 0, shared: 0 },
    calendarEvents: 0,
    delegates: [['lee@example.com', 'accepted']],
  });
  expect(gUser('lee@example.com')).toMatchObject({ drive: { private: 45, shared: 21 }, calendarEvents: 11 });
  expect(saved.slack.users.find((u) => u.email === 'dana.reyes@example.com')).toMatchObject({
    deleted: true,
  });
  // The data-archiving confirmation shows what was handed over.
  const archiving = await eventually(
    async () => {
      const r = await fetch(`${api}/departures/${departureId}/documents/data_archiving_confirmation`, {
        headers: { authorization: `Bearer ${secrets.roleTokens.it}` },
      });
      if (r.status !== 200 || !r.headers.get('content-type')?.includes('pdf')) return null;
      return pdfText(new Uint8Array(await r.arrayBuffer()));
    },
    60_000,
    'the data-archiving confirmation',
  );
  expect(archiving).toContain('Handed over to the manager');
  expect(archiving).toMatch(/Data transfer \S+ to lee@example.com: completed \(Drive and Docs/);
  expect(archiving).toContain('Mail: lee@example.com is a Gmail delegate (accepted)');
  const inbox = (await (await fetch(`http://127.0.0.1:${ports.inbox}`)).json()) as { to: string[] }[];
  expect(inbox.some((m) => m.to.includes('facilities@example.com'))).toBe(true);

  // Ctrl-C while busy (four more departures just accepted) still stops everything it started: the
  // restart below finds every port free. (Under `tsx`'s signal relay a busy process was SIGKILLed
  // mid-stop and left Temporal and PGlite running.)
  for (const n of [1, 2, 3, 4]) {
    const busy = signDelivery(secrets.HRIS_WEBHOOK_SECRET, hrisEvent(`E-90${n}`));
    expect(
      (await fetch(`${api}/webhooks/hris`, { method: 'POST', headers: busy.headers, body: busy.body }))
        .status,
    ).toBe(202);
  }
  expect(await stop(run)).toBe(0);
  expect(run.out()).toContain('[offboard] stopped');

  // Start again: same departure, same secrets, the redelivery is a duplicate.
  run = await start();
  const list = (await (await fetch(`${api}/departures`, { headers: auth })).json()) as {
    departures: { id: string }[];
  };
  expect(list.departures.map((x) => x.id)).toContain(departureId);
  const again = signDelivery(secrets.HRIS_WEBHOOK_SECRET, event, { id: d.headers['webhook-id'] });
  const dup = await fetch(`${api}/webhooks/hris`, {
    method: 'POST',
    headers: again.headers,
    body: again.body,
  });
  expect(((await dup.json()) as { action: string }).action).toBe('duplicate');
  // The Google and Slack stand-ins came back with their state: Dana is still suspended and deactivated.
  const gUsers = (await (await fetch(`http://127.0.0.1:${ports.google}/_standin/users`)).json()) as {
    primaryEmail: string;
    suspended: boolean;
  }[];
  expect(gUsers.find((u) => u.primaryEmail === 'dana.reyes@example.com')).toMatchObject({ suspended: true });
  const sUsers = (await (await fetch(`http://127.0.0.1:${ports.slack}/_standin/users`)).json()) as {
    email: string;
    deleted: boolean;
  }[];
  expect(sUsers.find((u) => u.email === 'dana.reyes@example.com')).toMatchObject({ deleted: true });
  expect(await stop(run)).toBe(0);
}, 300_000);
