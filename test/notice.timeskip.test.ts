/**
 * Notice periods and rescission on the time-skipping test server: a voluntary departure with a later
 * last day revokes privileged systems at once and the rest when the last day ends in the company's
 * time zone (a durable timer, moved by a lastDayChanged message); a rescission halts whatever has not
 * yet run and opens a review for HR and IT. Real activities (PostgreSQL, SMTP, SCIM stand-in) run
 * underneath; days pass in skipped time.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DateTime } from 'luxon';
import {
  lastDayChangedSignal,
  rescindSignal,
  statusQuery,
  type OffboardingInput,
  type OffboardingStatus,
  type Rescission,
} from '../contract';
import { Client, InvalidCredentialsError } from 'ldapts';
import { endOfLastDay } from '../lib/calendar';
import { phaseOf } from '../lib/pdf';
import {
  catalogOf,
  createDeparture,
  seedEmployee,
  startStack,
  uniq,
  withWorkerOn,
  type Stack,
  startTimeSkipping,
  resultAfterSignOff,
  env,
} from './support/harness';
import { LDAP_ADMIN, LDAP_ADMIN_PASSWORD, LDAP_BASE } from './support/services';
import { skipTime } from './support/timeskip';

const DAY = 86_400_000;

let testEnv: TestWorkflowEnvironment;
let stack: Stack;
const TZ = 'Europe/Berlin'; // the test catalog's organization.timeZone

beforeAll(async () => {
  stack = await startStack();
}, 60_000);

// A test server of its own per test: skipped days stay skipped, and activities compare the last day
// with the real clock, so every test starts with the server's clock at real time.
beforeEach(async () => {
  testEnv = await startTimeSkipping();
}, 30_000);

afterEach(async () => {
  await testEnv?.teardown();
});

afterAll(async () => {
  await stack?.stop();
});

/** A date `days` from today in the company's time zone. */
const inDays = (days: number) => DateTime.now().setZone(TZ).plus({ days }).toISODate()!;

/** VPN is privileged in the test catalog; CRM and the wiki are not. */
const SYSTEMS = ['vpn', 'crm', 'wiki'];

async function run<T>(
  input: OffboardingInput,
  fn: (h: Awaited<ReturnType<typeof testEnv.client.workflow.start>>) => Promise<T>,
  options: { localSweep?: false } = {},
  systems = SYSTEMS,
): Promise<T> {
  const taskQueue = uniq('notice');
  return withWorkerOn(
    testEnv.nativeConnection,
    stack,
    taskQueue,
    catalogOf(stack, systems),
    async () => {
      const h = await testEnv.client.workflow.start('offboardingWorkflow', {
        taskQueue,
        workflowId: `offboarding:${input.employeeId}`,
        args: [input],
      });
      return fn(h);
    },
    options,
  );
}

async function until(
  h: { query: (q: typeof statusQuery) => Promise<OffboardingStatus> },
  ok: (s: OffboardingStatus) => boolean,
): Promise<OffboardingStatus> {
  let last: OffboardingStatus | null = null;
  for (let i = 0; i < 200; i++) {
    last = await h.query(statusQuery);
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`workflow never reached the expected state: ${JSON.stringify(last)}`);
}

const step = (s: OffboardingStatus, id: string) => s.steps.find((x) => x.systemId === id)!;

