/**
 * Records the histories in `test/replay/histories/` that `test/replay.test.ts` replays against today's
 * workflow code. Skipped unless RECORD_REPLAY=1: run it with `npm run replay:record` (see README.md
 * here). Each scenario runs an offboarding to its end with the real worker and activities (PostgreSQL,
 * slapd, SMTP, Entra/SCIM stand-ins), then writes the workflow's history as JSON: the events in the
 * form `temporal workflow show --output json` prints, plus the workflow id. Payloads are encrypted with
 * the harness's fixed test codec keys, so the replay test decodes them with the same keys.
 *
 * These are the checkpoint-era scenarios (`patched('verification-checkpoint')`): every offboarding here
 * is signed off by HR and IT before it completes. The histories recorded before the checkpoint existed
 * live in `histories/pre-checkpoint/`; today's code cannot produce them again, so this file never
 * writes there.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DateTime } from 'luxon';
import {
  acknowledgeUpdate,
  assetReceivedSignal,
  confirmTicketSignal,
  contactUpdatedSignal,
  documentSignedSignal,
  lastDayChangedSignal,
  redriveUpdate,
  rescissionReviewWorkflowId,
  resolveUpdate,
  statusQuery,
  type OffboardingStatus,
  type ResolveRequest,
  type SignoffRole,
} from '../../contract';
import type { Catalog } from '../../config/catalog';
import { historyToJson } from '../../cli/commands/replay';
import { endOfLastDay } from '../../lib/calendar';
import { signDelivery } from '../../lib/webhook-sign';
import type { RunningServer } from '../../server/main';
import {
  TOKENS,
  WEBHOOK_SECRET,
  catalogOf,
  createDeparture,
  eventually,
  getJson,
  hrisEvent,
  post,
  resultAfterSignOff,
  seedEmployee,
  signNdaFromMail,
  startTimeSkipping,
  uniq,
  withWorkerOn,
  type Stack,
  startRunningStack,
} from '../support/harness';

const HISTORIES = path.join(__dirname, 'histories');
const TZ = 'Europe/Berlin'; // the test catalog's organization.timeZone
const HOUR = 3_600_000;
const inDays = (days: number) => DateTime.now().setZone(TZ).plus({ days }).toISODate()!;

const recording = process.env.RECORD_REPLAY === '1';
const describeIfRecording = recording ? describe : describe.skip;

/**
 * Writes a closed workflow run's history as `histories/<scenario>.json` (the latest run of the
 * workflow id unless `runId` names one); returns the number of events.
 */
async function save(
  client: Client,
  scenario: string,
  description: string,
  workflowId: string,
  runId?: string,
): Promise<number> {
  const handle = client.workflow.getHandle(workflowId, runId);
  await handle.result();
  const history = await handle.fetchHistory();
  const file = path.join(HISTORIES, `${scenario}.json`);
  const { events } = historyToJson(history);
  // Worker identities and sticky task queue names carry `<pid>@<host name>`: nothing a replay reads,
  // and no business of the repository.
  const scrub = (v: unknown): void => {
    if (!v || typeof v !== 'object') return;
    const o = v as Record<string, unknown>;
    if (o.kind === 'TASK_QUEUE_KIND_STICKY' && typeof o.name === 'string') o.name = 'offboard-test-sticky';
    for (const [k, x] of Object.entries(o)) {
      if (k === 'identity' && typeof x === 'string') o[k] = 'offboard-test';
      else scrub(x);
    }
  };
  scrub(events);
  // One event per line: small enough to review, still a diff per event when re-recorded.
  const body = [
    '{',
    `  "scenario": ${JSON.stringify(description)},`,
    `  "workflowId": ${JSON.stringify(workflowId)},`,
    '  "events": [',
    events.map((e) => `    ${JSON.stringify(e)}`).join(',\n'),
    '  ]',
    '}',
    '',
  ].join('\n');
  mkdirSync(HISTORIES, { recursive: true });
  writeFileSync(file, body);
  console.log(
    `[record] ${path.relative(process.cwd(), file)}: ${events.length} events, ${body.length} bytes`,
  );
  return events.length;
}

/**
 * The verification settings of the time-skipping scenarios: the production defaults (report 24 h after
 * the trigger or the end of the notice period, acknowledgments due after one business day, reminders at
 * 9:00), with the red escalation and continue-as-new threshold each scenario chooses.
 */
function verificationCatalog(
  base: Catalog,
  opts: { redEscalationAfterHours?: number; continueAsNewAfterEvents?: number } = {},
): Catalog {
  return {
    ...base,
    verification: {
      reportAfterHours: 24,
      redEscalationAfterHours: opts.redEscalationAfterHours ?? 48,
      acknowledgmentBusinessDays: 1,
      reminderHour: 9,
      continueAsNewAfterEvents: opts.continueAsNewAfterEvents ?? 5_000,
    },
  };
}

