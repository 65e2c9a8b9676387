/**
 * A worker process killed (SIGKILL) in the middle of the revocation sequence, then started again:
 * the offboarding finishes, and no confirmed step is repeated in a way the target would notice (the sweep
 * is a local activity: the next worker runs the interrupted workflow task, planning and sweep, again).
 * The production worker processes also show WORKER_WORKFLOW_STACK_TRACES: off (the default), the stack
 * trace query is refused; on, it answers. A worker killed inside the first follow-up round: the parts it
 * did not report run as activities of their own, and nothing is sent twice.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { signDelivery } from '../lib/webhook-sign';
import type { RunningServer } from '../server/main';
import {
  CODEC_KEYS_SPEC,
  SECRETS,
  WEBHOOK_SECRET,
  catalogYaml,
  env,
  eventually,
  hrisEvent,
  post,
  seedEmployee,
  startApi,
  startStack,
  uniq,
  workflowBundlePath,
  type Stack,
  firstRoundPlanned,
} from './support/harness';

let stack: Stack;
let api: RunningServer;
let catalogFile: string;
const children: ChildProcess[] = [];
let workerLog = '';

function spawnWorker(more: Record<string, string> = {}): ChildProcess {
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', 'workers/main.ts'], {
    cwd: path.resolve(__dirname, '..'),
    env: {
      ...process.env,
      ...SECRETS,
      DATABASE_URL: stack.databaseUrl,
      TEMPORAL_ADDRESS: env.temporalAddress,
      TEMPORAL_TASK_QUEUE: stack.taskQueue,
      CATALOG_FILE: catalogFile,
      SMTP_URL: stack.mail.url,
      WORKFLOW_BUNDLE: workflowBundlePath(),
      PAYLOAD_CODEC_KEYS: CODEC_KEYS_SPEC,
      LOG_LEVEL: 'warn',
      ...more,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  // Drain stderr (an unread pipe would block the worker once full); keep the tail for failures.
  child.stderr?.on('data', (b: Buffer) => (workerLog = (workerLog + b.toString()).slice(-4000)));
  children.push(child);
  return child;
}

/** Kills every worker this file started that still runs. */
async function stopWorkers(): Promise<void> {
  await Promise.all(
    children
      .filter((c) => c.exitCode === null && c.signalCode === null)
      .map((c) => {
        const exited = new Promise((r) => c.once('exit', r));
        c.kill('SIGKILL');
        return exited;
      }),
  );
}

beforeAll(async () => {
  stack = await startStack();
  catalogFile = path.join(env.root, `${uniq('catalog')}.yaml`);
  writeFileSync(catalogFile, catalogYaml(stack.standIns));
  api = await startApi(stack);
});

afterAll(async () => {
  await stopWorkers();
  await api?.close();
  await stack?.stop();
});

test('SIGKILL mid-sequence, restart: every step completes once', async () => {
  const id = uniq('R');
  const person = seedEmployee(stack.standIns, id);
  // The VPN (third step) is slow, so the kill lands while it is in flight.
  stack.standIns.scim.control.latencyMs = 1_200;
  const first = spawnWorker();
  const d = signDelivery(WEBHOOK_SECRET, hrisEvent(id));
  const res = await post(`${api.url}/webhooks/hris`, d.body, d.headers);
  expect(res.status).toBe(202);
  const departureId = res.json.departureId as string;

  await eventually(
    async () => {
      const vpn = await stack.db.stepRecord.findFirst({ where: { departureId, systemId: 'vpn' } });
      return vpn?.status === 'running';
    },
    60_000,
    'VPN step in flight',
  );
  // The sweep is a local activity: the worker dies inside the workflow task that planned the pass.
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  const greenBefore = await stack.db.stepRecord.findMany({ where: { departureId, status: 'green' } });
  expect(greenBefore.map((s) => s.systemId).sort()).toEqual(['entra', 'ldap']);
  const callsBefore = stack.standIns.graph.control.calls.length;

  stack.standIns.scim.control.latencyMs = 0;
  // After the workflow task timeout the next worker runs that task again: planning and sweep.
  const second = spawnWorker();
  const rows = await eventually(
    async () => {
      const r = await stack.db.stepRecord.findMany({ where: { departureId } });
      const done = r.filter((x) => x.integration === 'api').every((x) => x.status === 'green');
      const tickets = r.filter((x) => x.integration !== 'api');
      return done && tickets.length === 2 && tickets.every((x) => x.status === 'yellow') ? r : null;
    },
    60_000,
    'all API steps green after restart',
  ).catch((e: Error) => {
    throw new Error(`${e.message}\nworker log tail:\n${workerLog}`);
  });
  // 8 systems (Entra's account and its MFA methods are two) and 2 searches for owned credentials.
  expect(rows).toHaveLength(10);
  // Workflow stack traces are off by default (WORKER_WORKFLOW_STACK_TRACES): the worker refuses the Web
  // UI's query (its message, "stack traces are not enabled", is encrypted like every failure message).
  const handle = stack.client.workflow.getHandle(res.json.workflowId as string);
  await expect(handle.query('__stack_trace')).rejects.toThrow(/Encoded failure/);
  // A worker that collects them answers it: the query shows where the workflow's code waits.
  second.kill('SIGKILL');
  await new Promise((r) => second.once('exit', r));
  spawnWorker({ WORKER_WORKFLOW_STACK_TRACES: 'true' });
  await expect(handle.query('__stack_trace')).resolves.toMatch(/workflows\/offboarding\.ts/);

  // Confirmed steps were not re-run: after the restart Entra saw only the later MFA and owned-credential
  // steps, nothing of the account step (no user PATCH, no session revocation, no group removal).
  const after = stack.standIns.graph.control.calls.slice(callsBefore);
  expect(
    after.filter(
      (c) =>
        /revokeSignInSessions|assignLicense|\/members\//.test(c.path) ||
        (c.method === 'PATCH' && c.path.includes('/users/')),
    ),
  ).toEqual([]);
  const g = stack.standIns.graph.find(person.workEmail)!;
  expect({ disable: g.disableCount, revoke: g.revokeCount }).toEqual({ disable: 1, revoke: 1 });
  // The interrupted VPN step was retried, but the target changed state exactly once.
  for (const app of ['vpn', 'crm', 'wiki'] as const) {
    expect(stack.standIns.scim.findUser(app, person.workEmail)!.deactivations).toBe(1);
  }
  // The ticket email went out once.
  const ticketMails = stack.mail.to('badge-owner@example.com').filter((m) => m.text.includes(id));
  expect(ticketMails).toHaveLength(1);
}, 120_000);