test('voluntary with a later last day: privileged revoked at once, the rest when the last day ends', async () => {
  const id = uniq('N');
  const person = seedEmployee(stack.standIns, id, { ldap: false });
  const lastDay = inDays(3);
  const input = await createDeparture(stack.db, id, { terminationType: 'voluntary', lastDay });
  const end = endOfLastDay(lastDay, TZ).toISOString();

  const final = await run(input, async (h) => {
    const scoped = await until(h, (s) => s.phase === 'scoped');
    expect(scoped.revokeRestAt).toBe(end);
    expect(step(scoped, 'vpn').status).toBe('green');
    expect(step(scoped, 'crm')).toMatchObject({ status: 'pending', scheduledFor: end });
    expect(step(scoped, 'wiki')).toMatchObject({ status: 'pending', scheduledFor: end });
    // During the notice period the employee keeps CRM and wiki; VPN is gone.
    expect(stack.standIns.scim.findUser('vpn', person.workEmail)!.active).toBe(false);
    expect(stack.standIns.scim.findUser('crm', person.workEmail)!.active).toBe(true);
    const dep = await stack.db.departure.findUniqueOrThrow({ where: { id: input.departureId } });
    expect(dep).toMatchObject({ status: 'scoped' });
    expect(dep.revokeRestAt?.toISOString()).toBe(end);
    // The last day ends: the rest is revoked and the departure is no longer in its notice period.
    await skipTime(testEnv, h, Date.parse(end) - (await testEnv.currentTimeMs()) + 60_000);
    await until(h, (s) => step(s, 'crm').status === 'green' && step(s, 'wiki').status === 'green');
    expect((await stack.db.departure.findUniqueOrThrow({ where: { id: input.departureId } })).status).toBe(
      'running',
    );
    return resultAfterSignOff(testEnv.client, h);
  });
  expect(final.phase).toBe('completed');
  for (const s of ['crm', 'wiki']) {
    expect(step(final, s).status).toBe('green');
    // Workflow time: not one moment before the end of the last day in Berlin.
    expect(Date.parse(step(final, s).startedAt!)).toBeGreaterThanOrEqual(Date.parse(end));
  }
  expect(Date.parse(step(final, 'vpn').startedAt!)).toBeLessThan(Date.parse(end));
  expect(stack.standIns.scim.findUser('crm', person.workEmail)!.active).toBe(false);
  expect(stack.standIns.scim.findUser('wiki', person.workEmail)!.active).toBe(false);
});

/** Can the person bind to the directory with their own password (is the account usable)? */
async function canBind(dn: string): Promise<boolean> {
  const c = new Client({ url: env.ldapUrl });
  try {
    await c.bind(dn, 'correct-horse');
    return true;
  } catch (e) {
    if (e instanceof InvalidCredentialsError) return false;
    throw e;
  } finally {
    await c.unbind().catch(() => undefined);
  }
}

/** The groups of the directory that list `dn` as a member. */
async function ldapGroupsOf(dn: string): Promise<string[]> {
  const c = new Client({ url: env.ldapUrl });
  await c.bind(LDAP_ADMIN, LDAP_ADMIN_PASSWORD);
  try {
    const { searchEntries } = await c.search(`ou=groups,${LDAP_BASE}`, {
      filter: `(member=${dn})`,
      attributes: ['cn'],
    });
    return searchEntries.map((e) => String(e.cn)).sort();
  } finally {
    await c.unbind();
  }
}

/** The identity provider, the directory, MFA, VPN and two applications. */
const SCOPED_SYSTEMS = ['entra', 'entra-mfa', 'ldap', 'vpn', 'crm', 'wiki'];

