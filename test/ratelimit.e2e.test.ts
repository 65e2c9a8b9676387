/**
 * Rate limits under a mass layoff, on the Temporal dev server: 200 departures start at once and three
 * SCIM systems are revoked for every one of them. Two systems carry a catalog rate limit, enforced with
 * Temporal's own settings on each system's task queue and worker (see `systemWorkerLimits` in
 * workers/worker.ts); the third has none and is the control that shows the burst really is faster than
 * the limits, so the test can fail.
 *
 * Counting: a SCIM revocation is exactly one state-changing call, `PATCH /Users/{id}` (active=false);
 * the look-up before it and the read-back after it are GETs and are not counted. The SCIM stand-in
 * stamps every request when it arrives; for each system we take the PATCH arrival times and count the
 * most that fall in any sliding one-second window [t, t + 1 s). That figure must not exceed the
 * system's `rateLimit.revocationsPerSecond`.
 */
import { stringify } from 'yaml';
import { createConnectors } from '../activities/connectors';
import { parseCatalog } from '../config/catalog';
import { OFFBOARDING_WORKFLOW, offboardingWorkflowId } from '../contract';
import { maxInAnyWindow } from '../standins/faults';
import { createOffboardingWorker, systemWorkerLimits } from '../workers/worker';
import {
  SECRETS,
  createDeparture,
  dataConverter,
  startStack,
  uniq,
  workflowBundlePath,
  type Stack,
} from './support/harness';

const DEPARTURES = 200;

/** SCIM apps of the stack's stand-in, two with a rate limit and the control without one. */
const SYSTEMS = [
  { id: 'vpn', tokenEnv: 'SCIM_TOKEN_VPN', rateLimit: { revocationsPerSecond: 10, maxConcurrent: 2 } },
  { id: 'crm', tokenEnv: 'SCIM_TOKEN_CRM', rateLimit: { revocationsPerSecond: 25, maxConcurrent: 5 } },
  { id: 'wiki', tokenEnv: 'SCIM_TOKEN_WIKI', rateLimit: null },
] as const;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
}, 60_000);
afterAll(async () => {
  await stack?.stop();
});

/**
 * A catalog of its own. Every system sits in the application tier so the workflow sweeps them
 * concurrently: in the VPN tier the VPN would run before the applications and its limit would pace the
 * CRM's calls too, leaving the CRM's own limit untested.
 */
function rateLimitedCatalog() {
  const text = stringify({
    version: 1,
    organization: {
      timeZone: 'Europe/Berlin',
      hr: { name: 'HR Team', email: 'hr-team@example.com' },
      it: { name: 'IT Team', email: 'it-team@example.com' },
    },
    systems: SYSTEMS.map((s) => ({
      id: s.id,
      name: `${s.id.toUpperCase()} (SCIM)`,
      category: 'business',
      tier: 'application',
      integration: 'api',
      sso: false,
      owner: { name: `${s.id} Owner`, email: `${s.id}-owner@example.com` },
      escalationOwner: { name: `${s.id} Escalation`, email: `${s.id}-escalation@example.com` },
      // Generous: this test is about rates, and a busy CI machine can stall a call for seconds.
      timeout: '30s',
      retry: {
        maximumAttempts: 3,
        initialInterval: '100ms',
        backoffCoefficient: 2,
        maximumInterval: '500ms',
      },
      ...(s.rateLimit ? { rateLimit: s.rateLimit } : {}),
      connector: { kind: 'scim', baseUrl: stack.standIns.scim.baseUrl(s.id), tokenEnv: s.tokenEnv },
    })),
  });
  return parseCatalog(text, 'ratelimit-catalog.yaml', { ...process.env, ...SECRETS });
}

test('the worker settings keep pace + calls in flight + one waiting within the rate', () => {
  for (let rate = 3; rate <= 1000; rate += rate < 40 ? 0.5 : 17)
    for (const maxConcurrent of [1, 2, 5, 10, 100, 1000]) {
      const l = systemWorkerLimits({ revocationsPerSecond: rate, maxConcurrent });
      expect(l.maxActivitiesPerSecond).toBeGreaterThan(0);
      expect(l.maxConcurrentActivityTaskExecutions).toBeLessThanOrEqual(maxConcurrent);
      // Polls are spaced 1/pace apart, so one second can start ceil(pace) of them.
      expect(
        Math.ceil(l.maxActivitiesPerSecond) + l.maxConcurrentActivityTaskExecutions + 1,
      ).toBeLessThanOrEqual(rate);
      expect(l.maxTaskQueueActivitiesPerSecond).toBe(rate);
    }
});

