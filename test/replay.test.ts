/**
 * Replay: the recorded histories in test/replay/histories (see test/replay/README.md) replay against
 * today's workflow code, so a change that would break running offboardings fails the build; a
 * deliberately changed workflow (test/fixtures/changed-workflow) fails with a DeterminismViolationError
 * naming the workflow. The generations: `pre-checkpoint/` (recorded before the verification checkpoint:
 * they guard the old branch of `patched('verification-checkpoint')`), `pre-local-revocation/` (signed
 * off by HR and IT, every step an ordinary activity: the old branches of `patched('local-revocation-plan')`
 * and `patched('followup-task-queue')`, and plans without `local`), `pre-sweep/` (the same patches,
 * every step an activity of its own: plans without `sweep`), `local-steps/`, `pre-lean-start/` (a sweep
 * activity per pass, the three patches above each recorded), `sweep-activity/` (one
 * `patched('lean-start')` for all three, no `planning` upsert, a sweep activity per pass),
 * `pre-first-round/` (the same, the sweep a local activity, each follow-up part an activity),
 * `pre-quiet-start/` (the same, the follow-up work starting with one `firstFollowupRound`) and today's
 * histories beside them (the same, started with `leanStart`: no patch, no upsert before the sweep). `offboard replay` is run as a child
 * process over the files and over a workflow fetched from the Temporal dev server.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { DeterminismViolationError } from '@temporalio/workflow';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { historyFiles, readHistoryFile, windowQuery, type HistorySource } from '../cli/commands/replay';
import { statusQuery } from '../contract';
import { FAILURE_CONVERTER_PATH } from '../lib/codec';
import type { OffboardingWorkers } from '../workers/worker';
import {
  CODEC_KEYS_SPEC,
  createDeparture,
  createTestWorker,
  dataConverter,
  env,
  eventually,
  seedEmployee,
  startStack,
  uniq,
  workflowBundlePath,
  type Stack,
  FOLLOWUP_PART_ACTIVITIES,
} from './support/harness';

const ROOT = path.join(__dirname, '..');
const HISTORIES = path.join(__dirname, 'replay', 'histories');
const PRE_CHECKPOINT = path.join(HISTORIES, 'pre-checkpoint');
const PRE_LOCAL = path.join(HISTORIES, 'pre-local-revocation');
const CHANGED = path.join(__dirname, 'fixtures', 'changed-workflow');
const CLI = path.join(ROOT, 'cli', 'offboard.cjs');

/**
 * The histories that must be there (paths under test/replay/histories, without `.json`): those
 * test/replay/record.test.ts records, and those recorded before the verification checkpoint, which
 * today's code can no longer produce and which stay as they are.
 */
