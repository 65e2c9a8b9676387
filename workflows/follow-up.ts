/**
 * Steps 3 and 4 of an offboarding, run by `offboardingWorkflow` once every credential is revoked:
 * asset recovery (one branch per asset with two escalation windows, durable timers) and the compliance
 * documents (NDA signature with reminders and a deadline, benefits and payroll notifications, exit
 * survey, data archiving), then what arrives late (a return after the escalations, a personal email
 * filled in). Its state is its own: the messages that feed it (`assetReceived`, `documentSigned`,
 * `archiveConfirmed`, `contactUpdated`) are handled here. Deterministic: activities only, timers only
 * through `condition`.
 */
import {
  condition,
  log,
  patched,
  proxyActivities,
  setHandler,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import {
  FIRST_ROUND_PARTS,
  NON_RETRYABLE_ERROR_TYPES,
  archiveConfirmedSignal,
  assetReceivedSignal,
  contactUpdatedSignal,
  documentSignedSignal,
  type ArchiveConfirmation,
  type AssetReceipt,
  type AssetView,
  type DocumentView,
} from '../contract';

const OPTIONS: ActivityOptions = {
  startToCloseTimeout: '1m',
  retry: {
    initialInterval: '2s',
    backoffCoefficient: 2,
    maximumInterval: '5m',
    maximumAttempts: 10,
    nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES],
  },
};

/**
 * The first round as one activity: time for every part plus their turns at the worker's pace, a
 * heartbeat after each part, and no retry (whatever it does not report done runs as its own activity).
 */
const FIRST_ROUND_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '10m',
  heartbeatTimeout: '30s',
  retry: { maximumAttempts: 1 },
};

/** What `firstFollowupRound` reports. */
type FirstRoundResult = Awaited<ReturnType<Activities['firstFollowupRound']>>;

const HOUR = 3_600_000;

/** When the NDA is reminded and when it expires unsigned. */
export interface NdaSettings {
  reminderEveryHours: number;
  deadlineDays: number;
}

/** Waits until `done()` or the instant `untilIso`; true when `done()` held. */
async function waitUntil(done: () => boolean, untilIso: string): Promise<boolean> {
  const ms = Date.parse(untilIso) - Date.now();
  if (done()) return true;
  if (ms <= 0) return false;
  return condition(done, ms);
}

