/**
 * The offboarding workflow: one per departure. Revokes every credential in the catalog's tier order
 * (identity provider, directory, VPN, MFA, then the credentials the leaver owns and each non-SSO
 * application), each step confirmed by reading the target back. A failing step is retried by its
 * system's policy, then turns red and its owner is told; the remaining steps still run. Ticket steps
 * wait for their owner's confirmation up to the SLA.
 *
 * Notice periods: a voluntary departure whose last day has not ended revokes the privileged systems at
 * once and the rest when the last day ends (a durable timer, moved by `lastDayChangedSignal`). A
 * rescission (`rescindSignal`) halts every step that has not yet run and opens a review for HR and IT;
 * nothing is re-enabled.
 *
 * Beside all that runs the verification checkpoint (`verification.ts`): the report at trigger + 24 h, HR
 * and IT acknowledgments, resolutions of red and yellow items. The offboarding completes, and its
 * certificate is issued, only once it is signed off and a final live audit finds no active account;
 * while it waits it continues as new when its history grows large.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  log,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  allHandlersFinished,
  makeContinueAsNewFunc,
  patched,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import { msToNumber, type Duration } from '@temporalio/common';
import type { Activities } from '../activities';
import {
  confirmArchive,
  firstRound,
  produceDocuments,
  recoverAssets,
  lateFollowUps,
  type AfterRevocationState,
} from './after-revocation';
import { createCheckpoint, reject, type Checkpoint } from './verification';
import {
  NON_RETRYABLE_ERROR_TYPES,
  SEARCH_ATTRIBUTES,
  UPDATE_REJECTIONS,
  followupTaskQueue,
  assetReceivedSignal,
  confirmTicketSignal,
  archiveConfirmedSignal,
  contactUpdatedSignal,
  documentSignedSignal,
  lastDayChangedSignal,
  redriveUpdate,
  rescindSignal,
  statusQuery,
  type LastDayChange,
  type OffboardingInput,
  type OffboardingPhase,
  type OffboardingSearchStatus,
  type OffboardingStatus,
  type PlannedStep,
  type RevocationPlan,
  type Rescission,
  type StepOutcome,
  type StepView,
  type SweepInput,
  type TicketConfirmation,
} from '../contract';

/** Applications are swept concurrently, at most this many at once. */
const APPLICATION_CONCURRENCY = 4;

/** The workflow's own bookkeeping calls (database, owner emails): short, retried until they succeed. */
const CONTROL_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '30s',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '30s',
    nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES],
  },
};

const control = proxyActivities<Activities>(CONTROL_OPTIONS);

/**
 * `control`'s short database-only calls that sit on the path to the first revocation. A local activity
 * retries inside the worker; in the SDK core of TS SDK 1.24 each retried attempt leaves its
 * start-to-close timer running, which can time out a later attempt or panic a core task when it fires
 * (temporalio/sdk-rust#1454). Planning retries only while the database is down; the retry then repeats.
 */
const localControl = proxyLocalActivities<Activities>(CONTROL_OPTIONS);

const { generateCompletionCertificate } = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry: {
    initialInterval: '2s',
    maximumInterval: '1m',
    nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES],
  },
});

/**
 * A revocation pass as one activity (`plan.sweep`), with time for every step's own timeout plus a
 * minute. Not retried: whatever it could not report (a worker killed mid-sweep: no heartbeat for 10 s)
 * runs step by step, each step being idempotent and a step already confirmed not touching its target
 * again. With `plan.localSweep` a local activity, in this workflow task: a worker killed mid-sweep
 * leaves the task unfinished, and the next worker runs it (and the sweep) again from its start.
 */
function sweepActivity(steps: PlannedStep[], local: boolean) {
  const stepsMs = steps.reduce((sum, p) => sum + msToNumber(p.startToCloseTimeout as Duration), 0);
  if (local)
    return proxyLocalActivities<Activities>({
      startToCloseTimeout: stepsMs + 60_000,
      retry: { maximumAttempts: 1 },
    }).sweepRevocations;
  return proxyActivities<Activities>({
    startToCloseTimeout: stepsMs + 60_000,
    heartbeatTimeout: '10s',
    retry: { maximumAttempts: 1 },
  }).sweepRevocations;
}

