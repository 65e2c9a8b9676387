/**
 * Service desk tickets end to end: real PostgreSQL, SMTP catcher, Temporal dev server, worker and API,
 * with the Jira and ServiceNow stand-ins. A ticket step opens one desk ticket (a retry after a crash
 * opens none: the marker finds it); closing it as done in the desk, announced by a verified webhook and
 * read back, turns the step green naming the desk; closed as not done, red with the desk's words. A
 * forged webhook changes nothing; the poll's schedule finds a ticket closed without a webhook; a system
 * without a desk keeps the built-in queue.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { stringify } from 'yaml';
import { createActivities } from '../activities';
import { createConnectors } from '../activities/connectors';
import { parseCatalog, type Catalog } from '../config/catalog';
import {
  OFFBOARDING_WORKFLOW,
  deskTicketCheckWorkflowId,
  deskTicketsScheduleId,
  offboardingWorkflowId,
  statusQuery,
} from '../contract';
import { ensureDeskSchedule } from '../server/desk-schedules';
import type { RunningServer } from '../server/main';
import { JiraStandIn, hubSignature } from '../standins/jira';
import { ServiceNowStandIn } from '../standins/servicenow';
import { PinoTemporalLogger } from '../workers/temporal';
import type { OffboardingWorkers } from '../workers/worker';
import {
  TOKENS,
  createDeparture,
  createTestWorker,
  eventually,
  quietLogger,
  startApi,
  startStack,
  uniq,
  type Stack,
} from './support/harness';

const SECRETS = {
  DESK_JIRA_EMAIL: 'offboard-bot@example.com',
  DESK_JIRA_TOKEN: 'jira-api-token-for-tests',
  DESK_SN_USER: 'offboard.integration',
  DESK_SN_PASSWORD: 'sn-password-for-tests',
  DESK_JIRA_WEBHOOK_SECRET: 'jira-webhook-secret-for-tests',
  DESK_SN_WEBHOOK_SECRET: 'sn-webhook-secret-for-tests',
};
const jira = new JiraStandIn(SECRETS.DESK_JIRA_EMAIL, SECRETS.DESK_JIRA_TOKEN);
const sn = new ServiceNowStandIn(SECRETS.DESK_SN_USER, SECRETS.DESK_SN_PASSWORD);
let stack: Stack;
let worker: OffboardingWorkers;
let running: Promise<void>;
let api: RunningServer;
let catalog: Catalog;
const workerEnv = { ...process.env, ...SECRETS };

function deskCatalog(): Catalog {
  const person = (n: string) => ({ name: n, email: `${n}@example.com` });
  const ticketSystem = (id: string, desk?: Record<string, unknown>) => ({
    id,
    name: `${id} system`,
    category: 'business',
    tier: 'application',
    integration: 'ticket',
    sso: false,
    owner: person(`${id}-owner`),
    escalationOwner: person(`${id}-lead`),
    ticketSlaHours: 24,
    retry: { maximumAttempts: 3, initialInterval: '100ms', maximumInterval: '500ms' },
    connector: desk ? { kind: 'ticket', desk } : { kind: 'ticket' },
  });
  const yaml = stringify({
    version: 1,
    organization: { timeZone: 'UTC', hr: person('hr-team'), it: person('it-team') },
    verification: { reportAfterHours: 0, redEscalationAfterHours: 48 },
    systems: [
      // A day between polls: within the test only a webhook (or the test's own schedule) reads back.
      ticketSystem('payroll', {
        kind: 'jira',
        baseUrl: jira.url,
        serviceDeskId: '10',
        requestTypeId: '25',
        emailEnv: 'DESK_JIRA_EMAIL',
        tokenEnv: 'DESK_JIRA_TOKEN',
        webhookSecretEnv: 'DESK_JIRA_WEBHOOK_SECRET',
        pollEvery: '1d',
      }),
      ticketSystem('erp', {
        kind: 'servicenow',
        instanceUrl: sn.url,
        table: 'sc_task',
        userEnv: 'DESK_SN_USER',
        passwordEnv: 'DESK_SN_PASSWORD',
        webhookSecretEnv: 'DESK_SN_WEBHOOK_SECRET',
        pollEvery: '1d',
      }),
      ticketSystem('badge'),
    ],
  });
  return parseCatalog(yaml, 'desk-catalog.yaml', workerEnv);
}

beforeAll(async () => {
  await jira.start();
  await sn.start();
  stack = await startStack();
  catalog = deskCatalog();
  stack.catalog = catalog;
  worker = await createTestWorker(stack, createConnectors(catalog, workerEnv), stack.mailer, {
    env: workerEnv,
  });
  running = worker.run();
  api = await startApi(stack, {
    DESK_JIRA_WEBHOOK_SECRET: SECRETS.DESK_JIRA_WEBHOOK_SECRET,
    DESK_SN_WEBHOOK_SECRET: SECRETS.DESK_SN_WEBHOOK_SECRET,
  });
});

afterAll(async () => {
  await stack?.client.schedule
    .getHandle(deskTicketsScheduleId(stack.taskQueue))
    .delete()
    .catch(() => undefined);
  await api?.close();
  worker?.shutdown();
  await running;
  await stack?.stop();
  await jira.stop();
  await sn.stop();
});

/** Starts an offboarding; waits until its ticket for `systemId` is open (in the desk when it has one). */
async function offboard(systemId: string) {
  const employeeId = uniq('D');
  const input = await createDeparture(stack.db, employeeId);
  await stack.client.workflow.start(OFFBOARDING_WORKFLOW, {
    taskQueue: stack.taskQueue,
    workflowId: offboardingWorkflowId(employeeId),
    args: [input],
    // As the API's starter does: operator calls find the running offboarding of a departure by it.
    memo: { departureId: input.departureId },
  });
  const desk = systemId !== 'badge';
  const ticket = await eventually(
    async () => {
      const t = await stack.db.ticket.findFirst({ where: { departureId: input.departureId, systemId } });
      const step = await stack.db.stepRecord.findFirst({
        where: { departureId: input.departureId, systemId },
      });
      return t && step?.status === 'yellow' && (!desk || t.deskRef) ? t : null;
    },
    30_000,
    `the ${systemId} ticket open`,
  );
  return { employeeId, departureId: input.departureId, ticket };
}