test('voluntary with notice: accounts scoped at once and still usable, then everything revoked after the last day', async () => {
  const id = uniq('S');
  const person = seedEmployee(stack.standIns, id, { privileged: true });
  const uid = id.toLowerCase();
  const user = stack.standIns.graph.users.get(person.graphUser.id)!;
  const lastDay = inDays(5);
  const input = await createDeparture(stack.db, id, { terminationType: 'voluntary', lastDay });
  const end = endOfLastDay(lastDay, TZ).toISOString();
  const byStep = (s: OffboardingStatus, stepId: string) => s.steps.find((x) => x.stepId === stepId)!;

  const final = await run(
    input,
    async (h) => {
      const scoped = await until(
        h,
        (s) =>
          s.phase === 'scoped' &&
          byStep(s, 'entra/scope_access').status === 'green' &&
          byStep(s, 'ldap/scope_access').status === 'green',
      );
      // At once: the scope steps (confirmed by read-back), VPN (privileged: revoked at once), the
      // search for owned credentials. Held: the accounts themselves, MFA and the applications.
      expect(byStep(scoped, 'entra/scope_access')).toMatchObject({ kind: 'scope', status: 'green' });
      expect(byStep(scoped, 'entra/scope_access').detail).toMatch(/account stays enabled/);
      expect(byStep(scoped, 'vpn').status).toBe('green');
      for (const held of ['entra', 'entra-mfa', 'ldap', 'crm', 'wiki'])
        expect(byStep(scoped, held)).toMatchObject({ status: 'pending', scheduledFor: end });
      // Entra: roles, PIM eligibility and the privileged group gone; sessions renewed; the account
      // enabled, its other group and its MFA methods kept.
      expect(user.roleAssignments).toEqual([]);
      expect(user.roleEligibilities).toEqual([]);
      expect(user.memberOf.map((g) => g.displayName)).toEqual([`${id} team`]);
      expect(user.accountEnabled).toBe(true);
      expect(user.revokeCount).toBe(1);
      expect(user.authenticationMethods.length).toBeGreaterThan(1);
      // The directory: out of the admin group, still in the others, and the person can still sign in.
      expect(await ldapGroupsOf(person.dn)).toEqual([`${uid}-solo`, `${uid}-team`]);
      expect(await canBind(person.dn)).toBe(true);
      expect(stack.standIns.scim.findUser('crm', person.workEmail)!.active).toBe(true);
      // The last day ends: the full revocation runs.
      await skipTime(testEnv, h, Date.parse(end) - (await testEnv.currentTimeMs()) + 60_000);
      await until(h, (s) =>
        ['entra', 'entra-mfa', 'ldap', 'crm', 'wiki'].every((x) => byStep(s, x).status === 'green'),
      );
      return resultAfterSignOff(testEnv.client, h);
    },
    {},
    SCOPED_SYSTEMS,
  );
  expect(final.phase).toBe('completed');
  for (const s of ['entra', 'entra-mfa', 'ldap', 'crm', 'wiki'])
    expect(Date.parse(byStep(final, s).startedAt!)).toBeGreaterThanOrEqual(Date.parse(end));
  for (const s of ['entra/scope_access', 'ldap/scope_access'])
    expect(Date.parse(byStep(final, s).confirmedAt!)).toBeLessThan(Date.parse(end));
  expect(user.accountEnabled).toBe(false);
  expect(await canBind(person.dn)).toBe(false);
  expect(await ldapGroupsOf(person.dn)).toEqual([]);
  // The certificate says which phase each step belonged to.
  const steps = await stack.db.stepRecord.findMany({ where: { departureId: input.departureId } });
  expect(
    steps
      .filter((x) => x.kind === 'scope')
      .map((x) => x.systemId)
      .sort(),
  ).toEqual(['entra', 'ldap']);
  const held = steps.find((x) => x.systemId === 'crm' && x.kind === 'revoke')!;
  expect(phaseOf(held)).toBe(`after the last day: held until ${end}`);
  expect(phaseOf(steps.find((x) => x.kind === 'scope')!)).toMatch(/^notice period: scoped at once/);
});

test('involuntary: nothing is scoped, everything is revoked at once', async () => {
  const id = uniq('I');
  const person = seedEmployee(stack.standIns, id, { privileged: true });
  const user = stack.standIns.graph.users.get(person.graphUser.id)!;
  const input = await createDeparture(stack.db, id, { terminationType: 'involuntary', lastDay: inDays(5) });
  const final = await run(
    input,
    async (h) => {
      const done = await until(h, (s) =>
        // Steps exist once the plan is made: until then the query shows none.
        ['entra', 'entra-mfa', 'ldap', 'vpn', 'crm', 'wiki'].every(
          (x) => s.steps.find((st) => st.stepId === x)?.status === 'green',
        ),
      );
      expect(done.steps.filter((x) => x.kind === 'scope')).toEqual([]);
      expect(done.revokeRestAt).toBeNull();
      return resultAfterSignOff(testEnv.client, h);
    },
    {},
    SCOPED_SYSTEMS,
  );
  expect(final.phase).toBe('completed');
  expect(user.accountEnabled).toBe(false);
  expect(await canBind(person.dn)).toBe(false);
  expect(await ldapGroupsOf(person.dn)).toEqual([]);
});

