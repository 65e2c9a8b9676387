/**
 * Step 2 of an offboarding: the revocation steps. Each pass runs in PRODUCT order (identity provider,
 * directory, VPN and MFA strictly one after another; then the searches for credentials the leaver
 * owns; then the applications and the credentials found, concurrently with a bound), first as one sweep
 * activity when the plan says so, then step by step for whatever the sweep left. A step is green when
 * its activity confirmed it by reading the target back, yellow while its ticket waits for the owner, red
 * when it failed for good (its owner is told; the remaining steps still run). Red API steps can be
 * re-driven by an operator until the offboarding ends. Deterministic: activities and timers only.
 */
import {
  condition,
  log,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  type ActivityOptions,
} from '@temporalio/workflow';
import { msToNumber, type Duration } from '@temporalio/common';
import type { Activities } from '../activities';
import {
  NON_RETRYABLE_ERROR_TYPES,
  UPDATE_REJECTIONS,
  confirmTicketSignal,
  passOrder,
  redriveUpdate,
  runStepWith,
  runsAtOnce,
  type OffboardingPhase,
  type PlannedStep,
  type RevocationPlan,
  type Rescission,
  type StepOutcome,
  type StepView,
  type SweepInput,
  type TicketConfirmation,
} from '../contract';
import { control, describeFailure } from './control';
import { reject } from './verification';

/** Applications are swept concurrently, at most this many at once. */
const APPLICATION_CONCURRENCY = 4;

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

/** The activities of one step: its system's timeout, retry policy and (rate-limited) task queue. */
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

/** A planned step and how the step table shows it. */
export interface Step {
  plan: PlannedStep;
  view: StepView;
}

/** What the revocation needs of the offboarding around it. */
export interface RevocationContext {
  departureId: string;
  /** The rescission, once received (nothing new starts after it). */
  rescission: () => Rescission | null;
  /** The offboarding's phase now (re-drives are accepted only in some). */
  phase: () => OffboardingPhase;
  /** Publishes status and red count as search attributes (when they changed). */
  publish: () => void;
}

/** The revocation steps of one offboarding: the step table, its passes, tickets and re-drives. */
export class Revocation {
  private readonly steps: Map<string, Step>;
  /** Ticket confirmations by ticket id. */
  private readonly confirmations = new Map<string, TicketConfirmation>();
  /** Waits for ticket owners, in the order the tickets were opened. */
  readonly ticketWaits: Promise<void>[] = [];
  private readonly reports: Promise<unknown>[] = [];
  /** Failure reports still being delivered (a run does not continue as new while one is). */
  private reporting = 0;
  /** Steps found by `discover_owned` steps, swept with the applications. */
  private discovered: PlannedStep[] = [];
  /** True while a sweep runs (a rescission received meanwhile is recorded for it to see). */
  private sweeping = false;
  /** Red steps re-driven by an operator (`redriveUpdate`), run until the offboarding ends. */
  private readonly redriveQueue: PlannedStep[] = [];
  private redriving = false;
  private closing = false;
  private plan: RevocationPlan | null = null;

  constructor(
    private readonly ctx: RevocationContext,
    restored: Step[] = [],
  ) {
    this.steps = new Map(restored.map((s) => [s.plan.stepId, s]));
    setHandler(confirmTicketSignal, (c) => this.ticketConfirmed(c));
  }

  /** Every step, in plan order (then the credentials found), with its view. */
  all(): Step[] {
    return [...this.steps.values()];
  }

  views(): StepView[] {
    return this.all().map((s) => s.view);
  }

  redCount(): number {
    return this.views().filter((v) => v.status === 'red').length;
  }

  /** True while a red-step re-drive waits or runs. */
  redriveIdle(): boolean {
    return this.redriveQueue.length === 0 && !this.redriving;
  }

  /** No owner email still being sent. */
  reportsIdle(): boolean {
    return this.reporting === 0;
  }

  /** Every red step's owner has been told. */
  async reported(): Promise<void> {
    await Promise.all(this.reports);
  }