const stepOf = (departureId: string, systemId: string) =>
  stack.db.stepRecord.findFirstOrThrow({ where: { departureId, systemId } });

async function stepBecomes(departureId: string, systemId: string, status: 'green' | 'red') {
  return eventually(
    async () => {
      const s = await stepOf(departureId, systemId);
      return s.status === status ? s : null;
    },
    30_000,
    `${systemId} ${status}`,
  );
}

/** The Offboard ticket once it is `status` (the step's record is written first). */
const ticketBecomes = (id: string, status: string) =>
  eventually(
    async () => {
      const t = await stack.db.ticket.findUniqueOrThrow({ where: { id } });
      return t.status === status ? t : null;
    },
    10_000,
    `ticket ${status}`,
  );

const jiraHook = `/webhooks/desk/payroll`;
const snHook = `/webhooks/desk/erp`;

test('Jira: one request per ticket step, none on a retry; closed Done, announced by webhook, it is green', async () => {
  const { employeeId, departureId, ticket } = await offboard('payroll');
  const issues = [...jira.issues.values()].filter((i) => i.labels.includes(`offboard-${ticket.id}`));
  expect(issues).toHaveLength(1);
  const issue = issues[0]!;
  expect(ticket).toMatchObject({
    deskKind: 'jira',
    deskRef: issue.key,
    deskUrl: `${jira.url}/browse/${issue.key}`,
  });
  // The leaver's name and employee id go to the desk, with the system and the due time; no address.
  const fields = issue.request.requestFieldValues as { summary: string; description: string };
  expect(fields.summary).toBe(
    `Revoke all access of Employee ${employeeId} (${employeeId}) in payroll system by ${ticket.slaDueAt.toISOString()}`,
  );
  expect(fields.description).toContain(`Offboard ticket: ${ticket.id}`);
  expect(JSON.stringify(issue.request)).not.toMatch(/@|personal/);
  // The owner's email links the desk ticket.
  const mail = await stack.mail.waitFor(
    (m) => m.to.includes('payroll-owner@example.com') && m.text.includes(employeeId),
  );
  expect(mail.text).toContain(
    `It is also in Jira Service Management as ${issue.key}: ${jira.url}/browse/${issue.key}`,
  );

  // A retry after a crash between opening the request and keeping its key opens no second one.
  await stack.db.ticket.update({
    where: { id: ticket.id },
    data: { deskRef: null, deskUrl: null, deskKind: null },
  });
  const creates = jira.control.count('/rest/servicedeskapi/request', 'POST');
  const acts = createActivities({
    db: stack.db,
    catalog,
    connectors: createConnectors(catalog, workerEnv),
    mailer: stack.mailer,
    publicUrl: 'http://127.0.0.1:3000',
    env: workerEnv,
  });
  const env = new MockActivityEnvironment(undefined, { logger: new PinoTemporalLogger(quietLogger) });
  const again = await env.run(acts.revokeAccess, {
    departureId,
    systemId: 'payroll',
    action: 'service_ticket',
  });
  expect(again).toMatchObject({ outcome: 'ticket_opened', ticketId: ticket.id });
  expect(jira.control.count('/rest/servicedeskapi/request', 'POST')).toBe(creates);
  expect(jira.control.count('/rest/api/3/search/jql', 'GET')).toBeGreaterThan(0);
  expect(await stack.db.ticket.findUniqueOrThrow({ where: { id: ticket.id } })).toMatchObject({
    deskKind: 'jira',
    deskRef: issue.key,
  });

  jira.transition(issue.key, { status: 'Resolved', category: 'done', resolution: 'Done', by: 'Alex Agent' });
  const hook = await jira.sendWebhook(`${api.url}${jiraHook}`, SECRETS.DESK_JIRA_WEBHOOK_SECRET, issue.key);
  expect(hook).toEqual({ status: 202, json: { action: 'check_started', ticketId: ticket.id } });
  const step = await stepBecomes(departureId, 'payroll', 'green');
  const confirmedBy = `jira:${issue.key} (resolved by Alex Agent)`;
  expect(step.evidence).toMatchObject({ ticketId: ticket.id, confirmedBy, note: 'Done (status "Resolved")' });
  expect((await ticketBecomes(ticket.id, 'done')).closedBy).toBe(confirmedBy);
  const view = await stack.client.workflow.getHandle(offboardingWorkflowId(employeeId)).query(statusQuery);
  expect(view.steps.find((s) => s.systemId === 'payroll')).toMatchObject({
    status: 'green',
    detail: `confirmed by ${confirmedBy}: Done (status "Resolved")`,
  });
  const audit = await eventually(
    () => stack.db.auditEvent.findFirst({ where: { departureId, action: 'ticket_confirmed' } }),
    10_000,
    'the confirmation audited',
  );
  expect(audit.actor).toBe(`desk:${confirmedBy}`);
});