const SCENARIOS = [
  'involuntary-signed-off',
  'rescinded-notice-period-checkpoint',
  'rescission-review-after-signoff',
  'signed-off-after-continue-as-new.run-1',
  'signed-off-after-continue-as-new.run-2',
  'voluntary-notice-signed-off',
  'pre-checkpoint/involuntary-completed',
  'pre-checkpoint/rescinded-notice-period',
  'pre-checkpoint/rescission-review',
  'pre-checkpoint/voluntary-notice-moved-completed',
  'local-steps/involuntary-signed-off',
  'pre-local-revocation/involuntary-signed-off',
  'pre-local-revocation/rescinded-notice-period-checkpoint',
  'pre-local-revocation/signed-off-after-continue-as-new.run-1',
  'pre-local-revocation/signed-off-after-continue-as-new.run-2',
  'pre-local-revocation/voluntary-notice-signed-off',
  'pre-sweep/involuntary-signed-off',
  'pre-sweep/rescinded-notice-period-checkpoint',
  'pre-sweep/signed-off-after-continue-as-new.run-1',
  'pre-sweep/signed-off-after-continue-as-new.run-2',
  'pre-sweep/voluntary-notice-signed-off',
  'pre-lean-start/involuntary-signed-off',
  'pre-lean-start/rescinded-notice-period-checkpoint',
  'pre-lean-start/signed-off-after-continue-as-new.run-1',
  'pre-lean-start/signed-off-after-continue-as-new.run-2',
  'pre-lean-start/voluntary-notice-signed-off',
  'sweep-activity/involuntary-signed-off',
  'sweep-activity/rescinded-notice-period-checkpoint',
  'sweep-activity/signed-off-after-continue-as-new.run-1',
  'sweep-activity/signed-off-after-continue-as-new.run-2',
  'sweep-activity/voluntary-notice-signed-off',
  'pre-first-round/involuntary-signed-off',
  'pre-first-round/rescinded-notice-period-checkpoint',
  'pre-first-round/signed-off-after-continue-as-new.run-1',
  'pre-first-round/signed-off-after-continue-as-new.run-2',
  'pre-first-round/voluntary-notice-signed-off',
  'pre-quiet-start/involuntary-signed-off',
  'pre-quiet-start/rescinded-notice-period-checkpoint',
  'pre-quiet-start/signed-off-after-continue-as-new.run-1',
  'pre-quiet-start/signed-off-after-continue-as-new.run-2',
  'pre-quiet-start/voluntary-notice-signed-off',
];

let stack: Stack;
let histories: HistorySource[];
let changedBundle: string;

beforeAll(async () => {
  // The stack installs the SDK runtime (quiet logger) before any worker, replayers included.
  stack = await startStack();
  histories = historyFiles([HISTORIES]).map(readHistoryFile);
  const bundle = await bundleWorkflowCode({
    workflowsPath: require.resolve(CHANGED),
    failureConverterPath: FAILURE_CONVERTER_PATH,
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} },
  });
  changedBundle = bundle.code;
}, 60_000);
afterAll(async () => {
  await stack?.stop();
});

async function replay(workflowBundle: { codePath: string } | { code: string }) {
  const results = [];
  for await (const r of Worker.runReplayHistories(
    { workflowBundle, dataConverter, replayName: uniq('replay-test') },
    histories.map((h) => ({ workflowId: h.workflowId, history: h.history })),
  ))
    results.push(r);
  return results;
}

const typeOf = (h: HistorySource) =>
  h.history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name;
const fileOf = (h: HistorySource) => h.source.replace(/^file /, '');
/** `pre-checkpoint/involuntary-completed` for test/replay/histories/pre-checkpoint/involuntary-completed.json. */
const scenarioOf = (h: HistorySource) =>
  path
    .relative(HISTORIES, fileOf(h))
    .replace(/\.json$/, '')
    .split(path.sep)
    .join('/');
const isPreCheckpoint = (h: HistorySource) => path.dirname(fileOf(h)) === PRE_CHECKPOINT;
const isPreLocal = (h: HistorySource) => path.dirname(fileOf(h)) === PRE_LOCAL;

/** The patch ids a history recorded (`patched()` markers). */
/**
 * Today's histories (the top level) of runs that plan: started with `leanStart`, no patch recorded,
 * the planning's marker first (a run resumed by continue-as-new upserts its status first).
 */
function quietStart(h: HistorySource): boolean {
  const resumed = !!h.history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
  return !scenarioOf(h).includes('/') && !resumed;
}

function patchesOf(h: HistorySource): string[] {
  return (h.history.events ?? []).flatMap((e) => {
    const m = e.markerRecordedEventAttributes;
    const data = m?.markerName === 'core_patch' ? m.details?.['patch-data']?.payloads?.[0]?.data : null;
    return data ? [(JSON.parse(Buffer.from(data).toString()) as { id: string }).id] : [];
  });
}

