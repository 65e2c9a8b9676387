/**
 * Records the histories in `test/replay/histories/` that `test/replay.test.ts` replays against today's
 * workflow code. Skipped unless RECORD_REPLAY=1: run it with `npm run replay:record` (see README.md
 * here). Each scenario runs an offboarding to its end with the real worker and activities (PostgreSQL,
 * slapd, SMTP, Entra/SCIM stand-ins), then writes the workflow's history as JSON: the events in the
 * form `temporal workflow show --output json` prints, plus the workflow id. Payloads are encrypted with
 * the harness's fixed test codec keys, so the replay test decodes them with the same keys.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DateTime } from 'luxon';
import {
  confirmTicketSignal,
  lastDayChangedSignal,
  rescissionReviewWorkflowId,
  statusQuery,
  type OffboardingStatus,
} from '../../contract';
import { historyToJson } from '../../cli/commands/replay';
import { endOfLastDay } from '../../lib/calendar';
import { signDelivery } from '../../lib/webhook-sign';
import type { RunningServer } from '../../server/main';
import {
  TOKENS,
  WEBHOOK_SECRET,
  catalogOf,
  createDeparture,
  dataConverter,
  env,
  eventually,
  getJson,
  hrisEvent,
  post,
  registerSearchAttributes,
  seedEmployee,
  signNdaFromMail,
  uniq,
  withWorkerOn,
  type Stack,
  startRunningStack,
} from '../support/harness';

const HISTORIES = path.join(__dirname, 'histories');
const TZ = 'Europe/Berlin'; // the test catalog's organization.timeZone
const inDays = (days: number) => DateTime.now().setZone(TZ).plus({ days }).toISODate()!;

const recording = process.env.RECORD_REPLAY === '1';
const describeIfRecording = recording ? describe : describe.skip;

/** Writes a closed workflow's history as `histories/<scenario>.json`. */
async function save(client: Client, scenario: string, description: string, workflowId: string) {
  const handle = client.workflow.getHandle(workflowId);
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

  async function send(event: unknown) {
    const d = signDelivery(WEBHOOK_SECRET, event);
    return post(`${api.url}/webhooks/hris`, d.body, d.headers);
  }

  async function departure(departureId: string) {
    const r = await getJson(`${api.url}/departures/${departureId}`, TOKENS.hr);
    return r.json as { departure: { status: string }; workflow: { phase: string | null } };
  }

  test('involuntary-completed, then rescission-review', async () => {
    // Every kind of step: API revocations, owned credentials (an Entra app and an LDAP service account),
    // three tickets confirmed by their owners, a remote laptop returned to the IT desk, the NDA signed
    // from the email link; then a rescission after the end opens the review workflow.
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

    // Confirmed once the workflow shows them open (yellow), as an owner would see them.
    const tickets = await eventually(
      async () => {
        const s = await stack.client.workflow.getHandle(workflowId).query(statusQuery);
        const t = s.steps.filter((x) => x.status === 'yellow' && x.ticketId);
        return t.length === 3 ? t : null;
      },
      30_000,
      'three tickets open',
    );
    for (const t of tickets) {
      const c = await post(
        `${api.url}/tickets/${t.ticketId}/confirm`,
        JSON.stringify({ note: 'done by hand' }),
        {
          authorization: `Bearer ${TOKENS.it}`,
          'content-type': 'application/json',
        },
      );
      expect(c.status).toBe(202);
    }
    await eventually(
      async () => stack.db.assetRecovery.findFirst({ where: { departureId, status: 'requested' } }),
      30_000,
      'return requested',
    );
    const received = await post(
      `${api.url}/departures/${departureId}/assets/${tag}/received`,
      JSON.stringify({ condition: 'good', inspectedBy: 'desk-sam' }),
      { authorization: `Bearer ${TOKENS.itdesk}`, 'content-type': 'application/json' },
    );
    expect(received.status).toBe(202);
    expect((await signNdaFromMail(stack, api.url, id)).status).toBe(200);
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
      };
      throw new Error(`${e.message}; the workflow: ${JSON.stringify(open)}`);
    });
    await save(
      stack.client,
      'involuntary-completed',
      'involuntary termination, remote, every step confirmed: API revocations, owned credentials, three tickets confirmed, laptop returned, NDA signed, completion certificate',
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
      'rescission-review',
      'rescissionReviewWorkflow: a rescission after the offboarding of involuntary-completed had ended',
      reviewId,
    );
  }, 180_000);

  test('rescinded-notice-period', async () => {
    // Voluntary with a later last day: privileged systems revoked, the rest waits; the HRIS moves the
    // last day (the timer moves), then rescinds: the waiting steps are halted and a review opens.
    const id = uniq('RC');
    seedEmployee(stack.standIns, id);
    const confirmedAt = new Date(Date.now() - 60_000).toISOString();
    const resign = (lastDay: string) =>
      hrisEvent(id, { status: 'resigned_confirmed', type: 'voluntary', confirmedAt, lastDay });
    const first = await send(resign(inDays(3)));
    const departureId = first.json.departureId as string;
    await eventually(
      async () => (await departure(departureId)).workflow.phase === 'scoped',
      30_000,
      'scoped',
    );
    expect((await send(resign(inDays(5)))).json.action).toBe('updated');
    const end = endOfLastDay(inDays(5), TZ).toISOString();
    await eventually(
      async () => {
        const s = await stack.client.workflow.getHandle(first.json.workflowId as string).query(statusQuery);
        return s.revokeRestAt === end;
      },
      20_000,
      'last day moved',
    );
    expect((await send(hrisEvent(id, { status: 'termination_rescinded' }))).json.action).toBe('rescinded');
    await eventually(
      async () => (await departure(departureId)).departure.status === 'rescinded',
      30_000,
      'rescinded',
    );
    await save(
      stack.client,
      'rescinded-notice-period',
      'voluntary resignation in its notice period: privileged systems revoked, last day moved, then rescinded (waiting steps halted, review opened)',
      first.json.workflowId as string,
    );
  }, 120_000);

  test('voluntary-notice-moved-completed (time-skipping server)', async () => {
    // Voluntary with a later last day that the HRIS moves; the timer fires at the end of the new last
    // day (skipped time), the rest is revoked, the badge ticket is confirmed; the in-office laptop is
    // never returned (both escalations) and the NDA is never signed (reminders, then expired).
    const testEnv = await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: env.testServer } },
      client: { dataConverter },
    });
    try {
      await registerSearchAttributes(testEnv.connection);
      const id = uniq('RB');
      seedEmployee(stack.standIns, id);
      await stack.db.asset.create({
        data: {
          tag: uniq('LAPTOP').toUpperCase(),
          name: 'Laptop',
          category: 'laptop',
          assignedToEmployeeId: id,
        },
      });
      const input = await createDeparture(stack.db, id, {
        terminationType: 'voluntary',
        lastDay: inDays(3),
        workLocation: 'in_office',
      });
      const workflowId = `offboarding:${id}`;
      const taskQueue = uniq('record');
      const catalog = catalogOf(stack, ['ldap', 'vpn', 'crm', 'wiki', 'badge']);
      const newEnd = endOfLastDay(inDays(5), TZ);
      await withWorkerOn(testEnv.nativeConnection, stack, taskQueue, catalog, async () => {
        const h = await testEnv.client.workflow.start('offboardingWorkflow', {
          taskQueue,
          workflowId,
          args: [input],
        });
        const until = async (ok: (s: OffboardingStatus) => boolean, what: string) =>
          eventually(
            async () => {
              const s = await h.query(statusQuery);
              return ok(s) ? s : null;
            },
            30_000,
            what,
          );
        await until((s) => s.phase === 'scoped', 'scoped');
        await h.signal(lastDayChangedSignal, { lastDay: inDays(5), source: 'record' });
        await until((s) => s.revokeRestAt === newEnd.toISOString(), 'moved');
        // Past the end of the new last day, well inside the badge ticket's 24 h SLA.
        await testEnv.sleep(newEnd.getTime() - Date.now() + 60 * 60_000);
        const s = await until(
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
        const final = (await h.result()) as OffboardingStatus;
        expect(final.phase).toBe('revocation_complete');
      });
      await save(
        testEnv.client,
        'voluntary-notice-moved-completed',
        'voluntary resignation: privileged systems at once, last day moved, the rest at the end of the new last day, badge ticket confirmed, laptop escalated twice, NDA reminders then expired',
        workflowId,
      );
    } finally {
      await testEnv.teardown();
    }
  }, 180_000);
});