test("Jira: closed as Won't Do, the step turns red with the desk's words and its owner is told", async () => {
  const { employeeId, departureId, ticket } = await offboard('payroll');
  jira.transition(ticket.deskRef!, {
    status: 'Closed',
    category: 'done',
    resolution: "Won't Do",
    by: 'Kim Lead',
  });
  const hook = await jira.sendWebhook(
    `${api.url}${jiraHook}`,
    SECRETS.DESK_JIRA_WEBHOOK_SECRET,
    ticket.deskRef!,
  );
  expect(hook.status).toBe(202);
  const step = await stepBecomes(departureId, 'payroll', 'red');
  expect(step.lastError).toBe(
    `ticket ${ticket.id} closed as not done by jira:${ticket.deskRef} (resolved by Kim Lead): Won't Do (status "Closed")`,
  );
  const declined = await ticketBecomes(ticket.id, 'declined');
  expect(declined.closedBy).toBe(`jira:${ticket.deskRef} (resolved by Kim Lead)`);
  const red = await stack.mail.waitFor(
    (m) => m.subject.startsWith('[Offboard] RED') && m.text.includes(employeeId),
  );
  expect(red.to).toContain('payroll-owner@example.com');
  expect(red.text).toContain('its service desk ticket was closed as not done');
});

