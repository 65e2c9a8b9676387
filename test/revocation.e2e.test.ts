/**
 * End to end on real servers: a signed HRIS event → API → Temporal dev server → worker → Entra and SCIM
 * stand-ins, real slapd, real PostgreSQL, real SMTP.
 */
import { Attribute, Change, Client as LdapClient } from 'ldapts';
import { temporal } from '@temporalio/proto';
import type { OffboardingWorkers } from '../workers/worker';
import { signDelivery } from '../lib/webhook-sign';
import type { RunningServer } from '../server/main';
import { PERMANENT_LOCK } from '../activities/ldap';
import {
  TOKENS,
  WEBHOOK_SECRET,
  createTestWorker,
  env,
  eventually,
  getJson,
  hrisEvent,
  post,
  seedEmployee,
  startApi,
  startStack,
  uniq,
  type Stack,
  signNdaFromMail,
  signOff,
  FOLLOWUP_PART_ACTIVITIES,
} from './support/harness';

let stack: Stack;
let worker: OffboardingWorkers;
let running: Promise<void>;
let api: RunningServer;

beforeAll(async () => {
  stack = await startStack();
  worker = await createTestWorker(stack);
  running = worker.run();
  api = await startApi(stack);
});

afterAll(async () => {
  await api?.close();
  worker?.shutdown();
  await running;
  await stack?.stop();
});

/** The activities a revocation pass schedules, a sweep or its steps. */
const STEP_ACTIVITIES = [
  'sweepRevocations',
  'revokeAccess',
  'discoverOwnedCredentials',
  'revokeOwnedCredential',
];

async function fire(employeeId: string, overrides = {}) {
  const d = signDelivery(WEBHOOK_SECRET, hrisEvent(employeeId, overrides));
  return post(`${api.url}/webhooks/hris`, d.body, d.headers);
}

async function departureDone(departureId: string) {
  const dep = await eventually(
    async () => {
      const d = await stack.db.departure.findUnique({ where: { id: departureId } });
      return d?.status === 'awaiting_signoff' ? d : null;
    },
    30_000,
    `departure ${departureId} awaiting sign-off`,
  );
  await signOff(stack.client, dep.workflowId);
  return eventually(
    async () => {
      const d = await stack.db.departure.findUnique({ where: { id: departureId } });
      return d?.status === 'completed' ? d : null;
    },
    30_000,
    `departure ${departureId} completed`,
  );
}