function stepActivities(step: PlannedStep) {
  const options: ActivityOptions = {
    // A rate-limited system's calls run on its own task queue, where Temporal enforces the rate.
    ...(step.taskQueue ? { taskQueue: step.taskQueue } : {}),
    startToCloseTimeout: step.startToCloseTimeout as Duration,
    retry: {
      ...step.retry,
      initialInterval: step.retry.initialInterval as Duration,
      maximumInterval: step.retry.maximumInterval as Duration,
      nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES],
    },
  };
  // A step the plan marks `local` runs as a local activity, in this worker, within the workflow task:
  // no activity task goes through Temporal's matching, and the steps of one revocation pass run
  // back to back in one or a few workflow tasks. Plans recorded before `local` existed have no such
  // field, so their replays keep scheduling ordinary activities.
  if (step.local) {
    const { taskQueue: _queue, ...local } = options;
    return proxyLocalActivities<Activities>(local);
  }
  return proxyActivities<Activities>(options);
}

function describeFailure(err: unknown): { message: string; nonRetryable: boolean } {
  let cause: unknown = err instanceof ActivityFailure ? err.cause : err;
  // Walk to the innermost cause: that is what the target said.
  while (cause instanceof Error && cause.cause instanceof Error && !(cause instanceof ApplicationFailure)) {
    cause = cause.cause;
  }
  if (cause instanceof ApplicationFailure) {
    const type = cause.type ?? 'Error';
    return {
      message: `${type}: ${cause.message}`,
      nonRetryable: cause.nonRetryable || (NON_RETRYABLE_ERROR_TYPES as readonly string[]).includes(type),
    };
  }
  return { message: err instanceof Error ? err.message : String(err), nonRetryable: false };
}

/** Runs `fn` over `items` with at most `limit` in flight (deterministic: starts in list order). */
async function boundedAll<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  });
  await Promise.all(lanes);
}