test('ServiceNow: Closed Complete is green, Closed Incomplete red, each read back after the hint', async () => {
  const done = await offboard('erp');
  const rec = sn.records.get(done.ticket.deskRef!)!;
  expect(rec).toMatchObject({
    correlation_id: `offboard-${done.ticket.id}`,
    correlation_display: 'Offboard',
  });
  expect(JSON.stringify(rec)).not.toMatch(/@|personal/);
  expect(done.ticket.deskUrl).toBe(`${sn.url}/sc_task.do?sys_id=${rec.sys_id}`);
  sn.closeRecord(rec.sys_id, { state: '3', closeNotes: 'account disabled', by: 'Sam Servicedesk' });
  const reads = sn.control.count(`/sc_task/${rec.sys_id}`, 'GET');
  const hook = await sn.sendWebhook(`${api.url}${snHook}`, SECRETS.DESK_SN_WEBHOOK_SECRET, rec.sys_id);
  expect(hook).toEqual({ status: 202, json: { action: 'check_started', ticketId: done.ticket.id } });
  const green = await stepBecomes(done.departureId, 'erp', 'green');
  expect(green.evidence).toMatchObject({
    confirmedBy: `servicenow:${rec.number} (closed by Sam Servicedesk)`,
    note: 'Closed Complete: account disabled',
  });
  expect(sn.control.count(`/sc_task/${rec.sys_id}`, 'GET')).toBeGreaterThan(reads);

  const not = await offboard('erp');
  sn.closeRecord(not.ticket.deskRef!, { state: '4', closeNotes: 'no such account', by: 'Sam Servicedesk' });
  expect(
    (await sn.sendWebhook(`${api.url}${snHook}`, SECRETS.DESK_SN_WEBHOOK_SECRET, not.ticket.deskRef!)).status,
  ).toBe(202);
  const red = await stepBecomes(not.departureId, 'erp', 'red');
  expect(red.lastError).toContain('Closed Incomplete: no such account');
  await ticketBecomes(not.ticket.id, 'declined');
});