test('a moved last day moves the timer; moving it into the past revokes the rest at once', async () => {
  const id = uniq('N');
  const person = seedEmployee(stack.standIns, id, { ldap: false });
  const input = await createDeparture(stack.db, id, { terminationType: 'voluntary', lastDay: inDays(3) });
  const later = inDays(6);
  const laterEnd = endOfLastDay(later, TZ).toISOString();

  const final = await run(input, async (h) => {
    await until(h, (s) => s.phase === 'scoped');
    await h.signal(lastDayChangedSignal, { lastDay: later, source: 'test' });
    const moved = await until(h, (s) => s.revokeRestAt === laterEnd);
    expect(moved.lastDay).toBe(later);
    expect(step(moved, 'crm').scheduledFor).toBe(laterEnd);
    // Four days pass (past the original last day): CRM is still there.
    await skipTime(testEnv, h, 4 * DAY);
    expect(step(await h.query(statusQuery), 'crm').status).toBe('pending');
    expect(stack.standIns.scim.findUser('crm', person.workEmail)!.active).toBe(true);
    // A malformed date changes nothing.
    await h.signal(lastDayChangedSignal, { lastDay: 'next friday', source: 'test' });
    // HR brings the last day forward to one that has already ended: the rest is revoked now.
    await h.signal(lastDayChangedSignal, { lastDay: inDays(-1), source: 'test' });
    return resultAfterSignOff(testEnv.client, h);
  });
  expect(final.phase).toBe('completed');
  expect(final.lastDay).toBe(inDays(-1));
  expect(step(final, 'crm').status).toBe('green');
  expect(Date.parse(step(final, 'crm').startedAt!)).toBeLessThan(Date.parse(laterEnd));
  const row = await stack.db.departure.findUniqueOrThrow({ where: { id: input.departureId } });
  expect(row.lastDay).toBe(inDays(-1));
  // The report was due at once (the new last day ended over a day ago) and still lists the documents:
  // it waited for the paperwork to start (it was compiled with steps and accounts only).
  const report = await stack.db.verificationReport.findUniqueOrThrow({
    where: { departureId: input.departureId },
  });
  expect((report.items as { itemId: string }[]).map((i) => i.itemId)).toEqual(
    expect.arrayContaining(['document:nda_acknowledgment', 'document:payroll_notification']),
  );
  const moves = await stack.db.auditEvent.findMany({
    where: { departureId: input.departureId, action: 'notice_period_moved' },
  });
  expect(moves).toHaveLength(2);
});

test('a rescission during the notice period halts the waiting systems and opens a review; nothing is re-enabled', async () => {
  const id = uniq('N');
  const person = seedEmployee(stack.standIns, id, { ldap: false });
  const input = await createDeparture(stack.db, id, { terminationType: 'voluntary', lastDay: inDays(3) });

  const final = await run(input, async (h) => {
    await until(h, (s) => s.phase === 'scoped');
    await skipTime(testEnv, h, DAY);
    await h.signal(rescindSignal, { at: new Date().toISOString(), by: 'hris:evt-1', reason: 'rescinded' });
    await h.signal(rescindSignal, { at: new Date().toISOString(), by: 'hris:evt-2', reason: 'again' });
    return (await h.result()) as OffboardingStatus;
  });
  expect(final.phase).toBe('rescinded');
  expect(final.rescission?.by).toBe('hris:evt-1');
  expect(step(final, 'vpn').status).toBe('green');
  expect(step(final, 'crm').status).toBe('halted');
  expect(step(final, 'wiki').status).toBe('halted');
  // Halted systems untouched; the revoked one is NOT re-enabled.
  expect(stack.standIns.scim.findUser('crm', person.workEmail)!.active).toBe(true);
  expect(stack.standIns.scim.findUser('wiki', person.workEmail)!.active).toBe(true);
  expect(stack.standIns.scim.findUser('vpn', person.workEmail)!.active).toBe(false);

  const review = await stack.db.review.findFirstOrThrow({ where: { departureId: input.departureId } });
  expect(review).toMatchObject({ kind: 'rescission', status: 'open', openedBy: 'hris:evt-1' });
  expect(review.summary).toMatchObject({
    revoked: [expect.stringContaining('Remote access VPN')],
    halted: expect.arrayContaining([expect.stringContaining('CRM'), expect.stringContaining('Team Wiki')]),
  });
  expect((review.summary as { halted: string[] }).halted).toHaveLength(2);
  const rows = await stack.db.stepRecord.findMany({ where: { departureId: input.departureId } });
  expect(Object.fromEntries(rows.map((r) => [r.systemId, r.status]))).toEqual({
    vpn: 'green',
    crm: 'halted',
    wiki: 'halted',
  });
  const dep = await stack.db.departure.findUniqueOrThrow({ where: { id: input.departureId } });
  expect(dep.status).toBe('rescinded');
  const mail = await stack.mail.waitFor((m) => m.to.includes('hr-team@example.com') && m.text.includes(id));
  expect(mail.cc).toContain('it-team@example.com');
  expect(mail.purpose).toBe('rescission_review');
  expect(mail.text).toMatch(/NOTHING has been re-enabled/);
});