/** Status polling and clock skipping on a time-skipping test server. */
function onTestServer(testEnv: TestWorkflowEnvironment) {
  const until = (
    h: Pick<WorkflowHandle, 'query'>,
    ok: (s: OffboardingStatus) => boolean,
    what: string,
    timeoutMs = 30_000,
  ) =>
    eventually(
      async () => {
        const s = await h.query(statusQuery);
        return ok(s) ? s : null;
      },
      timeoutMs,
      what,
    );
  /** Skips the server's clock to `iso` plus a minute. */
  const skipTo = async (iso: string) => {
    const ms = Date.parse(iso) - (await testEnv.currentTimeMs()) + 60_000;
    if (ms > 0) await testEnv.sleep(ms);
  };
  return { until, skipTo };
}

describeIfRecording('record replay histories (RECORD_REPLAY=1)', () => {
  let stack: Stack;
  let api: RunningServer;
  let stopAll: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ stack, api, stop: stopAll } = await startRunningStack());
  }, 60_000);
  afterAll(async () => {
    await stopAll?.();
  });
  afterEach(() => {
    stack.standIns.scim.control.clearFaults();
  });

  async function send(event: unknown) {
    const d = signDelivery(WEBHOOK_SECRET, event);
    return post(`${api.url}/webhooks/hris`, d.body, d.headers);
  }

  async function departure(departureId: string) {
    const r = await getJson(`${api.url}/departures/${departureId}`, TOKENS.hr);
    return r.json as { departure: { status: string }; workflow: { phase: string | null } };
  }

  const asOperator = (token: string) => ({
    authorization: `Bearer ${token}`,
    'content-type': 'application/json',
  });


  /** Confirms an offboarding's `count` tickets once the workflow shows them open, as an owner would. */
  async function confirmTickets(workflowId: string, count: number): Promise<void> {
    const tickets = await eventually(
      async () => {
        const s = await stack.client.workflow.getHandle(workflowId).query(statusQuery);
        const t = s.steps.filter((x) => x.status === 'yellow' && x.ticketId);
        return t.length === count ? t : null;
      },
      30_000,
      `${count} tickets open`,
    );
    for (const t of tickets) {
      const c = await post(
        `${api.url}/tickets/${t.ticketId}/confirm`,
        JSON.stringify({ note: 'done by hand' }),
        asOperator(TOKENS.it),
      );
      expect(c.status).toBe(202);
    }
  }

  /**
   * Signs an offboarding off through the API, as HR and IT would on the dashboard: once it awaits
   * sign-off with its report compiled, IT resolves every item still needing it (accepted risk), then HR
   * and IT acknowledge. (The API variant of the harness's `signOff`, which sends the updates directly.)
   */
  async function signOffViaApi(departureId: string, workflowId: string): Promise<string[]> {
    const h = stack.client.workflow.getHandle(workflowId);
    const s = await eventually(
      async () => {
        const x = await h.query(statusQuery);
        return x.phase === 'awaiting_signoff' && x.verification?.report ? x : null;
      },
      60_000,
      'awaiting sign-off with the report compiled',
    );
    const resolved: string[] = [];
    for (const itemId of s.verification!.unresolved) {
      const r = await post(
        `${api.url}/departures/${departureId}/resolutions`,
        JSON.stringify({ itemId, how: 'accepted_risk', note: 'reviewed at sign-off, accepted' }),
        asOperator(TOKENS.it),
      );
      expect(r.status).toBe(201);
      resolved.push(itemId);
    }
    for (const role of ['hr', 'it'] as const) {
      const a = await post(
        `${api.url}/departures/${departureId}/acknowledge`,
        '{}',
        asOperator(TOKENS[role]),
      );
      expect(a.status).toBe(200);
      expect(a.json).toMatchObject({ alreadyAcknowledged: false, acknowledgment: { role } });
    }
    return resolved;
  }

  test('involuntary-signed-off, then rescission-review-after-signoff', async () => {
    // Every kind of step: API revocations, owned credentials (an Entra app and an LDAP service account),
    // three tickets confirmed by their owners, a remote laptop returned to the IT desk, the NDA signed
    // from the email link; the report (compiled at once: the e2e catalog's reportAfterHours is 0) is
    // acknowledged by HR and IT through the API, the final live audit is clean, the certificate issued.
    // Then a rescission after the end opens the review workflow.
    const id = uniq('RA');
    seedEmployee(stack.standIns, id, { ownedApp: true, serviceAccount: true });
    const tag = uniq('LAPTOP').toUpperCase();
    await stack.db.asset.create({
      data: { tag, name: 'Laptop', category: 'laptop', assignedToEmployeeId: id },
    });
    const started = await send(hrisEvent(id));
    expect(started.json.action).toBe('started');
    const departureId = started.json.departureId as string;
    const workflowId = started.json.workflowId as string;

    await confirmTickets(workflowId, 3);
    await eventually(
      async () => stack.db.assetRecovery.findFirst({ where: { departureId, status: 'requested' } }),
      30_000,
      'return requested',
    );
    const received = await post(
      `${api.url}/departures/${departureId}/assets/${tag}/received`,
      JSON.stringify({ condition: 'good', inspectedBy: 'desk-sam' }),
      asOperator(TOKENS.itdesk),
    );
    expect(received.status).toBe(202);
    expect((await signNdaFromMail(stack, api.url, id)).status).toBe(200);
    const resolved = await signOffViaApi(departureId, workflowId);
    await eventually(
      async () => (await departure(departureId)).departure.status === 'completed',
      60_000,
      'completed',
    ).catch(async (e: Error) => {
      const s = await stack.client.workflow.getHandle(workflowId).query(statusQuery);
      const open = {
        phase: s.phase,
        steps: s.steps.filter((x) => x.status !== 'green').map((x) => `${x.stepId}: ${x.status}`),
        assets: s.assets.map((a) => `${a.assetTag}: ${a.status}`),
        documents: s.documents.map((d) => `${d.type}: ${d.status}`),
        outstanding: s.verification?.outstanding,
      };
      throw new Error(`${e.message}; the workflow: ${JSON.stringify(open)}`);
    });
    const final = (await stack.client.workflow.getHandle(workflowId).result()) as OffboardingStatus;
    expect(final.phase).toBe('completed');
    expect(final.verification).toMatchObject({ done: true, unresolved: [] });
    expect(final.verification!.finalAudit!.rows.filter((r) => r.active !== 'no')).toEqual([]);
    await save(
      stack.client,
      'involuntary-signed-off',
      'involuntary termination, remote, every step confirmed: API revocations, owned credentials, three tickets confirmed, laptop returned, NDA signed; ' +
        `report compiled at once, ${resolved.length ? `${resolved.join(', ')} resolved, ` : ''}HR and IT acknowledged through the API, final live audit clean, completion certificate`,
      workflowId,
    );

    const rescinded = await send(hrisEvent(id, { status: 'termination_rescinded' }));
    expect(rescinded.json).toMatchObject({ departureId, action: 'rescinded' });
    const reviewId = rescissionReviewWorkflowId(departureId);
    await eventually(
      async () => (await stack.client.workflow.getHandle(reviewId).describe()).status.name === 'COMPLETED',
      30_000,
      'review workflow ended',
    );
    await save(
      stack.client,
      'rescission-review-after-signoff',
      'rescissionReviewWorkflow: a rescission after the offboarding of involuntary-signed-off had been signed off and completed',
      reviewId,
    );
  }, 180_000);

  test('accounts-not-found-resolved', async () => {
    // Nobody by any matching key: Entra and the directory (where everyone has an account) are red with
    // AccountNotFoundError, the applications confirm none. IT finds the Entra account under an old name,
    // records its id and re-drives the step (green, by the known id); the directory is resolved as
    // no_account; tickets confirmed, NDA signed, HR and IT acknowledge, final audit clean.
    const id = uniq('NF');
    const started = await send(hrisEvent(id));
    expect(started.json.action).toBe('started');
    const departureId = started.json.departureId as string;
    const workflowId = started.json.workflowId as string;
    const h = stack.client.workflow.getHandle(workflowId);
    const red = await eventually(
      async () => {
        const x = await h.query(statusQuery);
        const st = (sid: string) => x.steps.find((s) => s.stepId === sid)?.status;
        return st('entra') === 'red' && st('ldap') === 'red' && x.phase !== 'revoking' ? x : null;
      },
      30_000,
      'entra and ldap red',
    );
    expect(red.steps.find((s) => s.stepId === 'entra')?.lastError).toMatch(/^AccountNotFoundError:/);
    const legacy = stack.standIns.graph.seedUser({ userPrincipalName: `${uniq('legacy')}@example.com` });
    const recorded = await post(
      `${api.url}/departures/${departureId}/accounts`,
      JSON.stringify({ systemId: 'entra', accountId: legacy.id, note: 'found under the former name' }),
      asOperator(TOKENS.it),
    );
    expect(recorded.status).toBe(200);
    const redrive = await post(
      `${api.url}/departures/${departureId}/redrive`,
      JSON.stringify({ stepIds: ['entra'], reason: 'account id recorded' }),
      asOperator(TOKENS.it),
    );
    expect(redrive.status).toBe(200);
    await eventually(
      async () => (await h.query(statusQuery)).steps.find((s) => s.stepId === 'entra')?.status === 'green',
      30_000,
      'entra green after the re-drive',
    );
    await confirmTickets(workflowId, 2);
    expect((await signNdaFromMail(stack, api.url, id)).status).toBe(200);
    const reported = await eventually(
      async () => {
        const x = await h.query(statusQuery);
        return x.verification?.report ? x : null;
      },
      60_000,
      'report compiled',
    );
    // The Entra step may have turned green before the report was compiled: then it needs no resolution.
    for (const [itemId, how, note] of [
      ['step:entra', 'redriven_confirmed', 'disabled through the recorded id'],
      ['step:ldap', 'no_account', 'contractor: never had a directory account'],
    ].filter(([itemId]) => reported.verification!.unresolved.includes(itemId!))) {
      const r = await post(
        `${api.url}/departures/${departureId}/resolutions`,
        JSON.stringify({ itemId, how, note }),
        asOperator(TOKENS.it),
      );
      expect(r.status).toBe(201);
    }
    const resolved = await signOffViaApi(departureId, workflowId);
    await eventually(
      async () => (await departure(departureId)).departure.status === 'completed',
      60_000,
      'completed',
    );
    const final = (await h.result()) as OffboardingStatus;
    expect(final.verification!.finalAudit!.rows.filter((r) => r.active !== 'no')).toEqual([]);
    expect(legacy.accountEnabled).toBe(false);
    await save(
      stack.client,
      'accounts-not-found-resolved',
      'involuntary, nobody found by any matching key: Entra and directory red (AccountNotFoundError), applications confirm none; the Entra account id recorded and the step re-driven green; directory resolved as no_account; ' +
        `two tickets confirmed, NDA signed, ${resolved.length ? `${resolved.join(', ')} resolved, ` : ''}HR and IT acknowledged, final live audit clean, certificate`,
      workflowId,
    );
  }, 180_000);

  test('rescinded-notice-period-checkpoint', async () => {
    // Voluntary with a later last day: privileged systems revoked, the rest waits; the HRIS moves the
    // last day (the timer moves, and with it the report, due when the last day ends), then rescinds
    // before the report: the waiting steps are halted, the checkpoint stops, a review opens.
    const id = uniq('RC');
    seedEmployee(stack.standIns, id);
    const confirmedAt = new Date(Date.now() - 60_000).toISOString();
    const resign = (lastDay: string) =>
      hrisEvent(id, { status: 'resigned_confirmed', type: 'voluntary', confirmedAt, lastDay });
    const first = await send(resign(inDays(3)));
    const departureId = first.json.departureId as string;
    const workflowId = first.json.workflowId as string;
    await eventually(
      async () => (await departure(departureId)).workflow.phase === 'scoped',
      30_000,
      'scoped',
    );
    expect((await send(resign(inDays(5)))).json.action).toBe('updated');
    const end = endOfLastDay(inDays(5), TZ).toISOString();
    await eventually(
      async () => {
        const s = await stack.client.workflow.getHandle(workflowId).query(statusQuery);
        return s.revokeRestAt === end && s.verification?.reportAt === end ? s : null;
      },
      20_000,
      'last day (and report) moved',
    );
    expect((await send(hrisEvent(id, { status: 'termination_rescinded' }))).json.action).toBe('rescinded');
    await eventually(
      async () => (await departure(departureId)).departure.status === 'rescinded',
      30_000,
      'rescinded',
    );
    const final = (await stack.client.workflow.getHandle(workflowId).result()) as OffboardingStatus;
    expect(final.phase).toBe('rescinded');
    expect(final.verification).toMatchObject({ report: null, done: false });
    await save(
      stack.client,
      'rescinded-notice-period-checkpoint',
      'voluntary resignation in its notice period: privileged systems revoked, last day moved (report moved with it), then rescinded before the report (waiting steps halted, checkpoint stopped, review opened)',
      workflowId,
    );
  }, 120_000);

  test('voluntary-notice-signed-off (time-skipping server)', async () => {
    // Voluntary with a later last day that the HRIS moves; the timer fires at the end of the new last
    // day (skipped time), the rest is revoked, the badge ticket is confirmed; the in-office laptop is
    // never returned (both escalations) and the NDA is never signed (reminders, then expired: red).
    // Checkpoint: the report 24 h after the new last day; HR acknowledges, IT only after the reminder
    // (which also escalates to the department head); the expired NDA is still unresolved when the red
    // escalation fires. IT resolves the laptop and the NDA; the final live audit finds the CRM account
    // re-enabled behind Offboard's back; IT disables it and records fixed_by_hand; the audit runs again,
    // clean: completed.
    const testEnv = await startTimeSkipping();
    try {
      const { until, skipTo } = onTestServer(testEnv);
      const id = uniq('RB');
      const person = seedEmployee(stack.standIns, id);
      const tag = uniq('LAPTOP').toUpperCase();
      await stack.db.asset.create({
        data: { tag, name: 'Laptop', category: 'laptop', assignedToEmployeeId: id },
      });
      const input = await createDeparture(stack.db, id, {
        terminationType: 'voluntary',
        lastDay: inDays(3),
        workLocation: 'in_office',
      });
      const departureId = input.departureId;
      const workflowId = `offboarding:${id}`;
      const taskQueue = uniq('record');
      // The red escalation after the NDA deadline (7 days after the rest is revoked), so it has a red
      // to escalate.
      const catalog = verificationCatalog(catalogOf(stack, ['ldap', 'vpn', 'crm', 'wiki', 'badge']), {
        redEscalationAfterHours: 8 * 24,
      });
      const newEnd = endOfLastDay(inDays(5), TZ);
      await withWorkerOn(testEnv.nativeConnection, stack, taskQueue, catalog, async () => {
        const h = await testEnv.client.workflow.start('offboardingWorkflow', {
          taskQueue,
          workflowId,
          args: [input],
          memo: { departureId },
        });
        const ack = (role: SignoffRole) =>
          h.executeUpdate(acknowledgeUpdate, { args: [{ departureId, role, by: `${role}-alex` }] });
        const resolve = (r: Omit<ResolveRequest, 'by' | 'role' | 'departureId'>) =>
          h.executeUpdate(resolveUpdate, { args: [{ ...r, departureId, by: 'it-sam', role: 'it' }] });

        await until(h, (s) => s.phase === 'scoped', 'scoped');
        await h.signal(lastDayChangedSignal, { lastDay: inDays(5), source: 'record' });
        await until(h, (s) => s.revokeRestAt === newEnd.toISOString(), 'moved');
        // Past the end of the new last day, well inside the badge ticket's 24 h SLA.
        await testEnv.sleep(newEnd.getTime() - (await testEnv.currentTimeMs()) + HOUR);
        const s = await until(
          h,
          (x) => x.steps.some((st) => st.systemId === 'badge' && st.status === 'yellow' && st.ticketId),
          'badge ticket open',
        );
        const badge = s.steps.find((st) => st.systemId === 'badge')!;
        await h.signal(confirmTicketSignal, {
          systemId: 'badge',
          ticketId: badge.ticketId!,
          confirmedBy: 'badge-owner',
          note: 'badge deactivated',
        });
        await until(h, (x) => x.steps.find((st) => st.systemId === 'badge')?.status === 'green', 'badge');

        // The report, 24 h after the new last day ended.
        expect(s.verification!.reportAt).toBe(new Date(newEnd.getTime() + 24 * HOUR).toISOString());
        await skipTo(s.verification!.reportAt);
        const reported = await until(h, (x) => x.verification?.report != null, 'report compiled');
        expect(reported.verification!.report!.items.find((i) => i.itemId === `asset:${tag}`)?.colour).toBe(
          'yellow',
        );
        await ack('hr');
        // IT misses the one-business-day window: reminded, and the department head is told.
        await skipTo(reported.verification!.report!.ackDueAt);
        const reminded = await until(h, (x) => x.verification!.reminders === 1, 'reminder sent');
        expect(reminded.verification!.ackEscalated).toBe(true);
        await ack('it');

        // Days pass: NDA reminders, the NDA expires (red), the red escalation, both laptop escalations.
        let waiting: OffboardingStatus | null = null;
        for (let day = 0; day < 30 && !waiting; day++) {
          await testEnv.sleep(24 * HOUR);
          const x = await h.query(statusQuery);
          if (
            x.phase === 'awaiting_signoff' &&
            x.assets[0]?.status === 'escalated_department_head' &&
            x.verification!.redEscalated
          )
            waiting = x;
        }
        expect(waiting).not.toBeNull();
        expect(waiting!.documents.find((d) => d.type === 'nda_acknowledgment')?.status).toBe('expired');
        expect(waiting!.verification!.unresolved.sort()).toEqual(
          [`asset:${tag}`, 'document:nda_acknowledgment'].sort(),
        );

        // Someone re-enables the CRM account before the final audit.
        stack.standIns.scim.findUser('crm', person.workEmail)!.active = true;
        await resolve({
          itemId: `asset:${tag}`,
          how: 'accepted_risk',
          note: 'laptop written off; cost recovered through final pay',
        });
        await resolve({
          itemId: 'document:nda_acknowledgment',
          how: 'accepted_risk',
          note: 'NDA obligations stand under the employment contract; legal informed',
        });
        const found = await until(
          h,
          (x) =>
            x.verification!.unresolved.includes('access:crm') &&
            x.verification!.finalAudit?.rows.find((r) => r.systemId === 'crm')?.active === 'yes',
          'final audit found the CRM account',
        );
        expect(found.phase).toBe('awaiting_signoff');
        await stack.mail.waitFor((m) => m.purpose === 'active_accounts_found' && m.text.includes(id));
        stack.standIns.scim.findUser('crm', person.workEmail)!.active = false;
        await resolve({
          itemId: 'access:crm',
          how: 'fixed_by_hand',
          note: 'disabled again in the CRM admin console',
        });
        const final = (await h.result()) as OffboardingStatus;
        expect(final.phase).toBe('completed');
        expect(final.verification).toMatchObject({ done: true, unresolved: [], reminders: 1 });
        expect(final.verification!.resolutions.map((r) => r.itemId)).toEqual([
          `asset:${tag}`,
          'document:nda_acknowledgment',
          'access:crm',
        ]);
        // The notice period scoped the directory account at once (a plan with `atOnce`).
        expect(final.steps.find((st) => st.stepId === 'ldap/scope_access')).toMatchObject({
          kind: 'scope',
          status: 'green',
        });
      });
      await save(
        testEnv.client,
        'voluntary-notice-signed-off',
        'voluntary resignation: the directory account scoped and VPN revoked at once, last day moved, the rest at the end of the new last day, badge ticket confirmed, laptop escalated twice, NDA reminders then expired; ' +
          'report 24 h after the last day, HR acknowledged, IT reminded (and escalated) then acknowledged, expired NDA escalated as red, laptop and NDA resolved as accepted risk, ' +
          'final live audit found the CRM account re-enabled, fixed by hand, audited again clean, completion certificate',
        workflowId,
      );
    } finally {
      await testEnv.teardown();
    }
  }, 300_000);

  test('signed-off-after-continue-as-new (time-skipping server)', async () => {
    // Involuntary, CRM only: the CRM rejects the deactivation (red step, the live audit finds the
    // account); the NDA is signed. The report comes at trigger + 24 h; HR acknowledges; the red escalates
    // at 48 h; IT does not acknowledge: a reminder every business day grows the history towards the
    // catalog's (low) continue-as-new threshold. IT's acknowledgment (and, until the run continues, HR
    // acknowledging again, answered with its first acknowledgment) carries it over: the run continues as
    // new. In the new run (the resume path: input.resume) the CRM is fixed and the step re-driven, both
    // red items are resolved, the final audit is clean: completed.
    //
    // The threshold is crossed by those updates, not by a reminder: a run that crosses it in the workflow
    // task of a reminder timer continues as new in the same task that schedules the reminder activity
    // (the activity is abandoned with the run), and the time-skipping server then never skips again.
    const THRESHOLD = 170;
    const testEnv = await startTimeSkipping();
    try {
      const { until, skipTo } = onTestServer(testEnv);
      const id = uniq('RD');
      const person = seedEmployee(stack.standIns, id, { ldap: false });
      stack.standIns.scim.control.inject({
        method: 'PATCH',
        pathIncludes: `/crm/scim/v2/Users/${person.scimUsers.crm.id}`,
        status: 500,
        times: Infinity,
      });
      const input = await createDeparture(stack.db, id);
      const departureId = input.departureId;
      const workflowId = `offboarding:${id}`;
      const taskQueue = uniq('record');
      const catalog = verificationCatalog(catalogOf(stack, ['crm']), { continueAsNewAfterEvents: THRESHOLD });
      let repeatedAcks = 0;
      const firstRunId = await withWorkerOn(testEnv.nativeConnection, stack, taskQueue, catalog, async () => {
        const h = await testEnv.client.workflow.start('offboardingWorkflow', {
          taskQueue,
          workflowId,
          args: [input],
          memo: { departureId },
        });
        const latest = testEnv.client.workflow.getHandle(workflowId);
        const ack = (role: SignoffRole) =>
          latest.executeUpdate(acknowledgeUpdate, { args: [{ departureId, role, by: `${role}-alex` }] });
        const resolve = (r: Omit<ResolveRequest, 'by' | 'role' | 'departureId'>) =>
          latest.executeUpdate(resolveUpdate, { args: [{ ...r, departureId, by: 'it-sam', role: 'it' }] });

        await until(
          h,
          (s) => s.documents.some((d) => d.type === 'nda_acknowledgment' && d.status === 'sent'),
          'NDA sent',
        );
        await h.signal(documentSignedSignal, {
          documentId: 'x',
          type: 'nda_acknowledgment',
          signedAt: new Date(await testEnv.currentTimeMs()).toISOString(),
        });
        const waiting = await until(h, (s) => s.phase === 'awaiting_signoff', 'awaiting sign-off');
        expect(waiting.steps.find((st) => st.stepId === 'crm')?.status).toBe('red');
        await skipTo(waiting.verification!.reportAt);
        const reported = await until(h, (x) => x.verification?.report != null, 'report compiled');
        expect(reported.verification!.unresolved.sort()).toEqual(['access:crm', 'step:crm']);
        await ack('hr');
        await skipTo(reported.verification!.redEscalationAt);
        await until(h, (x) => x.verification!.redEscalated, 'red escalated');

        // Days without IT: one reminder (11 events) per business day, as long as the next one cannot
        // reach the threshold.
        const first = testEnv.client.workflow.getHandle(workflowId, h.firstExecutionRunId);
        const length = async () => Number((await first.describe()).historyLength);
        for (let day = 0; day < 30 && (await length()) < THRESHOLD - 12; day++)
          await testEnv.sleep(24 * HOUR);
        const before = await h.query(statusQuery);
        expect(before.verification!.reminders).toBeGreaterThanOrEqual(1);
        expect(await length()).toBeLessThan(THRESHOLD);

        const continued = async () => (await first.describe()).status.name === 'CONTINUED_AS_NEW';
        const itAck = await ack('it');
        expect(itAck.alreadyAcknowledged).toBe(false);
        for (; repeatedAcks < 5 && !(await continued()); repeatedAcks++)
          expect((await ack('hr')).alreadyAcknowledged).toBe(true);
        expect(await continued()).toBe(true);
        const resumed = await until(latest, (x) => x.phase === 'awaiting_signoff', 'resumed');
        expect((await latest.describe()).runId).not.toBe(h.firstExecutionRunId);
        expect(resumed.verification).toMatchObject({
          reminders: before.verification!.reminders,
          ackEscalated: true,
          redEscalated: true,
          unresolved: ['step:crm', 'access:crm'],
        });
        expect(resumed.verification!.acknowledgments.it).toEqual(itAck.acknowledgment);

        // The new run: the CRM is fixed and its step re-driven, both items resolved.
        stack.standIns.scim.control.clearFaults();
        await latest.executeUpdate(redriveUpdate, {
          args: [{ stepIds: ['crm'], requestedBy: 'it-sam', reason: 'CRM API token renewed' }],
        });
        await until(
          latest,
          (x) => x.steps.find((st) => st.stepId === 'crm')?.status === 'green',
          're-driven',
        );
        await resolve({ itemId: 'step:crm', how: 'redriven_confirmed', note: 'CRM API token renewed' });
        await resolve({ itemId: 'access:crm', how: 'fixed_by_hand', note: 'disabled by the re-drive' });
        const final = (await latest.result()) as OffboardingStatus;
        expect(final.phase).toBe('completed');
        expect(final.verification!.finalAudit!.rows).toEqual([
          { systemId: 'crm', systemName: 'CRM', active: 'no', detail: null },
        ]);
        return h.firstExecutionRunId;
      });

      // Every run of the chain, first to last (each run's start names the run it continues).
      const runs: string[] = [];
      let runId: string | undefined = (await testEnv.client.workflow.getHandle(workflowId).describe()).runId;
      while (runId) {
        runs.unshift(runId);
        const history = await testEnv.client.workflow.getHandle(workflowId, runId).fetchHistory();
        runId =
          history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId || undefined;
      }
      expect(runs[0]).toBe(firstRunId);
      // One continue-as-new: the same two files every time this is recorded.
      expect(runs).toHaveLength(2);
      await save(
        testEnv.client,
        'signed-off-after-continue-as-new.run-1',
        `involuntary, CRM only, continueAsNewAfterEvents ${THRESHOLD}, first run: CRM step red (target rejects), NDA signed, report at trigger + 24 h, HR acknowledged, red escalated at 48 h, daily reminders to IT, ` +
          `IT acknowledged${repeatedAcks ? `, HR acknowledged again ${repeatedAcks}x (answered with the first)` : ''}, continued as new while awaiting sign-off`,
        workflowId,
        runs[0],
      );
      await save(
        testEnv.client,
        'signed-off-after-continue-as-new.run-2',
        'involuntary, CRM only, second run (input.resume: plan, steps, documents and checkpoint state carried over): CRM step re-driven green, step and access items resolved, final live audit clean, completion certificate',
        workflowId,
        runs[1],
      );
    } finally {
      await testEnv.teardown();
    }
  }, 300_000);

  /**
   * One involuntary, CRM-only offboarding with one asset on a time-skipping server, driven by `drive`
   * to its sign-off, recorded as `scenario`.
   */
  async function recordWithAsset(opts: {
    prefix: string;
    asset: string;
    workLocation: 'remote' | 'in_office';
    noPersonalEmail?: boolean;
    scenario: string;
    description: string;
    drive: (
      h: WorkflowHandle,
      x: { id: string; tag: string; departureId: string; testEnv: TestWorkflowEnvironment },
    ) => Promise<void>;
  }): Promise<void> {
    const testEnv = await startTimeSkipping();
    try {
      const id = uniq(opts.prefix);
      seedEmployee(stack.standIns, id, { ldap: false });
      const tag = uniq('TAG').toUpperCase();
      await stack.db.asset.create({
        data: { tag, name: opts.asset, category: opts.asset.toLowerCase(), assignedToEmployeeId: id },
      });
      const input = await createDeparture(stack.db, id, { workLocation: opts.workLocation });
      const departureId = input.departureId;
      if (opts.noPersonalEmail)
        await stack.db.departure.update({ where: { id: departureId }, data: { personalEmail: null } });
      const workflowId = `offboarding:${id}`;
      const taskQueue = uniq('record');
      const catalog = verificationCatalog(catalogOf(stack, ['crm']));
      const runId = await withWorkerOn(testEnv.nativeConnection, stack, taskQueue, catalog, async () => {
        const h = await testEnv.client.workflow.start('offboardingWorkflow', {
          taskQueue,
          workflowId,
          args: [input],
          memo: { departureId },
        });
        await opts.drive(h, { id, tag, departureId, testEnv });
        const final = await resultAfterSignOff(testEnv.client, h);
        expect(final.phase).toBe('completed');
        expect(final.assets[0]!.status).toBe('received');
        return h.firstExecutionRunId;
      });
      await save(testEnv.client, opts.scenario, opts.description, workflowId, runId);
    } finally {
      await testEnv.teardown();
    }
  }

  const signNdaOn = async (h: WorkflowHandle, testEnv: TestWorkflowEnvironment) =>
    h.signal(documentSignedSignal, {
      documentId: 'x',
      type: 'nda_acknowledgment',
      signedAt: new Date(await testEnv.currentTimeMs()).toISOString(),
    });

  test('personal-email-filled-in-later (time-skipping server)', async () => {
    // Remote, a laptop, no personal email on file: the return request, the exit survey and the NDA fail
    // for want of it. The HRIS fills it in (the address stored, `contactUpdated` signalled): all three go
    // out again; the laptop comes back, the NDA is signed, HR and IT sign off.
    await recordWithAsset({
      prefix: 'PE',
      asset: 'Laptop',
      workLocation: 'remote',
      noPersonalEmail: true,
      scenario: 'personal-email-filled-in-later',
      description:
        'involuntary, remote, CRM only, a laptop, no personal email: return request, exit survey and NDA failed; personal email filled in (contactUpdated): all three sent again, laptop received, NDA signed, report at trigger + 24 h, signed off, certificate',
      drive: async (h, { id, tag, departureId, testEnv }) => {
        const { until } = onTestServer(testEnv);
        const doc = (s: OffboardingStatus, type: string) => s.documents.find((d) => d.type === type)?.status;
        await until(
          h,
          (s) =>
            s.assets[0]?.status === 'failed' &&
            doc(s, 'exit_survey') === 'failed' &&
            doc(s, 'nda_acknowledgment') === 'failed',
          'return request, exit survey and NDA failed for want of a personal email',
        );
        await stack.db.departure.update({
          where: { id: departureId },
          data: { personalEmail: `${id.toLowerCase()}@later.example.net` },
        });
        await h.signal(contactUpdatedSignal, { fields: ['personalEmail'], source: 'hris:msg_record' });
        await until(
          h,
          (s) =>
            s.assets[0]?.status === 'requested' &&
            doc(s, 'exit_survey') === 'sent' &&
            doc(s, 'nda_acknowledgment') === 'sent',
          'sent again to the address filled in',
        );
        await h.signal(assetReceivedSignal, {
          assetTag: tag,
          receivedBy: 'desk-alex',
          condition: 'good',
          inspectedBy: 'desk-sam',
          notes: 'wiped and shelved',
        });
        await signNdaOn(h, testEnv);
      },
    });
  }, 300_000);

  test('late-return-after-escalation (time-skipping server)', async () => {
    // In office, a monitor never brought back: the IT owner is told, then the department head with a
    // recovery plan. The monitor comes back after that, while the offboarding awaits sign-off: the late
    // return is recorded (custody, check-in), then HR and IT sign off.
    await recordWithAsset({
      prefix: 'LR',
      asset: 'Monitor',
      workLocation: 'in_office',
      scenario: 'late-return-after-escalation',
      description:
        'involuntary, in office, CRM only, a monitor not returned: IT owner told, then the department head with a recovery plan; the monitor comes back after that (late return recorded: custody, check-in), NDA signed, report at trigger + 24 h, signed off, certificate',
      drive: async (h, { tag, testEnv }) => {
        const { until, skipTo } = onTestServer(testEnv);
        const requested = await until(h, (s) => s.assets[0]?.status === 'requested', 'return requested');
        await signNdaOn(h, testEnv);
        await skipTo(requested.assets[0]!.secondDueAt);
        await until(h, (s) => s.assets[0]?.status === 'escalated_department_head', 'escalated twice');
        await h.signal(assetReceivedSignal, {
          assetTag: tag,
          receivedBy: 'desk-alex',
          condition: 'scratched',
          inspectedBy: 'desk-sam',
          notes: 'brought back late',
        });
        await until(h, (s) => s.assets[0]?.status === 'received', 'late return recorded');
      },
    });
  }, 300_000);
});