test('a forged webhook is refused and changes nothing; the poll then finds the ticket closed', async () => {
  const { departureId, ticket } = await offboard('payroll');
  const key = ticket.deskRef!;
  // Closed in the desk: a read-back would confirm it, so only a read-back may.
  jira.transition(key, { status: 'Done', category: 'done', resolution: 'Done' });
  const reads = jira.control.count(`/rest/api/3/issue/${key}`, 'GET');
  const url = `${api.url}${jiraHook}`;
  const forged = await jira.sendWebhook(url, 'not-the-secret', key);
  expect(forged.status).toBe(401);
  expect(forged.json).toMatchObject({ error: { code: 'signature_invalid' } });
  const unsigned = await jira.sendWebhook(url, '', key, { signature: '' });
  expect(unsigned.status).toBe(401);
  const body = JSON.stringify({ issue: { key } });
  const tampered = await fetch(url, {
    method: 'POST',
    body: `${body} `,
    headers: {
      'content-type': 'application/json',
      'x-hub-signature': hubSignature(SECRETS.DESK_JIRA_WEBHOOK_SECRET, body),
    },
  });
  expect(tampered.status).toBe(401);
  const snForged = await sn.sendWebhook(`${api.url}${snHook}`, 'guess', 'a'.repeat(32));
  expect(snForged.status).toBe(401);
  // Signed, but naming no open Offboard ticket: nothing to do. A system without a webhook: 404.
  const other = await jira.sendWebhook(url, SECRETS.DESK_JIRA_WEBHOOK_SECRET, 'HR-99999');
  expect(other).toEqual({
    status: 200,
    json: { action: 'ignored', reason: 'no open Offboard ticket is jira HR-99999' },
  });
  expect((await jira.sendWebhook(`${api.url}/webhooks/desk/badge`, 'x', key)).status).toBe(404);
  await new Promise((r) => setTimeout(r, 1_500));
  await expect(
    stack.client.workflow.getHandle(deskTicketCheckWorkflowId(ticket.id)).describe(),
  ).rejects.toBeInstanceOf(WorkflowNotFoundError);
  expect(jira.control.count(`/rest/api/3/issue/${key}`, 'GET')).toBe(reads);
  expect((await stepOf(departureId, 'payroll')).status).toBe('yellow');
  expect((await stack.db.ticket.findUniqueOrThrow({ where: { id: ticket.id } })).status).toBe('open');

  // No webhook at all: the poll's schedule (every 2 s here) reads every open desk ticket back.
  await ensureDeskSchedule(stack.client, { intervalMs: 2_000, taskQueue: stack.taskQueue });
  const step = await stepBecomes(departureId, 'payroll', 'green');
  expect(step.evidence).toMatchObject({ confirmedBy: `jira:${key} (resolved by Alex Agent)` });
  expect(jira.control.count(`/rest/api/3/issue/${key}`, 'GET')).toBeGreaterThan(reads);
  await stack.client.schedule.getHandle(deskTicketsScheduleId(stack.taskQueue)).delete();
});

test('a system without a desk keeps the built-in queue: an email with the confirm link, no desk call', async () => {
  const { employeeId, departureId, ticket } = await offboard('badge');
  expect(ticket).toMatchObject({ deskKind: null, deskRef: null, deskUrl: null, status: 'open' });
  const mail = await stack.mail.waitFor(
    (m) => m.to.includes('badge-owner@example.com') && m.text.includes(employeeId),
  );
  expect(mail.text).toContain(`/tickets/${ticket.id}/confirm`);
  expect(mail.text).not.toContain('It is also in');
  const res = await fetch(`${api.url}/tickets/${ticket.id}/confirm`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKENS.it}`, 'content-type': 'application/json' },
    body: JSON.stringify({ note: 'badge deactivated' }),
  });
  expect(res.status).toBe(202);
  const step = await stepBecomes(departureId, 'badge', 'green');
  expect(step.evidence).toMatchObject({ confirmedBy: 'it-user', note: 'badge deactivated' });
  // The departure's desk systems opened their own tickets; the badge step opened none anywhere.
  const inDesks = [...jira.issues.values(), ...sn.records.values()].map((x) => JSON.stringify(x));
  expect(inDesks.filter((d) => d.includes(employeeId))).toHaveLength(2);
  expect(inDesks.some((d) => d.includes('badge system') || d.includes(`offboard-${ticket.id}`))).toBe(false);
});

test('a throttled desk is called again no sooner than its Retry-After, and still opens one request', async () => {
  const since = Date.now();
  jira.throttle(1, 2);
  const { ticket } = await offboard('payroll');
  const calls = jira.control.calls.filter((c) => c.at >= since);
  expect(calls[0]!.status).toBe(429);
  expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(1_900);
  expect([...jira.issues.values()].filter((i) => i.labels.includes(`offboard-${ticket.id}`))).toHaveLength(1);
});
