/**
 * The offboarding workflow: one per departure, read top to bottom like the process it runs (`run`):
 *
 * 1. **plan** the revocation from the catalog (recorded in history);
 * 2. **revoke** every credential in tier order, each confirmed by reading the target back
 *    (`revocation.ts`); a voluntary departure in its notice period **scopes** its accounts now (admin
 *    roles and privileged groups removed, the account kept working) and revokes the systems the
 *    catalog revokes at once, then **waits for the last day** (a durable timer the HRIS can move)
 *    before the full revocation;
 * 3. **after revocation**: recover the assets and produce the documents (`follow-up.ts`) while tickets
 *    wait for their owners;
 * 4. the **verification checkpoint** runs beside all of it (`verification.ts`): the report at trigger +
 *    24 h, HR and IT acknowledgments, resolutions; the workflow **waits for sign-off**, continuing as new
 *    when its history grows, and completes only once signed off with a clean final live audit;
 * 5. a **rescission** halts whatever has not run and opens a review for HR and IT; nothing is re-enabled.
 *
 * Every change to the commands this emits is guarded (docs/versioning.md lists each `patched()` id and
 * plan flag with the recorded history that covers it).
 */
import {
  allHandlersFinished,
  condition,
  log,
  makeContinueAsNewFunc,
  patched,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import {
  SEARCH_ATTRIBUTES,
  followupTaskQueue,
  lastDayChangedSignal,
  rescindSignal,
  runsAtOnce,
  statusQuery,
  type LastDayChange,
  type OffboardingInput,
  type OffboardingPhase,
  type OffboardingResume,
  type OffboardingSearchStatus,
  type OffboardingStatus,
  type PlannedStep,
  type RevocationPlan,
  type Rescission,
} from '../contract';
import { control, describeFailure, generateCompletionCertificate, localControl } from './control';
import { FollowUp, type NdaSettings } from './follow-up';
import { Revocation } from './revocation';
import { createCheckpoint, type Checkpoint } from './verification';

/** Offboards one departure. */
export async function offboardingWorkflow(input: OffboardingInput): Promise<OffboardingStatus> {
  return new Offboarding(input).run();
}

/** One offboarding's state and phases (private: nothing outside this file changes it). */
class Offboarding {
  private readonly input: OffboardingInput;
  private readonly resume: OffboardingResume | null;
  private phase: OffboardingPhase;
  private lastDay: string | null;
  private revokeRestAt: string | null;
  private rescission: Rescission | null = null;
  private pendingLastDay: LastDayChange | null = null;
  /** True once revocation, assets and documents have all run (only sign-off is left). */
  private settled: boolean;
  /** True once every revocation step has been acted on (tickets may still wait for their owners). */
  private passDone: boolean;
  /** Re-drives and late follow-ups end at sign-off. */
  private closing = false;
  /** Status and red count as last upserted (search attributes). */
  private published: { status: OffboardingSearchStatus; red: number } | null = null;
  private plan!: RevocationPlan;
  /** The verification checkpoint (null for offboardings started before it existed). */
  private checkpoint: Checkpoint | null = null;
  private checkpointTask: Promise<void> = Promise.resolve();
  private redriveLane: Promise<void> = Promise.resolve();
  private lateLane: Promise<void> = Promise.resolve();
  private readonly revocation: Revocation;
  private readonly followUp: FollowUp;
  /** Took the `lean-start` path (recorded, or said by the input). */
  private readonly lean: boolean;
  private readonly withCheckpoint: boolean;

  constructor(input: OffboardingInput) {
    this.input = input;
    this.resume = input.resume ?? null;
    this.phase = this.resume ? 'awaiting_signoff' : 'planning';
    this.lastDay = this.resume ? this.resume.lastDay : input.lastDay;
    this.revokeRestAt = this.resume?.revokeRestAt ?? null;
    this.settled = this.resume !== null;
    this.passDone = this.resume !== null;
    this.followUp = new FollowUp(
      input.departureId,
      this.resume?.assets ?? [],
      this.resume?.documents ?? [],
      () => this.rescission !== null,
    );
    this.revocation = new Revocation(
      {
        departureId: input.departureId,
        rescission: () => this.rescission,
        phase: () => this.phase,
        publish: () => this.publish(),
      },
      this.resume?.steps,
    );
    setHandler(statusQuery, () => this.status());
    // Status and red step count as search attributes, upserted whenever either changes, so operators
    // can filter in the Web UI. Each `patched()` call and each upsert is a search-attribute write in
    // Temporal's visibility store (the SDK upserts `TemporalChangeVersion` with every new patch id).
    // Offboardings started since `lean-start` record this one patch for the three before it and no
    // `planning` upsert (the starter sets it); since 2026-11-27 the input says so (`leanStart`) and
    // the patch is not recorded at all. Older offboardings replay through the calls they recorded.
    this.lean = input.leanStart === true || patched('lean-start');
    if (this.lean && !this.resume) this.published = { status: 'planning', red: 0 };
    else this.publish();
    // The verification checkpoint came after the first offboardings: theirs replay without it.
    this.withCheckpoint = this.lean || patched('verification-checkpoint');
    setHandler(lastDayChangedSignal, (c) => {
      if (!/^\d{4}-\d{2}-\d{2}$/.test(c.lastDay)) {
        log.warn('last-day change ignored: not a YYYY-MM-DD date', { lastDay: c.lastDay });
        return;
      }
      this.pendingLastDay = c;
    });
    setHandler(rescindSignal, (r) => {
      if (this.rescission) return; // The first rescission stands; repeats change nothing.
      this.rescission = r;
      log.info('termination rescinded: halting every step that has not run', { by: r.by });
    });
  }

  /** The whole offboarding, phase by phase. */
  async run(): Promise<OffboardingStatus> {
    await this.planRevocation();
    this.startCheckpoint();
    if (this.resume) this.resumeLanes();
    else {
      const now = this.plan.steps.filter((p) => !this.revokeRestAt || runsAtOnce(p));
      const later = this.plan.steps.filter((p) => this.revokeRestAt && !runsAtOnce(p));
      await this.revocation.runBatch(now);
      if (later.length > 0) await this.noticePeriod(later);
      if (this.pendingLastDay)
        log.info('last-day change has no effect: no revocation is waiting for the last day', {
          lastDay: (this.pendingLastDay as LastDayChange).lastDay,
        });
      this.passDone = true;
      this.startLanes();
      await this.afterRevocation();
    }
    if (this.checkpoint && !this.rescission) await this.awaitSignOff();
    await this.closeLanes();
    if (this.rescission) return this.rescinded();
    return this.complete();
  }

  // ------------------------------------------------------------------ status

  private status(): OffboardingStatus {
    const views = this.revocation.views();
    return {
      departureId: this.input.departureId,
      employeeId: this.input.employeeId,
      phase: this.phase,
      steps: views,
      redSteps: views.filter((v) => v.status === 'red').length,
      yellowSteps: views.filter((v) => v.status === 'yellow').length,
      lastDay: this.lastDay,
      revokeRestAt: this.revokeRestAt,
      rescission: this.rescission,
      assets: this.followUp.assets,
      documents: this.followUp.documents,
      verification: this.checkpoint?.view() ?? null,
    };
  }

  private publish(searchStatus: OffboardingSearchStatus = this.phase): void {
    const red = this.revocation.redCount();
    if (this.published?.status === searchStatus && this.published.red === red) return;
    this.published = { status: searchStatus, red };
    upsertSearchAttributes([
      { key: SEARCH_ATTRIBUTES.status, value: searchStatus },
      { key: SEARCH_ATTRIBUTES.redSteps, value: red },
    ]);
  }

  private setPhase(p: OffboardingPhase): void {
    this.phase = p;
    this.publish();
  }

  // ------------------------------------------------------------------ 1. plan

  /**
   * Plans the revocation (a resumed run carries its plan). Planning is the first thing between the
   * webhook and the first revocation: as a local activity it runs in the workflow's first task instead of
   * a round trip through an activity task.
   */
  private async planRevocation(): Promise<void> {
    if (this.resume) {
      this.plan = this.resume.plan;
      this.revocation.resumePlan(this.plan);
      return;
    }
    const departure = { departureId: this.input.departureId };
    this.plan =
      this.lean || patched('local-revocation-plan')
        ? await localControl.planRevocation(departure)
        : await control.planRevocation(departure);
    this.revokeRestAt = this.plan.revokeRestAt;
    this.revocation.usePlan(this.plan, this.revokeRestAt);
    // With a local sweep next in this same task, the upsert would land with the status after it.
    if (this.plan.quietRevoking) this.phase = 'revoking';
    else this.setPhase('revoking');
  }

  // ------------------------------------------------------------------ 2. notice period

  /**
   * A notice period: the rest waits for the end of the last day, which the HRIS may still move
   * (`lastDayChangedSignal`); then it runs, unless the termination was rescinded meanwhile.
   */
  private async noticePeriod(later: PlannedStep[]): Promise<void> {
    this.setPhase('scoped');
    while (!this.rescission) {
      if (this.pendingLastDay) {
        const change: LastDayChange = this.pendingLastDay;
        this.pendingLastDay = null;
        try {
          const moved = await control.moveLastDay({ departureId: this.input.departureId, ...change });
          this.lastDay = change.lastDay;
          this.revokeRestAt = moved.revokeRestAt;
          this.revocation.reschedule(later, this.revokeRestAt ?? new Date().toISOString());
          log.info('last day moved', { lastDay: this.lastDay, revokeRestAt: this.revokeRestAt });
        } catch (err) {
          log.warn('last-day change refused', {
            lastDay: change.lastDay,
            error: describeFailure(err).message,
          });
        }
        continue;
      }
      const wait = this.revokeRestAt ? Date.parse(this.revokeRestAt) - Date.now() : 0;
      if (wait <= 0) break;
      await condition(() => this.rescission !== null || this.pendingLastDay !== null, wait);
    }
    if (!this.rescission) {
      this.setPhase('revoking');
      await this.revocation.runBatch(later);
    }
  }

  // ------------------------------------------------------------------ 3. after revocation

  private nda(): NdaSettings {
    return {
      reminderEveryHours: this.plan.documents.ndaReminderEveryHours,
      deadlineDays: this.plan.documents.ndaDeadlineDays,
    };
  }

  /** Re-drives of red steps and late follow-ups run from here until sign-off. */
  private startLanes(): void {
    this.redriveLane = this.revocation.redriveLane();
    if (!this.rescission) this.lateLane = this.followUp.lateFollowUps(this.nda(), () => this.closing);
  }

  /** A resumed run: its lanes again, and its search attributes as they were. */
  private resumeLanes(): void {
    this.redriveLane = this.revocation.redriveLane();
    this.lateLane = this.followUp.lateFollowUps(this.nda(), () => this.closing);
    this.publish();
  }

  /**
   * Every credential has been acted on: recover the assets and produce the documents while any ticket
   * still waits for its owner. Plans made since `firstRound` start with one activity for the first round
   * of every part.
   */
  private async afterRevocation(): Promise<void> {
    if (!this.rescission && (this.lean || patched('followup-task-queue')))
      this.followUp.useTaskQueue(followupTaskQueue(workflowInfo().taskQueue));
    const dataSourceIds = this.plan.documents.dataSourceIds;
    const assetsAndDocuments = this.rescission
      ? Promise.resolve()
      : (async () => {
          if (this.plan.firstRound) await this.followUp.firstRound(dataSourceIds);
          await Promise.all([
            this.followUp.recoverAssets(),
            this.followUp.produceDocuments(this.nda(), dataSourceIds),
          ]);
        })();
    if (!this.rescission)
      this.setPhase(this.revocation.ticketWaits.length > 0 ? 'awaiting_tickets' : 'recovering');
    await Promise.all(this.revocation.ticketWaits);
    if (!this.rescission) this.setPhase('recovering');
    await assetsAndDocuments;
  }

  // ------------------------------------------------------------------ 4. checkpoint and sign-off

  /** The verification checkpoint runs beside everything else from the plan on. */
  private startCheckpoint(): void {
    if (!this.withCheckpoint || !this.plan.verification) return;
    this.checkpoint = createCheckpoint(
      {
        departureId: this.input.departureId,
        settings: this.plan.verification,
        steps: () => this.revocation.views(),
        assets: () => this.followUp.assets,
        documents: () => this.followUp.documents,
        revokeRestAt: () => this.revokeRestAt,
        halted: () => this.rescission !== null,
        working: () => !this.settled || !this.revocation.redriveIdle(),
        revocationPassDone: () => this.passDone,
        changed: () => this.publish(),
      },
      this.resume?.verification ?? null,
    );
    this.checkpointTask = this.checkpoint.background();
  }

  private shouldContinueAsNew(): boolean {
    return (
      workflowInfo().continueAsNewSuggested ||
      workflowInfo().historyLength >= (this.plan.verification?.continueAsNewAfterEvents ?? Infinity)
    );
  }

  /**
   * Waits for HR and IT to sign off (every red step's owner told first); a long wait continues as new
   * once nothing is in flight, carrying the whole state.
   */
  private async awaitSignOff(): Promise<void> {
    const checkpoint = this.checkpoint!;
    await this.revocation.reported();
    this.setPhase('awaiting_signoff');
    if (!this.resume) await control.markAwaitingSignoff({ departureId: this.input.departureId });
    this.settled = true;
    for (;;) {
      const outcome = await checkpoint.signOff(() => this.shouldContinueAsNew());
      if (outcome !== 'continue') break;
      await condition(
        () =>
          allHandlersFinished() &&
          this.revocation.redriveIdle() &&
          !this.followUp.busy() &&
          this.revocation.reportsIdle() &&
          checkpoint.idle(),
      );
      log.info('continuing as new while waiting for sign-off', {
        historyLength: workflowInfo().historyLength,
      });
      const next = makeContinueAsNewFunc<typeof offboardingWorkflow>({
        memo: workflowInfo().memo,
        typedSearchAttributes: workflowInfo().typedSearchAttributes,
      });
      await next({
        ...this.input,
        resume: {
          plan: this.plan,
          steps: this.revocation.all(),
          lastDay: this.lastDay,
          revokeRestAt: this.revokeRestAt,
          assets: this.followUp.assets,
          documents: this.followUp.documents,
          verification: checkpoint.state,
          runs: (this.resume?.runs ?? 0) + 1,
        },
      });
    }
  }

  /** No more re-drives or late work once everything else is done; the ones accepted finish. */
  private async closeLanes(): Promise<void> {
    this.closing = true;
    this.revocation.close();
    await this.redriveLane;
    await this.lateLane;
    await this.checkpointTask;
    await condition(allHandlersFinished);
  }

  // ------------------------------------------------------------------ 5. the end

  /** A rescinded offboarding: what never ran is halted and a review opens for HR and IT. */
  private async rescinded(): Promise<OffboardingStatus> {
    const halted = this.revocation.halt(new Date().toISOString());
    this.revokeRestAt = null;
    await control.openRescissionReview({
      departureId: this.input.departureId,
      rescission: this.rescission!,
      halted: halted.map((s) => this.revocation.ref(s.plan)),
    });
    await this.revocation.reported();
    this.setPhase('rescinded');
    return this.status();
  }

  /** The completion certificate lists every action with its final status; then the departure is done. */
  private async complete(): Promise<OffboardingStatus> {
    // Every red step's owner has been told before the phase is recorded as finished.
    await this.revocation.reported();
    if (!this.checkpoint) this.setPhase('revocation_complete');
    const certificate = await generateCompletionCertificate({ departureId: this.input.departureId });
    this.followUp.documents.push({
      type: 'completion_certificate',
      status: 'generated',
      updatedAt: new Date().toISOString(),
      lastError: null,
      sha256: certificate.sha256,
    });
    const final = this.status();
    await control.finishRevocation({
      departureId: this.input.departureId,
      red: final.redSteps,
      yellow: final.yellowSteps,
    });
    if (this.checkpoint) {
      this.setPhase('completed');
      return this.status();
    }
    this.publish('completed');
    return final;
  }
}