test(`a burst of ${DEPARTURES} departures keeps each system at or under its rate limit`, async () => {
  const catalog = rateLimitedCatalog();
  const scim = stack.standIns.scim;
  const prefix = uniq('RL');
  const employeeIds = Array.from({ length: DEPARTURES }, (_, i) => `${prefix}-${i}`);
  const emails = employeeIds.map((id) => `${id.toLowerCase()}@example.com`);
  for (const email of emails) for (const s of SYSTEMS) scim.seedUser(s.id, email);
  const inputs = [];
  for (const id of employeeIds) inputs.push(await createDeparture(stack.db, id));

  const taskQueue = uniq('tq-ratelimit');
  const workers = await createOffboardingWorker({
    connection: stack.nativeConnection,
    namespace: 'default',
    taskQueue,
    deps: {
      db: stack.db,
      catalog,
      connectors: createConnectors(catalog, { ...process.env, ...SECRETS }),
      mailer: stack.mailer,
      publicUrl: 'http://127.0.0.1:3000',
    },
    dataConverter,
    workflowBundle: { codePath: workflowBundlePath() },
    extra: { stickyQueueScheduleToStartTimeout: '1s' },
  });
  // Each limited system has a worker on its own queue; the control runs on the main queue.
  expect([...workers.systems.keys()].sort()).toEqual(['crm', 'vpn']);

  scim.control.reset();
  const t0 = Date.now();
  const results = await workers.runUntil(
    (async () => {
      const handles = await Promise.all(
        inputs.map((input) =>
          stack.client.workflow.start(OFFBOARDING_WORKFLOW, {
            taskQueue,
            workflowId: offboardingWorkflowId(input.employeeId),
            args: [input],
          }),
        ),
      );
      // Done when every revocation step of every departure is confirmed (the offboardings then go on
      // to assets and documents, which this test does not wait for).
      const departureIds = inputs.map((i) => i.departureId);
      const expected = DEPARTURES * SYSTEMS.length;
      // The observer must not fail the burst: on a busy machine the shared pool can be full for a while
      // (the worker's activities hold its connections), so a poll that cannot connect is simply retried.
      const count = (status: string) =>
        stack.db.stepRecord
          .count({ where: { departureId: { in: departureIds }, status } })
          .catch((e: unknown) => {
            if (/timeout exceeded when trying to connect/.test(String(e))) return null;
            throw e;
          });
      for (;;) {
        const green = await count('green');
        if (green !== null && green >= expected) break;
        const red = await count('red');
        if (red) throw new Error(`${red} revocation steps turned red`);
        await new Promise((r) => setTimeout(r, 250));
      }
      const totalMs = Date.now() - t0;
      await Promise.all(handles.map((h) => h.terminate('rate-limit test finished').catch(() => undefined)));
      return totalMs;
    })(),
  );
  const totalMs = results;

  const figures = SYSTEMS.map((s) => {
    const patches = scim.control.calls.filter(
      (c) => c.method === 'PATCH' && c.path.startsWith(`/${s.id}/scim/v2/Users/`),
    );
    const times = patches.map((c) => c.at);
    const spanMs = times.length ? Math.max(...times) - Math.min(...times) : 0;
    return {
      system: s.id,
      limit: s.rateLimit?.revocationsPerSecond ?? null,
      worker: s.rateLimit ? systemWorkerLimits(s.rateLimit) : null,
      patches: patches.length,
      failed: patches.filter((c) => c.status !== undefined && c.status >= 400).length,
      maxPerSecond: maxInAnyWindow(times),
      spanMs,
    };
  });
  console.log(
    [
      `${DEPARTURES} departures started at once, every revocation confirmed in ${totalMs} ms; ` +
        'PATCHes per system (max = most in any sliding 1 s window):',
      ...figures.map(
        (f) =>
          `  ${f.system.padEnd(5)} limit ${f.limit === null ? 'none' : `${f.limit}/s`}` +
          (f.worker
            ? ` (worker paces ${f.worker.maxActivitiesPerSecond}/s, ${f.worker.maxConcurrentActivityTaskExecutions} in flight)`
            : '') +
          `: max ${f.maxPerSecond} per 1 s; ${f.patches} over ${f.spanMs} ms` +
          ` (${((f.patches * 1000) / Math.max(f.spanMs, 1)).toFixed(1)}/s on average)`,
      ),
    ].join('\n'),
  );

  for (const s of SYSTEMS) {
    const f = figures.find((x) => x.system === s.id)!;
    // One PATCH per user, none refused: nobody deactivated twice, nobody missed.
    expect({ system: s.id, patches: f.patches, failed: f.failed }).toEqual({
      system: s.id,
      patches: DEPARTURES,
      failed: 0,
    });
    const wrong = emails
      .map((email) => ({ email, user: scim.findUser(s.id, email)! }))
      .filter(({ user }) => user.active || user.deactivations !== 1 || user.writes !== 1)
      .map(({ email, user }) => ({ system: s.id, email, ...user }));
    expect(wrong).toEqual([]);
    if (f.limit !== null) expect(f.maxPerSecond).toBeLessThanOrEqual(f.limit);
  }
  // The control went faster than the tightest limit: without the limits the burst would have broken it.
  // (How far above depends on the machine's load: each offboarding now also arms its checkpoint timers.)
  const tightestLimit = Math.min(...figures.filter((f) => f.limit !== null).map((f) => f.limit!));
  expect(figures.find((f) => f.limit === null)!.maxPerSecond).toBeGreaterThan(tightestLimit);
}, 240_000);
