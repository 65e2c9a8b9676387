/**
 * Replay: the recorded histories in test/replay/histories (see test/replay/README.md) replay against
 * today's workflow code, so a change that would break running offboardings fails the build; a
 * deliberately changed workflow (test/fixtures/changed-workflow) fails with a DeterminismViolationError
 * naming the workflow. Each generation of histories (a folder: recorded before a patched change; the
 * top level: today's) is checked against what its code did (`GENERATIONS`). `offboard replay` is run
 * as a child process over the files and over a workflow fetched from the Temporal dev server.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { DeterminismViolationError } from '@temporalio/workflow';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { historyFiles, readHistoryFile, windowQuery, type HistorySource } from '../cli/commands/replay';
import { statusQuery } from '../contract';
import { FAILURE_CONVERTER_PATH } from '../lib/codec';
import { patchIdOf } from '../lib/history';
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
const CHANGED = path.join(__dirname, 'fixtures', 'changed-workflow');
const CLI = path.join(ROOT, 'cli', 'offboard.cjs');

/**
 * The histories that must be there (paths under test/replay/histories, without `.json`): those
 * test/replay/record.test.ts records, and those recorded before the verification checkpoint, which
 * today's code can no longer produce and which stay as they are.
 */
const SCENARIOS = [
  'accounts-not-found-resolved',
  'involuntary-signed-off',
  'late-return-after-escalation',
  'personal-email-filled-in-later',
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
  'pre-notice-scope/rescinded-notice-period-checkpoint',
  'pre-notice-scope/voluntary-notice-signed-off',
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
/** The generation a history belongs to: its folder under test/replay/histories ('' for today's). */
const generationOf = (h: HistorySource) => path.dirname(scenarioOf(h)).replace(/^\.$/, '');
/** A run started by continue-as-new (it carries its plan over instead of planning). */
const resumedRun = (h: HistorySource) =>
  !!h.history.events?.[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;

/** `sweepRevocations` a run scheduled as activities and ran as local activities. */
interface Sweeps {
  activities: number;
  local: number;
}
const NO_SWEEP: Sweeps = { activities: 0, local: 0 };
const THREE_PATCHES = ['verification-checkpoint', 'local-revocation-plan', 'followup-task-queue'];
/** What replaying a generation's runs against the changed-workflow fixture reports. */
const CHANGED_AT_UPSERT = /Nondeterminism error: .*HistoryEvent\(id: 5, UpsertWorkflowSearchAttributes\)/;
const CHANGED_AT_LEAN_START =
  /Nondeterminism error: Non-deprecated patch marker encountered for change lean-start/;
const CHANGED_AT_PLANNING = /Nondeterminism error: Missing associated machine for LocalActivity\(1\)/;

/**
 * What each generation of recorded offboardings shows (test/replay/README.md tells their story). A new
 * generation is a folder of histories and a row here.
 */
interface Generation {
  /**
   * The `patched()` ids a run recorded: one that planned, one rescinded before its assets and documents
   * (no follow-up queue; defaults to `planned`), one resumed by continue-as-new (its plan carried over).
   */
  patches: { planned: readonly string[]; rescinded?: readonly string[]; resumed: readonly string[] };
  /** How its revocation passes ran: in every run (`all`), or in the involuntary and voluntary runs. */
  sweeps: { all: Sweeps } | { involuntary?: Sweeps; voluntary?: Sweeps };
  /** Search-attribute writes before the involuntary run's first sweep. */
  upsertsBeforeSweep?: number;
  /** The follow-up work starts with one `firstFollowupRound` ('round') or an activity per part. */
  followup: 'round' | 'parts';
  /** The changed-workflow fixture's error on a run that planned, and on a resumed one. */
  changed: { planned: RegExp; resumed: RegExp };
}

const BEFORE_LEAN_START: Pick<Generation, 'patches' | 'followup' | 'changed'> = {
  patches: {
    planned: THREE_PATCHES,
    rescinded: THREE_PATCHES.slice(0, 2),
    resumed: ['verification-checkpoint'],
  },
  followup: 'parts',
  changed: { planned: CHANGED_AT_UPSERT, resumed: CHANGED_AT_UPSERT },
};
const LEAN_START: Pick<Generation, 'patches' | 'changed'> = {
  patches: { planned: ['lean-start'], resumed: ['lean-start'] },
  changed: { planned: CHANGED_AT_LEAN_START, resumed: CHANGED_AT_LEAN_START },
};

const GENERATIONS: Record<string, Generation> = {
  'pre-checkpoint': {
    patches: { planned: [], resumed: [] },
    sweeps: { all: NO_SWEEP },
    followup: 'parts',
    changed: { planned: CHANGED_AT_UPSERT, resumed: CHANGED_AT_UPSERT },
  },
  'pre-local-revocation': {
    patches: { planned: ['verification-checkpoint'], resumed: ['verification-checkpoint'] },
    sweeps: { all: NO_SWEEP },
    followup: 'parts',
    changed: { planned: CHANGED_AT_UPSERT, resumed: CHANGED_AT_UPSERT },
  },
  'pre-sweep': { ...BEFORE_LEAN_START, sweeps: { all: NO_SWEEP } },
  'local-steps': { ...BEFORE_LEAN_START, sweeps: { all: NO_SWEEP } },
  'pre-lean-start': {
    ...BEFORE_LEAN_START,
    sweeps: { involuntary: { activities: 1, local: 0 } },
    upsertsBeforeSweep: 4,
  },
  'sweep-activity': {
    ...LEAN_START,
    sweeps: { involuntary: { activities: 1, local: 0 }, voluntary: { activities: 2, local: 0 } },
    upsertsBeforeSweep: 2,
    followup: 'parts',
  },
  'pre-first-round': {
    ...LEAN_START,
    sweeps: { involuntary: { activities: 0, local: 1 } },
    upsertsBeforeSweep: 2,
    followup: 'parts',
  },
  'pre-quiet-start': {
    ...LEAN_START,
    sweeps: { involuntary: { activities: 0, local: 1 }, voluntary: { activities: 0, local: 2 } },
    upsertsBeforeSweep: 2,
    followup: 'round',
  },
  // Notice periods before scoping (plans without `atOnce`: the privileged systems revoked at once).
  'pre-notice-scope': {
    patches: { planned: [], resumed: [] },
    sweeps: { voluntary: { activities: 0, local: 2 } },
    followup: 'round',
    changed: { planned: CHANGED_AT_PLANNING, resumed: CHANGED_AT_UPSERT },
  },
  // Today's: started with `leanStart` (no patch), the planning's local activity first.
  '': {
    patches: { planned: [], resumed: [] },
    sweeps: { involuntary: { activities: 0, local: 1 }, voluntary: { activities: 0, local: 2 } },
    upsertsBeforeSweep: 0,
    followup: 'round',
    changed: { planned: CHANGED_AT_PLANNING, resumed: CHANGED_AT_UPSERT },
  },
};
/** Where the changed-workflow fixture's replay of this run diverges. */
const changedAt = (h: HistorySource): RegExp => {
  const { changed } = generation(h);
  return resumedRun(h) ? changed.resumed : changed.planned;
};
const generation = (h: HistorySource): Generation => {
  const g = GENERATIONS[generationOf(h)];
  if (!g) throw new Error(`${scenarioOf(h)}: no row for its generation in GENERATIONS`);
  return g;
};

/** Today's runs that did late work (`lateFollowUps`): the patch each recorded (no other run has one). */
const LATE_WORK_PATCHES: Record<string, string[]> = {
  'personal-email-filled-in-later': ['contact-update-resend'],
  'late-return-after-escalation': ['late-asset-receipt'],
};

/** The patch ids a history recorded (`patched()` markers). */
function patchesOf(h: HistorySource): string[] {
  return (h.history.events ?? []).flatMap((e) => patchIdOf(e) ?? []);
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

test('each generation of histories shows what its code did, and continue-as-new with its resume', () => {
  const offboardings = histories.filter((h) => typeOf(h) === 'offboardingWorkflow');
  const byGeneration = new Map<string, HistorySource[]>();
  for (const h of offboardings)
    byGeneration.set(generationOf(h), [...(byGeneration.get(generationOf(h)) ?? []), h]);
  expect([...byGeneration.keys()].sort()).toEqual(Object.keys(GENERATIONS).sort());
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
  const sweeps = (h: HistorySource): Sweeps => ({
    activities: activities(h).filter((a) => a === 'sweepRevocations').length,
    local: localActivities(h).filter((a) => a === 'sweepRevocations').length,
  });
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
  /** The runs that did assets and documents (not one rescinded before them, nor the resumed run). */
  const withPaperwork = [
    'accounts-not-found-resolved',
    'involuntary-signed-off',
    'late-return-after-escalation',
    'voluntary-notice-signed-off',
    'signed-off-after-continue-as-new.run-1',
  ];
  for (const [dir, runs] of byGeneration) {
    const g = GENERATIONS[dir]!;
    const named = (name: string) => runs.find((h) => path.basename(scenarioOf(h)) === name);
    for (const h of runs) {
      const expected = resumedRun(h)
        ? g.patches.resumed
        : path.basename(scenarioOf(h)).startsWith('rescinded-')
          ? (g.patches.rescinded ?? g.patches.planned)
          : (LATE_WORK_PATCHES[path.basename(scenarioOf(h))] ?? g.patches.planned);
      expect({ history: scenarioOf(h), patches: patchesOf(h) }).toEqual({
        history: scenarioOf(h),
        patches: expected,
      });
    }
    const sweepRuns: [HistorySource | undefined, Sweeps | undefined][] =
      'all' in g.sweeps
        ? runs.map((h) => [h, (g.sweeps as { all: Sweeps }).all])
        : [
            [named('involuntary-signed-off'), g.sweeps.involuntary],
            [named('voluntary-notice-signed-off'), g.sweeps.voluntary],
          ];
    for (const [h, want] of sweepRuns)
      if (want)
        expect({ history: h && scenarioOf(h), sweeps: h && sweeps(h) }).toEqual({
          history: h && scenarioOf(h),
          sweeps: want,
        });
    if (g.upsertsBeforeSweep !== undefined) {
      const h = named('involuntary-signed-off')!;
      expect({ history: scenarioOf(h), upserts: upsertsBeforeSweep(h) }).toEqual({
        history: scenarioOf(h),
        upserts: g.upsertsBeforeSweep,
      });
    }
    // The follow-up work: one `firstFollowupRound` and none of the parts it did as an activity of its
    // own, or (before the first round) each part an activity and no round.
    for (const h of runs) {
      // The parts the round could not do (nothing to send to) ran again on their own.
      const retried = path.basename(scenarioOf(h)) === 'personal-email-filled-in-later';
      const paperwork = retried || withPaperwork.includes(path.basename(scenarioOf(h)));
      const rounds = activities(h).filter((a) => a === 'firstFollowupRound').length;
      const parts = activities(h).some((a) => FOLLOWUP_PART_ACTIVITIES.includes(a));
      expect({ history: scenarioOf(h), rounds, ...(paperwork ? { parts } : {}) }).toEqual({
        history: scenarioOf(h),
        rounds: g.followup === 'round' && paperwork ? 1 : 0,
        ...(paperwork ? { parts: retried || g.followup === 'parts' } : {}),
      });
    }
  }
  const current = byGeneration.get('')!;
  const involuntaryNow = current.find((h) => scenarioOf(h) === 'involuntary-signed-off')!;
  expect(localActivities(involuntaryNow)).toEqual(['planRevocation', 'sweepRevocations']);
  expect(activities(involuntaryNow)).not.toContain('revokeAccess');
  expect(
    activities(offboardings.find((h) => scenarioOf(h) === 'pre-sweep/involuntary-signed-off')!),
  ).toContain('revokeAccess');
  // Local revocation (older workers): the revocation steps (not only the planning) as local activities.
  const localMarkers = (h: HistorySource) =>
    (h.history.events ?? []).filter(
      (e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity',
    ).length;
  const localSteps = byGeneration.get('local-steps')!;
  expect(localSteps.map(scenarioOf)).toEqual(['local-steps/involuntary-signed-off']);
  expect(localMarkers(localSteps[0]!)).toBeGreaterThan(5);
  expect(localMarkers(involuntaryNow)).toBe(2); // planRevocation, sweepRevocations
  // A run that continued as new while awaiting sign-off, and the run that resumed it.
  const { EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW } = temporal.api.enums.v1.EventType;
  const continued = offboardings.filter(
    (h) => h.history.events?.at(-1)?.eventType === EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
  );
  expect(continued.map(scenarioOf).sort()).toEqual([
    'pre-first-round/signed-off-after-continue-as-new.run-1',
    'pre-lean-start/signed-off-after-continue-as-new.run-1',
    'pre-local-revocation/signed-off-after-continue-as-new.run-1',
    'pre-quiet-start/signed-off-after-continue-as-new.run-1',
    'pre-sweep/signed-off-after-continue-as-new.run-1',
    'signed-off-after-continue-as-new.run-1',
    'sweep-activity/signed-off-after-continue-as-new.run-1',
  ]);
  const runIdOf = (h: HistorySource) =>
    h.history.events?.[0]?.workflowExecutionStartedEventAttributes?.originalExecutionRunId;
  for (const run1 of continued) {
    const resumed = offboardings.filter(
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
      message: expect.stringMatching(changedAt(h)),
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
      error:
        changedAt(h) === CHANGED_AT_PLANNING
          ? {
              message: expect.stringMatching(
                /^\[TMPRL1100\] Nondeterminism error: Missing associated machine/,
              ),
              eventId: null,
              event: null,
            }
          : {
              message: expect.stringMatching(/^\[TMPRL1100\] Nondeterminism error/),
              eventId: 5,
              event:
                changedAt(h) === CHANGED_AT_LEAN_START
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

      // Without the codec keys a query still lists its workflows (their memos stay encrypted) and each
      // history says which key it needs, as a named workflow does; never an unexpected error.
      const keyless = { PAYLOAD_CODEC_KEYS: undefined };
      for (const args of [[workflowId], ['--query', `WorkflowId = '${workflowId}'`]]) {
        const noKeys = await offboard(args, keyless);
        expect(noKeys.stderr).not.toMatch(/unexpected error/);
        expect(noKeys.stdout).toMatch(/PAYLOAD_CODEC_KEYS does not hold \(it is not set\)/);
        expect(noKeys.code).not.toBe(0);
      }

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