test('a confirmed termination revokes every system in order, each confirmed green', async () => {
  const id = uniq('E');
  const person = seedEmployee(stack.standIns, id, { ownedApp: true, serviceAccount: true });
  const res = await fire(id);
  expect(res.status).toBe(202);
  expect(res.json.action).toBe('started');
  const departureId = res.json.departureId as string;
  expect(res.json.workflowId).toBe(`offboarding:${id}`);

  // Ticket step (badges) waits for its owner; everything with an API is confirmed by read-back.
  const ticketMail = await stack.mail.waitFor(
    (m) => m.to.includes('badge-owner@example.com') && m.text.includes(id),
  );
  expect(ticketMail.subject).toMatch(/revoke .*access in Door badges/);
  const view = await eventually(
    async () => {
      const r = await getJson(`${api.url}/departures/${departureId}`, TOKENS.it);
      const steps = r.json.steps as { stepId: string; integration: string; status: string }[];
      return steps.length === 12 &&
        steps.every((s) => s.status === (s.integration === 'api' ? 'green' : 'yellow'))
        ? r.json
        : null;
    },
    30_000,
    'API steps green',
  );
  const steps = view.steps as {
    stepId: string;
    systemId: string;
    kind: string;
    tier: string;
    status: string;
    executingSystem: string;
    confirmedAt: string;
  }[];
  // The plan follows PRODUCT's order, not the catalog file's: identity, directory, VPN, MFA, the search
  // for credentials the leaver owns, then the applications and each owned credential found.
  const app = person.graphUser.ownedApplications[0]!;
  const svcDn = `uid=${id.toLowerCase()}-svc,ou=people,dc=offboard,dc=test`;
  expect(steps.map((s) => s.stepId)).toEqual([
    'entra',
    'ldap',
    'vpn',
    'entra-mfa',
    'entra/discover_owned_credentials',
    'ldap/discover_owned_credentials',
    'wiki',
    'badge',
    'crm',
    'slack',
    `entra/revoke_owned:${app.id}`,
    `ldap/revoke_owned:${svcDn}`,
  ]);
  expect(steps.find((s) => s.systemId === 'badge')?.status).toBe('yellow');
  // The app registration's secrets are rotated through Graph; the service account goes to its owner.
  expect(steps.find((s) => s.stepId === `entra/revoke_owned:${app.id}`)?.status).toBe('green');
  expect(app.passwordCredentials).toHaveLength(0);
  expect(app.keyCredentials).toHaveLength(0);
  expect(steps.find((s) => s.stepId === `ldap/revoke_owned:${svcDn}`)?.status).toBe('yellow');
  // SSO-covered without an API: SSO disable is not revocation, so its owner gets a manual task.
  expect(steps.find((s) => s.systemId === 'slack')).toMatchObject({
    status: 'yellow',
    integration: 'manual',
  });
  expect(view.source).toBe('workflow');

  // Targets really changed, once each.
  const g = stack.standIns.graph.find(person.workEmail)!;
  expect(g.accountEnabled).toBe(false);
  expect(g.disableCount).toBe(1);
  expect(g.revokeCount).toBe(1);
  expect(g.memberOf).toHaveLength(0);
  expect(g.licenseAssignmentStates).toHaveLength(0);
  // MFA: every registered method removed, the password method (not deletable) is all that is left.
  expect(g.authenticationMethods.map((m) => m['@odata.type'])).toEqual([
    '#microsoft.graph.passwordAuthenticationMethod',
  ]);
  expect(g.methodDeleteCount).toBe(2);
  for (const app of ['crm', 'wiki', 'vpn'] as const) {
    const u = stack.standIns.scim.findUser(app, person.workEmail)!;
    expect(u.active).toBe(false);
    expect(u.deactivations).toBe(1);
  }
  const ldap = new LdapClient({ url: env.ldapUrl });
  await ldap.bind('cn=admin,dc=offboard,dc=test', 'admin-secret');
  const { searchEntries } = await ldap.search(person.dn, {
    scope: 'base',
    attributes: ['pwdAccountLockedTime'],
  });
  expect(searchEntries[0]?.pwdAccountLockedTime).toBe(PERMANENT_LOCK);
  const groups = await ldap.search('ou=groups,dc=offboard,dc=test', { filter: `(member=${person.dn})` });
  expect(groups.searchEntries).toHaveLength(0);
  await ldap.unbind();
  // The employee's own password no longer binds (ppolicy lock is enforced by slapd).
  const userBind = new LdapClient({ url: env.ldapUrl });
  await expect(userBind.bind(person.dn, 'correct-horse')).rejects.toThrow();
  await userBind.unbind().catch(() => undefined);

  // Order: each sequential step was confirmed before the next one started.
  const rows = await stack.db.stepRecord.findMany({ where: { departureId }, orderBy: { ordinal: 'asc' } });
  const byId = new Map(rows.filter((r) => r.kind === 'revoke').map((r) => [r.systemId, r]));
  const seq = ['entra', 'ldap', 'vpn', 'entra-mfa'].map((s) => byId.get(s)!);
  for (let i = 1; i < seq.length; i++) {
    expect(seq[i]!.startedAt!.getTime()).toBeGreaterThanOrEqual(seq[i - 1]!.confirmedAt!.getTime());
  }
  for (const app of ['wiki', 'crm']) {
    expect(byId.get(app)!.startedAt!.getTime()).toBeGreaterThanOrEqual(
      byId.get('entra-mfa')!.confirmedAt!.getTime(),
    );
  }
  expect(byId.get('entra')!.executingSystem).toMatch(/^Microsoft Graph @ localhost:\d+$/);

  // The owners confirm the badge, chat and service-account tickets through the API; the steps turn green and
  // the departure completes. The directory's owner really locks the service account first: the final
  // live audit checks every owned credential again, whoever revoked it.
  const owner = new LdapClient({ url: env.ldapUrl });
  await owner.bind('cn=admin,dc=offboard,dc=test', 'admin-secret');
  await owner.modify(
    svcDn,
    new Change({
      operation: 'replace',
      modification: new Attribute({ type: 'pwdAccountLockedTime', values: [PERMANENT_LOCK] }),
    }),
  );
  await owner.unbind();
  const tickets = await stack.db.ticket.findMany({ where: { departureId } });
  expect(tickets.map((t) => t.systemId).sort()).toEqual(['badge', 'ldap', 'slack']);
  for (const ticket of tickets) {
    const confirm = await fetch(`${api.url}/tickets/${ticket.id}/confirm`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.it}`, 'content-type': 'application/json' },
      body: JSON.stringify({ note: 'done by hand' }),
    });
    expect(confirm.status).toBe(202);
  }
  // The employee signs the NDA from the link in their personal email; then the offboarding completes.
  expect((await signNdaFromMail(stack, api.url, id)).status).toBe(200);
  const done = await departureDone(departureId);
  expect(done.redSteps).toBe(0);
  const final = await getJson(`${api.url}/departures/${departureId}`, TOKENS.hr);
  expect((final.json.steps as { status: string }[]).every((s) => s.status === 'green')).toBe(true);
  const documents = final.json.documents as { type: string; status: string }[];
  expect(Object.fromEntries(documents.map((d) => [d.type, d.status]))).toMatchObject({
    nda_acknowledgment: 'signed',
    payroll_notification: 'delivered',
    benefits_notification: 'delivered',
    exit_survey: 'sent',
    data_archiving_confirmation: 'generated',
  });
  const audit = await stack.db.auditEvent.findMany({ where: { departureId }, orderBy: { id: 'asc' } });
  expect(audit.map((a) => a.action)).toEqual(
    expect.arrayContaining([
      'departure_accepted',
      'workflow_started',
      'revocation_planned',
      'step_confirmed',
      'ticket_confirmed',
      'revocation_finished',
    ]),
  );

  // How the steps ran (Temporal's history): the planning and then the pass's sweep as local activities
  // in the first workflow task, the sweep running every step (none failed, so no step ran as an
  // activity of its own); the follow-up work (assets, documents) on the follow-up queue.
  const { scheduled, localActivities } = await historyOf(id);
  expect(scheduled.filter((a) => STEP_ACTIVITIES.includes(a.type))).toEqual([]);
  expect(localActivities).toEqual(['planRevocation', 'sweepRevocations']);
  // The rate-limited Entra was paced through the shared pace.
  expect(await stack.db.systemPace.count({ where: { systemId: 'entra' } })).toBe(1);
  // The follow-up work started as one activity, the first round (asset plan and return requests,
  // notifications, exit survey, data archiving, the NDA sent): none of its parts ran on its own, and
  // every document above came out of it.
  expect(scheduled.filter((a) => FOLLOWUP_PART_ACTIVITIES.includes(a.type))).toEqual([]);
  const followups = scheduled.filter((a) => a.type === 'firstFollowupRound');
  expect(followups).toHaveLength(1);
  for (const a of followups) expect(a.queue).toBe(`${stack.taskQueue}.followup`);
});

/**
 * One departure through a worker and an API of their own (on their own task queue) with `deps`, up to
 * every API step green and every ticket open; `check` then reads what it needs, and the offboarding is
 * terminated.
 */
async function runOnOwnWorker(
  prefix: string,
  deps: Parameters<typeof createTestWorker>[3],
  check: (r: {
    id: string;
    person: ReturnType<typeof seedEmployee>;
    rows: Awaited<ReturnType<typeof stack.db.stepRecord.findMany>>;
    taskQueue: string;
  }) => Promise<void>,
) {
  const own = { ...stack, taskQueue: uniq(prefix) };
  const w = await createTestWorker(own, stack.connectors, stack.mailer, deps);
  const run = w.run();
  const ownApi = await startApi(own);
  try {
    const id = uniq(prefix.slice(0, 1).toUpperCase());
    const person = seedEmployee(stack.standIns, id, { ownedApp: true, serviceAccount: true });
    const d = signDelivery(WEBHOOK_SECRET, hrisEvent(id));
    const res = await post(`${ownApi.url}/webhooks/hris`, d.body, d.headers);
    expect(res.json.action).toBe('started');
    const departureId = res.json.departureId as string;
    const rows = await eventually(
      async () => {
        const r = await stack.db.stepRecord.findMany({ where: { departureId }, orderBy: { ordinal: 'asc' } });
        return r.length === 12 &&
          r.every((x) => (x.integration === 'api' ? x.status === 'green' : x.status === 'yellow'))
          ? r
          : null;
      },
      30_000,
      'API steps green, tickets open',
    );
    await check({ id, person, rows, taskQueue: own.taskQueue });
    await stack.client.workflow.getHandle(`offboarding:${id}`).terminate('test over');
  } finally {
    await ownApi.close();
    w.shutdown();
    await run;
  }
}

/** The activities and local-activity markers of an offboarding's history. */
async function historyOf(employeeId: string) {
  const { EventType } = temporal.api.enums.v1;
  const events =
    (await stack.client.workflow.getHandle(`offboarding:${employeeId}`).fetchHistory()).events ?? [];
  return {
    scheduled: events
      .filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
      .map((e) => e.activityTaskScheduledEventAttributes!)
      .map((a) => ({ type: a.activityType!.name!, queue: a.taskQueue!.name! })),
    /** The local activities' types, from Core's markers (their `data` is Core's own JSON, not encoded). */
    localActivities: events
      .map((e) => e.markerRecordedEventAttributes)
      .filter((m) => m?.markerName === 'core_local_activity')
      .map((m) => {
        const data = m!.details?.data?.payloads?.[0]?.data;
        return data
          ? (JSON.parse(Buffer.from(data).toString()) as { activity_type: string }).activity_type
          : '?';
      }),
  };
}

test('a plan without the sweep (older workers): each step is an activity of its own, on its system queue when rate-limited', async () => {
  await runOnOwnWorker('steps', { legacyPlan: { sweep: false } }, async ({ id, person, taskQueue }) => {
    expect(stack.standIns.graph.find(person.workEmail)!.disableCount).toBe(1);
    const revocations = (await historyOf(id)).scheduled.filter((a) => STEP_ACTIVITIES.includes(a.type));
    // The rate-limited Entra's account, its search for owned credentials and the app registration found
    // run on Entra's own queue, where Temporal enforces its rate.
    expect(revocations.filter((a) => a.queue === `${taskQueue}.system.entra`).map((a) => a.type)).toEqual([
      'revokeAccess',
      'discoverOwnedCredentials',
      'revokeOwnedCredential',
    ]);
    // ldap, vpn, MFA, wiki, badge, crm, slack; the LDAP search and its service account.
    expect(
      revocations
        .filter((a) => a.queue === taskQueue)
        .map((a) => a.type)
        .sort(),
    ).toEqual(
      [...Array<string>(7).fill('revokeAccess'), 'discoverOwnedCredentials', 'revokeOwnedCredential'].sort(),
    );
  });
});

test('a plan of local steps (older workers with local revocation): the steps run as local activities, in order, each confirmed once', async () => {
  const deps = { legacyPlan: { sweep: false, localSteps: true } as const };
  await runOnOwnWorker('local', deps, async ({ id, person, rows }) => {
    // PRODUCT order still holds: each sequential tier confirmed before the next one started.
    const byId = new Map(rows.filter((r) => r.kind === 'revoke').map((r) => [r.systemId, r]));
    const seq = ['entra', 'ldap', 'vpn', 'entra-mfa'].map((x) => byId.get(x)!);
    for (let i = 1; i < seq.length; i++)
      expect(seq[i]!.startedAt!.getTime()).toBeGreaterThanOrEqual(seq[i - 1]!.confirmedAt!.getTime());
    // Each target changed once.
    expect(stack.standIns.graph.find(person.workEmail)!.disableCount).toBe(1);
    for (const app of ['crm', 'wiki', 'vpn'] as const)
      expect(stack.standIns.scim.findUser(app, person.workEmail)!.deactivations).toBe(1);
    // In the history: only the rate-limited Entra's steps were activity tasks; the rest, local.
    const h = await historyOf(id);
    expect(h.scheduled.map((a) => a.type).filter((t) => STEP_ACTIVITIES.includes(t))).toEqual([
      'revokeAccess',
      'discoverOwnedCredentials',
      'revokeOwnedCredential',
    ]);
    // planRevocation + ldap, vpn, MFA, the LDAP search, wiki, badge, crm, slack, the LDAP service account.
    expect(h.localActivities).toHaveLength(10);
  });
});

test('a plan with the sweep as an ordinary activity (older workers): on the workflow queue, each target changed once', async () => {
  await runOnOwnWorker(
    'sweepact',
    { legacyPlan: { localSweep: false } },
    async ({ id, person, taskQueue }) => {
      const h = await historyOf(id);
      expect(h.scheduled.filter((a) => STEP_ACTIVITIES.includes(a.type))).toEqual([
        { type: 'sweepRevocations', queue: taskQueue },
      ]);
      expect(h.localActivities).toEqual(['planRevocation']);
      expect(stack.standIns.graph.find(person.workEmail)!.disableCount).toBe(1);
      for (const app of ['crm', 'wiki', 'vpn'] as const)
        expect(stack.standIns.scim.findUser(app, person.workEmail)!.deactivations).toBe(1);
    },
  );
});

test('a target that keeps failing turns red, its owner is emailed once, and later steps still complete', async () => {
  const id = uniq('E');
  const person = seedEmployee(stack.standIns, id);
  // The CRM's SCIM endpoint fails every PATCH for this user with a 500.
  stack.standIns.scim.control.inject({
    method: 'PATCH',
    pathIncludes: `/crm/scim/v2/Users/${person.scimUsers.crm.id}`,
    status: 500,
    times: Infinity,
  });
  // Entra answers the first lookup (its matching query) with 503 + Retry-After: retried, not failed.
  stack.standIns.graph.control.inject({
    method: 'GET',
    pathIncludes: '/v1.0/users?',
    status: 503,
    times: 1,
    retryAfterSeconds: 1,
  });
  const res = await fire(id);
  expect(res.status).toBe(202);
  const departureId = res.json.departureId as string;

  const mail = await stack.mail.waitFor(
    (m) => m.to.includes('crm-owner@example.com') && m.text.includes(id),
    30_000,
  );
  expect(mail.subject).toContain('RED');
  expect(mail.text).toContain('still failed after 3 attempts');
  expect(mail.text).toContain('TargetUnavailableError');
  expect(mail.purpose).toBe('step_failed');

  const view = await eventually(
    async () => {
      const r = await getJson(`${api.url}/departures/${departureId}`, TOKENS.itdesk);
      const steps = r.json.steps as { systemId: string; status: string; integration: string }[];
      return steps.find((s) => s.systemId === 'crm')?.status === 'red' &&
        steps
          .filter((s) => s.systemId !== 'crm' && s.integration === 'api')
          .every((s) => s.status === 'green')
        ? r.json
        : null;
    },
    30_000,
    'crm red and the rest green',
  );
  const crm = (view.steps as { systemId: string; attempts: number; lastError: string }[]).find(
    (s) => s.systemId === 'crm',
  )!;
  expect(crm.attempts).toBe(3);
  expect(crm.lastError).toMatch(/TargetUnavailableError: SCIM PATCH/);
  expect(stack.standIns.scim.control.count(`/crm/scim/v2/Users/${person.scimUsers.crm.id}`, 'PATCH')).toBe(3);
  // Entra honoured Retry-After and still went green.
  expect(stack.standIns.graph.find(person.workEmail)!.accountEnabled).toBe(false);
  // Its first attempt (in the sweep) was throttled, so the sweep stopped there: the second attempt ran
  // as Entra's own activity, and every later tier only after it, in order.
  const rows = await stack.db.stepRecord.findMany({ where: { departureId, kind: 'revoke' } });
  const at = (sys: string) => rows.find((r) => r.systemId === sys)!;
  expect(at('entra').attempts).toBe(2);
  expect(at('entra').status).toBe('green');
  const seq = ['entra', 'ldap', 'vpn', 'entra-mfa'].map(at);
  for (let i = 1; i < seq.length; i++)
    expect(seq[i]!.startedAt!.getTime()).toBeGreaterThanOrEqual(seq[i - 1]!.confirmedAt!.getTime());
  // Exactly one failure email for that purpose.
  expect(
    stack.mail.to('crm-owner@example.com').filter((m) => m.text.includes(id) && m.purpose === 'step_failed'),
  ).toHaveLength(1);
  const d = await stack.db.departure.findUniqueOrThrow({ where: { id: departureId } });
  expect(d.redSteps).toBe(1);
  stack.standIns.scim.control.clearFaults();
});

test('a wrong credential is not retried: the step turns red at once and the owner is told why', async () => {
  const id = uniq('E');
  const person = seedEmployee(stack.standIns, id);
  stack.standIns.scim.control.inject({
    pathIncludes: '/wiki/scim/v2/Users',
    status: 401,
    times: Infinity,
    body: {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'],
      status: '401',
      detail: 'Authorization failure',
    },
  });
  const res = await fire(id);
  const departureId = res.json.departureId as string;
  const mail = await stack.mail.waitFor(
    (m) => m.to.includes('wiki-owner@example.com') && m.text.includes(id),
    30_000,
  );
  expect(mail.text).toContain('retrying cannot help');
  expect(mail.text).toContain('TargetAuthError');
  const row = await stack.db.stepRecord.findFirstOrThrow({ where: { departureId, systemId: 'wiki' } });
  expect(row.status).toBe('red');
  expect(row.attempts).toBe(1);
  expect(stack.standIns.scim.findUser('wiki', person.workEmail)!.active).toBe(true);
  stack.standIns.scim.control.clearFaults();
});

test('an employee unknown to an application is confirmed as having none there; unknown to the directory is red', async () => {
  const id = uniq('E');
  // Only in Entra; not in LDAP or any SCIM app.
  stack.standIns.graph.seedUser({ userPrincipalName: `${id.toLowerCase()}@example.com` });
  const res = await fire(id);
  const departureId = res.json.departureId as string;
  const rows = await eventually(async () => {
    const r = await stack.db.stepRecord.findMany({ where: { departureId } });
    const api = r.filter((x) => x.integration === 'api' && x.kind === 'revoke');
    return api.length > 0 && api.every((x) => x.status === (x.systemId === 'ldap' ? 'red' : 'green'))
      ? r
      : null;
  }, 30_000);
  // Everyone has a directory account: not finding one is not proof the access is gone.
  const ldapRow = rows.find((r) => r.systemId === 'ldap' && r.kind === 'revoke')!;
  expect(ldapRow.lastError).toMatch(/^AccountNotFoundError: no account found by userFilter, employeeNumber/);
  expect(ldapRow.evidence).toMatchObject({ match: { outcome: 'not_found', account: null } });
  // An application is not everyone's: none there is green, and says which keys were searched.
  const crmRow = rows.find((r) => r.systemId === 'crm')!;
  expect(crmRow.evidence).toMatchObject({
    confirmation: { exists: false },
    match: { outcome: 'not_found', keys: [{ key: 'externalId' }, { key: 'userName' }, { key: 'emails' }] },
  });
});

test('a throttled Graph gets no call before its Retry-After has passed, and the step still turns green', async () => {
  const id = uniq('E');
  const person = seedEmployee(stack.standIns, id);
  const userId = person.graphUser.id;
  // The account-disable PATCH is answered 429 with Retry-After: 3 twice. The test catalog's retry policy
  // would retry after 100-500 ms: only Retry-After can hold the next call back for 3 s.
  stack.standIns.graph.control.inject({
    method: 'PATCH',
    pathIncludes: `/v1.0/users/${userId}`,
    status: 429,
    times: 2,
    retryAfterSeconds: 3,
  });
  const res = await fire(id);
  const departureId = res.json.departureId as string;
  const entra = await eventually(
    async () => {
      const row = await stack.db.stepRecord.findFirst({
        where: { departureId, systemId: 'entra', kind: 'revoke' },
      });
      return row?.status === 'green' ? row : null;
    },
    30_000,
    'Entra green after throttling',
  );
  expect(entra.attempts).toBe(3);
  const mine = stack.standIns.graph.control.calls.filter(
    (c) => c.path.includes(userId) || c.path.includes(encodeURIComponent(person.workEmail)),
  );
  const throttled = mine.filter((c) => c.status === 429);
  expect(throttled).toHaveLength(2);
  for (const t of throttled) {
    const next = mine.find((c) => c.at > t.at);
    expect(next).toBeDefined();
    // Nothing at all reached Graph for this user inside the Retry-After window.
    expect(next!.at - t.at).toBeGreaterThanOrEqual(2_950);
  }
  expect(stack.standIns.graph.find(person.workEmail)!.disableCount).toBe(1);
}, 60_000);

test('when the HRIS sent no manager, the one Entra knows is recorded on the departure', async () => {
  const id = uniq('E');
  const person = seedEmployee(stack.standIns, id);
  const manager = stack.standIns.graph.seedUser({
    userPrincipalName: `${id.toLowerCase()}-boss@example.com`,
  });
  person.graphUser.managerId = manager.id;
  const event = hrisEvent(id) as { employee: Record<string, unknown> };
  delete event.employee.managerEmail;
  const d = signDelivery(WEBHOOK_SECRET, event);
  const res = await post(`${api.url}/webhooks/hris`, d.body, d.headers);
  const departureId = res.json.departureId as string;
  const dep = await eventually(
    async () => {
      const x = await stack.db.departure.findUnique({ where: { id: departureId } });
      return x?.managerEmail ? x : null;
    },
    30_000,
    'manager recorded',
  );
  expect(dep.managerEmail).toBe(`${id.toLowerCase()}-boss@example.com`);
  const audit = await stack.db.auditEvent.findFirstOrThrow({
    where: { departureId, action: 'manager_recorded' },
  });
  expect(audit.details).toMatchObject({ managerEmail: dep.managerEmail, source: 'entra' });
}, 60_000);