  /** Adds the plan's steps, held until `scheduledFor` where a notice period says so. */
  usePlan(plan: RevocationPlan, revokeRestAt: string | null): void {
    this.plan = plan;
    for (const p of plan.steps) this.addStep(p, revokeRestAt && !runsAtOnce(p) ? revokeRestAt : null);
  }

  /** Carries a resumed run's plan (its steps came with the state). */
  resumePlan(plan: RevocationPlan): void {
    this.plan = plan;
  }

  /** Moves the time steps held by a notice period will run. */
  reschedule(steps: PlannedStep[], at: string): void {
    for (const p of steps) this.steps.get(p.stepId)!.view.scheduledFor = at;
  }

  private ticketConfirmed(c: TicketConfirmation): void {
    const s = this.all().find((x) => x.view.ticketId === c.ticketId);
    if (s && (s.view.systemId !== c.systemId || s.view.status !== 'yellow')) {
      log.warn('ticket confirmation ignored: its step is not waiting for it', {
        systemId: c.systemId,
        ticketId: c.ticketId,
      });
      return;
    }
    // No step knows this ticket yet when the owner confirms before the activity that opened it has
    // reported back (the ticket and its email exist first): keep it; the step's wait checks it.
    if (!this.confirmations.has(c.ticketId)) this.confirmations.set(c.ticketId, c);
  }