test('every recorded history replays against the current workflow code', async () => {
  expect(histories.map(scenarioOf).sort()).toEqual(expect.arrayContaining(SCENARIOS));
  expect(new Set(histories.map(typeOf))).toEqual(
    new Set(['offboardingWorkflow', 'rescissionReviewWorkflow']),
  );
  const results = await replay({ codePath: workflowBundlePath() });
  expect(results.map((r) => r.workflowId)).toEqual(histories.map((h) => h.workflowId));
  results.forEach((r, i) =>
    expect({ history: scenarioOf(histories[i]!), error: r.error }).toEqual({
      history: scenarioOf(histories[i]!),
      error: undefined,
    }),
  );
});

test('both branches of the verification checkpoint are covered, and continue-as-new with its resume', () => {
  const offboardings = histories.filter((h) => typeOf(h) === 'offboardingWorkflow');
  const old = offboardings.filter(isPreCheckpoint);
  const preLocal = offboardings.filter(isPreLocal);
  const current = offboardings.filter((h) => !isPreCheckpoint(h) && !isPreLocal(h));
  expect(old.length).toBeGreaterThanOrEqual(3);
  expect(preLocal.length).toBeGreaterThanOrEqual(4);
  expect(current.length).toBeGreaterThanOrEqual(4);
  // Recorded before the checkpoint: no patch marker, so they replay through the old branch.
  for (const h of old)
    expect({ history: scenarioOf(h), patches: patchesOf(h) }).toEqual({
      history: scenarioOf(h),
      patches: [],
    });
  // Recorded before local revocation and the follow-up queue: ordinary activities for every step.
  for (const h of preLocal)
    expect({ history: scenarioOf(h), patches: patchesOf(h) }).toEqual({
      history: scenarioOf(h),
      patches: ['verification-checkpoint'],
    });
  // Before `lean-start`: a run that plans does so locally (a resumed run carries its plan over); the
  // follow-up queue wherever assets and documents ran (not in a run rescinded before them, nor a
  // resumed run). Since: that one patch stands for all three.
  const resumedRun = (h: HistorySource) =>
    !!h.history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
  const lean = current.filter((h) =>
    /^(sweep-activity|pre-first-round|pre-quiet-start)\/[^/]+$/.test(scenarioOf(h)),
  );
  expect(lean.length).toBeGreaterThanOrEqual(15);
  // Since the starter says `leanStart` in the input: no patch recorded at all.
  const quiet = current.filter((h) => !scenarioOf(h).includes('/'));
  expect(quiet.length).toBeGreaterThanOrEqual(5);
  for (const h of current) {
    const expected = quiet.includes(h)
      ? []
      : lean.includes(h)
        ? ['lean-start']
        : resumedRun(h)
          ? ['verification-checkpoint']
          : path.basename(scenarioOf(h)).startsWith('rescinded-')
            ? ['verification-checkpoint', 'local-revocation-plan']
            : ['verification-checkpoint', 'local-revocation-plan', 'followup-task-queue'];
    expect({ history: scenarioOf(h), patches: patchesOf(h) }).toEqual({
      history: scenarioOf(h),
      patches: expected,
    });
  }
  // The sweep: a pass is one `sweepRevocations`, today a local activity (its plan says `localSweep`),
  // before that (and in `sweep-activity/`, WORKER_REVOCATION_SWEEP_LOCAL=false) an activity (its plan
  // says `sweep`); before the sweep, and with local steps, each step was an activity or a marker of its
  // own.
  const activities = (h: HistorySource) =>
    (h.history.events ?? []).flatMap((e) => {
      const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
      return name ? [name] : [];
    });
  /** The local activities' types, from Core's markers (their `data` is Core's JSON, not encoded). */
  const localActivities = (h: HistorySource) =>
    (h.history.events ?? []).flatMap((e) => {
      const m = e.markerRecordedEventAttributes;
      const data = m?.markerName === 'core_local_activity' ? m.details?.data?.payloads?.[0]?.data : null;
      return data
        ? [(JSON.parse(Buffer.from(data).toString()) as { activity_type: string }).activity_type]
        : [];
    });
  const sweeps = (h: HistorySource) => ({
    activities: activities(h).filter((a) => a === 'sweepRevocations').length,
    local: localActivities(h).filter((a) => a === 'sweepRevocations').length,
  });
  const involuntaryNow = current.find((h) => scenarioOf(h) === 'involuntary-signed-off')!;
  expect(sweeps(involuntaryNow)).toEqual({ activities: 0, local: 1 });
  expect(localActivities(involuntaryNow)).toEqual(['planRevocation', 'sweepRevocations']);
  expect(activities(involuntaryNow)).not.toContain('revokeAccess');
  const voluntaryNow = current.find((h) => scenarioOf(h) === 'voluntary-notice-signed-off')!;
  // Privileged systems at once, the rest at the end of the last day.
  expect(sweeps(voluntaryNow)).toEqual({ activities: 0, local: 2 });
  expect(sweeps(current.find((h) => scenarioOf(h) === 'pre-first-round/involuntary-signed-off')!)).toEqual({
    activities: 0,
    local: 1,
  });
  for (const name of ['sweep-activity/involuntary-signed-off', 'pre-lean-start/involuntary-signed-off'])
    expect({ name, sweeps: sweeps(current.find((h) => scenarioOf(h) === name)!) }).toEqual({
      name,
      sweeps: { activities: 1, local: 0 },
    });
  expect(
    sweeps(current.find((h) => scenarioOf(h) === 'sweep-activity/voluntary-notice-signed-off')!),
  ).toEqual({
    activities: 2,
    local: 0,
  });
  for (const h of current.filter((x) => /^(pre-sweep|local-steps)\//.test(scenarioOf(x))))
    expect({ history: scenarioOf(h), sweeps: sweeps(h) }).toEqual({
      history: scenarioOf(h),
      sweeps: { activities: 0, local: 0 },
    });
  expect(activities(current.find((h) => scenarioOf(h) === 'pre-sweep/involuntary-signed-off')!)).toContain(
    'revokeAccess',
  );
  // `lean-start`: two search-attribute writes before the first revocation (the patch's
  // `TemporalChangeVersion` and status `revoking`) where there were four (status `planning` and one per
  // patch besides); since `leanStart` and the plan's `quietRevoking`, none.
  const upsertsBeforeSweep = (h: HistorySource) => {
    const events = h.history.events ?? [];
    const sweep = events.findIndex(
      (e) =>
        e.activityTaskScheduledEventAttributes?.activityType?.name === 'sweepRevocations' ||
        (e.markerRecordedEventAttributes?.markerName === 'core_local_activity' &&
          localActivities({ ...h, history: { events: [e] } })[0] === 'sweepRevocations'),
    );
    return events.slice(0, sweep).filter((e) => e.upsertWorkflowSearchAttributesEventAttributes).length;
  };
  expect(
    [
      'involuntary-signed-off',
      'pre-quiet-start/involuntary-signed-off',
      'sweep-activity/involuntary-signed-off',
      'pre-lean-start/involuntary-signed-off',
    ].map((name) => ({ name, upserts: upsertsBeforeSweep(current.find((h) => scenarioOf(h) === name)!) })),
  ).toEqual([
    { name: 'involuntary-signed-off', upserts: 0 },
    { name: 'pre-quiet-start/involuntary-signed-off', upserts: 2 },
    { name: 'sweep-activity/involuntary-signed-off', upserts: 2 },
    { name: 'pre-lean-start/involuntary-signed-off', upserts: 4 },
  ]);
  // The first follow-up round (the plan's `firstRound`): one `firstFollowupRound` where assets and
  // documents started, none of the parts it did as an activity of its own; before it (every other
  // generation) each part an activity.
  const followupStart = (h: HistorySource) => ({
    history: scenarioOf(h),
    rounds: activities(h).filter((a) => a === 'firstFollowupRound').length,
    parts: activities(h).filter((a) => FOLLOWUP_PART_ACTIVITIES.includes(a)).length > 0,
  });
  const withPaperwork = [
    'involuntary-signed-off',
    'voluntary-notice-signed-off',
    'signed-off-after-continue-as-new.run-1',
  ];
  for (const name of withPaperwork) {
    expect(followupStart(current.find((h) => scenarioOf(h) === name)!)).toEqual({
      history: name,
      rounds: 1,
      parts: false,
    });
    const before = `pre-first-round/${name}`;
    expect(followupStart(current.find((h) => scenarioOf(h) === before)!)).toEqual({
      history: before,
      rounds: 0,
      parts: true,
    });
  }
  for (const name of withPaperwork) {
    const quietBefore = `pre-quiet-start/${name}`;
    expect(followupStart(current.find((h) => scenarioOf(h) === quietBefore)!)).toEqual({
      history: quietBefore,
      rounds: 1,
      parts: false,
    });
  }
  for (const h of current.filter((x) => !/^(pre-quiet-start\/)?[^/]+$/.test(scenarioOf(x))))
    expect(followupStart(h)).toMatchObject({ history: scenarioOf(h), rounds: 0 });
  // WORKER_LOCAL_REVOCATION=true: the revocation steps (not only the planning) as local activities.
  const localMarkers = (h: HistorySource) =>
    (h.history.events ?? []).filter(
      (e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity',
    ).length;
  const localSteps = current.filter((h) => scenarioOf(h).startsWith('local-steps/'));
  expect(localSteps.map(scenarioOf)).toEqual(['local-steps/involuntary-signed-off']);
  expect(localMarkers(localSteps[0]!)).toBeGreaterThan(5);
  expect(localMarkers(involuntaryNow)).toBe(2); // planRevocation, sweepRevocations
  // A run that continued as new while awaiting sign-off, and the run that resumed it.
  const { EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW } = temporal.api.enums.v1.EventType;
  const continued = current.filter(
    (h) => h.history.events?.at(-1)?.eventType === EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
  );
  expect(continued.map(scenarioOf).sort()).toEqual([
    'pre-first-round/signed-off-after-continue-as-new.run-1',
    'pre-lean-start/signed-off-after-continue-as-new.run-1',
    'pre-quiet-start/signed-off-after-continue-as-new.run-1',
    'pre-sweep/signed-off-after-continue-as-new.run-1',
    'signed-off-after-continue-as-new.run-1',
    'sweep-activity/signed-off-after-continue-as-new.run-1',
  ]);
  const runIdOf = (h: HistorySource) =>
    h.history.events?.[0]?.workflowExecutionStartedEventAttributes?.originalExecutionRunId;
  for (const run1 of continued) {
    const resumed = current.filter(
      (h) =>
        h.history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId ===
        runIdOf(run1),
    );
    expect(resumed.map(scenarioOf)).toEqual([scenarioOf(run1).replace(/run-1$/, 'run-2')]);
  }
});

test('a changed workflow fails replay with a DeterminismViolationError naming the workflow', async () => {
  const results = await replay({ code: changedBundle });
  // Results come in the order of the histories (the two runs of one continue-as-new share a workflow id).
  expect(results.map((r) => r.workflowId)).toEqual(histories.map((h) => h.workflowId));
  const offboardings = histories.filter((h) => typeOf(h) === 'offboardingWorkflow');
  expect(offboardings.length).toBeGreaterThanOrEqual(7);
  for (const h of offboardings) {
    const r = results[histories.indexOf(h)]!;
    expect(r.error).toBeInstanceOf(DeterminismViolationError);
    // The fixture's timer comes first where every run has either the `lean-start` patch marker as
    // event 5 (since that patch) or, before it, the status upsert (also a run resumed by
    // continue-as-new); since `leanStart` (today's histories) the planning's local activity marker,
    // which Core reports without an event id.
    expect({ history: scenarioOf(h), message: r.error!.message }).toEqual({
      history: scenarioOf(h),
      message: expect.stringMatching(
        quietStart(h)
          ? /Nondeterminism error: Missing associated machine for LocalActivity\(1\)/
          : patchesOf(h).includes('lean-start')
            ? /Nondeterminism error: Non-deprecated patch marker encountered for change lean-start/
            : /Nondeterminism error: .*HistoryEvent\(id: 5, UpsertWorkflowSearchAttributes\)/,
      ),
    });
  }
  // The fixture leaves the review workflow alone: its history still replays.
  const reviews = histories.filter((h) => typeOf(h) === 'rescissionReviewWorkflow');
  expect(reviews.length).toBeGreaterThanOrEqual(2);
  for (const review of reviews) expect(results[histories.indexOf(review)]!.error).toBeUndefined();
  // One history at a time: the error is thrown.
  const one = offboardings[0]!;
  await expect(
    Worker.runReplayHistory(
      { workflowBundle: { code: changedBundle }, dataConverter, replayName: uniq('replay-one') },
      one.history,
      one.workflowId,
    ),
  ).rejects.toBeInstanceOf(DeterminismViolationError);
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function offboard(args: string[], extraEnv: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, 'replay', ...args],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          TEMPORAL_ADDRESS: env.temporalAddress,
          TEMPORAL_NAMESPACE: 'default',
          PAYLOAD_CODEC_KEYS: CODEC_KEYS_SPEC,
          WORKFLOW_BUNDLE: undefined,
          NO_COLOR: '1',
          ...extraEnv,
        },
        timeout: 90_000,
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: unknown }).code ?? -1) : 0, stdout, stderr }),
    );
  });
}