function failureText(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** Steps that go to the leaver's personal address and can be made again when it is filled in. */
const TO_THE_LEAVER = ['exit_survey', 'nda_acknowledgment'] as const;

/** Asset states in which nothing waits for the asset any more: a receipt then is a late return. */
const NOT_WAITING: readonly AssetView['status'][] = ['failed', 'escalated_department_head'];

/** The follow-up work of one offboarding: its assets, its documents and what arrives late. */
export class FollowUp {
  /** Asset receipts from the IT desk, by asset tag. */
  private readonly receipts = new Map<string, AssetReceipt>();
  /** Documents signed on the signing page, by document type. */
  private readonly signed = new Set<string>();
  /**
   * The follow-up task queue (`followupTaskQueue`) these activities run on, paced by the worker so that
   * a burst of departures' paperwork never holds up the revocations behind it; unset in offboardings
   * started before the queue existed (their activities stay on the workflow's queue).
   */
  private taskQueue: string | undefined;
  /** What the first-round activity did (`firstRound`); unset: every part runs as its own activity. */
  private firstRoundResult: FirstRoundResult | undefined;
  /**
   * Data sources whose archive awaits its owner's word (`archiveConfirmedSignal`): while any does, the
   * data-archiving confirmation is `pending` (yellow in the report). Null until the confirmation is made.
   */
  private archivesPending: Set<string> | null = null;
  /** Data sources confirmed archived in this run (a confirmation can overtake the pending list). */
  private readonly archivesConfirmed = new Set<string>();
  /** How many times the personal email was filled in or corrected in this run (`contactUpdatedSignal`). */
  private contactUpdates = 0;
  /**
   * Per step that goes to the leaver's personal address (`doc:<type>`, `asset:<tag>`): the value of
   * `contactUpdates` when its last attempt started. A failed one with an older value runs again.
   */
  private readonly contactSeen = new Map<string, number>();
  /** Asset tags whose return request failed (nothing went out, so it can be made again). */
  private readonly requestFailed = new Set<string>();
  /** Asset tags whose late receipt (`lateFollowUps`) was tried. */
  private readonly receiptsTried = new Set<string>();
  /** Work of `lateFollowUps` that has not finished yet. */
  private lateWork = 0;

  constructor(
    private readonly departureId: string,
    /** The asset views (carried over by continue-as-new). */
    readonly assets: AssetView[],
    /** The document views (carried over by continue-as-new). */
    readonly documents: DocumentView[],
    /** True once the termination is rescinded: nothing new starts. */
    private readonly halted: () => boolean,
  ) {
    setHandler(assetReceivedSignal, (r) => {
      if (this.receipts.has(r.assetTag)) return; // The first receipt stands.
      this.receipts.set(r.assetTag, r);
    });
    setHandler(documentSignedSignal, (d) => {
      this.signed.add(d.type);
    });
    setHandler(archiveConfirmedSignal, (c) => this.confirmArchive(c));
    setHandler(contactUpdatedSignal, (c) => {
      // Only the personal email reaches the leaver; the other addresses are read when they are used.
      if (!c.fields.includes('personalEmail')) return;
      this.contactUpdates++;
      log.info('personal email filled in or corrected', { source: c.source });
    });
  }

  /** Runs these activities on the follow-up task queue from now on. */
  useTaskQueue(taskQueue: string): void {
    this.taskQueue = taskQueue;
  }

  /** True while late work (`lateFollowUps`) runs. */
  busy(): boolean {
    return this.lateWork > 0;
  }

  /** The activities of steps 3 and 4, on the follow-up task queue when there is one. */
  private acts() {
    return proxyActivities<Activities>(this.taskQueue ? { ...OPTIONS, taskQueue: this.taskQueue } : OPTIONS);
  }

  /**
   * Runs the first round of the follow-up work as one activity (`firstFollowupRound`) and keeps what it
   * did in `this.firstRound`, so `recoverAssets` and `produceDocuments` run only the rest. A round that fails
   * as a whole (a worker lost mid-round) leaves every part to its own activity; each is idempotent.
   */
  async firstRound(dataSourceIds: string[]): Promise<void> {
    const acts = proxyActivities<Activities>(
      this.taskQueue ? { ...FIRST_ROUND_OPTIONS, taskQueue: this.taskQueue } : FIRST_ROUND_OPTIONS,
    );
    try {
      this.firstRoundResult = await acts.firstFollowupRound({ departureId: this.departureId, dataSourceIds });
      // It stopped at a rescission stored by the API or the intake, whose signal follows: wait for it
      // rather than run the rest (the wait is bounded: without the signal the rest runs as before).
      if (this.firstRoundResult.halted) await condition(this.halted, '5 minutes');
      if (this.firstRoundResult.failed.length > 0)
        log.warn('first follow-up round: parts failed, each runs again on its own', {
          failed: this.firstRoundResult.failed,
        });
    } catch (err) {
      log.warn('first follow-up round failed: every part runs on its own', { error: failureText(err) });
    }
  }

  /**
   * Recovers every asset: the return request (remote: personal email, shipping label, marked "return in
   * progress"; in office: appointment with an .ics invite), then per asset a wait for `assetReceived` up
   * to the first window (IT owner told), then the second (department head told, recovery plan recorded).
   */
  async recoverAssets(): Promise<void> {
    const acts = this.acts();
    const first = this.firstRoundResult;
    const plan = first?.assetPlan ?? (await acts.planAssetRecovery({ departureId: this.departureId }));
    if (plan.assets.length === 0) {
      log.info('no assets assigned: recorded');
      return;
    }
    for (const a of plan.assets) {
      this.assets.push({
        recoveryId: a.recoveryId,
        assetTag: a.assetTag,
        assetName: a.assetName,
        route: plan.route,
        status: 'pending',
        dueAt: plan.dueAt,
        secondDueAt: plan.secondDueAt,
        receivedAt: null,
        lastError: null,
      });
    }
    await Promise.all(
      this.assets.map((view) => this.recoverAsset(view, first?.requested.includes(view.recoveryId) ?? false)),
    );
  }

  /**
   * One asset: its return request (unless `requested`), then the wait for `assetReceived` up to the first
   * window (IT owner told) and the second (department head told, recovery plan recorded). Waits end early
   * at `stop` (a rescission; for a request made again, also the end of the offboarding).
   */
  private async recoverAsset(
    view: AssetView,
    requested: boolean,
    stop: () => boolean = this.halted,
  ): Promise<void> {
    const acts = this.acts();
    const received = () => this.receipts.has(view.assetTag);
    try {
      if (requested) view.status = 'requested';
      if (this.halted()) return;
      if (view.status !== 'requested') {
        this.contactSeen.set(`asset:${view.assetTag}`, this.contactUpdates);
        try {
          await acts.requestAssetReturn({ departureId: this.departureId, recoveryId: view.recoveryId });
        } catch (err) {
          this.requestFailed.add(view.assetTag);
          throw err;
        }
        view.status = 'requested';
      }
      if (!(await waitUntil(() => received() || stop(), view.dueAt))) {
        await acts.escalateOverdueAsset({
          departureId: this.departureId,
          recoveryId: view.recoveryId,
          level: 'it_owner',
        });
        view.status = 'escalated_it';
        if (!(await waitUntil(() => received() || stop(), view.secondDueAt))) {
          await acts.escalateOverdueAsset({
            departureId: this.departureId,
            recoveryId: view.recoveryId,
            level: 'department_head',
          });
          view.status = 'escalated_department_head';
          return;
        }
      }
      const receipt = this.receipts.get(view.assetTag);
      if (!receipt) return; // halted
      await acts.recordAssetReceipt({ departureId: this.departureId, receipt });
      view.status = 'received';
      view.receivedAt = new Date().toISOString();
    } catch (err) {
      view.lastError = failureText(err);
      view.status = 'failed';
      log.warn('asset recovery step failed', { assetTag: view.assetTag, error: view.lastError });
    }
  }

  /** Records which archives still wait (less those confirmed meanwhile); true when any does. */
  private archivesPendingFrom(pending: string[]): boolean {
    this.archivesPending = new Set(pending.filter((id) => !this.archivesConfirmed.has(id)));
    return this.archivesPending.size > 0;
  }

  /**
   * An archive confirmed by its owner (`archiveConfirmedSignal`, run by its handler): recorded, the
   * data-archiving confirmation generated again, and the document green once no archive waits. A failure
   * is logged and leaves the document as it was (the API checked the archive exists before signalling).
   */
  async confirmArchive(c: ArchiveConfirmation): Promise<void> {
    if (this.archivesConfirmed.has(c.sourceId)) return; // The first confirmation stands.
    this.archivesConfirmed.add(c.sourceId);
    const acts = this.acts();
    const v = this.documentView('data_archiving_confirmation');
    try {
      await acts.confirmArchive({ departureId: this.departureId, confirmation: c });
      const r = await acts.recordDataArchivingConfirmation({ departureId: this.departureId });
      // What the database says waits now (after a continue-as-new this run never saw the list).
      if (!this.archivesPendingFrom(r.pending) && v.status === 'pending') v.status = 'generated';
      v.sha256 = r.sha256;
      v.updatedAt = new Date().toISOString();
    } catch (err) {
      this.archivesConfirmed.delete(c.sourceId);
      log.warn('archive confirmation failed', { sourceId: c.sourceId, error: failureText(err) });
    }
  }

  private documentView(type: DocumentView['type']): DocumentView {
    let v = this.documents.find((d) => d.type === type);
    if (!v) {
      v = { type, status: 'pending', updatedAt: new Date().toISOString(), lastError: null };
      this.documents.push(v);
    }
    return v;
  }

  private async documentStep(
    types: DocumentView['type'][],
    fn: () => Promise<DocumentView['status']>,
    /** The status the first round left these documents in, when it did this step. */
    done?: DocumentView['status'],
  ): Promise<void> {
    const views = types.map((t) => this.documentView(t));
    if (done && this.halted()) {
      for (const v of views) {
        v.status = done;
        v.updatedAt = new Date().toISOString();
      }
      return;
    }
    if (this.halted()) return;
    try {
      const status = await fn();
      for (const v of views) {
        v.status = status;
        v.updatedAt = new Date().toISOString();
      }
    } catch (err) {
      for (const v of views) {
        v.status = 'failed';
        v.lastError = failureText(err);
        v.updatedAt = new Date().toISOString();
      }
      log.warn('document step failed', { types, error: failureText(err) });
    }
  }

  /**
   * The compliance documents: benefits and payroll notifications, the exit survey, data archiving with its
   * confirmation, and the NDA acknowledgment (reminders until signed; unsigned at the deadline = failed).
   */
  async produceDocuments(nda: NdaSettings, dataSourceIds: string[]): Promise<void> {
    const acts = this.acts();
    const ids = { departureId: this.departureId };
    /** True when the first round did this part. */
    const did = (part: string) => this.firstRoundResult?.done.includes(part) ?? false;
    const notified = did(FIRST_ROUND_PARTS.notifications);
    const surveyed = did(FIRST_ROUND_PARTS.exitSurvey);
    const confirmed = did(FIRST_ROUND_PARTS.archiveConfirmation);
    const ndaSent = did(FIRST_ROUND_PARTS.nda);
    await Promise.all([
      this.documentStep(
        ['payroll_notification', 'benefits_notification'],
        async () => {
          if (!notified) await acts.sendBenefitsAndPayrollNotifications(ids);
          return 'delivered';
        },
        notified ? 'delivered' : undefined,
      ),
      this.documentStep(
        ['exit_survey'],
        async () => {
          this.contactSeen.set('doc:exit_survey', this.contactUpdates);
          if (!surveyed) await acts.sendExitSurvey(ids);
          return 'sent';
        },
        surveyed ? 'sent' : undefined,
      ),
      this.documentStep(
        ['data_archiving_confirmation'],
        async () => {
          // An archive still waiting for its owner's word keeps the document pending (yellow), so the
          // report asks for it; offboardings started before (no marker) were generated at once.
          const waiting = (pending: string[] | undefined): boolean =>
            pending !== undefined &&
            pending.length > 0 &&
            patched('archive-confirmation') &&
            this.archivesPendingFrom(pending);
          if (confirmed) return waiting(this.firstRoundResult?.archivesPending) ? 'pending' : 'generated';
          for (const sourceId of dataSourceIds) {
            if (did(FIRST_ROUND_PARTS.archive(sourceId))) continue;
            if (this.halted()) return 'pending';
            await acts.archiveDataSource({ ...ids, sourceId });
          }
          const r = await acts.recordDataArchivingConfirmation(ids);
          return waiting(r.pending) ? 'pending' : 'generated';
        },
        // The first round's confirmation, unless an archive still waits (then the step above decides).
        confirmed && !(this.firstRoundResult?.archivesPending?.length ?? 0) ? 'generated' : undefined,
      ),
      this.documentStep(['nda_acknowledgment'], async () => {
        this.contactSeen.set('doc:nda_acknowledgment', this.contactUpdates);
        if (!ndaSent) await acts.sendNdaForSignature(ids);
        return this.awaitNdaSignature(nda, this.halted);
      }),
    ]);
  }

  /** The NDA is out: reminders until it is signed, `expired` at the deadline; `sent` when `stop` holds. */
  private async awaitNdaSignature(nda: NdaSettings, stop: () => boolean): Promise<DocumentView['status']> {
    const acts = this.acts();
    const ids = { departureId: this.departureId };
    this.documentView('nda_acknowledgment').status = 'sent';
    const deadline = new Date(Date.now() + nda.deadlineDays * 24 * HOUR).toISOString();
    const signed = () => this.signed.has('nda_acknowledgment');
    for (let reminder = 1; ; reminder++) {
      const next = new Date(
        Math.min(Date.now() + nda.reminderEveryHours * HOUR, Date.parse(deadline)),
      ).toISOString();
      if (await waitUntil(() => signed() || stop(), next)) return signed() ? 'signed' : 'sent';
      if (Date.now() >= Date.parse(deadline)) {
        // Signed in the last moment (the signal may still be on its way): the database knows.
        const r = await acts.expireNda(ids);
        return r.status === 'signed' ? 'signed' : 'expired';
      }
      const r = await acts.remindNda({ ...ids, reminder });
      if (r.signed) return 'signed';
    }
  }

  /** Counts `work` in `this.lateWork` until it settles. */
  private async late(work: Promise<void>): Promise<void> {
    this.lateWork++;
    try {
      await work;
    } finally {
      this.lateWork--;
    }
  }

  /**
   * Work that arrives after its step has ended, run until `closing()` (sign-off):
   * - **Late returns**: an asset received (`assetReceivedSignal`) after its recovery stopped waiting
   *   (escalated to the department head, or failed) is recorded (custody, check-in) and turns `received`;
   *   tried once per receipt. Receipts that arrive until the lane ends are recorded.
   * - **Contact corrections**: whenever the personal email was filled in or corrected (`contactUpdates`)
   *   after a step to the leaver failed (the exit survey, the NDA, a remote asset's return request; e.g.
   *   "no personalEmail"), that step runs again with the address on file now: the survey and the NDA are
   *   sent (the NDA with its reminders and deadline from now), the asset requested and its windows (those
   *   of the plan) waited for. Once per correction; a second failure waits for the next one.
   * Nothing runs after a rescission; the waits end when the offboarding does. Offboardings that recorded
   * such a message before this existed ignored it: each kind sits behind its `patched()` id.
   */
  async lateFollowUps(nda: NdaSettings, closing: () => boolean): Promise<void> {
    const stale = (key: string) => (this.contactSeen.get(key) ?? 0) < this.contactUpdates;
    const stop = () => this.halted() || closing();
    const due = () => {
      if (this.halted()) return { receipts: [], documents: [], assets: [] };
      const receipts = this.assets.filter(
        (a) =>
          NOT_WAITING.includes(a.status) &&
          this.receipts.has(a.assetTag) &&
          !this.receiptsTried.has(a.assetTag),
      );
      if (closing()) return { receipts, documents: [], assets: [] };
      return {
        receipts,
        documents: TO_THE_LEAVER.filter(
          (t) => this.documents.find((d) => d.type === t)?.status === 'failed' && stale(`doc:${t}`),
        ),
        assets: this.assets.filter(
          (a) =>
            a.status === 'failed' &&
            this.requestFailed.has(a.assetTag) &&
            !this.receipts.has(a.assetTag) &&
            stale(`asset:${a.assetTag}`),
        ),
      };
    };
    const count = (d: ReturnType<typeof due>) => d.receipts.length + d.documents.length + d.assets.length;
    const acts = this.acts();
    const ids = { departureId: this.departureId };
    const lanes: Promise<void>[] = [];
    for (;;) {
      await condition(() => stop() || count(due()) > 0);
      const { receipts, documents, assets } = due();
      if (receipts.length + documents.length + assets.length === 0) break;
      for (const view of receipts) this.receiptsTried.add(view.assetTag);
      if (receipts.length > 0 && patched('late-asset-receipt')) {
        log.info('late return: recording the receipt', { assets: receipts.map((a) => a.assetTag) });
        for (const view of receipts) lanes.push(this.late(this.recordLateReceipt(view)));
      }
      for (const type of documents) this.contactSeen.set(`doc:${type}`, this.contactUpdates);
      for (const view of assets) this.contactSeen.set(`asset:${view.assetTag}`, this.contactUpdates);
      if (documents.length + assets.length === 0 || !patched('contact-update-resend')) continue;
      log.info('personal email filled in: sending again what failed for want of it', {
        documents,
        assets: assets.map((a) => a.assetTag),
      });
      for (const type of documents) {
        const view = this.documentView(type);
        view.status = 'pending';
        view.lastError = null;
        lanes.push(
          this.late(
            this.documentStep([type], async () => {
              if (type === 'exit_survey') {
                await acts.sendExitSurvey(ids);
                return 'sent';
              }
              await acts.sendNdaForSignature(ids);
              return this.awaitNdaSignature(nda, stop);
            }),
          ),
        );
      }
      for (const view of assets) {
        this.requestFailed.delete(view.assetTag);
        view.status = 'pending';
        view.lastError = null;
        lanes.push(this.late(this.recoverAsset(view, false, stop)));
      }
    }
    await Promise.all(lanes);
  }

  /** A late return: the receipt recorded (custody, check-in); a failure is kept on the asset. */
  private async recordLateReceipt(view: AssetView): Promise<void> {
    try {
      await this.acts().recordAssetReceipt({
        departureId: this.departureId,
        receipt: this.receipts.get(view.assetTag)!,
      });
      view.status = 'received';
      view.receivedAt = new Date().toISOString();
      view.lastError = null;
    } catch (err) {
      view.lastError = failureText(err);
      log.warn('late return not recorded', { assetTag: view.assetTag, error: view.lastError });
    }
  }
}