/** Offboards one departure. */
export async function offboardingWorkflow(input: OffboardingInput): Promise<OffboardingStatus> {
  const resume = input.resume ?? null;
  let phase: OffboardingPhase = resume ? 'awaiting_signoff' : 'planning';
  const steps = new Map<string, { plan: PlannedStep; view: StepView }>(
    resume?.steps.map((s) => [s.plan.stepId, s]) ?? [],
  );
  /** Ticket confirmations by ticket id. */
  const confirmations = new Map<string, TicketConfirmation>();
  let lastDay = resume ? resume.lastDay : input.lastDay;
  let revokeRestAt: string | null = resume?.revokeRestAt ?? null;
  /** The verification checkpoint (null for offboardings started before it existed). */
  let checkpoint: Checkpoint | null = null;
  /** True once revocation, assets and documents have all run (only sign-off is left). */
  let settled = resume !== null;
  /** True once every revocation step has been acted on (tickets may still wait for their owners). */
  let passDone = resume !== null;
  let rescission: Rescission | null = null;
  let pendingLastDay: LastDayChange | null = null;
  /** Asset recovery and documents, shared with `after-revocation.ts` (its handlers below fill it). */
  const after: AfterRevocationState = {
    departureId: input.departureId,
    assets: resume?.assets ?? [],
    documents: resume?.documents ?? [],
    receipts: new Map(),
    signed: new Set(),
    halted: () => rescission !== null,
    archivesPending: null,
    archivesConfirmed: new Set(),
    contactUpdates: 0,
    contactSeen: new Map(),
    requestFailed: new Set(),
    receiptsTried: new Set(),
    lateWork: 0,
  };

  const status = (): OffboardingStatus => {
    const views = [...steps.values()].map((s) => s.view);
    return {
      departureId: input.departureId,
      employeeId: input.employeeId,
      phase,
      steps: views,
      redSteps: views.filter((v) => v.status === 'red').length,
      yellowSteps: views.filter((v) => v.status === 'yellow').length,
      lastDay,
      revokeRestAt,
      rescission,
      assets: after.assets,
      documents: after.documents,
      verification: checkpoint?.view() ?? null,
    };
  };
  setHandler(statusQuery, status);

  // Status and red step count as search attributes, upserted whenever either changes, so operators
  // can filter in the Web UI. (Changes to when they are upserted are guarded with `patched()`, as
  // `lean-start` below, so running workflows replay.)
  let published: { status: OffboardingSearchStatus; red: number } | null = null;
  const publish = (searchStatus: OffboardingSearchStatus = phase) => {
    const red = [...steps.values()].filter((s) => s.view.status === 'red').length;
    if (published?.status === searchStatus && published.red === red) return;
    published = { status: searchStatus, red };
    upsertSearchAttributes([
      { key: SEARCH_ATTRIBUTES.status, value: searchStatus },
      { key: SEARCH_ATTRIBUTES.redSteps, value: red },
    ]);
  };
  const setPhase = (p: OffboardingPhase) => {
    phase = p;
    publish();
  };
  // Each `patched()` call and each upsert is a search-attribute write in Temporal's visibility store
  // (the SDK upserts `TemporalChangeVersion` with every new patch id). Offboardings started since
  // `lean-start` record this one patch for the three before it (all on in their runs) and no `planning`
  // upsert: the starter sets status `planning` and 0 red steps with the workflow's other attributes.
  // Older offboardings replay through the calls they recorded. Since 2026-11-27 the starter says so in
  // the input (`leanStart`) and the patch is not recorded at all: no marker, no upsert.
  const lean = input.leanStart === true || patched('lean-start');
  if (lean && !resume) published = { status: 'planning', red: 0 };
  else publish();
  // The verification checkpoint came after the first offboardings: theirs replay without it.
  const withCheckpoint = lean || patched('verification-checkpoint');
  setHandler(confirmTicketSignal, (c) => {
    const s = [...steps.values()].find((x) => x.view.ticketId === c.ticketId);
    if (s && (s.view.systemId !== c.systemId || s.view.status !== 'yellow')) {
      log.warn('ticket confirmation ignored: its step is not waiting for it', {
        systemId: c.systemId,
        ticketId: c.ticketId,
      });
      return;
    }
    // No step knows this ticket yet when the owner confirms before the activity that opened it has
    // reported back (the ticket and its email exist first): keep it; the step's wait checks it.
    if (!confirmations.has(c.ticketId)) confirmations.set(c.ticketId, c);
  });
  setHandler(lastDayChangedSignal, (c) => {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(c.lastDay)) {
      log.warn('last-day change ignored: not a YYYY-MM-DD date', { lastDay: c.lastDay });
      return;
    }
    pendingLastDay = c;
  });
  setHandler(assetReceivedSignal, (r) => {
    if (after.receipts.has(r.assetTag)) return; // The first receipt stands.
    after.receipts.set(r.assetTag, r);
  });
  setHandler(documentSignedSignal, (d) => {
    after.signed.add(d.type);
  });
  setHandler(archiveConfirmedSignal, (c) => confirmArchive(after, c));
  setHandler(contactUpdatedSignal, (c) => {
    // Only the personal email reaches the leaver; the other addresses are read when they are used.
    if (!c.fields.includes('personalEmail')) return;
    after.contactUpdates++;
    log.info('personal email filled in or corrected', { source: c.source });
  });
  setHandler(rescindSignal, (r) => {
    if (rescission) return; // The first rescission stands; repeats change nothing.
    rescission = r;
    log.info('termination rescinded: halting every step that has not run', { by: r.by });
  });

  const addStep = (p: PlannedStep, scheduledFor: string | null) => {
    steps.set(p.stepId, {
      plan: p,
      view: {
        stepId: p.stepId,
        kind: p.kind,
        systemId: p.systemId,
        systemName: p.systemName,
        tier: p.tier,
        action: p.action,
        integration: p.integration,
        executingSystem: p.executingSystem,
        status: 'pending',
        attempts: 0,
        startedAt: null,
        actedAt: null,
        confirmedAt: null,
        finishedAt: null,
        lastError: null,
        detail: null,
        ticketId: null,
        privileged: p.privileged,
        scheduledFor,
      },
    });
  };

  let plan: RevocationPlan;
  if (resume) {
    plan = resume.plan;
  } else {
    // Planning is the first thing between the webhook and the first revocation: as a local activity it
    // runs in the workflow's first task instead of a round trip through an activity task.
    plan =
      lean || patched('local-revocation-plan')
        ? await localControl.planRevocation({ departureId: input.departureId })
        : await control.planRevocation({ departureId: input.departureId });
    revokeRestAt = plan.revokeRestAt;
    for (const p of plan.steps) addStep(p, revokeRestAt && !p.privileged ? revokeRestAt : null);
    // With a local sweep next in this same task, the upsert would land with the status after it.
    if (plan.quietRevoking) phase = 'revoking';
    else setPhase('revoking');
  }
  const ticketWaits: Promise<void>[] = [];
  const reports: Promise<unknown>[] = [];
  /** Failure reports still being delivered (a run does not continue as new while one is). */
  let reporting = 0;
  const report = (p: Promise<unknown>) => {
    reporting++;
    reports.push(p.finally(() => reporting--));
  };
  const refOf = (p: PlannedStep) => ({
    departureId: input.departureId,
    systemId: p.systemId,
    action: p.action,
  });

  const waitForTicket = async (p: PlannedStep, view: StepView): Promise<void> => {
    const ticketId = view.ticketId!;
    const slaHours = p.slaHours ?? 24;
    const confirmation = () => {
      const c = confirmations.get(ticketId);
      return c && c.systemId === p.systemId ? c : undefined;
    };
    const confirmed = await condition(
      () => confirmation() !== undefined || rescission !== null,
      slaHours * 3_600_000,
    );
    const c = confirmation();
    if (c) {
      await control.completeTicketStep({
        ...refOf(p),
        ticketId,
        confirmedBy: c.confirmedBy,
        note: c.note,
      });
      view.status = 'green';
      view.confirmedAt = new Date().toISOString();
      view.finishedAt = view.confirmedAt;
      view.detail = `confirmed by ${c.confirmedBy}: ${c.note}`;
    } else if (!confirmed) {
      view.status = 'red';
      view.finishedAt = new Date().toISOString();
      view.lastError = `ticket ${ticketId} not confirmed within ${slaHours} h SLA`;
      publish();
      await control.reportStepFailure({
        ...refOf(p),
        reason: 'sla_breached',
        error: view.lastError,
        attempts: view.attempts,
      });
    }
    // Rescinded before confirmation: the ticket stays open (yellow) and is listed in the review.
  };

  /** Steps found by `discover_owned` steps, swept with the applications. */
  let discovered: PlannedStep[] = [];

  /** Records a step's outcome: green when confirmed, yellow while its ticket waits for the owner. */
  const applyOutcome = (p: PlannedStep, view: StepView, r: StepOutcome) => {
    view.attempts = r.attempts;
    view.actedAt = r.actedAt;
    view.detail = r.detail;
    view.lastError = null;
    if (r.outcome === 'confirmed') {
      view.status = 'green';
      view.confirmedAt = r.confirmedAt;
      view.finishedAt = r.confirmedAt;
    } else {
      view.status = 'yellow';
      view.ticketId = r.ticketId;
      ticketWaits.push(waitForTicket(p, view));
    }
  };

  /** A step failed for good: red, and its owner is told. */
  const stepFailed = (p: PlannedStep, view: StepView, message: string, nonRetryable: boolean) => {
    view.status = 'red';
    view.lastError = message;
    view.finishedAt = new Date().toISOString();
    view.attempts = nonRetryable ? Math.max(view.attempts, 1) : p.retry.maximumAttempts;
    publish();
    log.warn('revocation step failed; notifying its owner', { stepId: p.stepId, error: message });
    // Not awaited here: a slow or failing mail server must not hold up the remaining revocations.
    report(
      control.reportStepFailure({
        ...refOf(p),
        reason: nonRetryable ? 'non_retryable' : 'retries_exhausted',
        error: message,
        attempts: view.attempts,
      }),
    );
  };

  /**
   * Runs one step as its own activity, retried by its system's policy. `afterSweep`: a sweep already
   * tried it once; wait as the policy (or the target's Retry-After) says, then make the remaining
   * attempts, numbered on from the sweep's.
   */
  const runStep = async (p: PlannedStep, afterSweep?: { delayMs: number }): Promise<void> => {
    if (rescission) return; // Halted: marked when the review opens.
    const view = steps.get(p.stepId)!.view;
    if (afterSweep) {
      if (afterSweep.delayMs > 0) await sleep(Math.max(1, afterSweep.delayMs));
      if (rescission) return;
    }
    const ref = afterSweep ? { ...refOf(p), priorAttempts: 1 } : refOf(p);
    view.status = 'running';
    if (!afterSweep || !view.startedAt) view.startedAt = new Date().toISOString();
    try {
      const max = p.retry.maximumAttempts;
      const acts = stepActivities(
        afterSweep && max > 1 ? { ...p, retry: { ...p.retry, maximumAttempts: max - 1 } } : p,
      );
      const r =
        p.kind === 'revoke'
          ? await acts.revokeAccess(ref)
          : p.kind === 'discover_owned'
            ? await acts.discoverOwnedCredentials({ ...ref, taskQueue: p.taskQueue })
            : await acts.revokeOwnedCredential({ ...ref, owned: p.owned! });
      applyOutcome(p, view, r);
      for (const d of r.discovered ?? []) {
        addStep(d, null);
        discovered.push(d);
      }
    } catch (err) {
      const { message, nonRetryable } = describeFailure(err);
      stepFailed(p, view, message, nonRetryable);
    }
  };

  /** True while a sweep runs (a rescission received meanwhile is recorded for it to see). */
  let sweeping = false;

  /**
   * The sweep of one pass (`plan.sweep`): one activity tries every step once, in order. Returns what
   * the step-by-step pass still has to do: steps to retry (with their delay); steps it did not report
   * at all (not tried, or the sweep itself failed) run as usual; the others are settled.
   */
  const sweepPass = async (batch: PlannedStep[]) => {
    const settledIds = new Set<string>();
    const retries = new Map<string, { delayMs: number }>();
    if (rescission) return { settledIds, retries };
    const isApp = (p: PlannedStep) => p.kind === 'revoke' && p.tier === 'application';
    const sweepInput: SweepInput = {
      departureId: input.departureId,
      ordered: [
        ...batch.filter((p) => p.kind === 'revoke' && !isApp(p)),
        ...batch.filter((p) => p.kind === 'discover_owned'),
      ],
      applications: batch.filter(isApp),
    };
    sweeping = true;
    const sweptAt = new Date().toISOString();
    const local = plan.localSweep === true;
    // A rescission signalled straight to Temporal (the API and the intake store theirs first) is
    // recorded, so the sweep halts at its next step. Not beside a local sweep: no signal reaches the
    // workflow while the task that runs it is open, and an activity scheduled beside a local activity in
    // flight is what once recorded a history that did not replay (see `runBatch`).
    const noting = local
      ? Promise.resolve()
      : (async () => {
          await condition(() => rescission !== null || !sweeping);
          if (sweeping && rescission)
            await control.noteRescission({ departureId: input.departureId, rescission });
        })();
    let result;
    try {
      result = await sweepActivity(batch, local)(sweepInput);
    } catch (err) {
      log.warn('revocation sweep did not finish; the pass goes on step by step', {
        error: describeFailure(err).message,
      });
      return { settledIds, retries };
    } finally {
      sweeping = false;
      await noting;
    }
    for (const d of result.discovered) {
      if (steps.has(d.stepId)) continue;
      addStep(d, null);
      discovered.push(d);
    }
    for (const r of result.results) {
      const st = steps.get(r.stepId);
      if (!st) continue;
      const { plan: p, view } = st;
      if (r.outcome === 'halted') {
        // The database says rescinded: the signal is on its way (it is stored before it is sent).
        if (!rescission) await condition(() => rescission !== null);
        continue;
      }
      // The activity's clock; never before the sweep began in workflow time (they differ only when
      // time is skipped, in tests).
      view.startedAt = r.startedAt > sweptAt ? r.startedAt : sweptAt;
      if (r.outcome === 'failed') {
        view.attempts = 1;
        view.lastError = r.error;
        if (r.nonRetryable || p.retry.maximumAttempts === 1) {
          settledIds.add(p.stepId);
          stepFailed(p, view, r.error, r.nonRetryable);
        } else {
          const initial = msToNumber(p.retry.initialInterval as Duration);
          retries.set(p.stepId, { delayMs: r.retryAfterMs ?? initial });
        }
        continue;
      }
      settledIds.add(p.stepId);
      applyOutcome(p, view, r);
    }
    return { settledIds, retries };
  };

  /**
   * One batch of steps in PRODUCT order: identity provider, directory, VPN and MFA strictly in order;
   * then the search for credentials the leaver owns; then the applications and those credentials,
   * concurrently with a bound.
   */
  const runBatch = async (batch: PlannedStep[]): Promise<void> => {
    discovered = [];
    // With a sweep, the steps below are only what it left: each runs (or is retried) on its own.
    const swept = plan.sweep ? await sweepPass(batch) : null;
    const left = (p: PlannedStep) => !swept?.settledIds.has(p.stepId);
    const run = (p: PlannedStep) => runStep(p, swept?.retries.get(p.stepId));
    for (const p of batch.filter((x) => x.kind === 'revoke' && x.tier !== 'application' && left(x)))
      await run(p);
    for (const p of batch.filter((x) => x.kind === 'discover_owned' && left(x))) await run(p);
    const sweep = [
      ...batch.filter((x) => x.kind === 'revoke' && x.tier === 'application'),
      ...discovered,
    ].filter(left);
    // Local steps one at a time (each takes milliseconds), then the others concurrently. Several local
    // activities in flight at once, finishing in any order between the ticket timers and activities
    // they lead to, recorded a history that did not replay ("Timer machine does not handle this event:
    // ActivityTaskScheduled"); with one in flight at a time it does (test/replay). Plans without
    // `local` sweep exactly as before.
    for (const p of sweep.filter((x) => x.local)) await run(p);
    await boundedAll(
      sweep.filter((x) => !x.local),
      APPLICATION_CONCURRENCY,
      run,
    );
  };

  // The verification checkpoint runs beside everything else from here on.
  const shouldContinueAsNew = () =>
    workflowInfo().continueAsNewSuggested ||
    workflowInfo().historyLength >= (plan.verification?.continueAsNewAfterEvents ?? Infinity);
  let checkpointTask: Promise<void> = Promise.resolve();
  // Red steps re-driven by an operator (`redriveUpdate`) run here until the offboarding ends.
  const redriveQueue: PlannedStep[] = [];
  let redriving = false;
  const redApiSteps = () =>
    [...steps.values()]
      .filter((x) => x.view.status === 'red' && x.plan.integration === 'api')
      .map((x) => x.plan.stepId);
  let closing = false;
  const redriveIdle = () => redriveQueue.length === 0 && !redriving;
  if (withCheckpoint && plan.verification) {
    checkpoint = createCheckpoint(
      {
        departureId: input.departureId,
        settings: plan.verification,
        steps: () => [...steps.values()].map((x) => x.view),
        assets: () => after.assets,
        documents: () => after.documents,
        revokeRestAt: () => revokeRestAt,
        halted: () => rescission !== null,
        working: () => !settled || !redriveIdle(),
        revocationPassDone: () => passDone,
        changed: () => publish(),
      },
      resume?.verification ?? null,
    );
    checkpointTask = checkpoint.background();
  }
  const enableRedrive = (): Promise<void> => {
    setHandler(
      redriveUpdate,
      (req) => {
        const chosen = req.stepIds ?? redApiSteps();
        for (const id of chosen) {
          const st = steps.get(id)!;
          st.view.status = 'pending';
          st.view.lastError = `re-driven by ${req.requestedBy}: ${req.reason}`;
          redriveQueue.push(st.plan);
        }
        log.info('red steps re-driven', { steps: chosen, by: req.requestedBy });
        return { accepted: chosen };
      },
      {
        validator: (req) => {
          const { conflict, notFound, unprocessable } = UPDATE_REJECTIONS;
          if (rescission) throw reject(conflict, 'the termination was rescinded: nothing is re-driven');
          if (closing || !['awaiting_tickets', 'recovering', 'awaiting_signoff'].includes(phase))
            throw reject(
              conflict,
              `red steps can be re-driven once the revocation pass has run (phase is ${phase})`,
            );
          if (!req.requestedBy || !req.reason)
            throw reject(unprocessable, 'requestedBy and reason are required');
          const ids = req.stepIds ?? redApiSteps();
          if (ids.length === 0) throw reject(conflict, 'there is no red step to re-drive');
          for (const id of ids) {
            const st = steps.get(id);
            if (!st) throw reject(notFound, `no step ${id}; the steps are ${[...steps.keys()].join(', ')}`);
            if (st.view.status !== 'red')
              throw reject(unprocessable, `step ${id} is ${st.view.status}, not red`);
            if (st.plan.integration !== 'api')
              throw reject(
                unprocessable,
                `step ${id} is a ticket: its owner confirms it, it is not re-driven`,
              );
          }
        },
      },
    );
    return (async () => {
      for (;;) {
        await condition(() => redriveQueue.length > 0 || closing);
        if (redriveQueue.length === 0) return;
        redriving = true;
        try {
          await runStep(redriveQueue.shift()!);
        } finally {
          redriving = false;
        }
      }
    })();
  };

  // Late returns and what failed for want of the personal email (`lateFollowUps`), until sign-off.
  const nda = {
    reminderEveryHours: plan.documents.ndaReminderEveryHours,
    deadlineDays: plan.documents.ndaDeadlineDays,
  };
  const enableLate = () => lateFollowUps(after, nda, () => closing);

  let redriveLane: Promise<void>;
  let lateLane: Promise<void> = Promise.resolve();
  if (resume) {
    redriveLane = enableRedrive();
    lateLane = enableLate();
    publish();
  } else {
    const now = plan.steps.filter((p) => !revokeRestAt || p.privileged);
    const later = plan.steps.filter((p) => revokeRestAt && !p.privileged);
    await runBatch(now);

    if (later.length > 0) {
      // Notice period: the rest waits for the end of the last day, which the HRIS may still move.
      setPhase('scoped');
      while (!rescission) {
        if (pendingLastDay) {
          const change: LastDayChange = pendingLastDay;
          pendingLastDay = null;
          try {
            const moved = await control.moveLastDay({ departureId: input.departureId, ...change });
            lastDay = change.lastDay;
            revokeRestAt = moved.revokeRestAt;
            for (const p of later)
              steps.get(p.stepId)!.view.scheduledFor = revokeRestAt ?? new Date().toISOString();
            log.info('last day moved', { lastDay, revokeRestAt });
          } catch (err) {
            log.warn('last-day change refused', {
              lastDay: change.lastDay,
              error: describeFailure(err).message,
            });
          }
          continue;
        }
        const wait = revokeRestAt ? Date.parse(revokeRestAt) - Date.now() : 0;
        if (wait <= 0) break;
        await condition(() => rescission !== null || pendingLastDay !== null, wait);
      }
      if (!rescission) {
        setPhase('revoking');
        await runBatch(later);
      }
    }
    if (pendingLastDay) {
      log.info('last-day change has no effect: no revocation is waiting for the last day', {
        lastDay: (pendingLastDay as LastDayChange).lastDay,
      });
    }

    passDone = true;
    // Red steps re-driven by an operator (`redriveUpdate`) run from here until the offboarding ends.
    redriveLane = enableRedrive();
    if (!rescission) lateLane = enableLate();

    // Every credential has been acted on: recover the assets and produce the documents while any ticket
    // still waits for its owner.
    if (!rescission && (lean || patched('followup-task-queue')))
      after.taskQueue = followupTaskQueue(workflowInfo().taskQueue);
    // Plans made since `firstRound` start with one activity for the first round of every part.
    const assetsAndDocuments = rescission
      ? Promise.resolve()
      : (async () => {
          if (plan.firstRound) await firstRound(after, plan.documents.dataSourceIds);
          await Promise.all([
            recoverAssets(after),
            produceDocuments(after, nda, plan.documents.dataSourceIds),
          ]);
        })();
    if (!rescission) setPhase(ticketWaits.length > 0 ? 'awaiting_tickets' : 'recovering');
    await Promise.all(ticketWaits);
    if (!rescission) setPhase('recovering');
    await assetsAndDocuments;
  }

  if (checkpoint && !rescission) {
    // Every red step's owner has been told before sign-off is awaited.
    await Promise.all(reports);
    setPhase('awaiting_signoff');
    if (!resume) await control.markAwaitingSignoff({ departureId: input.departureId });
    settled = true;
    for (;;) {
      const outcome = await checkpoint.signOff(shouldContinueAsNew);
      if (outcome !== 'continue') break;
      // A long wait for sign-off: carry the state into a new run once nothing is in flight.
      await condition(
        () =>
          allHandlersFinished() &&
          redriveIdle() &&
          after.lateWork === 0 &&
          reporting === 0 &&
          checkpoint!.idle(),
      );
      const cp = checkpoint;
      log.info('continuing as new while waiting for sign-off', {
        historyLength: workflowInfo().historyLength,
      });
      const next = makeContinueAsNewFunc<typeof offboardingWorkflow>({
        memo: workflowInfo().memo,
        typedSearchAttributes: workflowInfo().typedSearchAttributes,
      });
      await next({
        ...input,
        resume: {
          plan,
          steps: [...steps.values()],
          lastDay,
          revokeRestAt,
          assets: after.assets,
          documents: after.documents,
          verification: cp.state,
          runs: (resume?.runs ?? 0) + 1,
        },
      });
    }
  }
  // No more re-drives once everything else is done; finish the ones accepted.
  closing = true;
  await redriveLane;
  await lateLane;
  await checkpointTask;
  await condition(allHandlersFinished);

  if (rescission) {
    const halted = [...steps.values()].filter((s) => s.view.status === 'pending');
    const at = new Date().toISOString();
    for (const s of halted) {
      s.view.status = 'halted';
      s.view.finishedAt = at;
      s.view.scheduledFor = null;
    }
    revokeRestAt = null;
    await control.openRescissionReview({
      departureId: input.departureId,
      rescission,
      halted: halted.map((s) => refOf(s.plan)),
    });
    await Promise.all(reports);
    setPhase('rescinded');
    return status();
  }

  // Every red step's owner has been told before the phase is recorded as finished.
  await Promise.all(reports);
  if (!checkpoint) setPhase('revocation_complete');
  // The completion certificate lists every action with its final status.
  const certificate = await generateCompletionCertificate({ departureId: input.departureId });
  after.documents.push({
    type: 'completion_certificate',
    status: 'generated',
    updatedAt: new Date().toISOString(),
    lastError: null,
    sha256: certificate.sha256,
  });
  const final = status();
  await control.finishRevocation({
    departureId: input.departureId,
    red: final.redSteps,
    yellow: final.yellowSteps,
  });
  if (checkpoint) {
    setPhase('completed');
    return status();
  }
  publish('completed');
  return final;
}