test('offboard replay --file: 0 when every history replays, 1 with the changed workflow', async () => {
  const ok = await offboard(['--file', 'test/replay/histories']);
  expect(ok.stderr).toBe('');
  expect(ok.code).toBe(0);
  for (const h of histories) expect(ok.stdout).toMatch(new RegExp(`^OK +${h.workflowId} `, 'm'));
  expect(ok.stdout).toContain(`${histories.length} histories checked against workflows/ of this checkout`);

  const changed = await offboard([
    '--file',
    ...histories.map(fileOf),
    '--workflows',
    'test/fixtures/changed-workflow',
    '--json',
  ]);
  expect(changed.code).toBe(1);
  const report = JSON.parse(changed.stdout) as {
    summary: { total: number; ok: number; nondeterminism: number; error: number };
    results: {
      workflowId: string;
      source: string;
      status: string;
      error?: { message: string; eventId: number; event: string };
    }[];
  };
  const offboardings = histories.filter((h) => typeOf(h) === 'offboardingWorkflow');
  expect(report.summary).toEqual({
    total: histories.length,
    ok: histories.length - offboardings.length,
    nondeterminism: offboardings.length,
    error: 0,
  });
  for (const h of offboardings)
    expect(report.results.find((r) => r.source === h.source)).toMatchObject({
      status: 'nondeterminism',
      error: quietStart(h)
        ? {
            message: expect.stringMatching(/^\[TMPRL1100\] Nondeterminism error: Missing associated machine/),
            eventId: null,
            event: null,
          }
        : {
            message: expect.stringMatching(/^\[TMPRL1100\] Nondeterminism error/),
            eventId: 5,
            event: patchesOf(h).includes('lean-start')
              ? 'MARKER_RECORDED (patch lean-start)'
              : expect.stringMatching(/^UPSERT_WORKFLOW_SEARCH_ATTRIBUTES/),
          },
    });

  // The text report names each workflow and the event it diverged at.
  const text = await offboard(['--file', HISTORIES, '--workflows', CHANGED]);
  expect(text.code).toBe(1);
  expect(text.stdout).toMatch(
    new RegExp(`^NONDETERMINISM +${offboardings[0]!.workflowId} [\\s\\S]*?diverged at event 5`, 'm'),
  );
}, 120_000);