  private addStep(p: PlannedStep, scheduledFor: string | null): void {
    this.steps.set(p.stepId, {
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
  }

  private report(p: Promise<unknown>): void {
    this.reporting++;
    this.reports.push(p.finally(() => this.reporting--));
  }

  private refOf(p: PlannedStep) {
    return { departureId: this.ctx.departureId, systemId: p.systemId, action: p.action };
  }

  private async waitForTicket(p: PlannedStep, view: StepView): Promise<void> {
    const ticketId = view.ticketId!;
    const slaHours = p.slaHours ?? 24;
    const confirmation = () => {
      const c = this.confirmations.get(ticketId);
      return c && c.systemId === p.systemId ? c : undefined;
    };
    const confirmed = await condition(
      () => confirmation() !== undefined || this.ctx.rescission() !== null,
      slaHours * 3_600_000,
    );
    const c = confirmation();
    if (c?.outcome === 'not_done') {
      // Its service desk ticket was read back closed as not done: red, with the desk's words.
      view.status = 'red';
      view.finishedAt = new Date().toISOString();
      view.lastError = `ticket ${ticketId} closed as not done by ${c.confirmedBy}: ${c.note}`;
      this.ctx.publish();
      await control.reportStepFailure({
        ...this.refOf(p),
        reason: 'ticket_declined',
        error: view.lastError,
        attempts: view.attempts,
        closedBy: c.confirmedBy,
      });
    } else if (c) {
      await control.completeTicketStep({
        ...this.refOf(p),
        ticketId,
        confirmedBy: c.confirmedBy,
        note: c.note,
        // Plans recorded before service desks never carry an outcome: their input stays as it was.
        ...(c.outcome ? { source: 'desk' as const } : {}),
      });
      view.status = 'green';
      view.confirmedAt = new Date().toISOString();
      view.finishedAt = view.confirmedAt;
      view.detail = `confirmed by ${c.confirmedBy}: ${c.note}`;
    } else if (!confirmed) {
      view.status = 'red';
      view.finishedAt = new Date().toISOString();
      view.lastError = `ticket ${ticketId} not confirmed within ${slaHours} h SLA`;
      this.ctx.publish();
      await control.reportStepFailure({
        ...this.refOf(p),
        reason: 'sla_breached',
        error: view.lastError,
        attempts: view.attempts,
      });
    }
    // Rescinded before confirmation: the ticket stays open (yellow) and is listed in the review.
  }

  /** Records a step's outcome: green when confirmed, yellow while its ticket waits for the owner. */
  private applyOutcome(p: PlannedStep, view: StepView, r: StepOutcome): void {
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
      this.ticketWaits.push(this.waitForTicket(p, view));
    }
  }

  /** A step failed for good: red, and its owner is told. */
  private stepFailed(p: PlannedStep, view: StepView, message: string, nonRetryable: boolean): void {
    view.status = 'red';
    view.lastError = message;
    view.finishedAt = new Date().toISOString();
    view.attempts = nonRetryable ? Math.max(view.attempts, 1) : p.retry.maximumAttempts;
    this.ctx.publish();
    log.warn('revocation step failed; notifying its owner', { stepId: p.stepId, error: message });
    // Not awaited here: a slow or failing mail server must not hold up the remaining revocations.
    this.report(
      control.reportStepFailure({
        ...this.refOf(p),
        reason: nonRetryable ? 'non_retryable' : 'retries_exhausted',
        error: message,
        attempts: view.attempts,
      }),
    );
  }

  /**
   * Runs one step as its own activity, retried by its system's policy. `afterSweep`: a sweep already
   * tried it once; wait as the policy (or the target's Retry-After) says, then make the remaining
   * attempts, numbered on from the sweep's.
   */
  private async runStep(p: PlannedStep, afterSweep?: { delayMs: number }): Promise<void> {
    if (this.ctx.rescission()) return; // Halted: marked when the review opens.
    const view = this.steps.get(p.stepId)!.view;
    if (afterSweep) {
      if (afterSweep.delayMs > 0) await sleep(Math.max(1, afterSweep.delayMs));
      if (this.ctx.rescission()) return;
    }
    const ref = afterSweep ? { ...this.refOf(p), priorAttempts: 1 } : this.refOf(p);
    view.status = 'running';
    if (!afterSweep || !view.startedAt) view.startedAt = new Date().toISOString();
    try {
      const max = p.retry.maximumAttempts;
      const acts = stepActivities(
        afterSweep && max > 1 ? { ...p, retry: { ...p.retry, maximumAttempts: max - 1 } } : p,
      );
      const r = await runStepWith(p, ref, {
        revoke: acts.revokeAccess,
        discover_owned: acts.discoverOwnedCredentials,
        revoke_owned: acts.revokeOwnedCredential,
        scope: acts.scopeAccess,
      });
      this.applyOutcome(p, view, r);
      for (const d of r.discovered ?? []) {
        this.addStep(d, null);
        this.discovered.push(d);
      }
    } catch (err) {
      const { message, nonRetryable } = describeFailure(err);
      this.stepFailed(p, view, message, nonRetryable);
    }
  }

  /**
   * The sweep of one pass (`plan.sweep`): one activity tries every step once, in order. Returns what
   * the step-by-step pass still has to do: steps to retry (with their delay); steps it did not report
   * at all (not tried, or the sweep itself failed) run as usual; the others are settled.
   */
  private async sweepPass(batch: PlannedStep[]) {
    const settledIds = new Set<string>();
    const retries = new Map<string, { delayMs: number }>();
    if (this.ctx.rescission()) return { settledIds, retries };
    const sweepInput: SweepInput = { departureId: this.ctx.departureId, ...passOrder(batch) };
    this.sweeping = true;
    const sweptAt = new Date().toISOString();
    const local = this.plan!.localSweep === true;
    // A rescission signalled straight to Temporal (the API and the intake store theirs first) is
    // recorded, so the sweep halts at its next step. Not beside a local sweep: no signal reaches the
    // workflow while the task that runs it is open, and an activity scheduled beside a local activity in
    // flight is what once recorded a history that did not replay (see `runBatch`).
    const noting = local
      ? Promise.resolve()
      : (async () => {
          await condition(() => this.ctx.rescission() !== null || !this.sweeping);
          const rescission = this.ctx.rescission();
          if (this.sweeping && rescission)
            await control.noteRescission({ departureId: this.ctx.departureId, rescission });
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
      this.sweeping = false;
      await noting;
    }
    for (const d of result.discovered) {
      if (this.steps.has(d.stepId)) continue;
      this.addStep(d, null);
      this.discovered.push(d);
    }
    for (const r of result.results) {
      const st = this.steps.get(r.stepId);
      if (!st) continue;
      const { plan: p, view } = st;
      if (r.outcome === 'halted') {
        // The database says rescinded: the signal is on its way (it is stored before it is sent).
        if (!this.ctx.rescission()) await condition(() => this.ctx.rescission() !== null);
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
          this.stepFailed(p, view, r.error, r.nonRetryable);
        } else {
          const initial = msToNumber(p.retry.initialInterval as Duration);
          retries.set(p.stepId, { delayMs: r.retryAfterMs ?? initial });
        }
        continue;
      }
      settledIds.add(p.stepId);
      this.applyOutcome(p, view, r);
    }
    return { settledIds, retries };
  }

  /**
   * One pass over a batch of steps in PRODUCT order (`passOrder`): identity provider, directory, VPN and
   * MFA strictly in order; then the search for credentials the leaver owns; then the applications and
   * those credentials, concurrently with a bound.
   */
  async runBatch(batch: PlannedStep[]): Promise<void> {
    this.discovered = [];
    // With a sweep, the steps below are only what it left: each runs (or is retried) on its own.
    const swept = this.plan!.sweep ? await this.sweepPass(batch) : null;
    const left = (p: PlannedStep) => !swept?.settledIds.has(p.stepId);
    const run = (p: PlannedStep) => this.runStep(p, swept?.retries.get(p.stepId));
    const { ordered, applications } = passOrder(batch);
    for (const p of ordered.filter(left)) await run(p);
    const sweep = [...applications, ...this.discovered].filter(left);
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
  }

  /** API steps that are red now (what a re-drive without step ids takes). */
  private redApiSteps(): string[] {
    return this.all()
      .filter((x) => x.view.status === 'red' && x.plan.integration === 'api')
      .map((x) => x.plan.stepId);
  }

  /**
   * Accepts re-drives of red API steps (`redriveUpdate`) from now on, and runs them one at a time until
   * `close()`; the validator refuses what cannot run again.
   */
  redriveLane(): Promise<void> {
    setHandler(
      redriveUpdate,
      (req) => {
        const chosen = req.stepIds ?? this.redApiSteps();
        for (const id of chosen) {
          const st = this.steps.get(id)!;
          st.view.status = 'pending';
          st.view.lastError = `re-driven by ${req.requestedBy}: ${req.reason}`;
          this.redriveQueue.push(st.plan);
        }
        log.info('red steps re-driven', { steps: chosen, by: req.requestedBy });
        return { accepted: chosen };
      },
      {
        validator: (req) => {
          const { conflict, notFound, unprocessable } = UPDATE_REJECTIONS;
          const phase = this.ctx.phase();
          if (this.ctx.rescission())
            throw reject(conflict, 'the termination was rescinded: nothing is re-driven');
          if (this.closing || !['awaiting_tickets', 'recovering', 'awaiting_signoff'].includes(phase))
            throw reject(
              conflict,
              `red steps can be re-driven once the revocation pass has run (phase is ${phase})`,
            );
          if (!req.requestedBy || !req.reason)
            throw reject(unprocessable, 'requestedBy and reason are required');
          const ids = req.stepIds ?? this.redApiSteps();
          if (ids.length === 0) throw reject(conflict, 'there is no red step to re-drive');
          for (const id of ids) {
            const st = this.steps.get(id);
            if (!st)
              throw reject(notFound, `no step ${id}; the steps are ${[...this.steps.keys()].join(', ')}`);
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
        await condition(() => this.redriveQueue.length > 0 || this.closing);
        if (this.redriveQueue.length === 0) return;
        this.redriving = true;
        try {
          await this.runStep(this.redriveQueue.shift()!);
        } finally {
          this.redriving = false;
        }
      }
    })();
  }

  /** No more re-drives: the lane finishes the ones accepted and ends. */
  close(): void {
    this.closing = true;
  }

  /** Marks every step that never ran halted (a rescission); returns them. */
  halt(at: string): Step[] {
    const halted = this.all().filter((s) => s.view.status === 'pending');
    for (const s of halted) {
      s.view.status = 'halted';
      s.view.finishedAt = at;
      s.view.scheduledFor = null;
    }
    return halted;
  }

  /** The reference of a step (departure, system, action), as the activities take it. */
  ref(p: PlannedStep) {
    return this.refOf(p);
  }
}