/**
 * A rescission while a sweep runs: the VPN step in flight finishes (green), CRM and the wiki are not
 * touched (halted). `deliver` gets it to the offboarding once the VPN step is running.
 */
async function rescindMidSweep(
  deliver: (
    h: { signal: (s: typeof rescindSignal, r: Rescission) => Promise<void> },
    departureId: string,
  ) => Promise<void>,
  options: { localSweep?: false } = {},
) {
  const id = uniq('N');
  const person = seedEmployee(stack.standIns, id, { ldap: false });
  const input = await createDeparture(stack.db, id, { terminationType: 'involuntary' });
  stack.standIns.scim.control.latencyMs = 1_500; // the VPN step is in flight when the rescission lands
  try {
    const final = await run(
      input,
      async (h) => {
        // The step table says what a sweep is doing (the workflow learns when the sweep returns).
        for (let i = 0; ; i++) {
          const vpn = await stack.db.stepRecord.findFirst({
            where: { departureId: input.departureId, systemId: 'vpn' },
          });
          if (vpn?.status === 'running') break;
          if (i > 200) throw new Error(`the VPN step never ran: ${JSON.stringify(vpn)}`);
          await new Promise((r) => setTimeout(r, 50));
        }
        await deliver(h, input.departureId);
        return (await h.result()) as OffboardingStatus;
      },
      options,
    );
    expect(final.phase).toBe('rescinded');
    expect(step(final, 'vpn').status).toBe('green');
    expect(step(final, 'crm').status).toBe('halted');
    expect(step(final, 'wiki').status).toBe('halted');
  } finally {
    stack.standIns.scim.control.latencyMs = 0;
  }
  expect(stack.standIns.scim.findUser('crm', person.workEmail)!.active).toBe(true);
  expect(stack.standIns.scim.findUser('wiki', person.workEmail)!.active).toBe(true);
  expect(await stack.db.review.count({ where: { departureId: input.departureId, status: 'open' } })).toBe(1);
}

const rescission = (): Rescission => ({
  at: new Date().toISOString(),
  by: 'operator:hr-user',
  reason: 'error',
});

test('a rescission mid-sweep (stored, then signalled, as the API and the HRIS intake do) halts the sweep before its next step', async () => {
  // The sweep is a local activity (the default): the signal reaches the workflow only when the sweep's
  // workflow task ends, but the sweep reads the stored rescission before every step.
  await rescindMidSweep(async (h, departureId) => {
    await stack.db.departure.update({ where: { id: departureId }, data: { rescindedAt: new Date() } });
    await h.signal(rescindSignal, rescission());
  });
});

test('with the sweep an ordinary activity, a rescission signalled straight to Temporal is recorded for the sweep, which halts', async () => {
  // A plan with the sweep as an ordinary activity (older workers): the signal reaches the workflow mid-sweep, and the workflow
  // records it (`noteRescission`) for the sweep to see.
  await rescindMidSweep((h) => h.signal(rescindSignal, rescission()), { localSweep: false });
});