test('offboard replay: missing codec keys, bad files and bad usage are told apart', async () => {
  const noKeys = await offboard(['--file', path.join(PRE_CHECKPOINT, 'rescission-review.json')], {
    PAYLOAD_CODEC_KEYS: undefined,
  });
  expect(noKeys.code).toBe(2);
  expect(noKeys.stdout).toMatch(
    /^ERROR .*\n.*encrypted with key id "test-2", which PAYLOAD_CODEC_KEYS does not hold/m,
  );

  const notHistory = await offboard(['--file', path.join(ROOT, 'package.json')]);
  expect(notHistory).toMatchObject({
    code: 64,
    stderr: expect.stringContaining('is not a workflow history'),
  });
  expect((await offboard([])).code).toBe(64);
  expect((await offboard(['--closed'])).stderr).toContain('--closed needs --since');
  expect((await offboard(['--since', '2026-01-01', '--file', HISTORIES])).code).toBe(64);
  expect((await offboard(['--failed', '--since', 'yesterday'])).code).toBe(64);
  expect(windowQuery('failed', '2026-11-01T00:00:00.000Z', '2026-11-02T00:00:00.000Z')).toBe(
    "WorkflowType IN ('offboardingWorkflow', 'rescissionReviewWorkflow') AND ExecutionStatus = 'Failed' " +
      "AND CloseTime >= '2026-11-01T00:00:00.000Z' AND CloseTime <= '2026-11-02T00:00:00.000Z'",
  );
  expect(windowQuery('running', undefined, undefined)).toBe(
    "WorkflowType IN ('offboardingWorkflow', 'rescissionReviewWorkflow') AND ExecutionStatus = 'Running'",
  );
  expect((await offboard(['--running', '--closed'])).code).toBe(64);
}, 60_000);