test('worker SIGKILLed mid-way through the first follow-up round: the parts it did not do run on their own, none twice', async () => {
  // Only this test's workers on the task queue (the test above leaves one running).
  await stopWorkers();
  const id = uniq('R');
  seedEmployee(stack.standIns, id);
  // A slow follow-up pace (a part every 2.5 s) so that the kill lands inside the round.
  const first = spawnWorker({ WORKER_FOLLOWUP_ACTIVITIES_PER_SECOND: '0.4' });
  const d = signDelivery(WEBHOOK_SECRET, hrisEvent(id));
  const res = await post(`${api.url}/webhooks/hris`, d.body, d.headers);
  expect(res.status).toBe(202);
  const departureId = res.json.departureId as string;
  // The round's first part (the asset plan) is done: kill the worker before the rest.
  await firstRoundPlanned(stack, departureId);
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  const personal = `${id.toLowerCase()}@personal.example.net`;
  const surveys = () => stack.mail.to(personal).filter((m) => /exit survey/.test(m.subject));
  const ndaRequests = () => stack.mail.to(personal).filter((m) => /\/sign\//.test(m.text));
  expect(ndaRequests()).toHaveLength(0);

  // The next worker: once the round misses its heartbeat (30 s), every part runs as its own activity.
  spawnWorker();
  await eventually(
    async () => {
      const docs = await stack.db.document.findMany({ where: { departureId } });
      const status = Object.fromEntries(docs.map((x) => [x.type, x.status]));
      return status.exit_survey === 'sent' && status.nda_acknowledgment === 'sent' ? status : null;
    },
    90_000,
    'exit survey and NDA sent after the restart',
  ).catch((e: Error) => {
    throw new Error(`${e.message}\nworker log tail:\n${workerLog}`);
  });
  expect(surveys()).toHaveLength(1);
  expect(ndaRequests()).toHaveLength(1);
  const { EventType } = temporal.api.enums.v1;
  const events =
    (await stack.client.workflow.getHandle(res.json.workflowId as string).fetchHistory()).events ?? [];
  const scheduled = events.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
  expect(scheduled.filter((t) => t === 'firstFollowupRound')).toHaveLength(1);
  expect(events.filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT)).toHaveLength(1);
  expect(scheduled).toEqual(
    expect.arrayContaining([
      'planAssetRecovery',
      'sendBenefitsAndPayrollNotifications',
      'sendExitSurvey',
      'recordDataArchivingConfirmation',
      'sendNdaForSignature',
    ]),
  );
  // The payroll and benefits notices (sent by the round or after it) reached SMTP once each.
  const notices = await eventually(async () => {
    const rows = await stack.db.notification.findMany({
      where: { departureId, purpose: { in: ['payroll_notification', 'benefits_notification'] } },
    });
    return rows.length === 2 && rows.every((n) => n.status === 'sent') ? rows : null;
  });
  for (const n of notices)
    expect(stack.mail.messages.filter((m) => m.messageId === n.messageId)).toHaveLength(1);
}, 180_000);