describe('from Temporal', () => {
  let worker: OffboardingWorkers;
  let running: Promise<void>;
  beforeAll(async () => {
    worker = await createTestWorker(stack);
    running = worker.run();
  });
  afterAll(async () => {
    worker?.shutdown();
    await running;
  });

  test('offboard replay <workflow id> and --query fetch the history and replay it; 69 when Temporal is down', async () => {
    // A running offboarding, waiting for its ticket owners.
    const id = uniq('RP');
    seedEmployee(stack.standIns, id);
    const input = await createDeparture(stack.db, id);
    const workflowId = `offboarding:${id}`;
    const h = await stack.client.workflow.start('offboardingWorkflow', {
      taskQueue: stack.taskQueue,
      workflowId,
      args: [input],
    });
    try {
      await eventually(
        async () => (await h.query(statusQuery)).phase === 'awaiting_tickets',
        30_000,
        'awaiting tickets',
      );
      const byId = await offboard([workflowId]);
      expect(byId).toMatchObject({ code: 0 });
      expect(byId.stdout).toMatch(new RegExp(`^OK +${workflowId} +offboardingWorkflow`, 'm'));

      const byQuery = await offboard(['--query', `WorkflowId = '${workflowId}'`, '--json']);
      expect(byQuery.code).toBe(0);
      expect(JSON.parse(byQuery.stdout)).toMatchObject({
        summary: { total: 1, ok: 1 },
        results: [{ workflowId, status: 'ok', source: 'temporal' }],
      });

      const changed = await offboard([workflowId, '--workflows', CHANGED]);
      expect(changed.code).toBe(1);
      expect(changed.stdout).toMatch(new RegExp(`^NONDETERMINISM +${workflowId} `, 'm'));

      expect((await offboard([`offboarding:${uniq('nobody')}`])).code).toBe(3);
      expect((await offboard(['--query', 'this is not a query'])).code).toBe(64);
    } finally {
      await h.terminate('replay test done');
    }
    const down = await offboard([workflowId], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(down.code).toBe(69);
    expect(down.stderr).toContain('cannot reach Temporal');
  }, 120_000);
});
